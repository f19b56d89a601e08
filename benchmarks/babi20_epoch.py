"""What an epoch of the twenty bAbI tasks costs: one pass per story against one story read per question.

    python -m benchmarks.babi20_epoch --data_dir=~/bAbI/tasks_1-20_v1-2/en-10k

The official files tell a story once and ask up to twelve questions along
it. Read one example per question (`--nostory_pass`, segments of 16
sentences: the path of keras-rm 0.6), the memory writes each story again
for every question: 1.71 million sentences an epoch where the stories hold
0.62 million. The story pass (`experiments/babi_long.py --story_pass`, segments
of 4) writes each story once and answers every question from the memory at
its place. Both runs train the same memory (16 slots, 2 hops) on the same
questions and seeds, one after the other on the same machine, each alone.
With `--baseline_dir` the first path also runs from an earlier checkout,
first, and is the baseline:

    git worktree add ../base <commit> && ln -s ../pipelines ../base/keras_rm/pipelines
    python -m benchmarks.babi20_epoch --data_dir=... --paths=per_question_16 --baseline_dir=../base

Prints, per path: sentences written an epoch (as written, and with the
padding), the seconds of each epoch's training steps (the
first ones hold tracing and compiling: JAX compiles a step for every batch
shape it meets), questions per second over the last epoch, and the dev
accuracy after each epoch (so the speed is not bought with learning).
Writes benchmarks/results/babi20_epoch.json and babi20_epoch.png.
"""

import os

from absl import app, flags

from benchmarks.common import (
    RESULTS,
    ROOT,
    command_line,
    commit_of,
    machine_description,
    run_experiment,
    write_results,
)
from keras_rm.pipelines.metrics import format_table
from keras_rm.pipelines.plotting import figure

# Batches: 32 questions (0.6), or 8 stories (about 25 questions: as many optimizer steps an epoch).
PATHS = {
    "per_question_16": (
        "one story per question, segments of 16",
        dict(story_pass=False, segment_length=16, batch_size=32),
    ),
    "story_pass_4": ("one pass per story, segments of 4", dict(story_pass=True, segment_length=4, batch_size=8)),
    "story_pass_8": ("one pass per story, segments of 8", dict(story_pass=True, segment_length=8, batch_size=8)),
}

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Folder of the official bAbI files of the 20 tasks (e.g. en-10k).")
flags.DEFINE_integer("train_examples", 10000, "Training questions per task and epoch (10,000: all of en-10k).")
flags.DEFINE_integer("epochs", 3, "Epochs per path (the first compiles).")
flags.DEFINE_list("paths", list(PATHS), f"Paths measured, of {list(PATHS)} (the first is the baseline).")
flags.DEFINE_integer("seed", 0, "Seed of both runs.")
flags.DEFINE_string("backend", "jax", "KERAS_BACKEND of the runs.")
flags.DEFINE_string("runs_dir", "output/babi20_epoch", "Where each run's output directory goes.")
flags.DEFINE_string(
    "baseline_dir",
    "",
    "A checkout of an earlier version (`git worktree add ../base <commit>`, its `keras_rm/pipelines` linked to its "
    "`pipelines/`): the first of `--paths` runs there too, before the others, and is the baseline.",
)
flags.mark_flag_as_required("data_dir")


def sentences_written(data_dir, segment_length, story_pass, batch_size):
    """`(as written, padded)`: sentences an epoch of every training question writes into the memory. One story per
    question, batches hold stories in length order, each padded to whole segments."""
    import numpy as np

    from keras_rm.pipelines.babi import group_by_story, read_babi_task, story_layout
    from keras_rm.pipelines.babi.vectorizer import bucketed_length

    real = padded = 0
    lengths = []
    for task in range(1, 21):
        examples = read_babi_task(data_dir, task, "train")
        if story_pass:
            stories = group_by_story(examples)
            real += sum(len(story[-1].story) for story in stories)
            padded += sum(len(story_layout(story, segment_length)[0]) for story in stories)
        else:
            lengths += [len(e.story) for e in examples]
    if lengths:
        real = sum(lengths)
        longest = np.sort(lengths)[batch_size - 1 :: batch_size].tolist()  # of each batch
        padded = batch_size * sum(bucketed_length(n, segment_length, shortest=segment_length) for n in longest)
    return real, padded


