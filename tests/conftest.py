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


# A test's end also drops JAX's compiled steps when the process has grown by `JAX_MEMORY_GROWTH` since the last
# drop. test_model.py and test_export.py, dropped at each module's end only, peaked at 3.1 GB; this way (three drops)
# at 2.3 GB in the same time; after every test at 1.8 GB, but 2.3 times as long (every fixture's model compiled
# again). The process keeps what it freed, so its resident size is measured against that after the last drop.
JAX_MEMORY_GROWTH = 2**29


def drop_compiled_steps():
    if keras.config.backend() == "jax":
        import jax

        jax.clear_caches()
    gc.collect()


def resident_bytes():
    """This process's resident memory (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


@pytest.fixture(autouse=True, scope="module")
def free_compiled_steps():
    """Drops the compiled steps of a test module when it ends (JAX keeps every one it made in memory, and the
    persistent cache keeps them on disk), so a job holds one module's, not the whole suite's."""
    yield
    drop_compiled_steps()


resident_after_drop = 0


@pytest.fixture(autouse=True)
def bound_jax_memory():
    """Drops JAX's compiled steps after a test that grew the process by `JAX_MEMORY_GROWTH` since the last drop."""
    global resident_after_drop
    yield
    if keras.config.backend() == "jax" and resident_bytes() > resident_after_drop + JAX_MEMORY_GROWTH:
        drop_compiled_steps()
        resident_after_drop = resident_bytes()
