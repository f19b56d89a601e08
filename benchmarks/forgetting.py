"""Does rehearsal stop the memory forgetting early facts? Long bAbI accuracy by fact depth.

    python -m benchmarks.forgetting                       # the configuration in the README
    python -m benchmarks.forgetting --lengths=200,1000 --epochs=6,2 --train_examples=8000,4000
    python -m benchmarks.forgetting --tasks=1 --lengths=100 --seeds=0 --epochs=2 --train_examples=500

For every task x length x variant x seed, runs `experiments/babi_long.py` (`--backend`; with `--jobs=1` in this
process, else each in its own, `--jobs` at a time) and reads its `metrics.json`. The variants share data, epochs and
seeds:

- `plain`: the memory without rehearsal (both rehearsal weights 0);
- `uniform`: rehearsal with fragments drawn uniformly (the paper);
- `teacher`: rehearsal with fragments drawn by the query-aware teacher (the paper);
- `uniform_warmup`: as `uniform`, its weights rising from 0 over the first
  1,000 steps (`rehearsal_warmup`, so the task is learned first; ours, and
  `experiments/babi_long.py`'s default);
- `teacher_important`: as `teacher`, but recollection masks the items of a
  fragment the teacher ranks highest instead of random ones (ours);
- `full_attention`: attention over the whole story, the upper bound.

Lengths run shortest first. With `--warm_start` (default) a run at a longer
length starts from the same task, variant and seed's run at the previous
length (a length curriculum: training from scratch on 1,000-sentence stories
is out of a CPU's reach), so `--epochs` and `--train_examples` are given per
length. Runs already finished with the same settings are read back, not
repeated, so an interrupted benchmark goes on where it stopped. Writes
benchmarks/results/forgetting.json (every run, and mean and spread over
seeds; `--results_name`), forgetting.png (accuracy by fact depth) and prints
the table.
"""

import concurrent.futures
import os

from absl import app, flags

from benchmarks.common import REHEARSAL_VARIANTS as VARIANTS
from benchmarks.common import (
    RESULTS,
    ROOT,
    TRAIN_TERMS,
    check_one_per_length,
    command_line,
    machine_description,
    run_experiment,
    write_results,
)
from keras_rm.pipelines.metrics import format_table
from keras_rm.pipelines.plotting import figure, quarter_axis

FLAGS = flags.FLAGS
flags.DEFINE_list("tasks", ["1"], "bAbI tasks (built-in generator: 1, 2, 3, 6, 7).")
flags.DEFINE_list("lengths", ["200"], "Sentences per lengthened story.")
flags.DEFINE_list("variants", ["plain", "uniform", "uniform_warmup", "teacher", "full_attention"], "Models compared.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (data, initialisation, rehearsal draws).")
flags.DEFINE_list("epochs", ["6"], "Epochs at each length, the same for every variant.")
flags.DEFINE_list("train_examples", ["8000"], "Fresh training stories per epoch at each length.")
flags.DEFINE_bool("warm_start", True, "Start each longer length from the previous length's run.")
flags.DEFINE_integer("jobs", 2, "Runs at a time (each gets cpu_count / jobs threads).")
flags.DEFINE_integer("test_examples", 2000, "Test stories (2,000: 150 or more in the earliest quarter).")
flags.DEFINE_float("recollection_weight", 1.0, "Recollection weight of the rehearsal variants.")
flags.DEFINE_float("familiarity_weight", 0.5, "Familiarity weight of the rehearsal variants.")
flags.DEFINE_integer("rehearsal_warmup", 0, "Steps over which the rehearsal weights rise from 0 (0: the paper).")
flags.DEFINE_integer("segment_length", 16, "Sentences per segment of the memory models.")
flags.DEFINE_integer("num_slots", 4, "Memory slots (the built-in stories have 4 people).")
flags.DEFINE_integer("story_length", 10, "Sentences per built-in story before lengthening (its facts).")
flags.DEFINE_string("backend", "jax", "KERAS_BACKEND of the runs.")
flags.DEFINE_string("runs_dir", "output/forgetting", "Where each run's output directory goes.")
flags.DEFINE_string("results_name", "forgetting", "Name of the results: benchmarks/results/<name>.json and .png.")


def run_dir(task, length, variant, seed):
    return os.path.join(ROOT, FLAGS.runs_dir, f"qa{task}_len{length}_{variant}_seed{seed}")


def run_one(task, length, variant, seed, init_from):
    """Runs the example once (or reads back a finished identical run); returns its metrics."""
    index = FLAGS.lengths.index(str(length))
    settings = {
        "task": task,
        "length": length,
        "seed": seed,
        "epochs": FLAGS.epochs[index],
        "train_examples": FLAGS.train_examples[index],
        "test_examples": FLAGS.test_examples,
        "segment_length": FLAGS.segment_length,
        "num_slots": FLAGS.num_slots,
        "story_length": FLAGS.story_length,
        "recollection_weight": FLAGS.recollection_weight,
        "familiarity_weight": FLAGS.familiarity_weight,
        "rehearsal_warmup": FLAGS.rehearsal_warmup,
        **VARIANTS[variant],
    }
    if init_from:
        settings["init_from"] = init_from
    return run_experiment("babi_long", settings, run_dir(task, length, variant, seed), FLAGS.backend, FLAGS.jobs)


