"""The examples a user reads: the short bAbI job writes what `examples/serve_stream.py` serves, under every backend;
importing the examples or the experiments leaves stderr alone."""

import json
import os
import subprocess
import sys

import keras
import numpy as np

from examples import babi_long, serve_stream
from tests.testing import ROOT, subprocess_env


def test_babi_long_writes_its_model_and_serve_stream_answers_as_the_keras_model(tmp_path, monkeypatch):
    # A few stories, one epoch at 32 sentences; the model as the example builds it (8 slots x 64).
    monkeypatch.setattr(babi_long, "TRAIN_STORIES", 32)
    monkeypatch.setattr(babi_long, "TEST_STORIES", 20)  # one test batch
    metrics = babi_long.run(task=1, length=32, epochs=1, output_dir=str(tmp_path))
    assert {"model.keras", "saved_model", "metrics.json"} <= set(os.listdir(tmp_path))
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert len(metrics["accuracy_by_depth"]) == 4 and metrics["test_examples"] == 20
    model = keras.saving.load_model(str(tmp_path / "model.keras"))

    # The SavedModel streamed with serve_stream's own word ids answers as the Keras model on the whole story.
    served = serve_stream.run(str(tmp_path), length=30, questions=3, seed=5)
    from keras_rm.pipelines.babi import BabiVectorizer, generate_babi, lengthen

    asked = generate_babi(1, 3, seed=5, questions_per_story=3)
    examples = [lengthen(e, 30, rng=np.random.default_rng(5)) for e in asked]
    vectorizer = BabiVectorizer.from_layer(model.text_vectorizer)
    x = next(iter(vectorizer.dataset(examples, batch_size=3, length=32)))[0]
    expected = keras.ops.convert_to_numpy(
        keras.ops.softmax(model.predict({k: np.asarray(v) for k, v in x.items()}, verbose=0))
    )
    assert [q["answer"] for q in served["questions"]] == [vectorizer.answers[i] for i in expected.argmax(-1)]
    np.testing.assert_allclose([q["probability"] for q in served["questions"]], expected.max(-1), atol=1e-5)
    assert [q["question"] for q in served["questions"]] == [e.question for e in examples]
    assert served["state_shape"] == [1, 8, 64] and served["segments_written"] == 2


def test_importing_the_examples_and_experiments_leaves_stderr_alone():
    # Only a command line (its `__main__` path) silences TensorFlow's notices at import; a library import of the
    # packages and their modules keeps file descriptor 2 as it was and imports no TensorFlow.
    script = (
        "import os, sys; before = os.fstat(2)\n"
        "import examples.babi_long, examples.ctr, examples.serve_stream, examples.video_qa\n"
        "import experiments.babi_long, experiments.ctr, experiments.video_qa\n"
        "assert os.fstat(2) == before and 'tensorflow' not in sys.modules, sys.modules.get('tensorflow')\n"
        "os.write(2, b'stderr still here')\n"
    )
    env = subprocess_env(backend="jax")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.endswith("stderr still here"), done.stderr[-2000:]
