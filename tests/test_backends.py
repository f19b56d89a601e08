"""What must hold across backends: a `.keras` file written under another backend predicts and trains the same, and
no TensorFlow import."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.testing import BACKEND, ROOT, subprocess_env

WRITER = """
import sys, keras, keras_rm, numpy as np
from tests.testing import VOCABULARY, recall_data, tiny_model
keras.utils.set_random_seed(0)
x, _, _ = recall_data(16, seed=5)
model = tiny_model()  # every rehearsal part, and the optimizer's config and variables
model.compile()
np.save(sys.argv[1] + "/predictions.npy", model.predict(x, verbose=0))
model.optimizer.build(model.trainable_variables)
model.save(sys.argv[1] + "/model.keras")
# The learning tests' plain memory over sentences, saved untrained, then trained by plain SGD (Adam's first steps
# turn a gradient of 1e-9 into a full step, so they would compare rounding, not gradients).
x, y, _ = recall_data(16, seed=6, as_pairs=True)
encoder = keras_rm.layers.SentenceItemEncoder(vocabulary_size=VOCABULARY, hidden_dim=16, max_words=2)
model = keras_rm.RehearsalMemoryModel(
    encoder, num_classes=4, memory=dict(num_slots=2, segment_length=4, num_heads=2), rehearsal=None, seed=0
)
model.compile(optimizer=keras.optimizers.SGD(0.5))
model.predict(x, verbose=0)
model.save(sys.argv[1] + "/untrained.keras")
model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
np.save(sys.argv[1] + "/trained_predictions.npy", model.predict(x, verbose=0))
"""


def run_python(code, backend, *args):
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=subprocess_env(backend),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


# `make test` checks a ring, each backend writing once and reading once: JAX reads TF's file, TF reads torch's and
# torch reads JAX's (whose jit_compile=True torch must not act on). `make test-all` checks every pair.
READS_UNDER_MAKE_TEST = {"jax": "tensorflow", "tensorflow": "torch", "torch": "jax"}


@pytest.mark.parametrize(
    "writer",
    [
        b if b == READS_UNDER_MAKE_TEST[BACKEND] else pytest.param(b, marks=pytest.mark.slow)
        for b in ("tensorflow", "jax", "torch")
        if b != BACKEND
    ],
)
def test_keras_file_from_another_backend_predicts_and_trains_the_same(writer, tmp_path):
    """Also why the learning tests each run on one backend in `make test`: a training step here moves a model
    written there exactly as it moved there."""
    from tests.testing import recall_data

    run_python(WRITER, writer, str(tmp_path))
    model = keras.saving.load_model(os.path.join(tmp_path, "model.keras"))
    x, _, _ = recall_data(16, seed=5)
    expected = np.load(os.path.join(tmp_path, "predictions.npy"))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    if BACKEND == "torch":  # a JAX file says jit_compile=True; torch must not turn on torch.compile
        assert not model.jit_compile

    model = keras.saving.load_model(os.path.join(tmp_path, "untrained.keras"))
    x, y, _ = recall_data(16, seed=6, as_pairs=True)
    before = model.predict(x, verbose=0)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    trained = np.load(os.path.join(tmp_path, "trained_predictions.npy"))
    assert np.abs(trained - before).max() > 1  # the 8 steps moved the logits by up to 5...
    np.testing.assert_allclose(model.predict(x, verbose=0), trained, atol=1e-3)  # ...here as there, to rounding


@pytest.mark.skipif(BACKEND == "tensorflow", reason="checked from the JAX and torch runs")
def test_import_does_not_load_tensorflow():
    out = run_python("import sys, keras_rm; print('tensorflow' in sys.modules)", BACKEND)
    assert out.strip() == "False"
