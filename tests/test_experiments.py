"""The experiments (the command-line jobs the benchmarks run) end to end on a tiny configuration, under every
backend."""

import gc
import json
import os
import subprocess
import sys
import types

import keras
import numpy as np
import pytest

import keras_rm.pipelines.behaviour
import keras_rm.pipelines.video
from experiments import babi_long, ctr, fitting, video_qa
from keras_rm.pipelines import babi
from tests.testing import ROOT, multi_device_env, only_on_unless_slow, only_torch_unless_slow, subprocess_env

TINY = dict(task=1, train_examples=16, test_examples=16, batch_size=8, verbose=0)


def babi_accuracy_of_saved_model(output_dir, length=32):
    """The test accuracy of a run's `model.keras`, recomputed on its test stories (drawn with seed 0 + 10_000)."""
    from keras_rm.pipelines.babi import BabiVectorizer, generate_long_babi

    test = generate_long_babi(TINY["task"], TINY["test_examples"], length, seed=10_000)
    model = keras.saving.load_model(str(output_dir / "model.keras"))
    data = BabiVectorizer.from_layer(model.text_vectorizer).dataset(test, TINY["batch_size"], length)
    predictions = np.asarray(model.predict(data.map(lambda x, y, depth: x), verbose=0)).argmax(-1)
    return float(np.mean(predictions == np.concatenate([np.asarray(y) for _, y, _ in data])))


def watch_draws(monkeypatch, module, name):
    """A list that gets the first two arguments (how many, how long) of every call of the generator
    `module.name`."""
    drawn = []
    generate = getattr(module, name)

    def watched(count, length, *args, **kwargs):
        drawn.append((count, length))
        return generate(count, length, *args, **kwargs)

    monkeypatch.setattr(module, name, watched)
    return drawn


def suspended_data_iterators():
    """The names of the live generators suspended inside Keras's data plumbing or our `tf.data` pipelines."""
    return [
        g.gi_code.co_name
        for g in gc.get_objects()
        if isinstance(g, types.GeneratorType)
        and g.gi_frame
        and any(part in g.gi_code.co_filename for part in ("keras/src/trainers", "keras/src/backend", "experiments"))
    ]


def test_babi_long_writes_everything(tmp_path):
    # One epoch at one length (the length curriculum: the warm-up test; a step at each length: test_model.py). The
    # SavedModel: tests/test_examples.py streams the short example's through serve_stream; ctr's test exports too.
    metrics = babi_long.run(
        length=32,
        num_slots=2,
        segment_length=8,
        hidden_dim=8,
        epochs=1,
        warmup_epochs=0,
        max_words=6,
        output_dir=str(tmp_path),
        export=False,
        **TINY,
    )
    files = set(os.listdir(tmp_path))
    assert {"model.keras", "metrics.json", "accuracy_by_depth.png", "logs", "history.csv"} <= files
    assert "saved_model" not in files and "backup" not in files
    with open(tmp_path / "metrics.json") as f:
        saved = json.load(f)
    assert saved == metrics and len(saved["accuracy_by_depth"]) == 4
    assert saved["accuracy"] == pytest.approx(babi_accuracy_of_saved_model(tmp_path))
    assert keras.saving.load_model(str(tmp_path / "model.keras")).num_slots == 2


