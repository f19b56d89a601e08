"""KerasTuner search over the memory's size, segment length and rehearsal weights.

    python -m keras_rm.tuning.search --task=babi --max_trials=6 --epochs=3 --directory=output/tuning
    python -m keras_rm.tuning.search --tuner=bayesian --space='{"num_slots": [4, 8], "sampler": "teacher"}'
    python -m keras_rm.tuning.search --task=ctr --length=500 --objective=val_auc

Runs on one machine, or distributed with KerasTuner's own chief/worker mode:
start the same command once with `KERASTUNER_TUNER_ID=chief` and once per
worker with `KERASTUNER_TUNER_ID=tuner0`, `tuner1`, ..., all with
`KERASTUNER_ORACLE_IP` / `KERASTUNER_ORACLE_PORT` pointing at the chief and
the same `--directory` (a shared file system). The chief holds the oracle and,
when the workers are done, writes the summary and exports the best model.

Without `--overwrite` a search that was interrupted resumes: finished trials
are kept and the oracle goes on to `--max_trials`. Writes into
`--directory/--project_name`: `trials.json` (every trial, its
hyperparameters, score and the worker that ran it), `trials.png` (objective
against each hyperparameter), `best_model.keras`, `vocabulary.json` (bAbI) and the
best model as a TensorFlow SavedModel in `saved_model/` (`--noexport` skips it;
`examples/serve_stream.py --model_dir=` that folder serves it).

The data come from `keras_rm.tuning.data`, the hypermodel from `keras_rm.tuning.hypermodel`,
the tuner and its trial records from `keras_rm.tuning.tuner`; this module runs the
search and writes its outputs.
"""

import inspect
import json
import os

from absl import app, flags

