"""Resumable training epoch by epoch: fresh data every epoch, a backup after each, the learning curve."""

import contextlib
import json
import os
import shutil
import time

import keras

from keras_rm.pipelines.data import collect_finished_iterators


def backup_dir(output_dir):
    """Where `fit_epochs` keeps its `BackupAndRestore` backup."""
    return os.path.join(output_dir, "backup")


def completed_epochs(backup):
    """Epochs finished according to the `BackupAndRestore` backup in folder `backup` (0 if there is none)."""
    path = os.path.join(backup, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return int(json.load(f)["epoch"])


def epoch_size(epoch, length, count, warmup_epochs, warmup_length):
    """`(length, count)` of an epoch's training sequences under a warm-up on short ones.

    The first `warmup_epochs` hold sequences of `warmup_length` items (at most
    `length`), more of them: as many items an epoch as a full one. A memory
    learns to write and read one segment in a few hundred steps, and through
    ten segments only after thousands (docs/learning.md, click prediction).
    """
    if epoch >= warmup_epochs:
        return length, count
    short = min(warmup_length, length)
    return short, count * length // short


class EpochTimer(keras.callbacks.Callback):
    """The time of every epoch's training steps (validation left out) by `clock`, wall time by default (e.g.
    `time.process_time`: the process's CPU time): kept in `times` and added to the epoch's logs as `epoch_seconds`
    (so `CSVLogger` after it records it)."""

    def __init__(self, clock=time.perf_counter):
        super().__init__()
        self.clock = clock
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.seconds = self.clock(), None

    def on_test_begin(self, logs=None):  # validation closes the epoch's training
        if self.seconds is None:
            self.seconds = self.clock() - self.start

    def on_epoch_end(self, epoch, logs=None):
        self.on_test_begin()
        self.times.append(self.seconds)
        if logs is not None:
            logs["epoch_seconds"] = self.seconds


def fit_epochs(
    net,
    epoch_data,
    epochs,
    output_dir,
    resume=True,
    verbose=1,
    scope=contextlib.nullcontext,
    validation_data=None,
    shape_changes=(),
):
    """Trains `net` for `epochs` on fresh data every epoch (`epoch_data(epoch)`), going on after a crash.

    One `fit` runs every epoch (progress reads "Epoch 3/6"): its dataset
    draws each epoch's batches from `epoch_data(epoch)` only when the epoch
    begins. After every epoch the model, optimizer and seed states are backed
    up to `output_dir/backup` (`keras.callbacks.BackupAndRestore`); the same
    call after a crash goes on after the last finished epoch. `resume=False`
    throws the backup away first. TensorBoard logs go to `output_dir/logs`,
    and every epoch's logs (with `validation_data`, its `val_` metrics too)
    to `output_dir/history.csv` (`keras.callbacks.CSVLogger`; `learning_curve`
    reads it back). The backup is removed by `write_run`, once everything is
    written. An unbuilt `net` is built under `scope()` (a distribution's scope). Every epoch's logs hold
    `epoch_seconds`, the wall time of its training steps.

    Args:
        epoch_data: function of the epoch (0-based) returning its `tf.data.Dataset`; every epoch between two
            `shape_changes` must have the same element spec and number of batches.
        shape_changes: epochs whose data change shape (e.g. where a length curriculum ends); a new `fit` starts
            there.

    Returns:
        `(history, start)`: the last `fit`'s `History` (None if no epoch ran)
        and the epochs that were done before this call.
    """
    if not resume:
        shutil.rmtree(backup_dir(output_dir), ignore_errors=True)
    start = completed_epochs(backup_dir(output_dir))
    if start > epochs:
        raise ValueError(
            f"The backup in {backup_dir(output_dir)} holds {start} finished epochs, more than `epochs` = {epochs}: "
            "ask for at least as many, or start over (`resume=False`)."
        )
    if start == 0 and os.path.exists(history_path(output_dir)):
        os.remove(history_path(output_dir))
    tensorboard = keras.callbacks.TensorBoard(os.path.join(output_dir, "logs"))
    csv_logger = keras.callbacks.CSVLogger(history_path(output_dir), append=True)
    history = None
    if start and start == epochs:  # every epoch done (a kept backup): no `fit` restores the trained model, so here
        restore(net, epoch_data(start - 1), output_dir, scope)
    bounds = sorted({start, epochs, *(e for e in shape_changes if start < e < epochs)})
    for first, end in zip(bounds, bounds[1:]):
        data, steps = chained_epochs(epoch_data, first, end)
        build(net, data, scope)  # `BackupAndRestore` restores into a built model
        backup = backup_callback(output_dir)
        history = net.fit(
            data,
            initial_epoch=first,
            epochs=end,
            steps_per_epoch=steps,
            callbacks=[EpochTimer(), tensorboard, csv_logger, backup],
            validation_data=validation_data,
            shuffle=False,
            verbose=verbose,
        )
    collect_finished_iterators()
    return history, start


def build(net, data, scope):
    """Builds an unbuilt `net` for the inputs of `data` under `scope()`."""
    if not net.built:
        with scope():
            net.build({key: (None, *spec.shape[1:]) for key, spec in data.element_spec[0].items()})


def backup_callback(output_dir):
    """The run's `BackupAndRestore`. The backup outlives `fit` (a later phase's `fit` reads it) and goes when the
    run is written."""
    return keras.callbacks.BackupAndRestore(backup_dir(output_dir), delete_checkpoint=False)


def restore(net, data, output_dir, scope):
    """Loads the backup of `output_dir` into `net` (built for `data`), as `fit` does when it begins."""
    build(net, data, scope)
    backup = backup_callback(output_dir)
    backup.set_model(net)
    backup.on_train_begin()


def chained_epochs(epoch_data, first, end):
    """`(dataset, steps_per_epoch)`: one dataset of epochs `first` to `end - 1` of `epoch_data`, each epoch's data
    made only when the one before is used up (so the stories of one epoch are in memory at a time)."""
    import tensorflow as tf

    head = epoch_data(first)
    steps = int(head.cardinality())
    if steps <= 0:
        raise ValueError(f"`epoch_data({first})` must have a known, positive number of batches; got {steps}.")

    # The last two epochs' data are kept: Keras may read ahead from one pass over the dataset (to build the
    # model) and then start another, which must not draw an epoch's data twice. Older epochs are dropped.
    made = {first: head}

    def batches():
        for epoch in range(first, end):
            data = made[epoch] if epoch in made else made.setdefault(epoch, epoch_data(epoch))
            for old in [e for e in made if e < epoch - 1]:
                del made[old]
            count = 0
            for count, batch in enumerate(data.as_numpy_iterator(), 1):
                yield batch
            if count != steps:
                raise ValueError(f"`epoch_data({epoch})` has {count} batches; epoch {first} had {steps}.")

    chained = tf.data.Dataset.from_generator(batches, output_signature=head.element_spec)
    return chained.prefetch(tf.data.AUTOTUNE), steps


def history_path(output_dir):
    """Where `fit_epochs` logs every epoch (CSV)."""
    return os.path.join(output_dir, "history.csv")


def learning_curve(output_dir):
    """Every epoch's logs from `output_dir/history.csv`, in order: a list of `{"epoch": 1, "loss": ...}` dicts.

    An epoch logged twice (a crash between its log and its backup) counts once, as logged last. Values the
    logger wrote as "NA" (its `val_` columns when there was no validation data) are left out.
    """
    import csv

    if not os.path.exists(history_path(output_dir)):
        return []
    with open(history_path(output_dir)) as f:
        rows = {int(row["epoch"]): row for row in csv.DictReader(f)}
    return [
        {"epoch": epoch + 1, **{k: float(v) for k, v in rows[epoch].items() if k != "epoch" and v != "NA"}}
        for epoch in sorted(rows)
    ]