@only_torch_unless_slow
def test_babi_long_goes_on_from_an_earlier_run_at_another_length(tmp_path, monkeypatch):
    short, long = tmp_path / "short", tmp_path / "long"
    babi_long.run(
        length=32,
        num_slots=2,
        segment_length=8,
        hidden_dim=8,
        sampler="teacher",
        recollection_weight=1.0,
        familiarity_weight=0.5,
        mask_selection="important",
        epochs=1,
        output_dir=str(short),
        export=False,
        **TINY,
    )
    lengths = []  # of the stories generated: test, then each training epoch's
    generate = babi.generate_long_babi
    monkeypatch.setattr(
        babi, "generate_long_babi", lambda *args, **kwargs: lengths.append(args[2]) or generate(*args, **kwargs)
    )
    metrics = babi_long.run(
        length=64,
        test_length=96,
        epochs=2,
        warmup_epochs=1,
        warmup_length=16,
        init_from=str(short),
        output_dir=str(long),
        export=False,
        **TINY,
    )
    assert metrics["config"]["init_from"] == str(short) and metrics["config"]["length"] == 64
    assert lengths == [96, 64, 64], "no warm-up on short stories when going on from a trained model"
    # Tested on longer stories than it was trained on; no learning curve then (it is measured at the trained length).
    assert metrics["config"]["test_length"] == 96 and metrics["test_examples"] == 16
    assert metrics["learning_curve"] and all("val_accuracy" not in row for row in metrics["learning_curve"])
    before = keras.saving.load_model(str(short / "model.keras"))
    after = keras.saving.load_model(str(long / "model.keras"))
    assert after.num_slots == 2 and after.rehearsal.mask_selection == "important", (
        "the earlier run's model, not the flags'"
    )
    assert after.text_vectorizer.words.get_vocabulary() == before.text_vectorizer.words.get_vocabulary()
    assert any(not np.allclose(a, b) for a, b in zip(before.get_weights(), after.get_weights())), "training went on"


OFFICIAL_DIR = os.path.join(ROOT, "tests", "data", "babi")  # a few stories of official tasks 2, 5, 8, 19


@only_torch_unless_slow
@pytest.mark.parametrize("model", ["memory", "full_attention"])
def test_babi_long_trains_one_model_on_several_official_tasks_as_written_and_reports_each(tmp_path, model):
    # The memory writes each story once and answers its questions along it (segments of 4 sentences); full
    # attention reads one story per question (segments of 32: batches of 32 or 64 sentences).
    segment_length = 4 if model == "memory" else 32
    metrics = babi_long.run(
        task="2,8,19",
        length=0,
        data_dir=OFFICIAL_DIR,
        model=model,
        story_pass=True,  # the memory's; full attention reads one story per question
        num_slots=2,
        segment_length=segment_length,
        hidden_dim=8,
        reader_hops=2,
        epochs=2,
        train_examples=24,
        test_examples=5,
        dev_fraction=0.2,
        batch_size=3,
        output_dir=str(tmp_path),
        export=False,
        verbose=0,
    )
    # 5 questions a task: one story of tasks 2 and 8 (5 questions each), and all 3 of task 19's (one each). One
    # story per question tests whole batches only: 12 of the 13 questions, in batches of 3.
    counts = {"2": 5, "8": 5, "19": 3 if model == "memory" else 2}
    assert metrics["test_examples_by_task"] == counts
    by_task = [metrics["accuracy_by_task"][t] for t in ("2", "8", "19")]
    assert metrics["accuracy"] == pytest.approx(np.average(by_task, weights=list(counts.values())))
    for t, report in metrics["depth_by_task"].items():  # each task's accuracy by quarter covers its questions
        assert report["accuracy"] == metrics["accuracy_by_task"][t]
        assert sum(report["test_examples_by_depth"]) == counts[t]
    # As written: no distractors, no warm-up, padded to the longest story (50 sentences) in whole segments, or
    # with the story pass to the longest story laid out with every question at a segment boundary.
    stories = [
        babi.group_by_story(babi.read_babi_task(OFFICIAL_DIR, t, s)) for t in (2, 8, 19) for s in ("train", "test")
    ]
    laid_out = max(len(babi.story_layout(story, 4)[0]) for split in stories for story in split)
    assert metrics["config"]["length"] == (laid_out if model == "memory" else 64) > 50
    assert metrics["config"]["warmup_epochs"] == 0
    vectorizer = babi.BabiVectorizer.from_layer(keras.saving.load_model(str(tmp_path / "model.keras")).text_vectorizer)
    assert {"n,w", "apple,milk"} & set(vectorizer.answers) and metrics["config"]["max_words"] == vectorizer.max_words
    # The learning curve reads the dev split: a fifth of each task's training stories, none of the test's.
    assert len(metrics["learning_curve"]) == 2 and "val_accuracy" in metrics["learning_curve"][-1]
    assert metrics["learning_curve"][0]["epoch_seconds"] > 0


