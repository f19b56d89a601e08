"""The twenty bAbI tasks as written: one model trained on all of them at once, test error per task.

    python -m benchmarks.babi20 --data_dir=~/bAbI/tasks_1-20_v1-2/en-10k     # the recipe of docs/babi.md
    python -m benchmarks.babi20 --data_dir=... --models=memory --seeds=0 --epochs=1 --train_examples=500
    python -m benchmarks.babi20 --data_dir=... --models=memory,rehearsal --train_questions=1000 \
        --epochs=60 --results_name=babi20_1k                                   # bAbI's 1k setting

The standard bAbI protocol (Weston et al., 2015; joint training as in
End-To-End Memory Networks and Recurrent Entity Networks): the official files
of tasks 1-20, stories as written (no distractors), one model trained on the
questions of all twenty tasks together, tested on each task's 1,000 test
questions. A task is failed when its test error is above 5%.

Every model x seed runs `experiments/babi_long.py --task=all --length=0`
(`--backend`; with `--jobs=1` in this process, else each in its own, `--jobs` at a time); the memory (no rehearsal),
the memory with the paper's rehearsal and full attention (a Transformer over the whole story, the upper bound) see the
same questions, epochs and seeds, one story per question (with
`--story_pass` the memory writes each story once and answers its questions
along it). `--dev_fraction` of each training file's stories are held out for
the learning curve; the test files are read at the end. `--train_questions=1000` trains on the first
1,000 questions of each training file only (bAbI's 1k setting), the dev split held out of them. A run keeps its last
backup: the same command with more `--epochs` trains on from where the last
one ended, learning-rate schedule included. A run already finished with the same settings
is read back, and an interrupted run goes on after its last finished epoch,
so a stopped benchmark goes on where it stopped; the runs of other seeds already
in the results with the same settings are kept beside the new ones. Writes
benchmarks/results/<--results_name>.json (every run, its learning curve and wall time)
and its .png (error per task), and prints the table: error per task (mean
over seeds), mean error and failed tasks per model.

`--data_dir` is a folder of the official `qa*_train.txt` and `qa*_test.txt`
files, e.g. the `en-10k` folder of the released archive
(`keras_rm.pipelines.babi.download_babi()` fetches it).
"""

import concurrent.futures
import os

from absl import app, flags

from benchmarks.common import (
    RESULTS,
    ROOT,
    command_line,
    machine_description,
    recorded_runs,
    run_experiment,
    write_results,
)
from keras_rm.pipelines.metrics import format_table
from keras_rm.pipelines.plotting import figure

MODELS = {
    "memory": {"model": "memory"},
    # The paper's rehearsal (fragments drawn uniformly, recollection 1.0, familiarity 0.5, ramped in).
    "rehearsal": {"model": "memory", "recollection_weight": 1.0, "familiarity_weight": 0.5},
    "full_attention": {"model": "full_attention"},
}
FAILED = 0.05  # the bAbI papers' line: a task with more test error is failed

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Folder of the official bAbI files of the 20 tasks (e.g. en-10k).")
flags.DEFINE_list("models", ["memory", "full_attention"], f"Models compared, of {list(MODELS)}.")
flags.DEFINE_list("seeds", ["0", "1"], "Seeds (initialisation, order of the questions).")
flags.DEFINE_integer("epochs", 30, "Epochs per run (30: the memory's dev accuracy is flat after 25).")
flags.DEFINE_integer("train_examples", 10000, "Training questions per task and epoch (10,000: all of en-10k).")
flags.DEFINE_integer(
    "train_questions", 0, "Questions of each training file used at all, the first (bAbI's 1k setting: 1000; 0: all)."
)
flags.DEFINE_integer("test_examples", 1000, "Test questions per task (1,000: all).")
flags.DEFINE_integer("num_slots", 16, "Memory slots.")
flags.DEFINE_integer("reader_hops", 2, "Attention hops of the memory's reader (tasks 2, 3 chain facts).")
flags.DEFINE_integer("hidden_dim", 64, "Width of sentences and slots.")
flags.DEFINE_integer("batch_size", 32, "Batch size (stories with the story pass, questions without).")
flags.DEFINE_integer("segment_length", 16, "Sentences per memory segment (4 suits --story_pass).")
flags.DEFINE_bool("story_pass", False, "The memory writes each story once and answers its questions along it.")
flags.DEFINE_float("dev_fraction", 0.1, "Share of each training file's stories held out for the learning curve.")
flags.DEFINE_float("learning_rate", 3e-4, "Adam's learning rate after the warm-up (at 1e-3 the memory stalls).")
flags.DEFINE_integer("learning_rate_halving", 15, "Epochs between halvings of the learning rate (0: constant).")
flags.DEFINE_string("backend", "jax", "KERAS_BACKEND of the runs.")
flags.DEFINE_integer("jobs", 1, "Runs at a time (each gets cpu_count / jobs threads).")
flags.DEFINE_string("runs_dir", "output/babi20", "Where each run's output directory goes.")
flags.DEFINE_string("results_name", "babi20", "Name of the results: benchmarks/results/<name>.json and .png.")
flags.mark_flag_as_required("data_dir")


def run_dir(model, seed):
    return os.path.join(ROOT, FLAGS.runs_dir, f"{model}_seed{seed}")


