"""Trains and evaluates a memory model on long bAbI: accuracy by where the supporting facts sit.

    python -m experiments.babi_long --task=1 --length=200 --epochs=5 --output_dir=/tmp/babi
    python -m experiments.babi_long --task=2 --data_dir=~/bAbI/tasks_1-20_v1-2/en-10k --length=1000
    KERAS_BACKEND=torch python -m experiments.babi_long --sampler=teacher

Stories come from the built-in generator (tasks 1, 2, 3, 6, 7) or, with
`--data_dir`, from the official task files of any of the 20 tasks
(`keras_rm.pipelines.babi.download_babi()` fetches the released archive).
`--task` names one task, several (`--task=2,3`) or `all`: one model learns
them together and the report gives each task's accuracy. Each story is
lengthened to `--length` sentences with distractors, its facts placed
`--depth` (uniform, early, late), or with `--length=0` kept as written (the
bAbI protocol); training draws fresh stories (built-in) or fresh distractors
and fact placement (official files) every epoch:

    python -m experiments.babi_long --task=all --length=0 --data_dir=~/bAbI/tasks_1-20_v1-2/en-10k

Writes to `--output_dir`: `model.keras` (its `text_vectorizer` holds the vocabularies:
`BabiVectorizer.from_layer(model.text_vectorizer)`), `metrics.json` (`accuracy`,
`accuracy_by_depth` by quarter of the sequence, earliest first), TensorBoard
logs under `logs/`, `accuracy_by_depth.png`, and a TensorFlow SavedModel under
`saved_model/` (`keras_rm.export.export_saved_model`; `--noexport` skips it)
that `examples/serve_stream.py` streams stories through.

`--init_from=DIR` goes on from an earlier run's model and vocabulary, e.g.
to train on short stories first and then on long ones:

    python -m experiments.babi_long --length=100 --epochs=10 --output_dir=/tmp/short
    python -m experiments.babi_long --length=1000 --epochs=1 --init_from=/tmp/short --output_dir=/tmp/long

A run that goes on from another has no `--warmup_epochs`: every epoch is at
`--length`.

Crash recovery: after every epoch the model, optimizer and rehearsal random
state are backed up to `--output_dir/backup` (`keras.callbacks.BackupAndRestore`).
Run the same command again after a crash and training goes on after the last
finished epoch, with the same data per epoch as an uninterrupted run;
`--noresume` starts over. A finished run removes the backup.

`--data_parallel` trains on every local device (JAX: `keras.distribution.DataParallel`;
TF: `tf.distribute.MirroredStrategy`; not available under torch); `--batch_size`
is the global batch:

    XLA_FLAGS=--xla_force_host_platform_device_count=4 KERAS_BACKEND=jax \
        python -m experiments.babi_long --data_parallel --batch_size=32
"""

import contextlib
import os

from absl import flags, logging

from experiments.fitting import fit_epochs, learning_curve
from experiments.flags import flag_values, main_program, run_config
from experiments.reports import answers_along, evaluation_batch_size, write_run
from keras_rm.pipelines.metrics import accuracy_report, depth_table, predict_classes

FLAGS = flags.FLAGS