@only_torch_unless_slow
def test_babi_long_warms_up_on_stories_no_shorter_than_the_official_ones_and_tests_them_early_in_longer_ones(
    tmp_path,
):
    # The task-2 fixture holds a 50-sentence story: a 16-sentence warm-up cannot hold it, so it holds 50.
    tiny = dict(task=2, data_dir=OFFICIAL_DIR, num_slots=2, segment_length=8, hidden_dim=8, dev_fraction=0.25)
    tiny.update(test_examples=8, batch_size=8, export=False, verbose=0)
    metrics = babi_long.run(
        length=64,
        epochs=2,
        warmup_epochs=1,
        warmup_length=16,
        train_examples=16,
        output_dir=str(tmp_path / "trained"),
        **tiny,
    )
    assert metrics["config"]["warmup_length"] == 50 and metrics["test_examples_by_task"] == {"2": 8}
    # The trained model tested at 256 sentences with every story in the first quarter (64 sentences). At the
    # training length the early quarter (16) would not hold the 50-sentence story: a test-only run draws no dev
    # stories there.
    tested = babi_long.run(
        length=64,
        epochs=0,
        train_examples=1,
        depth="early",
        test_length=256,
        init_from=str(tmp_path / "trained"),
        output_dir=str(tmp_path / "tested"),
        **tiny,
    )
    assert tested["test_examples_by_task"] == {"2": 8} and tested["test_examples_by_depth"][1:] == [0, 0, 0]
    with pytest.raises(ValueError, match="`task` must be a bAbI task 1-20, several separated by commas, or 'all'"):
        babi_long.run(task="2,21", data_dir=OFFICIAL_DIR, output_dir=str(tmp_path / "bad"))


@only_torch_unless_slow
def test_babi_long_trains_on_the_first_questions_of_a_file_only_and_rejects_a_bad_count(tmp_path):
    # bAbI's 1k setting: the fixture's task-2 file holds 35 questions; the first 12, less the dev split, are trained.
    tiny = dict(task=2, data_dir=OFFICIAL_DIR, num_slots=2, segment_length=8, hidden_dim=8, dev_fraction=0.25)
    tiny.update(length=0, epochs=1, train_examples=1000, test_examples=4, batch_size=4, export=False, verbose=0)
    metrics = babi_long.run(train_questions=12, output_dir=str(tmp_path / "first12"), **tiny)
    assert 0 < metrics["learning_curve"][0]["questions"] <= 12 - 1  # (one story at least is held out)
    with pytest.raises(ValueError, match="`train_questions` = -1"):
        babi_long.run(train_questions=-1, output_dir=str(tmp_path / "bad"), **tiny)
    with pytest.raises(ValueError, match="`train_questions` counts questions of the official training files"):
        babi_long.run(task=1, train_questions=10, output_dir=str(tmp_path / "generated"))


CTR_TINY = dict(
    history_length=32,
    train_users=16,
    test_users=8,
    epochs=1,
    batch_size=8,
    hidden_dim=8,
    num_slots=2,
    segment_length=8,
    recent=5,
    verbose=0,
)


