"""Steady-state training throughput of one fixed small config, per backend, with and without rehearsal.

    python -m benchmarks.throughput            # all three backends, one after the other
    python -m benchmarks.throughput --baseline_dir=../v0.1   # and, backend by backend, an earlier version

Each backend runs in its own process (KERAS_BACKEND is fixed per process).
The first epoch (tracing, compilation) is excluded; the figure is items
(sequence positions) per second over the timed epochs. Writes
benchmarks/results/throughput.json and throughput.png.
"""

import json
import os

from absl import app, flags

from benchmarks.common import (
    BACKENDS,
    RESULTS,
    commit_of,
    epoch_timer,
    machine_description,
    memory_arguments,
    run_worker,
    write_results,
)
from benchmarks.common import (
    TRAINING_CONFIG as CONFIG,
)
from keras_rm.pipelines.metrics import format_table
from keras_rm.pipelines.plotting import figure

FLAGS = flags.FLAGS
flags.DEFINE_bool("worker", False, "Internal: measure under the current KERAS_BACKEND and print JSON.")
flags.DEFINE_list("backends", list(BACKENDS), "Backends to measure.")
flags.DEFINE_integer("batch_size", 32, "Sequences per batch.")
flags.DEFINE_integer("length", 256, "Items (tokens) per sequence.")
flags.DEFINE_integer("steps", 20, "Steps per timed epoch.")
flags.DEFINE_integer("timed_epochs", 2, "Epochs timed after the warm-up epoch.")
flags.DEFINE_string(
    "baseline_dir",
    "",
    "A checkout of an earlier version (`git worktree add ../v0.1 16472be`): its own benchmarks/throughput.py is "
    "measured right after this one, backend by backend, and the table gains the ratios.",
)


def measure():
    import keras
    import numpy as np

    import keras_rm
    from keras_rm.pipelines.recall import make_recall_data, recall_vocabulary_size

    vocab = dict(num_keys=32, num_values=16, num_distractors=64)
    n = FLAGS.batch_size * FLAGS.steps
    x, y, _ = make_recall_data(n, length=FLAGS.length, num_pairs=8, seed=0, **vocab)
    results = {}
    for name, weights in (("plain memory", (0.0, 0.0)), ("rehearsal", (1.0, 0.5))):
        keras.utils.set_random_seed(0)
        encoder = keras_rm.layers.TokenItemEncoder(recall_vocabulary_size(**vocab), CONFIG["hidden_dim"])
        arguments = memory_arguments(CONFIG, recollection_weight=weights[0], familiarity_weight=weights[1])
        model = keras_rm.RehearsalMemoryModel(encoder, num_classes=16, seed=0, **arguments)
        model.compile()

        timer = epoch_timer()
        model.fit(x, y, batch_size=FLAGS.batch_size, epochs=1 + FLAGS.timed_epochs, verbose=0, callbacks=[timer])
        times = timer.times
        seconds = float(np.median(times[1:]))
        results[name] = {
            "items_per_second": FLAGS.batch_size * FLAGS.steps * FLAGS.length / seconds,
            "seconds_per_step": seconds / FLAGS.steps,
            "warmup_seconds": times[0],
        }
    return {"backend": keras.config.backend(), "results": results}


def main(argv):
    if FLAGS.worker:
        print(json.dumps(measure()))
        return
    args = [
        f"--batch_size={FLAGS.batch_size}",
        f"--length={FLAGS.length}",
        f"--steps={FLAGS.steps}",
        f"--timed_epochs={FLAGS.timed_epochs}",
    ]
    runs, baseline = {}, {}
    for backend in FLAGS.backends:  # each backend this version, then the baseline: ratios from one run
        runs[backend] = run_worker(__file__, backend, args)["results"]
        if FLAGS.baseline_dir:
            script = os.path.join(FLAGS.baseline_dir, "benchmarks", "throughput.py")
            baseline[backend] = run_worker(script, backend, args, root=FLAGS.baseline_dir)["results"]
    rows = []
    for backend, results in runs.items():
        plain, rehearsal = results["plain memory"], results["rehearsal"]
        rows.append(
            [
                backend,
                f"{plain['items_per_second']:,.0f}",
                f"{rehearsal['items_per_second']:,.0f}",
                f"{rehearsal['seconds_per_step'] / plain['seconds_per_step']:.2f}x",
                f"{plain['warmup_seconds']:.0f} / {rehearsal['warmup_seconds']:.0f}",
            ]
        )
        if baseline:
            old = baseline[backend]
            rows[-1] += [
                f"{old['plain memory']['items_per_second']:,.0f} / {old['rehearsal']['items_per_second']:,.0f}",
                f"{plain['items_per_second'] / old['plain memory']['items_per_second']:.2f}x",
                f"{rehearsal['items_per_second'] / old['rehearsal']['items_per_second']:.2f}x",
            ]
    columns = ["backend", "plain items/s", "rehearsal items/s", "rehearsal step cost", "warm-up s (plain / rehearsal)"]
    if baseline:
        columns += ["baseline items/s (plain / rehearsal)", "plain vs baseline", "rehearsal vs baseline"]
    table = format_table(columns, rows)
    shape = f"batch {FLAGS.batch_size} x {FLAGS.length} items"
    print(f"Training throughput, {shape}, config {CONFIG} ({machine_description()})")
    print(table)
    path = write_results(
        "throughput",
        {
            "command": "python -m benchmarks.throughput " + " ".join(args),
            "config": CONFIG,
            "batch_size": FLAGS.batch_size,
            "length": FLAGS.length,
            "machine": machine_description(),
            "results": runs,
            "baseline": {"dir": FLAGS.baseline_dir, "commit": commit_of(FLAGS.baseline_dir), "results": baseline}
            if baseline
            else None,
            "table": table,
        },
    )
    plot(runs, os.path.join(RESULTS, "throughput.png"))
    print(f"Wrote {path} and throughput.png")


def plot(runs, path):
    """Training items per second of the plain memory and of rehearsal, bars per backend, saved to `path`."""
    import numpy as np

    backends = list(runs)
    positions = np.arange(len(backends))
    with figure(path, size=(6, 3.5)) as (ax,):
        for offset, name in ((-0.2, "plain memory"), (0.2, "rehearsal")):
            ax.bar(positions + offset, [runs[b][name]["items_per_second"] for b in backends], 0.4, label=name)
        ax.set_xticks(positions, backends)
        ax.set_ylabel("training items / second")
        ax.set_title("RehearsalMemoryModel training throughput (CPU)")
        ax.legend()


if __name__ == "__main__":
    app.run(main)
