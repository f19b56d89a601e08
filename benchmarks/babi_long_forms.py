"""bAbI tasks 1-5 made long: accuracy per task by where the supporting facts sit, plain memory against rehearsal.

    python -m benchmarks.babi_long_forms --data_dir=~/bAbI/tasks_1-20_v1-2/en-10k    # the twenty tasks' recipe
    python -m benchmarks.babi_long_forms --data_dir=... --variants=plain --seeds=0 --epochs=1 --train_examples=100

BABILong's five tasks (single, two and three supporting facts, two- and
three-argument relations) from the official files, each story lengthened to
`--length` sentences with the example's distractors. One model per variant and
seed learns the five tasks together (`experiments/babi_long.py --task=1,2,3,4,5`,
facts spread as they come, `--depth=uniform`, fresh distractors every epoch).
The same trained model is then tested, without more training, on each of
`--evaluations`: a length and a depth, e.g. `1000:early` (the whole story in
the first quarter, so every answer lies 750 sentences back or more) or
`1000:uniform`, or for some tasks only, e.g. `10000:uniform:1+2` (full
attention is tested up to `--full_attention_max_length` sentences).

`--train_questions=1000` trains on the first 1,000 questions of each file
only (bAbI's 1k setting), the dev split held out of them.

The variants share data, epochs and seeds (see `benchmarks/forgetting.py`):
`plain` (no rehearsal), `uniform` (the paper's rehearsal: fragments drawn
uniformly, weights 1.0 and 0.5), `teacher` (fragments drawn by the query-aware
teacher), `supporting` (the same rehearsal, its fragments drawn around the supporting
facts the bAbI files mark), `uniform_decoder1` (`uniform` with a decoder of one layer),
`full_attention` (attention over the whole story,
the upper bound).

Every run is a process of its own (`--jobs` at a time; with `--jobs=1` a call in this one); a finished run with
the same settings is read back and an interrupted one goes on after its last
epoch, so a stopped benchmark goes on where it stopped. Writes
benchmarks/results/babi_long_forms.json (every run and evaluation, with test
counts per task and quarter) and babi_long_forms.png, and prints per task the
accuracy of each evaluation and its earliest and latest quarter, then each
variant's mean over the tasks by seed against the plain memory's.
"""

import concurrent.futures
import os

from absl import app, flags