def ctr_aucs_of_saved_model(output_dir):
    """`(auc, gauc)` of a run's `model.keras`, recomputed on its test users (seeds 0 + 10_000 and 0 + 20_000)."""
    from keras_rm.pipelines.behaviour import generate_lifelong_users, make_examples
    from keras_rm.pipelines.metrics import auc, gauc

    length = CTR_TINY["history_length"]
    test = make_examples(generate_lifelong_users(CTR_TINY["test_users"], length, seed=10_000), length, seed=20_000)
    model = keras.saving.load_model(str(output_dir / "model.keras"))
    scores = np.asarray(model.predict({"items": test["items"], "query": test["query"]}, verbose=0)).reshape(-1)
    return auc(test["label"], scores), gauc(test["label"], scores, test["user"])


@only_torch_unless_slow
def test_ctr_trains_the_memory_with_rehearsal_and_writes_auc_gauc_and_saved_model(tmp_path):
    metrics = ctr.run(
        model="memory", recollection_weight=1.0, familiarity_weight=0.5, output_dir=str(tmp_path), **CTR_TINY
    )
    with open(tmp_path / "metrics.json") as f:
        assert json.load(f) == metrics
    assert (metrics["auc"], metrics["gauc"]) == pytest.approx(ctr_aucs_of_saved_model(tmp_path))
    assert metrics["test_examples"] == 16
    assert "recollection_loss" in metrics["train_logs"] and metrics["state_bytes_per_user"] == 2 * 8 * 4
    written = set(os.listdir(tmp_path))
    assert {"model.keras", "saved_model", "history.csv", "logs"} <= written and "backup" not in written


@pytest.mark.parametrize(
    "model",
    [
        "recent",
        "target_all",
        pytest.param("gru", marks=pytest.mark.slow),
        pytest.param("full_attention", marks=pytest.mark.slow),
    ],
)
def test_ctr_baselines_run(model, tmp_path):
    metrics = ctr.run(model=model, output_dir=str(tmp_path), export=False, **CTR_TINY)
    assert metrics["config"]["model"] == model
    assert metrics["auc"] == pytest.approx(ctr_aucs_of_saved_model(tmp_path)[0])
    assert keras.saving.load_model(str(tmp_path / "model.keras")).task == "click"


@only_torch_unless_slow
def test_ctr_warms_up_on_short_histories_and_goes_on_from_an_earlier_run_without_warm_up(tmp_path, monkeypatch):
    drawn = watch_draws(monkeypatch, keras_rm.pipelines.behaviour, "generate_lifelong_users")  # (users, length)
    short, long = tmp_path / "short", tmp_path / "long"
    tiny = dict(CTR_TINY, epochs=2, warmup_epochs=1, warmup_length=8, export=False)
    ctr.run(model="memory", output_dir=str(short), **tiny)
    # (Keras may draw an epoch twice: once for a first batch to build the optimizer on.)
    assert drawn[0] == (8, 32) and drawn[-1] == (16, 32), "test users, then the last epoch's"
    assert set(drawn[1:-1]) == {(64, 8)}, "the warm-up epoch: 4x the users, a quarter of the length"
    drawn.clear()
    metrics = ctr.run(model="memory", output_dir=str(long), init_from=str(short), **dict(tiny, history_length=48))
    assert set(drawn) == {(8, 48), (16, 48)}, "no warm-up when going on from a trained model"
    assert metrics["config"]["init_from"] == str(short) and metrics["test_examples"] == 16
    before = keras.saving.load_model(str(short / "model.keras"))
    after = keras.saving.load_model(str(long / "model.keras"))
    assert any(not np.allclose(a, b) for a, b in zip(before.get_weights(), after.get_weights())), "training went on"


RESUMABLE = dict(length=32, num_slots=2, segment_length=8, hidden_dim=8, epochs=2, max_words=6, export=False, **TINY)


class Crash(Exception):
    pass


def watched_tensorboard(begun, crash_in=None):
    """A `TensorBoard` callback that records the epochs begun and, once, crashes in epoch `crash_in`."""

    class Watched(keras.callbacks.TensorBoard):
        def on_epoch_begin(self, epoch, logs=None):
            begun.append(epoch)
            super().on_epoch_begin(epoch, logs)

        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)
            if begun[-1] == crash_in and begun.count(crash_in) == 1:  # one step of the epoch is done
                raise Crash

    return Watched