from keras_rm.pipelines.plotting import figure
from keras_rm.tuning.data import babi_data, babi_stories, ctr_data
from keras_rm.tuning.tuner import TUNERS, is_worker, make_tuner, summarise, trial_workers

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags (defined on demand, so the module imports beside other absl programs)."""
    flags.DEFINE_enum("task", "babi", ["babi", "ctr"], "What to tune on.")
    flags.DEFINE_integer("babi_task", 1, "bAbI task of the built-in generator (1, 2, 3, 6, 7).")
    flags.DEFINE_integer("length", 100, "Sentences per lengthened bAbI story (ctr: behaviours per history).")
    flags.DEFINE_integer("train_examples", 2000, "Training stories (ctr: users, two examples each).")
    flags.DEFINE_integer("val_examples", 500, "Validation stories or users (the objective is measured on them).")
    flags.DEFINE_integer("max_words", 8, "Words kept per sentence.")
    flags.DEFINE_enum("tuner", "random", list(TUNERS), "KerasTuner search algorithm.")
    flags.DEFINE_string("objective", "val_accuracy", "Metric to maximise (or `val_loss`, minimised).")
    flags.DEFINE_integer("max_trials", 6, "Trials (random, bayesian); hyperband is bounded by --epochs.")
    flags.DEFINE_integer("epochs", 3, "Epochs per trial (hyperband: the most epochs of one model).")
    flags.DEFINE_integer(
        "warmup_epochs",
        0,
        "bAbI: epochs on --warmup_length-sentence stories that begin each "
        "trial (a length curriculum), before the --epochs the tuner scores.",
    )
    flags.DEFINE_integer("warmup_length", 32, "Sentences per story of the --warmup_epochs.")
    flags.DEFINE_integer("learning_rate_warmup", 0, "Steps over which each trial's learning rate rises from 0.")
    flags.DEFINE_integer("batch_size", 32, "Batch size.")
    flags.DEFINE_string(
        "space", None, 'JSON overrides of the search space: list = choice, {"min", "max"} = range, value = fixed.'
    )
    flags.DEFINE_string("directory", "output/tuning", "Where the tuner keeps its trials and results.")
    flags.DEFINE_string("project_name", None, "Project folder inside --directory (default: the task).")
    flags.DEFINE_bool("overwrite", False, "Start over instead of resuming an earlier search.")
    flags.DEFINE_bool("export", True, "Also export the best model as a SavedModel (saved_model/).")
    flags.DEFINE_integer("seed", 0, "Seed of the data, the oracle and the models.")


def run_search(
    task="babi",
    babi_task=1,
    length=100,
    train_examples=2000,
    val_examples=500,
    max_words=8,
    tuner="random",
    objective="val_accuracy",
    max_trials=6,
    epochs=3,
    warmup_epochs=0,
    warmup_length=32,
    learning_rate_warmup=0,
    batch_size=32,
    space=None,
    directory="output/tuning",
    project_name=None,
    overwrite=False,
    export=True,
    seed=0,
    callbacks=None,
    verbose=1,
):
    """Runs (or resumes) a search; returns `(tuner, trials)` with `trials` as `summarise` gives them.

    `callbacks` (Keras callbacks) are passed to every trial's `fit`.

    In a distributed search only the chief (or a single process) summarises
    and exports; a worker returns `(tuner, None)`.
    """
    import keras

    import keras_rm
    from keras_rm.tuning.hypermodel import RehearsalHyperModel

    keras.utils.set_random_seed(seed)
    curriculum = {}
    if task == "ctr":
        if warmup_epochs:
            raise ValueError(
                f"`warmup_epochs` is for bAbI stories. Received: `warmup_epochs` = {warmup_epochs} with `task` = 'ctr'"
            )
        train, validation, behaviours = ctr_data(length, train_examples, val_examples, batch_size, seed)
        hypermodel = RehearsalHyperModel(
            lambda hidden_dim: keras_rm.layers.CategoricalItemEncoder(
                behaviours.num_items, hidden_dim, side_vocabulary_sizes=[behaviours.num_categories]
            ),
            {"items": (length, 2), "query": (2,)},
            task="click",
            space=space,
            learning_rate_warmup=learning_rate_warmup,
            seed=seed,
        )
        vectorizer = None
    else:
        train, validation, vectorizer = babi_data(
            babi_task, length, train_examples, val_examples, max_words, batch_size, seed
        )
        hypermodel = RehearsalHyperModel(
            lambda hidden_dim: keras_rm.layers.SentenceItemEncoder(vectorizer.vocabulary_size, hidden_dim, max_words),
            {"items": (length, max_words), "query": (max_words,)},
            num_classes=len(vectorizer.answers),
            space=space,
            learning_rate_warmup=learning_rate_warmup,
            seed=seed,
        )
        if warmup_epochs:
            curriculum = {
                "warmup_epochs": warmup_epochs,
                "warmup_data": babi_stories(
                    vectorizer, babi_task, min(warmup_length, length), train_examples, batch_size, seed + 1
                ),
            }
    # Only the chief may clear a shared directory: a worker doing so would delete its peers' trials.
    search = make_tuner(
        tuner,
        hypermodel,
        objective,
        max_trials,
        epochs,
        directory,
        project_name or task,
        overwrite and not is_worker(),
        seed,
    )
    search.search(
        train,
        validation_data=validation,
        epochs=epochs,
        shuffle=False,
        callbacks=callbacks or [],
        verbose=verbose,
        **curriculum,
    )
    if is_worker():
        return search, None

    trials = summarise(search)
    with open(os.path.join(search.project_dir, "trials.json"), "w") as f:
        json.dump({"objective": objective, "tuner": tuner, "trials": trials}, f, indent=2)
    plot(trials, objective, os.path.join(search.project_dir, "trials.png"))
    best = search.get_best_models(1)[0]
    best.save(os.path.join(search.project_dir, "best_model.keras"))
    if export:
        keras_rm.export.export_saved_model(best, os.path.join(search.project_dir, "saved_model"))
    if vectorizer is not None:
        vectorizer.save(os.path.join(search.project_dir, "vocabulary.json"))
    return search, trials


def format_trials(trials, objective):
    """The trials as a text table: id, status, score, worker and every hyperparameter."""
    from keras_rm.pipelines.metrics import format_table

    names = sorted({name for trial in trials for name in trial["hyperparameters"]})
    rows = [
        [
            t["trial_id"],
            t["status"],
            "-" if t["score"] is None else f"{t['score']:.4f}",
            t["worker"] or "-",
            *[f"{v:.4g}" if isinstance(v, float) else v for v in (t["hyperparameters"].get(n, "-") for n in names)],
        ]
        for t in trials
    ]
    return format_table(["trial", "status", objective, "worker", *names], rows)


def plot(trials, objective, path):
    """The objective against each hyperparameter, a panel each, saved to `path` (nothing if no trial has a score)."""
    scored = [t for t in trials if t["score"] is not None]
    names = sorted({name for t in scored for name in t["hyperparameters"]})
    if not names:
        return
    with figure(path, ncols=len(names), size=(2.6, 2.8), dpi=110, sharey=True) as axes:
        for ax, name in zip(axes, names):
            values = [t["hyperparameters"].get(name) for t in scored]
            if all(isinstance(v, (int, float)) for v in values):
                ax.scatter(values, [t["score"] for t in scored])
                if name in ("learning_rate", "recollection_weight", "familiarity_weight") and min(values) > 0:
                    ax.set_xscale("log")
            else:
                labels = sorted(set(map(str, values)))
                ax.scatter([labels.index(str(v)) for v in values], [t["score"] for t in scored])
                ax.set_xticks(range(len(labels)), labels)
            ax.set_xlabel(name)
        axes[0].set_ylabel(objective)


def main(argv):
    names = [name for name in inspect.signature(run_search).parameters if name not in ("space", "callbacks", "verbose")]
    space = json.loads(FLAGS.space) if FLAGS.space else None
    tuner, trials = run_search(**{name: FLAGS[name].value for name in names}, space=space, verbose=1)
    if trials is None:
        mine = sorted(trial for trial, worker in trial_workers(tuner.project_dir).items() if worker == tuner.tuner_id)
        print(f"Worker {tuner.tuner_id} done; it ran trials {mine}.")
        return
    print(format_trials(trials, FLAGS.objective))
    print(
        f"\nBest model: {os.path.join(tuner.project_dir, 'best_model.keras')}; "
        f"trials.json and trials.png in {tuner.project_dir}"
    )


if __name__ == "__main__":
    define_flags()
    app.run(main)