# One flag per argument of `run`, its default taken from there. Rehearsal is off by default: on long bAbI it has
# not yet beaten the plain memory (docs/benchmarks.md: the forgetting benchmark, and tasks 1-5 made long).
FLAG_HELP = {
    "task": (
        "bAbI task, 1-20 (built-in generator: 1, 2, 3, 6, 7); several separated by commas, or 'all', train "
        "one model on all of them together and report each."
    ),
    "length": "Sentences per lengthened story; 0: the stories as written (padded to the longest), no distractors.",
    "depth": (["uniform", "early", "late"], "Where the story's facts are placed."),
    "data_dir": (str, "Folder with the official qa*_train.txt / qa*_test.txt files."),
    "distractors": (str, "Text file of distractor sentences, one per line (default: built-in)."),
    "model": (["memory", "full_attention"], "Memory model or full-attention upper bound."),
    "num_slots": "Memory slots.",
    "segment_length": "Sentences written per segment.",
    "hidden_dim": "Width of sentences and slots.",
    "reader_hops": "Attention hops of the memory reader (task 2 and 3 chain facts: try 2).",
    "slot_identity": (
        "A learned identity per memory slot in its write query (--noslot_identity: the slots collapse"
        " into one vector and the memory does not learn)."
    ),
    "null_item": (
        "Slots may attend to a learned null item and write only by the share of attention they gave "
        "real sentences (--nonull_item: every segment wears every slot down)."
    ),
    "keep_bias": "Initial bias of the slots' GRU update gate (how much a slot keeps per segment).",
    "recollection_weight": (
        "Weight of the recollection loss (0 with familiarity 0: no rehearsal; the paper's setting is 1.0)."
    ),
    "familiarity_weight": "Weight of the familiarity loss (the paper's setting is 0.5).",
    "rehearsal_warmup": (
        "Training steps over which the rehearsal weights rise from 0, so the task is learned first "
        "(0: the paper; with 0 rehearsal cost 2 points on task 1 at 200 sentences, with 1000 0.4)."
    ),
    "sampler": (
        ["uniform", "teacher", "importance"],
        "History sampler of the rehearsal (importance: fragments drawn around the supporting facts the data marks).",
    ),
    "decoder_layers": "Layers of the rehearsal's decoder (training only: it is not exported).",
    "mask_selection": (
        ["random", "important"],
        "Recollection masks random items of a fragment or the teacher's most important ones.",
    ),
    "story_length": "Sentences per built-in story before lengthening.",
    "train_examples": (
        "Training examples per task and epoch (fresh ones every epoch; of an official file at most all of it)."
    ),
    "train_questions": (
        "Questions of each official training file used at all, the first ones (bAbI's 1k setting: 1000; 0: all "
        "of them); the dev split is held out of these."
    ),
    "test_examples": "Test examples per task.",
    "test_length": (
        int,
        "Sentences per test story (default: --length); e.g. test a model trained on 1,000-sentence "
        "stories on 10,000-sentence ones.",
    ),
    "epochs": "Epochs.",
    "warmup_epochs": (
        "First epochs trained on short stories of --warmup_length sentences (a length curriculum: "
        "with facts close together the memory finds out sooner what to keep). None with --init_from or "
        "--length=0."
    ),
    "warmup_length": "Sentences per story in the --warmup_epochs (at least the longest story of the data).",
    "batch_size": "Batch size.",
    "learning_rate": "Adam's learning rate (gradients clipped to norm 1).",
    "learning_rate_warmup": (
        "Steps over which the learning rate rises linearly from 0 (without it, some seeds sat at chance for epochs)."
    ),
    "learning_rate_halving": "Epochs between halvings of the learning rate after the warm-up (0: constant).",
    "story_pass": (
        "Stories as written (--length=0), memory model: write each story once and answer every question it asks "
        "from the memory at its place (default: one example per question, its story read up to it; on the twenty "
        "tasks the story pass does not learn as well yet: docs/babi.md)."
    ),
    "bucket": (
        "Stories as written: batches of stories of like length, each padded to its own longest (JAX, torch); "
        "--nobucket pads every batch to the longest story of all, as TensorFlow always does."
    ),
    "dev_fraction": (
        "Share of each official training file's stories held out as a dev split: the learning curve is measured "
        "on it, and the test files are read once, at the end (0: the curve reads the test set, for reporting only)."
    ),
    "max_words": (int, "Words kept per sentence (default: the longest sentence or question of the data)."),
    "seed": "Seed of data, initialisation and rehearsal draws.",
    "output_dir": "Where the model, metrics, logs and plot go.",
    "export": "Export a SavedModel (serve, and for the memory: initial_memory, write, answer).",
    "init_from": (
        str,
        "Output directory of an earlier run: start from its model.keras and the vocabularies it holds (e.g. "
        "train on short stories, then go on with longer ones); model flags are then ignored.",
    ),
    "keep_backup": (
        "Keep the backup of the last epoch when the run ends: the same command with more --epochs then trains on "
        "from there (as one longer run would, learning-rate schedule included) and tests again."
    ),
    "resume": (
        "Go on from the backup an interrupted run left in output_dir/backup (--noresume deletes it and starts over)."
    ),
    "data_parallel": (
        "Train on every local device (JAX: keras.distribution.DataParallel, TF: MirroredStrategy; not"
        " torch); --batch_size is the global batch and must divide by the device count."
    ),
}


