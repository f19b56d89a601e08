"""Does the memory learn long bAbI? Learning curves of the plain memory and full attention.

    python -m benchmarks.learning                                  # the configuration in the README
    python -m benchmarks.learning --settings=qa1_100 --seeds=0 --epochs=2 --train_examples=500

Every setting x model x seed runs `experiments/babi_long.py` (`--backend`; with `--jobs=1` in
this process, else each in its own, `--jobs` at a time) on fresh built-in stories every epoch, and
records the test accuracy after every epoch on the run's fixed test stories
(the example's `learning_curve`: reported, never used to choose anything).
The plain memory has no rehearsal; full attention keeps the whole story (the
upper bound). Both models see the same stories, epochs and seeds.

Settings are `qa<task>_<length>`: `qa1_100`, `qa1_200`, `qa2_100` (task 2 with
`--task2_hops` reader hops). A length above `--curriculum_from` is a length
curriculum: the run goes on from the same model and seed trained at
`--curriculum_from` sentences (`--init_from`) for `--curriculum_epochs`
epochs, e.g. `qa1_1000`. `qa<task>_<length>_test<test_length>` trains nothing:
it tests the `qa<task>_<length>` run on stories of `test_length` sentences
(extrapolation), e.g. `qa1_1000_test10000`. Runs already finished with the same settings are
read back, so an interrupted benchmark goes on where it stopped. Writes
benchmarks/results/learning.json (every run and its curve, a summary per
setting and model) and learning.png (test accuracy against training stories),
and prints the table: final accuracy (mean over seeds, each seed, each quarter
of the story) and the training stories each seed needed to reach 90%.
"""

import concurrent.futures
import os

from absl import app, flags

from benchmarks.common import RESULTS, ROOT, command_line, machine_description, run_experiment, write_results
from keras_rm.pipelines.metrics import format_table
from keras_rm.pipelines.plotting import figure

# Models as flags of experiments/babi_long.py: the memory, the upper bound, and the memory with one of
# the pieces that make it learn taken out (the ablation).
MODELS = {
    "memory": {},
    "full_attention": {"model": "full_attention"},
    "memory_without_null_item": {"null_item": False},
    "memory_without_slot_identity": {"slot_identity": False},
    "memory_keep_bias_0": {"keep_bias": 0.0},
}

FLAGS = flags.FLAGS
flags.DEFINE_list("settings", ["qa1_100", "qa1_200", "qa2_100"], "Task and story length, as qa<task>_<length>.")
flags.DEFINE_list("models", ["memory", "full_attention"], f"Models compared, of {list(MODELS)} (no rehearsal).")
flags.DEFINE_list("seeds", ["0", "1"], "Seeds (data, initialisation).")
flags.DEFINE_integer("epochs", 12, "Epochs per run.")
flags.DEFINE_integer("train_examples", 8000, "Fresh training stories per epoch.")
flags.DEFINE_integer("test_examples", 500, "Test stories (fixed per seed; the curve is measured on them).")
flags.DEFINE_integer("task2_hops", 2, "Reader hops of the memory on task 2 (two supporting facts).")
flags.DEFINE_integer("curriculum_from", 200, "Settings longer than this go on from the run at this length.")
flags.DEFINE_integer("curriculum_epochs", 3, "Epochs of a curriculum setting (after its shorter run).")
flags.DEFINE_list(
    "curriculum_models",
    ["memory"],
    "Models of the curriculum and extrapolation settings (full attention over 1,000+ sentences costs quadratic time).",
)
flags.DEFINE_float("target", 0.9, "Accuracy whose first epoch the table reports.")
flags.DEFINE_string("backend", "jax", "KERAS_BACKEND of the runs.")
flags.DEFINE_integer("jobs", 2, "Runs at a time (each gets cpu_count / jobs threads).")
flags.DEFINE_string("runs_dir", "output/learning", "Where each run's output directory goes.")


