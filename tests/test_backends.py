"""What must hold across backends: a `.keras` file written under another backend, and no TensorFlow import."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.testing import BACKEND

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRITER = """
import sys, keras, numpy as np
from tests.testing import recall_data, tiny_model
keras.utils.set_random_seed(0)
x, y, _ = recall_data(16, seed=5)
model = tiny_model()
model.compile()
model.fit(x, y, batch_size=8, epochs=1, verbose=0)
model.save(sys.argv[1] + "/model.keras")
np.save(sys.argv[1] + "/predictions.npy", model.predict(x, verbose=0))
"""


def run_python(code, backend, *args):
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
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
def test_keras_file_from_another_backend_predicts_the_same(writer, tmp_path):
    from tests.testing import recall_data

    run_python(WRITER, writer, str(tmp_path))
    model = keras.saving.load_model(os.path.join(tmp_path, "model.keras"))
    x, _, _ = recall_data(16, seed=5)
    expected = np.load(os.path.join(tmp_path, "predictions.npy"))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    if BACKEND == "torch":  # a JAX file says jit_compile=True; torch must not turn on torch.compile
        assert not model.jit_compile


@pytest.mark.skipif(BACKEND == "tensorflow", reason="checked from the JAX and torch runs")
def test_import_does_not_load_tensorflow():
    out = run_python("import sys, keras_rm; print('tensorflow' in sys.modules)", BACKEND)
    assert out.strip() == "False"
