from pipelines.metrics import accuracy_by_depth


def test_accuracy_by_depth_buckets_and_empty_bucket():
    correct = [True, False, True, True, False]
    depth = [0.0, 0.1, 0.6, 0.99, 1.0]  # depth 1.0 belongs to the last bucket
    assert accuracy_by_depth(correct, depth) == [0.5, None, 1.0, 0.5]