def run_one(model, seed):
    settings = {
        "task": "all",
        "length": 0,
        "data_dir": os.path.abspath(os.path.expanduser(FLAGS.data_dir)),
        "seed": seed,
        "epochs": FLAGS.epochs,
        "train_examples": FLAGS.train_examples,
        "test_examples": FLAGS.test_examples,
        "hidden_dim": FLAGS.hidden_dim,
        "batch_size": FLAGS.batch_size,
        "dev_fraction": FLAGS.dev_fraction,
        "learning_rate": FLAGS.learning_rate,
        "learning_rate_halving": FLAGS.learning_rate_halving,
        "keep_backup": True,  # a later invocation with more --epochs trains on from the last one
        # Only where set: the runs recorded before the flag existed keep their settings.
        **({"train_questions": FLAGS.train_questions} if FLAGS.train_questions else {}),
        **MODELS[model],
    }
    if settings["model"] == "memory":
        settings.update(
            num_slots=FLAGS.num_slots,
            reader_hops=FLAGS.reader_hops,
            segment_length=FLAGS.segment_length,
            story_pass=FLAGS.story_pass,
        )
    metrics = run_experiment("babi_long", settings, run_dir(model, seed), FLAGS.backend, FLAGS.jobs)
    return {"model": model, "seed": seed, **metrics}


def earlier_seeds(runs):
    """`runs` plus the recorded runs of other models and seeds: a seed or model run in an earlier invocation stays
    beside the new ones, when its settings equal those of this invocation's runs of its model (if any)."""

    def settings(run):
        return {key: value for key, value in run["config"].items() if key != "seed"}

    def same(a, b):  # on the settings both record (runs of 0.6 and before record fewer)
        return all(a[key] == b[key] for key in a.keys() & b.keys())

    new = {(run["model"], run["seed"]): settings(run) for run in runs}
    kept = [
        run
        for run in recorded_runs(FLAGS.results_name)
        if (run["model"], run["seed"]) not in new
        and all(same(config, settings(run)) for (model, _), config in new.items() if model == run["model"])
    ]
    return sorted(kept + runs, key=lambda run: (list(MODELS).index(run["model"]), run["seed"]))


def summarise(runs):
    """Per model: error per task (mean over seeds), mean error, failed tasks (of the mean and of each seed)."""
    import numpy as np

    summary = {}
    for model in dict.fromkeys(run["model"] for run in runs):
        group = [run for run in runs if run["model"] == model]
        tasks = list(group[0]["accuracy_by_task"])
        errors = {t: float(np.mean([1 - run["accuracy_by_task"][t] for run in group])) for t in tasks}
        summary[model] = {
            "seeds": [run["seed"] for run in group],
            "error_by_task": errors,
            "mean_error": float(np.mean(list(errors.values()))),
            "failed_tasks": [t for t, error in errors.items() if error > FAILED],
            "failed_per_seed": [sum(1 - a > FAILED for a in run["accuracy_by_task"].values()) for run in group],
            "mean_error_per_seed": [float(np.mean([1 - a for a in run["accuracy_by_task"].values()])) for run in group],
            "test_examples_by_task": group[0]["test_examples_by_task"],
            "hours": [run.get("seconds", 0) / 3600 for run in group],
        }
    return summary


def table(summary):
    models = list(summary)
    tasks = list(summary[models[0]]["error_by_task"])
    counts = summary[models[0]]["test_examples_by_task"]
    rows = [
        [
            t,
            counts[t],
            *(
                f"{summary[m]['error_by_task'][t]:.1%}" + (" *" if t in summary[m]["failed_tasks"] else "")
                for m in models
            ),
        ]
        for t in tasks
    ]
    rows.append(["mean", "", *(f"{summary[m]['mean_error']:.1%}" for m in models)])
    rows.append(["failed (> 5%)", "", *(str(len(summary[m]["failed_tasks"])) for m in models)])
    rows.append(["seeds", "", *(",".join(map(str, summary[m]["seeds"])) for m in models)])
    return format_table(["task", "test questions", *(f"{m} error" for m in models)], rows)


def plot(summary, path):
    import numpy as np

    models = list(summary)
    tasks = list(summary[models[0]]["error_by_task"])
    width = 0.8 / len(models)
    with figure(path, size=(9, 3.4)) as (ax,):
        for i, model in enumerate(models):
            ax.bar(
                np.arange(len(tasks)) + i * width,
                [100 * summary[model]["error_by_task"][t] for t in tasks],
                width,
                label=f"{model} (mean {summary[model]['mean_error']:.1%}, "
                f"{len(summary[model]['failed_tasks'])} failed)",
            )
        ax.axhline(100 * FAILED, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xticks(np.arange(len(tasks)) + width * (len(models) - 1) / 2, tasks)
        ax.set_xlabel("bAbI task (stories as written, joint training on all 20)")
        ax.set_ylabel("test error (%)")
        ax.legend(fontsize=8)


def main(argv):
    jobs = [(model, int(seed)) for seed in FLAGS.seeds for model in FLAGS.models]
    with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
        runs = earlier_seeds(list(pool.map(lambda job: run_one(*job), jobs)))
    summary = summarise(runs)
    print(table(summary))
    command = command_line(
        "babi20.py",
        [
            "models",
            "seeds",
            "epochs",
            "train_examples",
            "train_questions",
            "test_examples",
            "num_slots",
            "reader_hops",
            "hidden_dim",
            "batch_size",
            "segment_length",
            "story_pass",
            "dev_fraction",
            "learning_rate",
            "learning_rate_halving",
            "backend",
            "results_name",
        ],
    )
    write_results(
        FLAGS.results_name,
        {
            "machine": machine_description(),
            "backend": FLAGS.backend,
            "command": command,
            "summary": summary,
            "runs": runs,
        },
    )
    plot(summary, os.path.join(RESULTS, f"{FLAGS.results_name}.png"))
    print(f"Wrote {RESULTS}/{FLAGS.results_name}.json and {FLAGS.results_name}.png")


if __name__ == "__main__":
    app.run(main)
