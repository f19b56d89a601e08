"""KerasTuner search over the memory's size, segment length and rehearsal weights.

    python -m tuning.search --task=babi --max_trials=6 --epochs=3 --directory=output/tuning
    python -m tuning.search --tuner=bayesian --space='{"num_slots": [4, 8], "sampler": "teacher"}'
    python -m tuning.search --task=ctr --length=500 --objective=val_auc

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
"""

import inspect
import json
import os

from absl import app, flags


FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags (defined on demand, so the module imports beside other absl programs)."""
    flags.DEFINE_enum("task", "babi", ["babi", "ctr"], "What to tune on.")
    flags.DEFINE_integer("babi_task", 1, "bAbI task of the built-in generator (1, 2, 3, 6, 7).")
    flags.DEFINE_integer("length", 100, "Sentences per lengthened bAbI story (ctr: behaviours per history).")
    flags.DEFINE_integer("train_examples", 2000, "Training stories (ctr: users, two examples each).")
    flags.DEFINE_integer("val_examples", 500, "Validation stories or users (the objective is measured on them).")
    flags.DEFINE_integer("max_words", 8, "Words kept per sentence.")
    flags.DEFINE_enum("tuner", "random", ["random", "bayesian", "hyperband"], "KerasTuner search algorithm.")
    flags.DEFINE_string("objective", "val_accuracy", "Metric to maximise (or `val_loss`, minimised).")
    flags.DEFINE_integer("max_trials", 6, "Trials (random, bayesian); hyperband is bounded by --epochs.")
    flags.DEFINE_integer("epochs", 3, "Epochs per trial (hyperband: the most epochs of one model).")
    flags.DEFINE_integer("batch_size", 32, "Batch size.")
    flags.DEFINE_string("space", None,
                        'JSON overrides of the search space: list = choice, {"min", "max"} = range, value = fixed.')
    flags.DEFINE_string("directory", "output/tuning", "Where the tuner keeps its trials and results.")
    flags.DEFINE_string("project_name", None, "Project folder inside --directory (default: the task).")
    flags.DEFINE_bool("overwrite", False, "Start over instead of resuming an earlier search.")
    flags.DEFINE_bool("export", True, "Also export the best model as a SavedModel (saved_model/).")
    flags.DEFINE_integer("seed", 0, "Seed of the data, the oracle and the models.")


TUNERS = ("random", "bayesian", "hyperband")


def babi_data(babi_task, length, train_examples, val_examples, max_words, batch_size, seed):
    """Built-in long bAbI: `(train, validation, vectorizer)`; the datasets yield `(inputs, answer)`."""
    from pipelines.babi import BabiVectorizer, generate_long_babi

    train = generate_long_babi(babi_task, train_examples, length, seed=seed)
    validation = generate_long_babi(babi_task, val_examples, length, seed=seed + 10_000)
    vectorizer = BabiVectorizer(max_words)
    vectorizer.adapt(train + validation)

    def dataset(examples, shuffle):
        data = vectorizer.dataset(examples, batch_size, length, shuffle=shuffle, seed=seed)
        return data.map(lambda x, y, depth: (x, y))  # no cache: it would freeze the first epoch's order

    return dataset(train, True), dataset(validation, False), vectorizer


def ctr_data(length, train_users, val_users, batch_size, seed):
    """Built-in lifelong users: `(train, validation, behaviours)`; the datasets yield `(inputs, click)`."""
    from pipelines.behaviour import ctr_dataset, generate_lifelong_users, make_examples

    train = generate_lifelong_users(train_users, length, seed=seed)
    validation = generate_lifelong_users(val_users, length, seed=seed + 10_000)
    return (ctr_dataset(make_examples(train, length, seed=seed), batch_size, shuffle=True, seed=seed),
            ctr_dataset(make_examples(validation, length, seed=seed + 1), batch_size), train)


def make_tuner(kind, hypermodel, objective, max_trials, epochs, directory, project_name, overwrite, seed):
    """A KerasTuner tuner of `kind` that also records which worker ran each trial."""
    import keras_tuner

    if kind not in TUNERS:
        raise ValueError(f"`tuner` must be one of {list(TUNERS)}. Received: `tuner` = {kind!r}")
    base = {"random": keras_tuner.RandomSearch, "bayesian": keras_tuner.BayesianOptimization,
            "hyperband": keras_tuner.Hyperband}[kind]

    class Tuner(base):
        def run_trial(self, trial, *args, **kwargs):
            record_worker(self.project_dir, self.tuner_id, trial.trial_id)
            return super().run_trial(trial, *args, **kwargs)

    budget = {"max_epochs": epochs, "hyperband_iterations": 1} if kind == "hyperband" else {"max_trials": max_trials}
    direction = "min" if objective.endswith("loss") else "max"
    return Tuner(hypermodel, objective=keras_tuner.Objective(objective, direction), directory=directory,
                 project_name=project_name, overwrite=overwrite, seed=seed, **budget)


def record_worker(project_dir, tuner_id, trial_id):
    """Appends `trial_id` to this worker's own record (one file per worker: no two writers share one)."""
    folder = os.path.join(project_dir, "trial_workers")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{tuner_id}.jsonl"), "a") as f:
        f.write(json.dumps({"trial_id": trial_id, "tuner_id": tuner_id}) + "\n")