def run_path(name, root=ROOT):
    label, path = PATHS[name]
    if root != ROOT:
        label, name = f"{label}, at {commit_of(root)[:7]}", f"{name}_baseline"
    settings = {
        "task": "all",
        "length": 0,
        "data_dir": os.path.abspath(os.path.expanduser(FLAGS.data_dir)),
        "seed": FLAGS.seed,
        "epochs": FLAGS.epochs,
        "train_examples": FLAGS.train_examples,
        "test_examples": 100,
        "dev_fraction": 0.1,
        "num_slots": 16,
        "reader_hops": 2,
        "hidden_dim": 64,
        **path,
    }
    # Each run alone in a process of its own when a baseline runs from another checkout: like timed like.
    run_dir = os.path.join(ROOT, FLAGS.runs_dir, name)
    metrics = run_experiment(
        "babi_long", settings, run_dir, FLAGS.backend, root=root, own_process=bool(FLAGS.baseline_dir)
    )
    curve = metrics["learning_curve"]
    seconds = [row["epoch_seconds"] for row in curve]
    questions = curve[0]["questions"]
    real, padded = sentences_written(
        settings["data_dir"], path["segment_length"], path["story_pass"], path["batch_size"]
    )
    return {
        "name": name,
        "path": label,
        "settings": settings,
        "questions_per_epoch": questions,
        "epoch_seconds": seconds,
        "questions_per_second": questions / seconds[-1],  # the earlier epochs compile steps for new shapes
        "dev_accuracy": [row["val_accuracy"] for row in curve],
        "sentences_written_per_epoch": {"as_written": real, "padded": padded},
    }


def main(argv):
    if len(FLAGS.paths) + bool(FLAGS.baseline_dir) < 2:
        raise app.UsageError("Name two `--paths`, or one and a `--baseline_dir`: the first is the baseline.")
    # One after the other: each alone on the machine.
    runs = [run_path(FLAGS.paths[0], FLAGS.baseline_dir)] if FLAGS.baseline_dir else []
    runs += [run_path(name) for name in FLAGS.paths]
    old, new = runs[0], runs[1]
    rows = [
        [
            run["path"],
            f"{run['sentences_written_per_epoch']['as_written']:,}",
            f"{run['sentences_written_per_epoch']['padded']:,}",
            " / ".join(f"{s:.0f}" for s in run["epoch_seconds"]),
            f"{run['questions_per_second']:,.0f}",
            " / ".join(f"{a:.1%}" for a in run["dev_accuracy"]),
        ]
        for run in runs
    ]
    print(
        format_table(
            ["path", "sentences written", "padded", "epoch seconds", "questions/s", "dev accuracy by epoch"], rows
        )
    )
    speedup = new["questions_per_second"] / old["questions_per_second"]
    full_epoch = 20 * 10000 * 0.9 / new["questions_per_second"]  # every training question of en-10k but the dev split
    print(
        f"\n{new['path']}: {speedup:.2f}x the questions/s of {old['path']}; a full joint epoch about "
        f"{full_epoch:.0f} s."
    )
    write_results(
        "babi20_epoch",
        {
            "machine": machine_description(),
            "backend": FLAGS.backend,
            "command": command_line("babi20_epoch.py", ["train_examples", "epochs", "paths", "seed", "backend"]),
            "baseline_commit": commit_of(FLAGS.baseline_dir) if FLAGS.baseline_dir else None,
            "speedup": speedup,
            "full_epoch_seconds": full_epoch,
            "runs": runs,
        },
    )
    with figure(os.path.join(RESULTS, "babi20_epoch.png"), ncols=2, size=(4.5, 3.2)) as (speed, learning):
        speed.bar(range(len(runs)), [run["questions_per_second"] for run in runs])
        speed.set_xticks(range(len(runs)), [run["name"] for run in runs], rotation=20, fontsize=6)
        speed.set_ylabel("training questions / s")
        for run in runs:
            learning.plot(range(1, len(run["dev_accuracy"]) + 1), run["dev_accuracy"], marker="o", label=run["path"])
        learning.set_xlabel("epoch")
        learning.set_ylabel("dev accuracy (20 tasks)")
        learning.legend(fontsize=7)
    print(f"Wrote {RESULTS}/babi20_epoch.json and babi20_epoch.png")


if __name__ == "__main__":
    app.run(main)
