"""Test set-up, run once per backend (`KERAS_BACKEND` is fixed per process)."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests care about results, not kernel speed. XLA's older CPU fusion code at the lowest optimisation level compiles
# a step about twice as fast (the tiny click memory's rehearsal step: 31 s -> 16-21 s, on two busy cores; either
# flag alone gains nothing), and runs the learning tests no slower. A persistent cache makes every repeated model
# configuration compile once per run. Set in the environment, these reach the tests' worker processes too.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(pathlib.Path(__file__).parent.parent / ".cache" / "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import gc  # noqa: E402

import keras  # noqa: E402
import pytest  # noqa: E402

if keras.config.backend() == "tensorflow":
    import tensorflow as tf

    # Likewise TensorFlow's graph optimiser (Grappler), which rewrites every traced step before its first run: off,
    # the TF tests take about 8% less time (two samples of test_model.py, idle cores), with the same results.
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


@pytest.fixture(autouse=True, scope="module")
def free_compiled_steps():
    """Drops the compiled steps of a test module when it ends (JAX keeps every one it made in memory, and the
    persistent cache keeps them on disk), so a job holds one module's, not the whole suite's."""
    yield
    if keras.config.backend() == "jax":
        import jax

        jax.clear_caches()
    gc.collect()
