"""Shared helpers of the test suite: a layer test in the spirit of keras-hub's
`run_layer_test`, backend-agnostic gradients, and tiny shared configurations."""

import os
import pathlib

import keras
import numpy as np
import pytest
from keras import ops

import keras_rm
from keras_rm.layers.memory_machine import MEMORY_ARGUMENTS
from keras_rm.layers.rehearsal import REHEARSAL_ARGUMENTS
from keras_rm.pipelines.recall import make_recall_data, recall_vocabulary_size

BACKEND = keras.config.backend()


def only_on_unless_slow(*backends):
    """Runs a test on `backends` under `make test` and on every backend under `make test-all` (slow elsewhere)."""
    return (lambda test: test) if BACKEND in backends else pytest.mark.slow


# The longest tests of backend-independent machinery (the examples' flags, files and reports, KerasTuner's search
# state, the wheel's contents): every backend under `make test-all`, torch (the fastest here) under `make test`.
# What they train, save and export on the way is tested on every backend by test_model.py and test_export.py.
only_torch_unless_slow = only_on_unless_slow("torch")
ROOT = pathlib.Path(__file__).parent.parent


def subprocess_env(backend=BACKEND, **overrides):
    """The environment of a test's worker process: this backend (or `backend`), this checkout, quiet TF."""
    return dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", **overrides)


def multi_device_env(count):
    """`subprocess_env` for a worker with `count` CPU devices under JAX, keeping the suite's XLA flags."""
    return subprocess_env(XLA_FLAGS=f"--xla_force_host_platform_device_count={count} {os.environ.get('XLA_FLAGS', '')}")


# One tiny recall task and one tiny model configuration, shared by the tests
# so that compiled steps are reused (JAX's persistent cache).
RECALL = dict(length=16, num_pairs=2, num_keys=6, num_values=4, num_distractors=8)
VOCABULARY = recall_vocabulary_size(RECALL["num_keys"], RECALL["num_values"], RECALL["num_distractors"])
TINY = dict(
    num_classes=RECALL["num_values"],
    memory=dict(num_slots=2, segment_length=8, num_heads=2),
    rehearsal=dict(num_fragments=2, fragment_length=4, num_negatives=3, decoder_layers=1),
    seed=7,
)


def recall_data(num_examples=8, seed=0, **overrides):
    return make_recall_data(num_examples, seed=seed, **{**RECALL, **overrides})


def tiny_model(hidden_dim=8, **overrides):
    """The tiny memory; `overrides` of the memory machine's or the rehearsal's own arguments (`num_slots=3`,
    `sampler="teacher"`) go into their dicts."""
    memory = {**TINY["memory"], **{key: overrides.pop(key) for key in MEMORY_ARGUMENTS if key in overrides}}
    rehearsal = {**TINY["rehearsal"], **{key: overrides.pop(key) for key in REHEARSAL_ARGUMENTS if key in overrides}}
    encoder = keras_rm.layers.TokenItemEncoder(VOCABULARY, hidden_dim)
    return keras_rm.RehearsalMemoryModel(encoder, **{**TINY, "memory": memory, "rehearsal": rehearsal, **overrides})


def weights_of(model):
    return [ops.convert_to_numpy(w) for w in model.weights]


def gradients(loss_fn, variables):
    """Gradients of the scalar `loss_fn()` with respect to `variables`, on any backend."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, [v.value for v in variables])
    elif BACKEND == "jax":
        import jax

        def stateless(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return loss_fn()

        grads = jax.jit(jax.grad(stateless))([v.value for v in variables])
    else:
        for v in variables:
            v.value.grad = None
        loss_fn().backward()
        grads = [v.value.grad for v in variables]
    return [np.zeros(v.shape) if g is None else ops.convert_to_numpy(g) for v, g in zip(variables, grads)]


def run_layer_test(layer_cls, init_kwargs, call_args, expected_output_shape, call_kwargs=None):
    """Checks a layer end to end: config round trip, build, symbolic and eager calls, no weight created in `call`.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments.
        call_args: tuple of numpy inputs (positional arguments of `call`).
        expected_output_shape: a shape, or a structure of shapes like the output.
        call_kwargs: dict of extra keyword arguments of `call`.

    Returns:
        The eager output.
    """
    call_kwargs = call_kwargs or {}
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    revived = layer_cls.from_config(config)
    assert revived.get_config() == config
    deserialized = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(deserialized, layer_cls)

    output = layer(*call_args, **call_kwargs)
    assert layer.built
    count = len(layer.weights)
    layer(*call_args, **call_kwargs)
    assert len(layer.weights) == count, "weights must be created in build(), not call()"

    def shape_of(x):
        return tuple(x.shape)

    actual = keras.tree.map_structure(shape_of, output)
    assert actual == expected_output_shape, (actual, expected_output_shape)

    symbolic_args = [keras.KerasTensor(np.shape(a), dtype=str(np.asarray(a).dtype)) for a in call_args]
    spec = layer_cls(**init_kwargs)(*symbolic_args, **call_kwargs)
    symbolic = keras.tree.map_structure(lambda x: tuple(x.shape), spec)
    assert symbolic == expected_output_shape, (symbolic, expected_output_shape)
    return output


def run_model_test(make_model, x, y, batch_size=8):
    """Checks a model end to end, in the spirit of keras-hub's `run_model_test`: config round trip, a compiled `fit`
    epoch that changes the weights with a finite loss, a `.keras` save and load with equal predictions and optimizer
    state, and the same model under a mixed-precision policy training with finite losses.

    Args:
        make_model: function returning a new, uncompiled model (called once per policy).
        x, y: a few examples: inputs (a dict of arrays) and labels.
        batch_size: batch size of the `fit` epochs.

    Returns:
        The trained float32 model.
    """
    import tempfile

    model = make_model()
    config = model.get_config()
    assert type(model).from_config(config).get_config() == config, "config round trip"
    model.compile()
    model.build({key: value.shape for key, value in x.items()})
    before = weights_of(model)
    history = model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    assert any(not np.allclose(a, b) for a, b in zip(before, weights_of(model))), "fit changed no weight"
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    steps = [int(ops.convert_to_numpy(m.optimizer.iterations)) for m in (loaded, model)]
    assert steps[0] == steps[1], f"optimizer steps {steps[0]} after loading, {steps[1]} saved"

    policy = "mixed_bfloat16" if BACKEND == "jax" else "mixed_float16"  # JAX on CPU has no float16 matmul
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        mixed = make_model()
        mixed.compile()
        history = mixed.fit(x, y, batch_size=batch_size, epochs=1, verbose=0).history
    finally:
        keras.config.set_dtype_policy(previous)
    assert all(np.isfinite(v).all() for v in history.values()), f"finite losses under {policy}"
    if policy == "mixed_float16":
        assert isinstance(mixed.optimizer, keras.optimizers.LossScaleOptimizer), "float16 scales the loss"
    assert mixed.predict(x, verbose=0).dtype == policy.split("_")[1]
    return model