def parse_setting(setting):
    """`(task, length, test_length)` of `qa<task>_<length>[_test<test_length>]` (test_length None: as trained)."""
    task, length, *test = setting.removeprefix("qa").split("_")
    return int(task), int(length), int(test[0].removeprefix("test")) if test else None


def base_setting(setting):
    """The setting whose run this one starts from (None for a run from scratch)."""
    task, length, test_length = parse_setting(setting)
    if test_length is not None:
        return f"qa{task}_{length}"
    return f"qa{task}_{FLAGS.curriculum_from}" if length > FLAGS.curriculum_from else None


def run_dir(setting, model, seed):
    return os.path.join(ROOT, FLAGS.runs_dir, f"{setting}_{model}_seed{seed}")


def run_one(setting, model, seed):
    task, length, test_length = parse_setting(setting)
    settings = {
        "task": task,
        "length": length,
        "model": "memory",
        "seed": seed,
        "epochs": FLAGS.epochs,
        "train_examples": FLAGS.train_examples,
        "test_examples": FLAGS.test_examples,
        "recollection_weight": 0.0,
        "familiarity_weight": 0.0,
        **MODELS[model],
    }
    if settings["model"] == "memory" and task == 2:
        settings["reader_hops"] = FLAGS.task2_hops
    base = base_setting(setting)
    if base:
        run_one(base, model, seed)  # read back when finished (run it first: the runs of one phase are parallel)
        epochs = 0 if test_length else FLAGS.curriculum_epochs
        settings.update(init_from=run_dir(base, model, seed), epochs=epochs, warmup_epochs=0)
    if test_length:
        settings["test_length"] = test_length
    return run_experiment("babi_long", settings, run_dir(setting, model, seed), FLAGS.backend, FLAGS.jobs)


def chain(setting):
    """The setting and the ones it starts from, itself first."""
    return [setting] + (chain(base_setting(setting)) if base_setting(setting) else [])


def stories_to_reach(curve, target):
    """Training stories seen when the test accuracy first reached `target` (None if it never did)."""
    return next((row["stories"] for row in curve if row["val_accuracy"] >= target), None)


def summarise(runs):
    import numpy as np

    groups = {}
    for run in runs:
        groups.setdefault((run["setting"], run["model"]), []).append(run)
    summary = []
    for (setting, model), group in groups.items():
        by_depth = np.array([[np.nan if v is None else v for v in run["accuracy_by_depth"]] for run in group])
        summary.append(
            {
                "setting": setting,
                "model": model,
                "seeds": [run["seed"] for run in group],
                "accuracy_mean": float(np.mean([run["accuracy"] for run in group])),
                "accuracy_per_seed": [run["accuracy"] for run in group],
                "by_depth_mean": np.nanmean(by_depth, axis=0).tolist(),
                "stories_to_target": [
                    stories_to_reach(run["learning_curve"], FLAGS.target) if run["learning_curve"] else "-"
                    for run in group
                ],  # "-": a test of a trained run
                "seconds_mean": float(np.mean([run["seconds"] for run in group])),
            }
        )
    return summary