from benchmarks.common import REHEARSAL_VARIANTS as VARIANTS
from benchmarks.common import (
    RESULTS,
    ROOT,
    TRAIN_TERMS,
    command_line,
    machine_description,
    recorded_runs,
    run_experiment,
    write_results,
)
from keras_rm.pipelines.metrics import format_table
from keras_rm.pipelines.plotting import figure, quarter_axis

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Folder of the official bAbI files (e.g. en-10k).")
flags.DEFINE_list("tasks", ["1", "2", "3", "4", "5"], "bAbI tasks learned together (BABILong's five).")
flags.DEFINE_list(
    "variants", ["plain", "uniform", "supporting", "full_attention"], f"Models compared, of {list(VARIANTS)}."
)
flags.DEFINE_list("seeds", ["0", "1"], "Seeds (data, initialisation, rehearsal draws).")
flags.DEFINE_integer("length", 200, "Sentences per lengthened training story.")
flags.DEFINE_list(
    "evaluations",
    ["200:uniform", "1000:uniform", "1000:early", "10000:uniform:1+2"],
    "Tests of each trained model, `length:depth`, or `length:depth:tasks` for some tasks only (`1+2`); one at the "
    "training length and depth is its own test. (The early quarter of 200 sentences cannot hold a story of tasks 2 "
    "and 3, up to 90 sentences.)",
)
flags.DEFINE_integer("epochs", 30, "Epochs (the first `--warmup_epochs` on the stories as long as the longest).")
flags.DEFINE_integer("warmup_epochs", 2, "Epochs on short stories first (a length curriculum).")
flags.DEFINE_integer("train_examples", 2000, "Training questions per task and epoch (fresh distractors each epoch).")
flags.DEFINE_integer(
    "train_questions", 0, "Questions of each training file used at all, the first (bAbI's 1k setting: 1000; 0: all)."
)
flags.DEFINE_integer("test_examples", 1000, "Test questions per task (1,000: all).")
flags.DEFINE_float("learning_rate", 3e-4, "Adam's learning rate after the warm-up (the twenty tasks' recipe).")
flags.DEFINE_integer("learning_rate_halving", 15, "Epochs between halvings of the learning rate (0: constant).")
flags.DEFINE_float("dev_fraction", 0.1, "Share of each training file's stories held out for the learning curve.")
flags.DEFINE_integer("num_slots", 16, "Memory slots.")
flags.DEFINE_integer("reader_hops", 2, "Attention hops of the memory's reader (tasks 2 and 3 chain facts).")
flags.DEFINE_integer("segment_length", 16, "Sentences per segment of the memory.")
flags.DEFINE_float("recollection_weight", 1.0, "Recollection weight of the rehearsal variants (the paper's).")
flags.DEFINE_float("familiarity_weight", 0.5, "Familiarity weight of the rehearsal variants (the paper's).")
flags.DEFINE_integer("rehearsal_warmup", 1000, "Steps over which the rehearsal weights rise from 0.")
flags.DEFINE_integer(
    "full_attention_max_length",
    1000,
    "Longest test of full attention, in sentences (its attention over 10,000 sentences would need about 13 GB a "
    "batch of 32).",
)
flags.DEFINE_string("backend", "jax", "KERAS_BACKEND of the runs.")
flags.DEFINE_integer("jobs", 2, "Runs at a time (each gets cpu_count / jobs threads).")
flags.DEFINE_string("runs_dir", "output/babi_long_forms", "Where each run's output directory goes.")
flags.DEFINE_string("results_name", "babi_long_forms", "Name of the results: benchmarks/results/<name>.json and .png.")
flags.mark_flag_as_required("data_dir")


def parse_evaluation(evaluation):
    """`length:depth` or `length:depth:tasks` (tasks joined by "+", some of `--tasks`) -> (length, depth, tasks)."""
    length, depth, tasks = (evaluation.split(":") + [""])[:3]
    tasks = tasks.split("+") if tasks else list(FLAGS.tasks)
    if not length.isdigit() or depth not in ("uniform", "early", "late") or not set(tasks) <= set(FLAGS.tasks):
        raise ValueError(
            "`--evaluations` are `length:depth` (uniform, early, late), or `length:depth:tasks` with some of "
            f"`--tasks` = {','.join(FLAGS.tasks)} joined by '+'. Received: {evaluation!r}"
        )
    return int(length), depth, tasks


def training_settings(variant):
    """The flags of `experiments/babi_long.py` that train `variant` (but its data folder and seed)."""
    return {
        "task": ",".join(FLAGS.tasks),
        "length": FLAGS.length,
        "depth": "uniform",
        "epochs": FLAGS.epochs,
        "warmup_epochs": FLAGS.warmup_epochs,
        "train_examples": FLAGS.train_examples,
        "test_examples": FLAGS.test_examples,
        "learning_rate": FLAGS.learning_rate,
        "learning_rate_halving": FLAGS.learning_rate_halving,
        "dev_fraction": FLAGS.dev_fraction,
        "num_slots": FLAGS.num_slots,
        "reader_hops": FLAGS.reader_hops,
        "segment_length": FLAGS.segment_length,
        "recollection_weight": FLAGS.recollection_weight,
        "familiarity_weight": FLAGS.familiarity_weight,
        "rehearsal_warmup": FLAGS.rehearsal_warmup,
        # Only where set: the runs recorded before the flag existed keep settings equal to this invocation's.
        **({"train_questions": FLAGS.train_questions} if FLAGS.train_questions else {}),
        **VARIANTS[variant],
    }