def untimed(logs):
    """An epoch's logs without its wall time (`epoch_seconds`), which no two runs share."""
    return {key: value for key, value in logs.items() if key != "epoch_seconds"}


@only_torch_unless_slow
def test_babi_long_resumes_after_a_crash_and_ends_as_an_uninterrupted_run_or_starts_over(tmp_path, monkeypatch):
    through, crashed = tmp_path / "through", tmp_path / "crashed"
    # `resume=False` (--noresume) throws a backup away and trains from epoch 0.
    (through / "backup").mkdir(parents=True)
    (through / "backup" / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    expected = babi_long.run(output_dir=str(through), resume=False, **RESUMABLE)
    assert expected["resumed_after_epochs"] == 0 and not (through / "backup").exists()

    begun = []
    monkeypatch.setattr(keras.callbacks, "TensorBoard", watched_tensorboard(begun, crash_in=1))
    with pytest.raises(Crash):
        babi_long.run(output_dir=str(crashed), **RESUMABLE)
    assert begun == [0, 1] and fitting.completed_epochs(str(crashed / "backup")) == 1
    resumed = babi_long.run(output_dir=str(crashed), **RESUMABLE)  # the same call again
    assert begun == [0, 1, 1], "goes on with the epoch that crashed: none lost, none repeated"
    assert resumed["resumed_after_epochs"] == 1 and not (crashed / "backup").exists()
    assert untimed(resumed["train_logs"]) == pytest.approx(untimed(expected["train_logs"]), rel=1e-6, abs=1e-6)
    assert resumed["accuracy"] == expected["accuracy"]
    # The learning curve holds every epoch once, the one before the crash included.
    assert [row["epoch"] for row in resumed["learning_curve"]] == [1, 2]
    for row, expected_row in zip(resumed["learning_curve"], expected["learning_curve"]):
        assert untimed(row) == pytest.approx(untimed(expected_row), rel=1e-6, abs=1e-6)
    after = keras.saving.load_model(str(crashed / "model.keras"))
    reference = keras.saving.load_model(str(through / "model.keras"))
    for a, b in zip(after.variables, reference.variables):  # weights and seed-generator states
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(a.value), keras.ops.convert_to_numpy(b.value), atol=1e-6, err_msg=a.path
        )


@only_torch_unless_slow
def test_babi_long_with_a_kept_backup_trains_on_with_more_epochs_and_evaluates_the_trained_model_again(tmp_path):
    config = dict(RESUMABLE, output_dir=str(tmp_path), keep_backup=True)
    through = babi_long.run(**{**config, "output_dir": str(tmp_path / "through")})
    babi_long.run(**{**config, "epochs": 1})
    more = babi_long.run(**config)  # the same command with more epochs: goes on from epoch 1
    assert more["resumed_after_epochs"] == 1 and more["accuracy"] == through["accuracy"]
    again = babi_long.run(**config)  # every epoch done: the backup's model is tested, not a new one
    assert again["resumed_after_epochs"] == 2 and again["accuracy"] == through["accuracy"]
    with pytest.raises(ValueError, match="holds 2 finished epochs, more than `epochs` = 1"):
        babi_long.run(**{**config, "epochs": 1})


DEVICES = 2