def trial_workers(project_dir):
    """`{trial_id: tuner_id}` from the records every worker wrote."""
    folder = os.path.join(project_dir, "trial_workers")
    workers = {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        with open(os.path.join(folder, name)) as f:
            for line in f:
                record = json.loads(line)
                workers[record["trial_id"]] = record["tuner_id"]
    return workers


def is_worker():
    """Whether this process is a worker of a distributed search (KerasTuner's own rule)."""
    return "KERASTUNER_ORACLE_IP" in os.environ and "chief" not in os.environ.get("KERASTUNER_TUNER_ID", "")


def summarise(tuner):
    """One dict per trial, best first: id, status, score, hyperparameters and the worker that ran it."""
    workers = trial_workers(tuner.project_dir)
    best = tuner.oracle.get_best_trials(len(tuner.oracle.trials))
    unscored = [t for t in tuner.oracle.trials.values() if t not in best]
    return [
        {"trial_id": t.trial_id, "status": t.status, "score": t.score, "worker": workers.get(t.trial_id),
         "hyperparameters": dict(t.hyperparameters.values)}
        for t in best + unscored
    ]


def run_search(task="babi", babi_task=1, length=100, train_examples=2000, val_examples=500, max_words=8,
               tuner="random", objective="val_accuracy", max_trials=6, epochs=3, batch_size=32, space=None,
               directory="output/tuning", project_name=None, overwrite=False, export=True, seed=0, callbacks=None,
               verbose=1):
    """Runs (or resumes) a search; returns `(tuner, trials)` with `trials` as `summarise` gives them.

    `callbacks` (Keras callbacks) are passed to every trial's `fit`.

    In a distributed search only the chief (or a single process) summarises
    and exports; a worker returns `(tuner, None)`.
    """
    import keras

    import keras_rm
    from tuning.hypermodel import RehearsalHyperModel

    keras.utils.set_random_seed(seed)
    if task == "ctr":
        train, validation, behaviours = ctr_data(length, train_examples, val_examples, batch_size, seed)
        hypermodel = RehearsalHyperModel(
            lambda hidden_dim: keras_rm.layers.CategoricalItemEncoder(
                behaviours.num_items, hidden_dim, side_vocabulary_sizes=[behaviours.num_categories]),
            {"items": (length, 2), "query": (2,)}, task="click", space=space, seed=seed,
        )
        vectorizer = None
    else:
        train, validation, vectorizer = babi_data(
            babi_task, length, train_examples, val_examples, max_words, batch_size, seed
        )
        hypermodel = RehearsalHyperModel(
            lambda hidden_dim: keras_rm.layers.SentenceItemEncoder(vectorizer.vocabulary_size, hidden_dim, max_words),
            {"items": (length, max_words), "query": (max_words,)},
            num_classes=len(vectorizer.answers), space=space, seed=seed,
        )
    # Only the chief may clear a shared directory: a worker doing so would delete its peers' trials.
    search = make_tuner(tuner, hypermodel, objective, max_trials, epochs, directory, project_name or task,
                        overwrite and not is_worker(), seed)
    search.search(train, validation_data=validation, epochs=epochs, shuffle=False, callbacks=callbacks or [],
                  verbose=verbose)
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
    from pipelines.metrics import format_table

    names = sorted({name for trial in trials for name in trial["hyperparameters"]})
    rows = [
        [t["trial_id"], t["status"], "-" if t["score"] is None else f"{t['score']:.4f}", t["worker"] or "-",
         *[f"{v:.4g}" if isinstance(v, float) else v for v in (t["hyperparameters"].get(n, "-") for n in names)]]
        for t in trials
    ]
    return format_table(["trial", "status", objective, "worker", *names], rows)


def plot(trials, objective, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [t for t in trials if t["score"] is not None]
    names = sorted({name for t in scored for name in t["hyperparameters"]})
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 2.8), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], names):
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
    axes[0][0].set_ylabel(objective)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv):
    names = [name for name in inspect.signature(run_search).parameters if name not in ("space", "callbacks", "verbose")]
    space = json.loads(FLAGS.space) if FLAGS.space else None
    tuner, trials = run_search(**{name: FLAGS[name].value for name in names}, space=space, verbose=1)
    if trials is None:
        mine = sorted(trial for trial, worker in trial_workers(tuner.project_dir).items() if worker == tuner.tuner_id)
        print(f"Worker {tuner.tuner_id} done; it ran trials {mine}.")
        return
    print(format_trials(trials, FLAGS.objective))
    print(f"\nBest model: {os.path.join(tuner.project_dir, 'best_model.keras')}; "
          f"trials.json and trials.png in {tuner.project_dir}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
