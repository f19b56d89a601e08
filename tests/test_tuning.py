"""KerasTuner search: the hypermodel, resuming, the best model, distributed chief/worker tuning."""

import json
import os
import socket
import subprocess
import sys

import keras
import keras_tuner
import numpy as np
import pytest

import keras_rm
from keras_rm.tuning.data import ctr_data
from keras_rm.tuning.hypermodel import DEFAULT_SPACE, RehearsalHyperModel, check_space
from keras_rm.tuning.search import run_search
from keras_rm.tuning.tuner import make_tuner
from tests.testing import only_torch_unless_slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_SEARCH = dict(length=32, train_examples=48, val_examples=32, max_words=6, epochs=1, batch_size=16, verbose=0)
# Trials differ in the learning rate only, a variable the compiled step reads, so under JAX the second trial finds the
# first's steps in the compile cache; rehearsal off (both weights 0): these tests are about the search. (The search
# test on a fresh clone: 66 s -> 15 s.)
TINY_SPACE = {
    "num_slots": 2,
    "slot_dim": 8,
    "segment_length": 8,
    "recollection_weight": 0,
    "familiarity_weight": 0,
    "learning_rate": [1e-3, 1e-2],
}


def test_search_finds_a_best_model_equal_to_the_exported_one(tmp_path):
    tuner, trials = run_search(max_trials=2, space=TINY_SPACE, directory=str(tmp_path), **TINY_SEARCH)
    assert len(trials) == 2 and all(t["status"] == "COMPLETED" for t in trials)
    assert trials[0]["score"] >= trials[1]["score"], "best first"
    written = set(os.listdir(tuner.project_dir))
    assert {"trials.json", "trials.png", "best_model.keras", "saved_model", "vocabulary.json"} <= written

    best = tuner.get_best_models(1)[0]
    exported = keras.saving.load_model(os.path.join(tuner.project_dir, "best_model.keras"))
    x = {"items": np.random.default_rng(0).integers(0, 10, (4, 32, 6)), "query": np.ones((4, 6), "int64")}
    expected = keras.ops.convert_to_numpy(best.predict(x, verbose=0))
    np.testing.assert_allclose(exported.predict(x, verbose=0), expected, atol=1e-5)
    import tensorflow as tf

    served = tf.saved_model.load(os.path.join(tuner.project_dir, "saved_model"))
    x = {key: value.astype("int32") for key, value in x.items()}
    logits = served.serve(x["items"], np.ones((4, 32), bool), x["query"])["logits"].numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    learning_rate = keras.ops.convert_to_numpy(best.optimizer.learning_rate)
    np.testing.assert_allclose(learning_rate, trials[0]["hyperparameters"]["learning_rate"], rtol=1e-6)


STARTED_TRIALS = []  # module level: KerasTuner deep-copies callbacks for every trial