def parse_tasks(task):
    """The task numbers `--task` names: one number, several separated by commas, or `all` (1 to 20)."""
    from keras_rm.pipelines.babi import TASK_NUMBERS

    if str(task).strip().lower() == "all":
        return list(TASK_NUMBERS)
    try:
        tasks = [int(t) for t in str(task).split(",")]
    except ValueError:
        tasks = []
    if not tasks or any(t not in TASK_NUMBERS for t in tasks) or len(set(tasks)) != len(tasks):
        raise ValueError(
            f"`task` must be a bAbI task 1-20, several separated by commas, or 'all'. Received: `task` = {task!r}"
        )
    return tasks


def held_out(examples_by_task, fraction):
    """`(train, dev)`: each task's examples split by story, `fraction` of the stories (at least one) held out, the
    same ones whatever the run's seed."""
    import numpy as np

    from keras_rm.pipelines.babi import group_by_story

    train, dev = {}, {}
    for task, examples in examples_by_task.items():
        groups = group_by_story(examples)
        chosen = set(np.random.default_rng(task).permutation(len(groups))[: max(1, round(fraction * len(groups)))])
        train[task] = [e for i, g in enumerate(groups) if i not in chosen for e in g]
        dev[task] = [e for i, g in enumerate(groups) if i in chosen for e in g]
    return train, dev


def build_model(model, vectorizer, hidden_dim, **memory_kwargs):
    """The memory model (`memory_kwargs`: `RehearsalMemoryModel` arguments) or the full-attention baseline."""
    import keras_rm

    encoder = keras_rm.layers.SentenceItemEncoder(
        vocabulary_size=vectorizer.vocabulary_size, hidden_dim=hidden_dim, max_words=vectorizer.max_words
    )
    # The model keeps the vectoriser (and its vocabularies): its SavedModel then also takes raw text.
    common = dict(num_classes=len(vectorizer.answers), text_vectorizer=vectorizer.layer)
    if model == "full_attention":
        return keras_rm.FullAttentionModel(encoder, **common)
    return keras_rm.RehearsalMemoryModel(encoder, **common, **memory_kwargs)


