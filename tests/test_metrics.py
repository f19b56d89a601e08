import numpy as np

from keras_rm.pipelines.metrics import accuracy_by_depth


def test_accuracy_by_depth_buckets_and_empty_bucket():
    correct = [True, False, True, True, False]
    depth = [0.0, 0.1, 0.6, 0.99, 1.0]  # depth 1.0 belongs to the last bucket
    assert accuracy_by_depth(correct, depth) == [0.5, None, 1.0, 0.5]


def test_auc_counts_ties_half_and_gauc_weights_users():
    from keras_rm.pipelines.metrics import auc, gauc

    assert auc([1, 0, 1, 0], [0.9, 0.1, 0.5, 0.5]) == 0.875
    assert auc([1, 1], [0.2, 0.3]) is None
    rng = np.random.default_rng(0)
    labels, scores = rng.integers(0, 2, 200), rng.normal(size=200)
    pairs = [(p > n) + 0.5 * (p == n) for p in scores[labels == 1] for n in scores[labels == 0]]
    assert abs(auc(labels, scores) - np.mean(pairs)) < 1e-12
    # User 0 ranked right (2 examples), user 1 wrong (2), user 2 has one class only (not counted).
    assert gauc([1, 0, 1, 0, 1], [0.9, 0.1, 0.2, 0.5, 0.3], [0, 0, 1, 1, 2]) == 0.5
    # Weighted by examples: user 0 (3 examples) AUC 0.5, user 1 (2 examples) AUC 1 -> (3 * 0.5 + 2 * 1) / 5.
    assert gauc([1, 0, 0, 1, 0], [0.9, 0.1, 0.95, 0.7, 0.2], [0, 0, 0, 1, 1]) == 0.7