def train_and_test(variant, seed):
    """Trains one model (or reads it back) and tests it on every evaluation; returns one row per evaluation."""
    training_dir = os.path.join(ROOT, FLAGS.runs_dir, f"{variant}_seed{seed}")
    settings = {
        "data_dir": os.path.abspath(os.path.expanduser(FLAGS.data_dir)),
        "seed": seed,
        **training_settings(variant),
    }
    # The backup kept: a later invocation with more --epochs trains on from the last one.
    trained = run_experiment("babi_long", dict(settings, keep_backup=True), training_dir, FLAGS.backend, FLAGS.jobs)
    rows = []
    for length, depth, tasks in map(parse_evaluation, FLAGS.evaluations):
        if variant == "full_attention" and length > FLAGS.full_attention_max_length:
            continue
        if (length, depth, tasks) == (FLAGS.length, "uniform", list(FLAGS.tasks)):
            metrics = trained
        else:  # the trained model, no more training: one story drawn for the (empty) training set, then the test
            tested = dict(
                settings,
                task=",".join(tasks),
                init_from=training_dir,
                epochs=0,
                train_examples=1,
                depth=depth,
                test_length=length,
            )
            only = "" if tasks == list(FLAGS.tasks) else "_tasks" + "+".join(tasks)
            test_dir = os.path.join(ROOT, FLAGS.runs_dir, f"{variant}_seed{seed}_test{length}_{depth}{only}")
            metrics = run_experiment("babi_long", tested, test_dir, FLAGS.backend, FLAGS.jobs)
        rows.append(
            {
                "variant": variant,
                "seed": seed,
                "settings": training_settings(variant),
                "test_length": length,
                "test_depth": depth,
                "accuracy_by_task": metrics["accuracy_by_task"],
                "depth_by_task": metrics["depth_by_task"],
                "train_logs": trained.get("train_logs", {}),
                "learning_curve": trained.get("learning_curve", []),
                "train_seconds": trained["seconds"],
                "test_seconds": metrics["seconds"],
            }
        )
        print(
            f"{variant:>15} seed {seed}, tested at {length}:{depth}: "
            + ", ".join(f"task {t} {a:.1%}" for t, a in metrics["accuracy_by_task"].items()),
            flush=True,
        )
    return rows


def summarise(runs):
    """Mean over seeds per task, variant and evaluation: accuracy, accuracy by quarter, test counts by quarter."""
    import numpy as np

    groups = {}
    for run in runs:
        for task in run["accuracy_by_task"]:
            key = (task, run["variant"], run["test_length"], run["test_depth"])
            groups.setdefault(key, []).append(run)
    summary = []
    for (task, variant, length, depth), group in groups.items():
        reports = [run["depth_by_task"][task] for run in group]
        by_depth = np.array([[np.nan if v is None else v for v in r["accuracy_by_depth"]] for r in reports])
        summary.append(
            {
                "task": task,
                "variant": variant,
                "test_length": length,
                "test_depth": depth,
                "seeds": [run["seed"] for run in group],
                "accuracy_per_seed": [r["accuracy"] for r in reports],
                "accuracy_mean": float(np.mean([r["accuracy"] for r in reports])),
                "by_depth_mean": [None if np.isnan(v) else float(v) for v in np.nanmean(by_depth, axis=0)],
                "test_examples_by_depth": reports[0]["test_examples_by_depth"],
                **{
                    f"train_{name}_mean": float(np.mean([run["train_logs"][name] for run in group]))
                    for name in TRAIN_TERMS
                    if all(name in run["train_logs"] for run in group)
                },
            }
        )
    return summary


def percent(value):
    return "-" if value is None else f"{value:.1%}"


def table(summary):
    rows = [
        [
            s["task"],
            s["variant"],
            f"{s['test_length']}:{s['test_depth']}",
            percent(s["accuracy_mean"])
            + ("" if len(s["seeds"]) < 2 else f" ({' / '.join(map(percent, s['accuracy_per_seed']))})"),
            *map(percent, s["by_depth_mean"]),
            "/".join(map(str, s["test_examples_by_depth"])),
        ]
        for s in sorted(summary, key=lambda s: (int(s["task"]), s["test_length"], s["test_depth"]))
    ]
    headers = ["task", "variant", "tested at", "accuracy (per seed)", "Q1 (earliest)", "Q2", "Q3", "Q4 (latest)"]
    return format_table([*headers, "questions per quarter"], rows)