def summarise(runs):
    """Mean and standard deviation over seeds of overall and per-quarter accuracy."""
    import numpy as np

    groups = {}
    for run in runs:
        groups.setdefault((run["task"], run["length"], run["variant"]), []).append(run)
    summary = []
    for (task, length, variant), group in groups.items():
        accuracy = np.array([run["accuracy"] for run in group])
        by_depth = np.array([[np.nan if v is None else v for v in run["accuracy_by_depth"]] for run in group])
        summary.append(
            {
                "task": task,
                "length": length,
                "variant": variant,
                "seeds": len(group),
                "accuracy_mean": float(accuracy.mean()),
                "accuracy_std": float(accuracy.std()),
                "by_depth_mean": np.nanmean(by_depth, axis=0).tolist(),
                "by_depth_std": np.nanstd(by_depth, axis=0).tolist(),
                "seconds_mean": float(np.mean([run["seconds"] for run in group])),
                # Last training epoch, mean over seeds: did the rehearsal (and the teacher) learn anything?
                **{
                    f"train_{name}_mean": float(np.mean([run["train_logs"][name] for run in group]))
                    for name in TRAIN_TERMS
                    if all(name in run["train_logs"] for run in group)
                },
            }
        )
    return summary


def main(argv):
    check_one_per_length("epochs", "train_examples")
    lengths = sorted(map(int, FLAGS.lengths))
    runs = []
    with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
        for previous, length in zip([None] + lengths, lengths):
            jobs = {}
            for task in map(int, FLAGS.tasks):
                for variant in FLAGS.variants:
                    for seed in map(int, FLAGS.seeds):
                        init_from = run_dir(task, previous, variant, seed) if previous and FLAGS.warm_start else None
                        jobs[(task, variant, seed)] = pool.submit(run_one, task, length, variant, seed, init_from)
            for (task, variant, seed), job in jobs.items():
                metrics = job.result()
                runs.append(
                    {
                        "task": task,
                        "length": length,
                        "variant": variant,
                        "seed": seed,
                        "accuracy": metrics["accuracy"],
                        "accuracy_by_depth": metrics["accuracy_by_depth"],
                        "test_examples_by_depth": metrics.get("test_examples_by_depth"),
                        "train_logs": metrics.get("train_logs", {}),
                        "seconds": metrics["seconds"],
                    }
                )
                print(
                    f"task {task} length {length} {variant:>17} seed {seed}: {metrics['accuracy']:.1%} "
                    f"({metrics['seconds']:.0f} s)",
                    flush=True,
                )
    summary = summarise(runs)
    rows = [
        [
            s["task"],
            s["length"],
            s["variant"],
            f"{s['accuracy_mean']:.1%} ± {s['accuracy_std']:.1%}",
            *[f"{v:.1%}" for v in s["by_depth_mean"]],
            f"{s['train_recollection_accuracy_mean']:.3f}" if "train_recollection_accuracy_mean" in s else "-",
            f"{s['seconds_mean']:.0f}",
        ]
        for s in summary
    ]
    table = format_table(
        [
            "task",
            "length",
            "variant",
            "accuracy (mean ± sd)",
            "Q1 (earliest)",
            "Q2",
            "Q3",
            "Q4 (latest)",
            "recollection acc. (train)",
            "s/run",
        ],
        rows,
    )
    counts = {}
    for run in runs:
        if run["test_examples_by_depth"]:
            counts.setdefault((run["task"], run["length"], run["seed"]), run["test_examples_by_depth"])
    table += "\ntest stories per quarter (Q1/Q2/Q3/Q4): " + "; ".join(
        f"task {task}, {length}, seed {seed}: {'/'.join(map(str, n))}"
        for (task, length, seed), n in sorted(counts.items())
    )
    command = command_line(
        "forgetting.py",
        (
            "tasks",
            "lengths",
            "variants",
            "seeds",
            "epochs",
            "train_examples",
            "test_examples",
            "recollection_weight",
            "familiarity_weight",
            "rehearsal_warmup",
            "segment_length",
            "num_slots",
            "story_length",
            "warm_start",
            "backend",
        ),
    )
    print(
        f"\nTest accuracy by quarter of the sequence holding the supporting facts "
        f"({len(FLAGS.seeds)} seeds, {FLAGS.backend}, {machine_description()})"
    )
    print(table)
    path = write_results(
        FLAGS.results_name,
        {
            "command": command,
            "machine": machine_description(),
            "backend": FLAGS.backend,
            "summary": summary,
            "runs": runs,
            "table": table,
        },
    )
    plot(summary, os.path.join(RESULTS, f"{FLAGS.results_name}.png"))
    print(f"Wrote {path} and {FLAGS.results_name}.png")


def plot(summary, path):
    """Test accuracy by quarter holding the facts, a panel per task and length, a line per variant, saved to `path`."""
    panels = sorted({(s["task"], s["length"]) for s in summary})
    with figure(path, ncols=len(panels), size=(4, 3.4), sharey=True) as axes:
        for ax, (task, length) in zip(axes, panels):
            for s in summary:
                if (s["task"], s["length"]) == (task, length):
                    ax.errorbar(
                        range(1, 5),
                        s["by_depth_mean"],
                        yerr=s["by_depth_std"],
                        marker="o",
                        capsize=3,
                        label=s["variant"],
                    )
            ax.set_title(f"bAbI task {task}, {length} sentences")
            quarter_axis(ax, "quarter holding the facts", "test accuracy" if ax is axes[0] else None)
        axes[-1].legend(fontsize=8)


if __name__ == "__main__":
    app.run(main)