def run(
    task="1",
    length=100,
    depth="uniform",
    data_dir=None,
    distractors=None,
    model="memory",
    num_slots=8,
    segment_length=16,
    hidden_dim=64,
    reader_hops=1,
    slot_identity=True,
    null_item=True,
    keep_bias=1.0,
    recollection_weight=0.0,
    familiarity_weight=0.0,
    rehearsal_warmup=1000,
    sampler="uniform",
    mask_selection="random",
    decoder_layers=2,
    story_length=10,
    train_examples=8000,
    train_questions=0,
    test_examples=500,
    test_length=None,
    epochs=10,
    warmup_epochs=2,
    warmup_length=32,
    batch_size=32,
    learning_rate=1e-3,
    learning_rate_warmup=500,
    learning_rate_halving=0,
    story_pass=False,
    bucket=True,
    dev_fraction=0.0,
    max_words=None,
    seed=0,
    output_dir="output/babi_long",
    export=True,
    init_from=None,
    resume=True,
    keep_backup=False,
    data_parallel=False,
    verbose=1,
):
    """Trains, evaluates and writes everything; returns the metrics dict.

    With `data_parallel` under JAX the process keeps the `keras.distribution` it sets.
    """
    import keras
    import numpy as np

    import keras_rm  # (also registers the model classes `load_model` needs)
    from keras_rm.pipelines.babi import (
        TASKS,
        BabiVectorizer,
        as_written,
        generate_babi,
        generate_long_babi,
        group_by_story,
        lengthen,
        read_babi_task,
        story_layout,
    )

    os.makedirs(output_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)
    if init_from:
        warmup_epochs = 0  # the warm-up on short stories is for a model trained from scratch
    lines = None
    if distractors:
        with open(distractors) as f:
            lines = [line.strip() for line in f if line.strip()]

    tasks = parse_tasks(task)
    if not data_dir and set(tasks) - set(TASKS):
        raise ValueError(f"The built-in generator covers tasks {sorted(TASKS)}; pass `--data_dir` for task {task}.")
    if train_questions < 0 or (train_questions and not data_dir):
        raise ValueError(
            "`train_questions` counts questions of the official training files: 0 or more, with `data_dir`. "
            f"Received: `train_questions` = {train_questions}, `data_dir` = {data_dir!r}"
        )
    official, longest = None, story_length
    if data_dir:  # official files are read once; the built-in generator draws new stories every epoch
        official = {split: {t: read_babi_task(data_dir, t, split) for t in tasks} for split in ("train", "test")}
        if train_questions:
            official["train"] = {t: examples[:train_questions] for t, examples in official["train"].items()}
        if dev_fraction:
            official["train"], official["dev"] = held_out(official["train"], dev_fraction)
        longest = max(len(e.story) for split in official.values() for examples in split.values() for e in examples)
    written = not length
    story_pass = bool(story_pass and written and model == "memory")
    if written:  # padded to whole segments; no warm-up on shorter stories
        length, warmup_epochs = -(-longest // segment_length) * segment_length, 0
    else:
        warmup_length = max(warmup_length, longest)  # a warm-up never asks for stories shorter than they are

    def lengthened(split, count, epoch_seed, length=length):
        """`count` examples of every task (of an official file at most all of it), lengthened to `length` sentences
        or as written."""
        rng = np.random.default_rng(epoch_seed)
        examples = []
        for t in tasks:
            if not (official or written):
                examples += generate_long_babi(t, count, length, depth, story_length, lines, seed=epoch_seed)
                continue
            if official:
                source = official[split][t]
                drawn = [source[i] for i in rng.choice(len(source), min(count, len(source)), replace=False)]
            else:
                drawn = generate_babi(t, count, story_length=story_length, seed=epoch_seed)
            examples += [as_written(e) if written else lengthen(e, length, depth, lines, rng) for e in drawn]
        return examples

    def draw_stories(split, count, epoch_seed):
        """About `count` questions of every task as whole stories, as written: lists of a story's questions
        (`group_by_story`). As many stories every epoch (`count` over the task's questions per story; of an
        official file at most all of them), so that every epoch has as many batches."""
        rng = np.random.default_rng(epoch_seed)
        drawn = []
        for t in tasks:
            source = official[split][t] if official else generate_babi(t, count, story_length, seed=epoch_seed)
            groups = group_by_story([as_written(e) for e in source])
            stories = min(len(groups), max(1, round(count * len(groups) / len(source))))
            drawn += [groups[i] for i in rng.permutation(len(groups))[:stories]]
        return drawn

    test_length = test_length or length
    if story_pass:
        test = draw_stories("test", test_examples, seed + 10_000)
        first_train = draw_stories("train", train_examples, seed)
        # Every story laid out with its questions at segment boundaries: the longest layout is the model's length.
        layouts = (
            [g for split in official.values() for source in split.values() for g in group_by_story(source)]
            if official
            else first_train + test
        )
        length = test_length = max(len(story_layout(g, segment_length)[0]) for g in layouts)
        most_questions = max(len(g) for g in layouts)
    else:
        test = lengthened("test", test_examples, seed + 10_000, test_length)
        first_train = lengthened("train", train_examples, seed)
    scope = contextlib.nullcontext
    if data_parallel:
        scope, _ = keras_rm.distribute.data_parallel(batch_size)
    with scope():
        if init_from:
            net = keras.saving.load_model(os.path.join(init_from, "model.keras"))
            vectorizer = BabiVectorizer.from_layer(net.text_vectorizer)  # its vocabularies travel in the model
        else:
            vectorizer = BabiVectorizer(max_words)
            # Every word and answer of an official file (a later epoch draws other questions), or of what was drawn.
            seen = (
                [e for split in official.values() for examples in split.values() for e in examples]
                if official
                else [e for g in first_train + test for e in g]
                if story_pass
                else first_train + test
            )
            vectorizer.adapt(seen)
            net = build_model(
                model,
                vectorizer,
                hidden_dim,
                memory=dict(
                    num_slots=num_slots,
                    segment_length=segment_length,
                    slot_identity=slot_identity,
                    null_item=null_item,
                    keep_bias=keep_bias,
                ),
                reader_hops=reader_hops,
                rehearsal=dict(
                    recollection_weight=recollection_weight,
                    familiarity_weight=familiarity_weight,
                    rehearsal_warmup=rehearsal_warmup,
                    sampler=sampler,
                    mask_selection=mask_selection,
                    decoder_layers=decoder_layers,
                ),
                seed=seed,
            )
            steps_per_epoch = len(first_train) // batch_size
            schedule = keras_rm.schedules.learning_rate_schedule(
                learning_rate, learning_rate_warmup, learning_rate_halving * steps_per_epoch
            )
            # Several questions a story: the task loss is the mean over the real questions (padded ones weigh 0),
            # not over every slot of the question axis.
            loss = (
                keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")
                if story_pass
                else "auto"
            )
            net.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0), loss=loss)
            # Built for the trained length (what `serve` is exported for), whatever the warm-up epochs' length.
            net.build({"items": (None, length, vectorizer.max_words), "query": (None, vectorizer.max_words)})

    # Stories as written (2 to 90 sentences) train in batches of like length, padded to whole segments; TensorFlow's
    # trainer traces one step for every length (a second one fails), so there every story is padded to `length`.
    bucket = segment_length if written and bucket and keras.config.backend() != "tensorflow" else None

    def without_depth(data):
        return data.map(lambda x, y, *meta: (x, y, meta[0]) if story_pass else (x, y))

    def story_data(groups, batch, epoch_seed, complete=False):
        return vectorizer.story_dataset(
            groups,
            batch,
            segment_length,
            bucket=bool(bucket),
            seed=epoch_seed,
            complete=complete,
            length=length,
            questions=most_questions,
        )

    def epoch_data(epoch):
        if story_pass:
            train = first_train if epoch == 0 else draw_stories("train", train_examples, seed + epoch)
            return without_depth(story_data(train, batch_size, seed + epoch))
        # The stories and their order depend on the epoch alone, so a resumed run sees what an uninterrupted
        # one does (a tf.data shuffle's order also depends on what the process shuffled before).
        epoch_length = min(warmup_length, length) if epoch < warmup_epochs else length
        if epoch == 0 and epoch_length == length:
            train = first_train
        else:
            train = lengthened("train", train_examples, seed + epoch, epoch_length)
        order = np.random.default_rng(seed + epoch).permutation(len(train))
        # `sampler="importance"` rehearses what there is to recall: the training stories' supporting facts.
        stories = [train[i] for i in order]
        supporting = model == "memory" and sampler == "importance"
        return without_depth(
            vectorizer.dataset(
                stories,
                batch_size,
                epoch_length,
                seed=seed + epoch,
                bucket=bucket,
                # Whole segments: padding only to the stories' length (`bucketed_length`) measured 0.85x as fast
                # on JAX (a step compiled for each new length) and 2.8 points lower after 3 epochs.
                shortest=segment_length,
                supporting=supporting,
            )
        )

    if story_pass:
        test_data = story_data(test, batch_size, seed, complete=True)
    else:
        test_data = vectorizer.dataset(test, evaluation_batch_size(len(test), batch_size), test_length)
    # The learning curve: dev accuracy after every epoch, or without a dev split test accuracy (reported, never
    # used to choose anything). A run that only tests (no epochs) has none: its dev stories, placed at a test's
    # `depth` in the training `length`, might not even fit.
    if official and dev_fraction and epochs:
        dev = draw_stories("dev", 10**9, seed) if story_pass else lengthened("dev", 10**9, seed)
        curve_data = without_depth(
            story_data(dev, batch_size, seed, complete=True)
            if story_pass
            else vectorizer.dataset(dev, evaluation_batch_size(len(dev), batch_size), length)
        )
    else:
        curve_data = without_depth(test_data) if test_length == length else None
    history, start = fit_epochs(
        net, epoch_data, epochs, output_dir, resume, verbose, scope, curve_data, shape_changes=[warmup_epochs]
    )

    if story_pass:
        correct, depths, test_tasks = answers_along(net, test_data)
    else:
        predictions, labels, depths = predict_classes(net, test_data)
        correct = predictions == labels
        test_tasks = np.asarray([e.task for e in test[: len(correct)]])
    questions_per_epoch = sum(map(len, first_train)) if story_pass else len(first_train)
    metrics = {
        **accuracy_report(correct, depths),
        "accuracy_by_task": {str(t): float(correct[test_tasks == t].mean()) for t in tasks},
        "test_examples_by_task": {str(t): int((test_tasks == t).sum()) for t in tasks},
        # Each task's accuracy by the quarter of the story holding its last supporting fact.
        "depth_by_task": {str(t): accuracy_report(correct[test_tasks == t], depths[test_tasks == t]) for t in tasks},
        "train_logs": {name: float(v[-1]) for name, v in history.history.items()} if history else {},  # last epoch
        "learning_curve": [
            # Sequences written (a story per question without the story pass) and questions answered so far.
            {"stories": row["epoch"] * len(first_train), "questions": row["epoch"] * questions_per_epoch, **row}
            for row in learning_curve(output_dir)
        ],
        "backend": keras.config.backend(),
        "config": {**run_config(run, locals()), "max_words": vectorizer.max_words},
        "resumed_after_epochs": start,
    }
    title = f"bAbI task{'s' if len(tasks) > 1 else ''} {task}, {'as written' if written else f'{length} sentences'}"
    write_run(net, metrics, output_dir, export, f"{title}, {model}", keep_backup=keep_backup)
    return metrics


