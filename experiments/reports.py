"""What a finished run writes: the model, metrics.json, the plot of test accuracy by quarter of the sequence
(`keras_rm.pipelines.metrics.accuracy_report` and `depth_table` compute and print it)."""

import json
import os
import shutil

from experiments.fitting import backup_dir
from keras_rm.pipelines.data import collect_finished_iterators
from keras_rm.pipelines.plotting import figure, quarter_axis


def write_run(net, metrics, output_dir, export, title=None, keep_backup=False):
    """Writes a finished run: `model.keras`, `saved_model/` (if `export`), `metrics.json`, the plot of accuracy by
    depth (given a `title`); drops the backup unless `keep_backup` (a later run with more epochs then goes on from
    it)."""
    import keras_rm

    net.save(os.path.join(output_dir, "model.keras"))
    if export:
        keras_rm.export.export_saved_model(net, os.path.join(output_dir, "saved_model"))
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    if title is not None:
        plot_accuracy_by_depth(metrics, title, os.path.join(output_dir, "accuracy_by_depth.png"))
    if not keep_backup:
        shutil.rmtree(backup_dir(output_dir), ignore_errors=True)


def plot_accuracy_by_depth(metrics, title, path):
    """A bar per quarter of the sequence: the test accuracy of the examples whose answer sits there."""
    values = [v if v is not None else 0.0 for v in metrics["accuracy_by_depth"]]
    with figure(path, size=(5, 3.2)) as (ax,):
        ax.bar(range(1, 5), values)
        quarter_axis(ax)
        ax.set_title(title)


def evaluation_batch_size(count, batch_size):
    """A batch size for `count` test examples that drops none of them (the pipelines drop a last partial batch):
    the largest divisor of `count` up to `batch_size`, or `batch_size` itself when that divisor is under half of it."""
    divisor = max(d for d in range(1, min(count, batch_size) + 1) if count % d == 0)
    return divisor if 2 * divisor >= batch_size else batch_size


def answers_along(net, data):
    """`(correct, depths, tasks)` of every real question (weight 1) over a dataset of `(inputs, answers, weights,
    meta)` batches with several questions a row (`BabiVectorizer.story_dataset`)."""
    import numpy as np

    correct, depths, tasks = [], [], []
    for x, y, weights, meta in data.as_numpy_iterator():  # batch by batch: the question axis varies
        real = weights > 0
        correct.append((np.asarray(net.predict_on_batch(x)).argmax(-1) == y)[real])
        depths.append(meta["depth"][real])
        tasks.append(meta["task"][real])
    collect_finished_iterators()
    return tuple(np.concatenate(parts) for parts in (correct, depths, tasks))
