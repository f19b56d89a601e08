"""Evaluation and reporting helpers shared by the examples, experiments, benchmarks and tuning."""

import numpy as np


def depth_bucket(depth, buckets=4):
    """The bucket (0 = earliest) of each depth in [0, 1]: equal slices, 1.0 in the last."""
    return np.clip((np.asarray(depth, float) * buckets).astype(int), 0, buckets - 1)


def accuracy_by_depth(correct, depth, buckets=4):
    """Accuracy per depth bucket, earliest first.

    Args:
        correct: bool `(examples,)`, whether each answer was right.
        depth: float `(examples,)` in [0, 1], where each example's supporting
            facts sit in its sequence (0 = first item).
        buckets: int. Equal slices of [0, 1]. Defaults to 4 (quarters).

    Returns:
        A list of `buckets` accuracies; None for a bucket without examples.
    """
    correct, bucket = np.asarray(correct, bool), depth_bucket(depth, buckets)
    return [float(correct[bucket == b].mean()) if (bucket == b).any() else None for b in range(buckets)]


def auc(labels, scores):
    """ROC AUC (scikit-learn's `roc_auc_score`: tied scores count half), or None when `labels` hold one class."""
    from sklearn.metrics import roc_auc_score

    labels, scores = np.asarray(labels).reshape(-1) > 0.5, np.asarray(scores, float).reshape(-1)
    if labels.all() or not labels.any():
        return None
    return float(roc_auc_score(labels, scores))


def gauc(labels, scores, groups):
    """Group (user) AUC: per-user AUC weighted by the user's examples, over users with both classes.

    Returns None when no user has both classes.
    """
    labels, scores, groups = (np.asarray(a).reshape(-1) for a in (labels, scores, groups))
    total, weight = 0.0, 0
    for group in np.unique(groups):
        chosen = groups == group
        value = auc(labels[chosen], scores[chosen])
        if value is not None:
            total, weight = total + value * chosen.sum(), weight + chosen.sum()
    return float(total / weight) if weight else None


def format_table(headers, rows):
    """A plain-text table, columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def accuracy_report(correct, depths):
    """Accuracy overall and by quarter of the sequence (examples of unknown depth, < 0, count only overall).

    Returns:
        A dict: `accuracy`, `accuracy_by_depth` (`accuracy_by_depth`), `test_examples` and
        `test_examples_by_depth`, what `depth_table` prints.
    """
    correct, depths = np.asarray(correct, bool), np.asarray(depths, float)
    known = depths >= 0
    return {
        "accuracy": float(correct.mean()),
        "accuracy_by_depth": accuracy_by_depth(correct[known], depths[known]),
        "test_examples": int(len(correct)),
        "test_examples_by_depth": np.bincount(depth_bucket(depths[known]), minlength=4).tolist(),
    }


def depth_table(metrics):
    """The test accuracy overall and by quarter of the sequence, with example counts, as a text table."""
    return format_table(
        ["", "all", "1st (earliest)", "2nd", "3rd", "4th (latest)"],
        [
            [
                "accuracy",
                f"{metrics['accuracy']:.1%}",
                *("n/a" if v is None else f"{v:.1%}" for v in metrics["accuracy_by_depth"]),
            ],
            ["examples", metrics["test_examples"], *metrics["test_examples_by_depth"]],
        ],
    )


def predict_classes(net, data):
    """`(predictions, labels, depths)` of a classifier `net` over a dataset of `(inputs, label, depth)` batches (the
    bAbI and video pipelines' `dataset`): the predicted classes, the labels and the depths as numpy arrays."""
    from keras_rm.pipelines.data import collect_finished_iterators

    labels = np.concatenate([np.asarray(y) for _, y, _ in data])
    depths = np.concatenate([np.asarray(d) for _, _, d in data])
    predictions = np.asarray(net.predict(data.map(lambda x, y, d: (x, y)), verbose=0)).argmax(-1)
    collect_finished_iterators()
    return predictions, labels, depths