# The plain memory forgets where its earliest quarter's facts are answered this far below its latest quarter's.
FORGETTING = 0.10


def forgetting(runs):
    """Per task, seed and test longer than training: each variant's accuracy on the earliest quarter's facts, its
    difference from the plain memory's, and the share of the plain memory's forgetting it closes. That gap is the
    plain memory's accuracy on the latest quarter's facts at that length (`uniform`) less its accuracy on the earliest
    quarter's (of the same test); a share only where the gap is `FORGETTING` or more (a seed that barely forgets
    would make any difference a huge share)."""
    plain = {(run["seed"], run["test_length"], run["test_depth"]): run for run in runs if run["variant"] == "plain"}
    rows = []
    for run in (run for run in runs if run["test_length"] > FLAGS.length):
        length, depth = run["test_length"], run["test_depth"]
        base, latest = plain.get((run["seed"], length, depth)), plain.get((run["seed"], length, "uniform"))
        for task, report in run["depth_by_task"].items():
            row = {
                "task": task,
                "test": f"{length}:{depth}",
                "seed": run["seed"],
                "variant": run["variant"],
                "earliest": report["accuracy_by_depth"][0],
                "earliest_questions": report["test_examples_by_depth"][0],
                "against_plain": None,
                "gap_closed": None,
            }
            if base and latest and task in base["depth_by_task"] and task in latest["depth_by_task"]:
                base_earliest = base["depth_by_task"][task]["accuracy_by_depth"][0]
                gap = latest["depth_by_task"][task]["accuracy_by_depth"][-1] - base_earliest
                if base_earliest is not None and row["earliest"] is not None:
                    row["against_plain"] = row["earliest"] - base_earliest
                    if gap >= FORGETTING:
                        row["gap_closed"] = row["against_plain"] / gap
            rows.append(row)
    return rows


def forgetting_table(rows):
    order = list(VARIANTS)
    rows = sorted(rows, key=lambda r: (int(r["task"]), r["test"], r["seed"], order.index(r["variant"])))
    headers = ["task", "tested at", "seed", "variant", "earliest quarter (questions)", "against plain"]
    headers += ["plain's gap closed"]
    return format_table(
        headers,
        [
            [
                r["task"],
                r["test"],
                r["seed"],
                r["variant"],
                f"{percent(r['earliest'])} ({r['earliest_questions']})",
                "-" if r["against_plain"] is None or r["variant"] == "plain" else f"{100 * r['against_plain']:+.1f}",
                "-" if r["gap_closed"] is None or r["variant"] == "plain" else f"{r['gap_closed']:+.0%}",
            ]
            for r in rows
        ],
    )


def seed_means(runs):
    """Per evaluation, variant and seed: the accuracy averaged over the tested tasks, and its difference from the
    plain memory's in the same seed and test (None without a plain run there)."""
    import numpy as np

    def mean(run):
        return float(np.mean(list(run["accuracy_by_task"].values())))

    plain = {
        (run["seed"], run["test_length"], run["test_depth"]): mean(run) for run in runs if run["variant"] == "plain"
    }
    rows = []
    for run in runs:
        base, accuracy = plain.get((run["seed"], run["test_length"], run["test_depth"])), mean(run)
        rows.append(
            {
                "test": f"{run['test_length']}:{run['test_depth']}",
                "variant": run["variant"],
                "seed": run["seed"],
                "tasks": list(run["accuracy_by_task"]),
                "accuracy": accuracy,
                "against_plain": None if base is None else accuracy - base,
            }
        )
    return rows


def seed_means_table(rows):
    order = list(VARIANTS)
    keys = sorted({(r["test"], r["variant"]) for r in rows}, key=lambda k: (k[0], order.index(k[1])))
    seeds = sorted({r["seed"] for r in rows})
    cells = {(r["test"], r["variant"], r["seed"]): r for r in rows}

    def cell(row):
        if row is None:
            return "-"
        against = row["against_plain"]
        return percent(row["accuracy"]) + (
            "" if against is None or row["variant"] == "plain" else f" ({100 * against:+.1f})"
        )

    return format_table(
        ["tested at", "variant", *(f"seed {seed}" for seed in seeds)],
        [[test, variant, *(cell(cells.get((test, variant, seed))) for seed in seeds)] for test, variant in keys],
    )