def main(argv):
    runs = []
    # Phases: runs from scratch, then the curricula that go on from them, then the extrapolation tests.
    with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
        jobs = {}
        for depth in (1, 2, 3):
            models = FLAGS.models if depth == 1 else [m for m in FLAGS.models if m in FLAGS.curriculum_models]
            submitted = {
                (setting, model, int(seed)): pool.submit(run_one, setting, model, int(seed))
                for setting in FLAGS.settings
                if len(chain(setting)) == depth
                for model in models
                for seed in FLAGS.seeds
            }
            concurrent.futures.wait(submitted.values())
            jobs.update(submitted)
        for (setting, model, seed), job in jobs.items():
            metrics = job.result()
            curve = [
                {"stories": row["stories"], "val_accuracy": row["val_accuracy"]} for row in metrics["learning_curve"]
            ]
            runs.append(
                {
                    "setting": setting,
                    "model": model,
                    "seed": seed,
                    "accuracy": metrics["accuracy"],
                    "accuracy_by_depth": metrics["accuracy_by_depth"],
                    "test_examples_by_depth": metrics["test_examples_by_depth"],
                    "learning_curve": curve,
                    "seconds": metrics["seconds"],
                }
            )
            print(
                f"{setting} {model:>14} seed {seed}: {metrics['accuracy']:.1%} ({metrics['seconds']:.0f} s)", flush=True
            )
    summary = summarise(runs)

    def stories(values):
        return " / ".join("never" if v is None else v if isinstance(v, str) else f"{v:,}" for v in values)

    rows = [
        [
            s["setting"],
            s["model"],
            f"{s['accuracy_mean']:.1%}",
            " / ".join(f"{v:.1%}" for v in s["accuracy_per_seed"]),
            *[f"{v:.1%}" for v in s["by_depth_mean"]],
            stories(s["stories_to_target"]),
            f"{s['seconds_mean']:.0f}",
        ]
        for s in summary
    ]
    table = format_table(
        [
            "setting",
            "model",
            "accuracy (mean)",
            "per seed",
            "Q1 (earliest)",
            "Q2",
            "Q3",
            "Q4 (latest)",
            f"stories to {FLAGS.target:.0%} (per seed)",
            "s/run",
        ],
        rows,
    )
    counts = sorted({(run["setting"], run["seed"], tuple(run["test_examples_by_depth"])) for run in runs})
    table += "\ntest stories per quarter (Q1/Q2/Q3/Q4): " + "; ".join(
        f"{setting} seed {seed}: {'/'.join(map(str, n))}" for setting, seed, n in counts
    )
    command = command_line(
        "learning.py",
        (
            "settings",
            "models",
            "seeds",
            "epochs",
            "train_examples",
            "test_examples",
            "task2_hops",
            "curriculum_from",
            "curriculum_epochs",
            "curriculum_models",
            "backend",
        ),
    )
    print(
        f"\nTest accuracy after {FLAGS.epochs} epochs of {FLAGS.train_examples:,} fresh stories "
        f"({len(FLAGS.seeds)} seeds, {FLAGS.backend}, {machine_description()})"
    )
    print(table)
    path = write_results(
        "learning",
        {
            "command": command,
            "machine": machine_description(),
            "backend": FLAGS.backend,
            "summary": summary,
            "runs": runs,
            "table": table,
        },
    )
    plot(runs, os.path.join(RESULTS, "learning.png"))
    print(f"Wrote {path} and learning.png")


def plot(runs, path):
    """Test accuracy against training stories seen, a panel per setting, a line per model and seed, saved to `path`."""
    settings = list(dict.fromkeys(run["setting"] for run in runs if run["learning_curve"]))
    colours = {model: f"C{i}" for i, model in enumerate(MODELS)}
    with figure(path, ncols=len(settings), size=(4.2, 3.4), sharey=True) as axes:
        for ax, setting in zip(axes, settings):
            for run in runs:
                if run["setting"] == setting:
                    curve = run["learning_curve"]
                    ax.plot(
                        [row["stories"] for row in curve],
                        [row["val_accuracy"] for row in curve],
                        marker=".",
                        color=colours[run["model"]],
                        label=f"{run['model']} (seed {run['seed']})",
                        linestyle="-" if run["seed"] == runs[0]["seed"] else "--",
                    )
            task, length, test_length = parse_setting(setting)
            tested = f", tested at {test_length}" if test_length else ""
            ax.set_title(f"bAbI task {task}, {length} sentences{tested}")
            ax.set_xlabel("training stories seen")
            ax.set_ylim(0, 1)
        axes[0].set_ylabel("test accuracy")
        axes[-1].legend(fontsize=7)


if __name__ == "__main__":
    app.run(main)
