"""The tuner of a search, and its trial records: which worker ran each trial, and one summary per trial."""

import json
import os

TUNERS = ("random", "bayesian", "hyperband")


def make_tuner(kind, hypermodel, objective, max_trials, epochs, directory, project_name, overwrite, seed):
    """A KerasTuner tuner of `kind` that also records which worker ran each trial."""
    import keras_tuner

    if kind not in TUNERS:
        raise ValueError(f"`tuner` must be one of {list(TUNERS)}. Received: `tuner` = {kind!r}")
    base = {
        "random": keras_tuner.RandomSearch,
        "bayesian": keras_tuner.BayesianOptimization,
        "hyperband": keras_tuner.Hyperband,
    }[kind]

    class Tuner(base):
        def run_trial(self, trial, *args, **kwargs):
            record_worker(self.project_dir, self.tuner_id, trial.trial_id)
            return super().run_trial(trial, *args, **kwargs)

    budget = {"max_epochs": epochs, "hyperband_iterations": 1} if kind == "hyperband" else {"max_trials": max_trials}
    direction = "min" if objective.endswith("loss") else "max"
    return Tuner(
        hypermodel,
        objective=keras_tuner.Objective(objective, direction),
        directory=directory,
        project_name=project_name,
        overwrite=overwrite,
        seed=seed,
        **budget,
    )


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
        {
            "trial_id": t.trial_id,
            "status": t.status,
            "score": t.score,
            "worker": workers.get(t.trial_id),
            "hyperparameters": dict(t.hyperparameters.values),
        }
        for t in best + unscored
    ]
