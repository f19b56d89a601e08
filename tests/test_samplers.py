"""History samplers: valid positions only, distributions, teacher."""

import numpy as np
import pytest
import keras
from keras import ops

from keras_rm import fragments, samplers

B, N = 4, 24
rng = np.random.default_rng(2)
MASK = np.arange(N)[None, :] < np.array([[24], [17], [9], [5]])


def draw(sampler, mask, importance=None, times=20):
    return np.stack([ops.convert_to_numpy(sampler(mask, importance)) for _ in range(times)])


def test_uniform_sampler_starts_on_real_items_without_repeats():
    sampler = samplers.UniformSampler(num_fragments=2, fragment_length=4, seed=0)
    starts = draw(sampler, MASK)
    assert starts.shape == (20, B, 2)
    for row in range(3):  # rows with at least 2 real starts
        assert MASK[row][starts[:, row]].all()
        assert (starts[:, row, 0] != starts[:, row, 1]).all()
    assert starts.max() <= N - 4
    # Rows 0 and 1 see different starts over the draws: the draw is random.
    assert len(np.unique(starts[:, 0])) > 2


def test_importance_sampler_distribution_and_preference():
    sampler = samplers.ImportanceSampler(num_fragments=1, fragment_length=4, temperature=1.0, uniform_mix=0.2, seed=0)
    importance = np.zeros((B, N), "float32")
    importance[:, 4] = 1.0
    probs = ops.convert_to_numpy(sampler.distribution(MASK, importance))
    assert probs.shape == (B, N // 4)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    valid_windows = np.add.reduceat(MASK, np.arange(0, N, 4), axis=1) > 0
    assert (probs[~valid_windows] == 0).all(), "padded windows must never be drawn"
    assert probs[0, 1] > 0.8
    starts = draw(sampler, MASK, importance)
    assert (starts[:, 0] == 4).mean() > 0.6
    assert (starts % 4 == 0).all()


def test_importance_sampler_needs_importance():
    with pytest.raises(ValueError, match="needs an importance score"):
        samplers.ImportanceSampler(1, 4)(MASK)


def test_sampler_rejects_fragments_longer_than_the_sequence():
    with pytest.raises(ValueError, match="`num_fragments \\* fragment_length` must not exceed"):
        samplers.UniformSampler(num_fragments=7, fragment_length=4)(MASK)


def test_teacher_sampler_attention_is_a_distribution_over_real_items():
    sampler = samplers.TeacherSampler(2, 4, hidden_dim=8, task="classification", num_classes=3, seed=0)
    items = rng.normal(size=(B, N, 8)).astype("float32")
    query = rng.normal(size=(B, 8)).astype("float32")
    attention, logits = sampler.teach(items, MASK, query)
    attention = ops.convert_to_numpy(attention)
    assert tuple(logits.shape) == (B, 3)
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    assert (attention[~MASK] < 1e-6).all()
    probs = ops.convert_to_numpy(sampler.distribution(MASK, attention))
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    starts = ops.convert_to_numpy(sampler(MASK, attention))
    for row in range(B):
        assert MASK[row][starts[row]].all() or MASK[row].sum() < 8


def test_choose_positions_random_or_by_score():
    valid = np.arange(8)[None, :] < np.array([[8], [3]])
    seed = keras.random.SeedGenerator(0)
    positions, chosen = (ops.convert_to_numpy(t) for t in fragments.choose_positions(valid, 4, seed))
    assert (positions[0] != positions[0][:, None]).sum() == 12, "distinct positions"
    assert valid[0][positions[0]].all() and chosen[0].all()
    assert sorted(positions[1][:3]) == [0, 1, 2] and chosen[1].tolist() == [True, True, True, False]
    scores = np.array([[0, 5, 0, 4, 0, 0, 3, 9], [7, 0, 1, 9, 9, 9, 9, 9]], "float32")
    positions, chosen = (ops.convert_to_numpy(t) for t in fragments.choose_positions(valid, 3, seed, scores))
    assert sorted(positions[0]) == [1, 3, 7], "the highest-scoring positions"
    assert sorted(positions[1]) == [0, 1, 2], "padding is never chosen, whatever its score"
    assert chosen.all()