# Under JAX `make test` leaves this run to `make test-all`: tests/test_data_parallel.py trains through the same
# `keras_rm.distribute.data_parallel` on 4 JAX devices and checks every variable lies on all of them.
@only_on_unless_slow("tensorflow", "torch")
def test_babi_long_data_parallel_trains_on_every_local_device_or_refuses_under_torch(tmp_path):
    config = dict(RESUMABLE, epochs=1, output_dir=str(tmp_path), data_parallel=True)
    if keras.config.backend() == "torch":
        with pytest.raises(RuntimeError, match="not supported on the torch backend"):
            babi_long.run(**config)
        return
    # A process's device count is fixed when its backend starts: the run goes to a fresh process with 2 CPU devices
    # (JAX: XLA_FLAGS; TF: two logical CPUs), as in tests/test_data_parallel.py.
    env = multi_device_env(DEVICES)
    done = subprocess.run(
        [sys.executable, __file__, json.dumps(config)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["devices_per_variable"] == [DEVICES], "every trained variable lies on both devices"
    assert result["metrics"]["config"]["data_parallel"]
    assert result["metrics"]["accuracy"] == pytest.approx(babi_accuracy_of_saved_model(tmp_path))
    # None is left for the collection at interpreter exit, where finalizing one can deadlock with TF's threads
    # (the process then hangs after its last line).
    assert result["suspended_data_iterators"] == []


def data_parallel_worker(config):
    """Runs `babi_long.run(**config)` on 2 CPU devices; returns its metrics, on how many devices the trained
    variables lie and the data iterators it left suspended."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * DEVICES)
    held = set()
    write_run = babi_long.write_run

    def watched_write_run(net, *args, **kwargs):  # sees the trained model
        for variable in net.trainable_variables:
            value = variable.value
            # JAX: the devices of the array's sharding; TF: the replicas of a MirroredVariable (else one).
            held.add(len(value.sharding.device_set) if backend == "jax" else len(getattr(value, "values", [value])))
        return write_run(net, *args, **kwargs)

    babi_long.write_run = watched_write_run
    metrics = babi_long.run(**config)
    return {
        "metrics": metrics,
        "devices_per_variable": sorted(held),
        "suspended_data_iterators": suspended_data_iterators(),
    }


VIDEO_TINY = dict(
    num_frames=192,
    feature_dim=6,
    hidden_dim=8,
    num_slots=2,
    segment_length=32,
    num_negatives=4,
    train_videos=16,
    test_videos=16,
    epochs=1,
    batch_size=8,
    verbose=0,
)


def video_accuracy_of_saved_model(output_dir, frames):
    """The test accuracy of a run's `model.keras`, recomputed on its built-in test videos (seed 0 + 10_000)."""
    from keras_rm.pipelines.video import VideoQAVectorizer, generate_videos

    test = generate_videos(VIDEO_TINY["test_videos"], frames, VIDEO_TINY["feature_dim"], seed=10_000)
    vectorizer = VideoQAVectorizer.load(output_dir / "vocabulary.json")
    data = vectorizer.dataset(test, VIDEO_TINY["batch_size"], frames)
    model = keras.saving.load_model(str(output_dir / "model.keras"))
    predictions = np.asarray(model.predict(data.map(lambda x, y, depth: x), verbose=0)).argmax(-1)
    return float(vectorizer.correct(predictions, np.concatenate([np.asarray(y) for _, y, _ in data])).mean())


@only_torch_unless_slow
def test_video_qa_trains_with_contrastive_recollection_and_writes_metrics(tmp_path, monkeypatch):
    drawn = watch_draws(monkeypatch, keras_rm.pipelines.video, "generate_videos")  # (videos, frames)
    # (No SavedModel: tests/test_export.py exports the video models, and `write_run` is babi_long's.)
    metrics = video_qa.run(
        output_dir=str(tmp_path),
        sampler="uniform",
        export=False,
        **dict(VIDEO_TINY, num_frames=256, epochs=2, warmup_epochs=1, warmup_length=192),
    )
    assert drawn[:2] == [(16, 256), (16, 256)] and drawn[-1] == (16, 256), "train and test videos; the last epoch's"
    assert set(drawn[2:-1]) == {(21, 192)}, "the warm-up epoch: as many frames in shorter videos"
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["accuracy"] == metrics["accuracy"] == pytest.approx(video_accuracy_of_saved_model(tmp_path, 256))
    assert len(metrics["accuracy_by_depth"]) == 4 and sum(metrics["test_examples_by_depth"]) == 16
    assert set(metrics["accuracy_by_kind"]) <= {"first", "before", "count"}
    assert metrics["train_logs"]["recollection_loss"] > 0, "rehearsal trained"
    for name in ("model.keras", "vocabulary.json", "accuracy_by_depth.png"):
        assert (tmp_path / name).exists(), name
    assert not (tmp_path / "backup").exists()
    assert 0 < metrics["prior_accuracy"] < 1


@only_torch_unless_slow
def test_video_qa_goes_on_from_an_earlier_run_at_another_length(tmp_path, monkeypatch):
    shorter, longer = tmp_path / "shorter", tmp_path / "longer"
    video_qa.run(output_dir=str(shorter), sampler="uniform", export=False, **dict(VIDEO_TINY, warmup_epochs=0))
    drawn = watch_draws(monkeypatch, keras_rm.pipelines.video, "generate_videos")  # (videos, frames)
    metrics = video_qa.run(
        output_dir=str(longer),
        init_from=str(shorter),
        export=False,
        **dict(VIDEO_TINY, num_frames=288, warmup_epochs=1, hidden_dim=4),
    )
    assert set(drawn) == {(16, 288)}, "no warm-up when going on from a trained model"
    assert metrics["config"]["init_from"] == str(shorter)
    before = keras.saving.load_model(str(shorter / "model.keras"))
    after = keras.saving.load_model(str(longer / "model.keras"))
    assert after.hidden_dim == 8, "the earlier run's model, whatever the model flags"
    assert any(not np.allclose(a, b) for a, b in zip(before.get_weights(), after.get_weights())), "training went on"
    assert metrics["accuracy"] == pytest.approx(video_accuracy_of_saved_model(longer, 288))


@only_torch_unless_slow
def test_video_qa_reads_activitynet_format_and_counts_unknown_answers_wrong(tmp_path):
    features = tmp_path / "features"
    features.mkdir()
    rng = np.random.default_rng(0)
    split = {"train": [], "test": []}
    for i in range(24):
        np.save(features / f"v_video{i}.npy", rng.normal(size=(int(rng.integers(20, 60)), 6)).astype("float32"))
        split["train" if i < 16 else "test"].append(
            {
                "video_name": f"video{i}",
                "question_id": f"q{i}",
                "question": "what is happening",
                "answer": "unseen" if i >= 20 else ["cooking", "dancing"][i % 2],
            }
        )
    for name, entries in split.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(entries))
    metrics = video_qa.run(
        data_dir=str(features),
        train_questions=str(tmp_path / "train.json"),
        test_questions=str(tmp_path / "test.json"),
        output_dir=str(tmp_path / "out"),
        model="full_attention",
        export=False,
        **dict(VIDEO_TINY, num_frames=40),
    )
    assert metrics["answer_classes"] == 3  # <unk>, cooking, dancing
    assert metrics["accuracy"] <= 0.5, "the four test answers never seen in training count as wrong"
    assert metrics["accuracy_by_depth"] == [None] * 4 and metrics["test_examples"] == 8
    assert metrics["prior_accuracy"] == 0.25, "the most frequent training answer (cooking) is right for 2 of 8"


if __name__ == "__main__":
    print(json.dumps(data_parallel_worker(json.loads(sys.argv[1]))))


@only_torch_unless_slow
def test_an_experiment_prints_no_tensorflow_notices():
    # TensorFlow's C++ notices at import ignore TF_CPP_MIN_LOG_LEVEL; a command line imports it with stderr closed.
    env = {key: value for key, value in subprocess_env().items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "experiments.babi_long", "--help"], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert "Trains and evaluates" in done.stdout, done.stderr[-2000:]  # (absl's --help exits with 1)
    assert "oneDNN" not in done.stderr and "cpu_feature_guard" not in done.stderr, done.stderr[-2000:]