class InterruptTheSecondTrial(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        STARTED_TRIALS.append(1)
        if len(STARTED_TRIALS) == 2:
            raise KeyboardInterrupt  # what Ctrl-C (or a killed job) does half-way through a search


@only_torch_unless_slow
def test_an_interrupted_search_resumes_instead_of_restarting(tmp_path):
    STARTED_TRIALS.clear()
    with pytest.raises(KeyboardInterrupt):
        run_search(
            max_trials=2,
            space=TINY_SPACE,
            directory=str(tmp_path),
            callbacks=[InterruptTheSecondTrial()],
            **TINY_SEARCH,
        )
    first = json.loads((tmp_path / "babi" / "trial_0" / "trial.json").read_text())
    assert first["status"] == "COMPLETED"

    # The same command again, without `overwrite`: trial 0 is kept, the interrupted trial 1 runs again.
    tuner, trials = run_search(max_trials=2, space=TINY_SPACE, directory=str(tmp_path), export=False, **TINY_SEARCH)
    assert sorted(t["trial_id"] for t in trials) == ["0", "1"] and all(t["status"] == "COMPLETED" for t in trials)
    kept = next(t for t in trials if t["trial_id"] == "0")
    assert kept["score"] == first["score"]
    runs = [json.loads(line)["trial_id"] for line in (tmp_path / "babi" / "trial_workers" / "tuner0.jsonl").open()]
    assert runs == ["0", "1", "1"], "trial 0 ran once; trial 1 was started, interrupted and run again"

    _, restarted = run_search(
        max_trials=1, space=TINY_SPACE, directory=str(tmp_path), overwrite=True, export=False, **TINY_SEARCH
    )
    assert len(restarted) == 1


@pytest.mark.parametrize(
    "space,match",
    [
        ({"num_slots": (8, 4)}, "The range of `num_slots` needs min < max"),
        ({"recollection_weight": (0.0, 1.0)}, "log scale, so a range cannot start at 0"),
        ({"learning_rate": {"min": 1e-3}}, "needs exactly `min` and `max`"),
        ({"segment_length": [8, 0]}, "`segment_length` values must be positive integers"),
        ({"familiarity_weight": [-0.1, 0.5]}, "`familiarity_weight` values must be non-negative"),
        ({"sampler": ["uniform", "best"]}, "`sampler` values must be in"),
        ({"num_slots": []}, "choices of `num_slots` are empty"),
        ({"memory_size": [4]}, "Unknown hyperparameter 'memory_size'"),
    ],
)
def test_invalid_search_space_is_a_clear_error(space, match):
    with pytest.raises(ValueError, match=match):
        check_space(space)


def test_space_defaults_include_no_rehearsal_and_fixed_values_stay_fixed():
    space = check_space({"num_slots": 8, "learning_rate": {"min": 1e-4, "max": 1e-2}})
    assert 0.0 in space["recollection_weight"] and 0.0 in space["familiarity_weight"]
    assert space["num_slots"] == 8 and space["learning_rate"] == (1e-4, 1e-2)
    assert set(space) == set(DEFAULT_SPACE)


def test_hypermodel_serves_the_click_task_with_a_real_build():
    hypermodel = RehearsalHyperModel(
        lambda d: keras_rm.layers.CategoricalItemEncoder(20, d, side_vocabulary_sizes=[5]),
        {"items": (32, 2), "query": (2,)},
        task="click",
        space={**TINY_SPACE, "segment_length": 16},
        model_kwargs={"memory": {"num_heads": 2}},  # a fixed argument of the memory machine beside the tuned ones
    )
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert model.built and model.task == "click" and model.rehearsal.num_fragments == 2  # 32 items // 16
    assert (model.num_slots, model.segment_length, model.slot_dim, model.num_heads) == (2, 16, 8, 2)
    assert set(hp.values) == set(DEFAULT_SPACE)
    rng = np.random.default_rng(0)
    items = np.stack([rng.integers(1, 20, (8, 32)), rng.integers(0, 5, (8, 32))], -1)
    x = {"items": items, "query": items[:, 0]}
    history = model.fit(x, rng.integers(0, 2, (8, 1)).astype("float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


class CountEpochs(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        EPOCHS_SEEN.append(epoch)


EPOCHS_SEEN = []  # module level, as STARTED_TRIALS


@only_torch_unless_slow
def test_a_trial_begins_with_its_curriculum_and_a_learning_rate_warmup(tmp_path):
    EPOCHS_SEEN.clear()
    tuner, trials = run_search(
        max_trials=1,
        space=TINY_SPACE,
        directory=str(tmp_path),
        export=False,
        warmup_epochs=2,
        warmup_length=16,
        learning_rate_warmup=1000,
        callbacks=[CountEpochs()],
        **TINY_SEARCH,
    )
    best = tuner.get_best_models(1)[0]
    steps = 2 * 3 + 3  # 48 stories in batches of 16: 2 epochs of short ones, then the scored one
    assert int(best.optimizer.iterations) == steps, "the short stories were trained on first"
    assert EPOCHS_SEEN == [0], "the tuner's callbacks see only the scored epochs"
    rate = best.optimizer.learning_rate  # read at the current step
    assert float(rate) == pytest.approx(trials[0]["hyperparameters"]["learning_rate"] * steps / 1000, rel=1e-4)


@pytest.mark.parametrize("kind", ["random", "bayesian", "hyperband"])
def test_every_tuner_of_the_command_line_can_be_made(kind, tmp_path):
    hypermodel = RehearsalHyperModel(
        lambda d: keras_rm.layers.TokenItemEncoder(20, d),
        {"items": (16,), "query": (2,)},
        num_classes=4,
        space=TINY_SPACE,
    )
    tuner = make_tuner(kind, hypermodel, "val_accuracy", 2, 1, str(tmp_path), "p", False, 0)
    assert isinstance(
        tuner.oracle,
        {
            "random": keras_tuner.oracles.RandomSearchOracle,
            "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
            "hyperband": keras_tuner.oracles.HyperbandOracle,
        }[kind],
    )


def test_a_curriculum_is_refused_for_click_prediction(tmp_path):
    with pytest.raises(ValueError, match="`warmup_epochs` is for bAbI"):
        run_search(
            task="ctr",
            length=32,
            train_examples=16,
            val_examples=8,
            epochs=1,
            warmup_epochs=1,
            directory=str(tmp_path),
            verbose=0,
        )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The chief/worker protocol is KerasTuner's gRPC oracle, the same under every backend: `make test`
# runs it once (torch starts fastest), `make test-all` under every backend.
@only_torch_unless_slow
def test_distributed_search_shares_trials_between_two_workers(tmp_path):
    args = [
        sys.executable,
        "-m",
        "keras_rm.tuning.search",
        "--length=32",
        "--train_examples=48",
        "--val_examples=32",
        "--max_words=6",
        "--epochs=1",
        "--noexport",
        "--batch_size=16",
        "--max_trials=4",
        f"--directory={tmp_path}",
        f"--space={json.dumps(TINY_SPACE)}",
    ]
    env = dict(
        os.environ,
        KERASTUNER_ORACLE_IP="127.0.0.1",
        KERASTUNER_ORACLE_PORT=str(free_port()),
        PYTHONPATH=ROOT,
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    processes = {
        tuner_id: subprocess.Popen(
            args,
            cwd=ROOT,
            env=dict(env, KERASTUNER_TUNER_ID=tuner_id),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for tuner_id in ("chief", "tuner0", "tuner1")
    }
    try:
        outputs = {tuner_id: p.communicate(timeout=300)[0] for tuner_id, p in processes.items()}
    finally:
        for p in processes.values():
            p.kill()
    for tuner_id, p in processes.items():
        assert p.returncode == 0, f"{tuner_id} failed:\n{outputs[tuner_id][-3000:]}"

    with open(tmp_path / "babi" / "trials.json") as f:
        trials = json.load(f)["trials"]
    assert len(trials) == 4 and all(t["status"] == "COMPLETED" for t in trials)
    workers = [t["worker"] for t in trials]
    assert set(workers) == {"tuner0", "tuner1"}, f"each worker ran trials: {workers}"
    # The chief's summary is the oracle's own record of every trial.
    for trial in trials:
        with open(tmp_path / "babi" / f"trial_{trial['trial_id']}" / "trial.json") as f:
            assert json.load(f)["score"] == trial["score"]
    assert trials[0]["score"] == max(t["score"] for t in trials)


@only_torch_unless_slow
def test_ctr_search_tunes_a_click_model_on_lifelong_users(tmp_path):
    tuner, trials = run_search(
        task="ctr",
        length=32,
        train_examples=16,
        val_examples=8,
        batch_size=8,
        epochs=1,
        max_trials=1,
        objective="val_auc",
        space=TINY_SPACE,
        directory=str(tmp_path),
        export=False,
        verbose=0,
    )
    assert len(trials) == 1
    best = keras.saving.load_model(os.path.join(tuner.project_dir, "best_model.keras"))
    assert best.task == "click"
    # The score is the best model's AUC on the validation users (one epoch: the final weights).
    _, validation, _ = ctr_data(32, 16, 8, 8, seed=0)
    assert trials[0]["score"] == pytest.approx(best.evaluate(validation, verbose=0, return_dict=True)["auc"])
