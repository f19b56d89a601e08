"""Steady-state training throughput of one fixed small config, per backend, with and without rehearsal.

    python -m benchmarks.throughput            # all three backends, one after the other
    python -m benchmarks.throughput --baseline_dir=../v0.1   # against an earlier version's checkout

Each measurement is a fresh process (KERAS_BACKEND is fixed per process).
The first epoch (tracing, compilation) is excluded; the figure is items
(sequence positions) per second over the timed epochs. Two runs of one
process each swung 0.84x-1.99x against a baseline on these shared cores,
so a backend is measured in `--rounds` rounds: with a baseline, each round
runs this version and the baseline back to back, in alternating order, and
the table gives the median of the rounds' ratios with their range. Writes
benchmarks/results/throughput.json and throughput.png.
"""

import json
import os

from absl import app, flags

from benchmarks.common import (
    BACKENDS,
    RESULTS,
    ROOT,
    commit_of,
    epoch_timer,
    machine_description,
    run_worker,
    step_model_and_data,
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
flags.DEFINE_integer("steps", 40, "Steps per timed epoch.")
flags.DEFINE_integer("timed_epochs", 2, "Epochs timed after the warm-up epoch.")
flags.DEFINE_integer("rounds", 5, "Measurements per backend (and per version, with a baseline).")
flags.DEFINE_string(
    "baseline_dir",
    "",
    "A checkout of an earlier version (`git worktree add ../v0.1 16472be`): its own benchmarks/throughput.py is "
    "measured beside this one in every round, and the table gains the ratios.",
)


def measure():
    import keras
    import numpy as np

    results = {}
    for name, weights in zip(VARIANTS, ((0.0, 0.0), (1.0, 0.5))):
        model, x, y = step_model_and_data(FLAGS.batch_size * FLAGS.steps, FLAGS.length, *weights)
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


VARIANTS = ("plain memory", "rehearsal")


def rounds_of(backend, args):
    """`--rounds` measurements of this version (and of the baseline, back to back, the order alternating) under
    `backend`: {"new": [results per round], "baseline": [...]}."""
    versions = [("new", __file__, ROOT)]
    if FLAGS.baseline_dir:
        script = os.path.join(FLAGS.baseline_dir, "benchmarks", "throughput.py")
        versions.append(("baseline", script, FLAGS.baseline_dir))
    rounds = {name: [] for name, _, _ in versions}
    for number in range(FLAGS.rounds):
        for name, script, root in versions[:: -1 if number % 2 else 1]:
            rounds[name].append(run_worker(script, backend, args, root=root)["results"])
            print(f"{backend} round {number + 1} {name}: {rounds[name][-1]}", flush=True)
    return rounds


def summary(rounds):
    """Median items/s of each variant and version, and with a baseline the median and range of the rounds'
    ratios (new over baseline, round by round)."""
    import numpy as np

    result = {}
    for variant in VARIANTS:
        speeds = {name: [r[variant]["items_per_second"] for r in measured] for name, measured in rounds.items()}
        entry = {f"{name}_items_per_second": float(np.median(values)) for name, values in speeds.items()}
        entry["new_seconds_per_step"] = float(np.median([r[variant]["seconds_per_step"] for r in rounds["new"]]))
        entry["new_warmup_seconds"] = float(np.median([r[variant]["warmup_seconds"] for r in rounds["new"]]))
        if "baseline" in speeds:
            ratios = np.array(speeds["new"]) / np.array(speeds["baseline"])
            entry.update(
                ratio_median=float(np.median(ratios)), ratio_min=float(ratios.min()), ratio_max=float(ratios.max())
            )
        result[variant] = entry
    return result


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
    load_before = os.getloadavg()
    rounds = {backend: rounds_of(backend, args) for backend in FLAGS.backends}
    summaries = {backend: summary(measured) for backend, measured in rounds.items()}
    load_after = os.getloadavg()
    rows = []
    for backend, result in summaries.items():
        plain, rehearsal = result["plain memory"], result["rehearsal"]
        rows.append(
            [
                backend,
                f"{plain['new_items_per_second']:,.0f}",
                f"{rehearsal['new_items_per_second']:,.0f}",
                f"{rehearsal['new_seconds_per_step'] / plain['new_seconds_per_step']:.2f}x",
                f"{plain['new_warmup_seconds']:.0f} / {rehearsal['new_warmup_seconds']:.0f}",
            ]
        )
        if FLAGS.baseline_dir:
            rows[-1] += [
                f"{plain['baseline_items_per_second']:,.0f} / {rehearsal['baseline_items_per_second']:,.0f}",
                *(f"{v['ratio_median']:.2f}x ({v['ratio_min']:.2f}-{v['ratio_max']:.2f})" for v in (plain, rehearsal)),
            ]
    columns = ["backend", "plain items/s", "rehearsal items/s", "rehearsal step cost", "warm-up s (plain / rehearsal)"]
    if FLAGS.baseline_dir:
        columns += ["baseline items/s (plain / rehearsal)", "plain vs baseline", "rehearsal vs baseline"]
    table = format_table(columns, rows)
    shape = f"batch {FLAGS.batch_size} x {FLAGS.length} items"
    load = f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    print(f"Training throughput, {shape}, config {CONFIG}, medians of {FLAGS.rounds} rounds")
    print(f"({machine_description()}, {load})")
    print(table)
    path = write_results(
        "throughput",
        {
            "command": " ".join(["python -m benchmarks.throughput", *args, f"--rounds={FLAGS.rounds}"]),
            "config": CONFIG,
            "batch_size": FLAGS.batch_size,
            "length": FLAGS.length,
            "machine": machine_description(),
            "load_average": {"before": load_before, "after": load_after},
            "baseline": (
                {"dir": FLAGS.baseline_dir, "commit": commit_of(FLAGS.baseline_dir)} if FLAGS.baseline_dir else None
            ),
            "results": summaries,
            "rounds": rounds,
            "table": table,
        },
    )
    plot(summaries, os.path.join(RESULTS, "throughput.png"))
    print(f"Wrote {path} and throughput.png")


def plot(runs, path):
    """Training items per second of the plain memory and of rehearsal, bars per backend, saved to `path`."""
    import numpy as np

    backends = list(runs)
    positions = np.arange(len(backends))
    with figure(path, size=(6, 3.5)) as (ax,):
        for offset, name in ((-0.2, "plain memory"), (0.2, "rehearsal")):
            ax.bar(positions + offset, [runs[b][name]["new_items_per_second"] for b in backends], 0.4, label=name)
        ax.set_xticks(positions, backends)
        ax.set_ylabel("training items / second")
        ax.set_title("RehearsalMemoryModel training throughput (CPU)")
        ax.legend()


if __name__ == "__main__":
    app.run(main)
