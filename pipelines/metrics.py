"""Evaluation and reporting helpers shared by the examples, benchmarks and tuning."""

import numpy as np


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
    correct, depth = np.asarray(correct, bool), np.asarray(depth, float)
    bucket = np.clip((depth * buckets).astype(int), 0, buckets - 1)
    return [float(correct[bucket == b].mean()) if (bucket == b).any() else None for b in range(buckets)]


def format_table(headers, rows):
    """A plain-text table, columns padded to their widest cell."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