def plot(summary, path):
    """Accuracy by quarter holding the facts: a panel per task, a line per variant and evaluation."""
    tasks = sorted({s["task"] for s in summary}, key=int)
    with figure(path, ncols=len(tasks), size=(3.2, 3.4), sharey=True) as axes:
        for ax, task in zip(axes, tasks):
            for s in summary:
                if s["task"] == task:
                    quarters = [float("nan") if v is None else v for v in s["by_depth_mean"]]
                    ax.plot(
                        range(1, 5), quarters, marker="o", label=f"{s['variant']}, {s['test_length']}:{s['test_depth']}"
                    )
            ax.set_title(f"task {task}")
            quarter_axis(ax, "quarter holding the facts", "test accuracy" if ax is axes[0] else None)
        axes[-1].legend(fontsize=6)


def earlier_runs(jobs):
    """babi_long_forms.json's rows of variants and seeds this invocation does not run, trained with the settings this
    invocation gives their variant: a seed run in an earlier invocation (or session) stays beside the new ones."""
    return [
        row
        for row in recorded_runs(FLAGS.results_name)
        if (row["variant"], row["seed"]) not in jobs and row.get("settings") == training_settings(row["variant"])
    ]


def report(runs):
    """Prints the table and writes the JSON and the figure of `runs` (after every finished model)."""
    summary = summarise(runs)
    text = table(summary)
    print(
        f"\nTest accuracy by quarter of the story holding the supporting facts ({FLAGS.backend}, "
        f"{machine_description()})"
    )
    print(text, flush=True)
    forgotten = forgetting(runs)
    if any(row["against_plain"] is not None and row["variant"] != "plain" for row in forgotten):
        gaps = (
            "The earliest quarter by seed: against the plain memory's (points), and the share closed of the plain "
            f"memory's gap (latest less earliest, where {FORGETTING:.0%} or more)\n" + forgetting_table(forgotten)
        )
        print(gaps, flush=True)
        text += "\n\n" + gaps
    means = seed_means(runs)
    if any(row["against_plain"] is not None and row["variant"] != "plain" for row in means):
        compared = (
            "Mean over the tested tasks by seed (points against the plain memory's in brackets)\n"
            + seed_means_table(means)
        )
        print(compared, flush=True)
        text += "\n\n" + compared
    names = ["tasks", "variants", "seeds", "length", "evaluations", "epochs", "warmup_epochs", "train_examples"]
    names += ["train_questions", "test_examples", "learning_rate", "learning_rate_halving", "dev_fraction", "num_slots"]
    names += ["reader_hops", "segment_length", "recollection_weight"]
    names += ["familiarity_weight", "rehearsal_warmup", "backend", "results_name"]
    payload = {
        "command": command_line("babi_long_forms.py", names),
        "machine": machine_description(),
        "backend": FLAGS.backend,
        "summary": summary,
        "forgetting": forgotten,
        "seed_means": means,
        "runs": runs,
        "table": text,
    }
    path = write_results(FLAGS.results_name, payload)
    plot(summary, os.path.join(RESULTS, f"{FLAGS.results_name}.png"))
    print(f"Wrote {path} and {FLAGS.results_name}.png")


def main(argv):
    for evaluation in FLAGS.evaluations:
        parse_evaluation(evaluation)
    jobs = [(variant, int(seed)) for seed in FLAGS.seeds for variant in FLAGS.variants]
    runs = earlier_runs(jobs)
    with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
        for rows in concurrent.futures.as_completed([pool.submit(train_and_test, *job) for job in jobs]):
            runs = sorted(runs + rows.result(), key=lambda row: (row["seed"], list(VARIANTS).index(row["variant"])))
            report(runs)


if __name__ == "__main__":
    app.run(main)
