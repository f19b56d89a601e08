"""Test set-up, run once per backend (`KERAS_BACKEND` is fixed per process)."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests care about results, not kernel speed. XLA's older CPU fusion code at the lowest optimisation level compiles
# a step about twice as fast (the tiny click memory's rehearsal step: 31 s -> 16-21 s, on two busy cores; either
# flag alone gains nothing), and runs the learning tests no slower. A persistent cache makes every repeated model
# configuration compile once per run.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false")

import gc  # noqa: E402

import keras  # noqa: E402
import pytest  # noqa: E402

if keras.config.backend() == "jax":
    import jax

    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR", str(pathlib.Path(__file__).parent.parent / ".cache" / "jax"))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture(autouse=True, scope="module")
def free_compiled_steps():
    """Drops the compiled steps of a test module when it ends (JAX keeps every one it made in memory, and the
    persistent cache keeps them on disk), so a job holds one module's, not the whole suite's."""
    yield
    if keras.config.backend() == "jax":
        jax.clear_caches()
    gc.collect()