def task_table(metrics):
    """Test accuracy and error per task, with counts, as a text table (failed: error above 5%, as in the bAbI
    papers)."""
    from keras_rm.pipelines.metrics import format_table

    rows = [
        [
            task,
            f"{accuracy:.1%}",
            f"{1 - accuracy:.1%}",
            "failed" if 1 - accuracy > 0.05 else "",
            metrics["test_examples_by_task"][task],
        ]
        for task, accuracy in metrics["accuracy_by_task"].items()
    ]
    return format_table(["task", "accuracy", "error", "", "examples"], rows)


def main(argv):
    logging.set_verbosity(logging.WARNING)  # absl INFO lines (e.g. JAX looking for a TPU) are noise here
    metrics = run(**flag_values(run), verbose=2)
    print(
        f"\nTest accuracy, bAbI task {FLAGS.task}, {metrics['config']['test_length']} sentences, by the quarter "
        f"of the story holding the supporting facts:"
    )
    print(depth_table(metrics))
    if len(metrics["accuracy_by_task"]) > 1:
        print("\nTest accuracy by task:")
        print(task_table(metrics))
    exported = ", saved_model/" if FLAGS.export else ""
    print(f"\nWrote model.keras{exported}, metrics.json, logs/ and accuracy_by_depth.png to {FLAGS.output_dir}")


if __name__ == "__main__":
    main_program(run, FLAG_HELP, main)
