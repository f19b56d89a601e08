"""Data-parallel training: one step on 2 CPU devices equals the single-device step.

The device count of a process is fixed before its backend starts, so each
check runs this file as a worker in a fresh subprocess (JAX: 2 host devices
from `XLA_FLAGS`; TF: 2 logical CPUs and `MirroredStrategy`) that prints its
measurements as JSON. Two devices split a batch as four would, and a loss
term scaled wrongly shows as well, at less compiling (TF: 24 s against 37 s).
Plain SGD keeps the comparison honest: Adam's first step `lr * g / (|g| + eps)`
would blow the float noise of a zero gradient (a key bias) up to a visible
difference.
"""

import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_rm

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from testing import BACKEND, ROOT, multi_device_env  # noqa: E402

DEVICES = 2
BATCH = 16
LEARNING_RATE = 0.1


def run_worker(case):
    """Runs a worker on `DEVICES` devices; checks the device count and the uneven-batch error; returns its results."""
    env = multi_device_env(DEVICES)
    done = subprocess.run(
        [sys.executable, __file__, case], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["devices"] == DEVICES
    assert f"`batch_size` must divide by the number of devices ({DEVICES})" in result["uneven_batch_error"]
    return result


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution.DataParallel is the JAX route")
def test_jax_data_parallel_step_equals_the_single_device_step():
    result = run_worker("jax")
    # The parallel model trained under a `DataParallel` over the devices: batches split along their first axis,
    # every variable replicated on both (the single-device model's on one).
    assert (result["distribution"], result["mesh_devices"]) == ("DataParallel", DEVICES), result
    assert result["batch_layout"] == ["batch", None], result
    assert result["parallel_variable_devices"] == [DEVICES] and result["single_variable_devices"] == [1], result
    assert result["max_weight_diff"] < 1e-5, result
    assert result["changed"] > 1e-3, "the step must move the weights"
    for name, single in result["single_logs"].items():
        np.testing.assert_allclose(result["parallel_logs"][name], single, rtol=1e-5, err_msg=name)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute.MirroredStrategy is the TF route")
def test_tensorflow_mirrored_step_equals_the_single_device_step():
    result = run_worker("tensorflow")
    # Without rehearsal the step is deterministic: the same weights and loss as one device on the global batch.
    assert result["plain_max_weight_diff"] < 1e-5, result
    np.testing.assert_allclose(result["plain_parallel_loss"], result["plain_single_loss"], rtol=1e-5)
    # With rehearsal (teacher sampler, recollection, familiarity) each replica draws its fragments
    # for its own share: the step must be the mean of one-device steps on the shares, every loss
    # term scaled once (a term left unscaled would count twice).
    assert result["rehearsal_max_weight_diff"] < 1e-5, result
    assert result["changed"] > 1e-3, "the step must move the weights"
    for name, expected in result["rehearsal_expected_logs"].items():
        np.testing.assert_allclose(result["rehearsal_parallel_logs"][name], expected, rtol=1e-5, err_msg=name)


@pytest.mark.skipif(BACKEND != "torch", reason="the torch error")
def test_torch_refuses_a_distribution_instead_of_training_on_one_device(tmp_path):
    import torch.distributed
    from testing import recall_data, tiny_model

    with pytest.raises(RuntimeError, match="not supported on the torch backend"):
        keras_rm.distribute.data_parallel()
    x, y, _ = recall_data(8)
    model = tiny_model()
    model.compile()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=["cpu:0"]))
    try:
        with pytest.raises(RuntimeError, match="KERAS_BACKEND=jax"):
            model.fit(x, y, batch_size=8, verbose=0)
    finally:
        keras.distribution.set_distribution(None)
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'group'}", rank=0, world_size=1)
    try:
        with pytest.raises(RuntimeError, match="DistributedDataParallel"):
            model.fit(x, y, batch_size=8, verbose=0)
    finally:
        torch.distributed.destroy_process_group()
    model.fit(x, y, batch_size=8, verbose=0)  # and trains again once the group is gone


# The workers ---------------------------------------------------------------


def _make(**overrides):
    from testing import tiny_model

    keras.utils.set_random_seed(3)
    model = tiny_model(**overrides)
    model.build({"items": (None, 16), "query": (None, 1)})
    model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
    return model


def _weights(model):
    return [keras.ops.convert_to_numpy(w.value) for w in model.trainable_weights]


def _max_diff(a, b):
    return float(max(np.abs(u - v).max() for u, v in zip(a, b)))


def _fit(model, x, y):
    history = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0).history
    return {name: values[-1] for name, values in history.items()}


def _jax_worker(x, y):
    single = _make(sampler="teacher")
    before = _weights(single)
    single_logs = _fit(single, x, y)
    _, devices = keras_rm.distribute.data_parallel(BATCH)
    parallel = _make(sampler="teacher")
    parallel_logs = _fit(parallel, x, y)
    distribution = keras.distribution.distribution()
    return {
        "devices": devices,
        "distribution": type(distribution).__name__,
        "mesh_devices": int(np.prod(distribution.device_mesh.shape)) if distribution else None,
        "batch_layout": list(distribution.get_data_layout((BATCH, 16)).axes) if distribution else None,
        "single_variable_devices": sorted({len(v.value.sharding.device_set) for v in single.variables}),
        "parallel_variable_devices": sorted({len(v.value.sharding.device_set) for v in parallel.variables}),
        "max_weight_diff": _max_diff(_weights(single), _weights(parallel)),
        "changed": _max_diff(before, _weights(single)),
        "single_logs": single_logs,
        "parallel_logs": parallel_logs,
    }


def _tensorflow_worker(x, y):
    import tensorflow as tf
    from testing import gradients

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * DEVICES)
    plain = dict(rehearsal=None)
    single = _make(**plain)
    plain_single_loss = _fit(single, x, y)["loss"]
    scope, devices = keras_rm.distribute.data_parallel(BATCH)
    with scope():
        parallel = _make(**plain)
    result = {
        "devices": devices,
        "plain_parallel_loss": _fit(parallel, x, y)["loss"],
        "plain_single_loss": plain_single_loss,
        "plain_max_weight_diff": _max_diff(_weights(single), _weights(parallel)),
    }

    # The reference of the rehearsal step: one device, every share from the same seed state.
    reference = _make(sampler="teacher")
    before = _weights(reference)
    seeds = [v for v in reference.non_trainable_variables if "seed_generator_state" in v.path]
    seed_values = [keras.ops.convert_to_numpy(v.value) for v in seeds]
    share = BATCH // devices
    grads, logs = [], []
    for start in range(0, BATCH, share):
        for variable, value in zip(seeds, seed_values):
            variable.assign(value)
        xs = {k: v[start : start + share] for k, v in x.items()}
        ys = y[start : start + share]
        terms = {}

        def loss_fn(xs=xs, ys=ys, terms=terms):
            loss, _, parts = reference.compute_joint_loss(xs, ys)
            terms.update(parts, total_loss=loss)
            terms["loss"] = terms.pop("task_loss")  # `fit` logs the task loss as `loss`
            return loss

        grads.append(gradients(loss_fn, reference.trainable_weights))
        logs.append({k: float(keras.ops.convert_to_numpy(v)) for k, v in terms.items()})
    expected = [w - LEARNING_RATE * np.mean(g, axis=0) for w, g in zip(before, zip(*grads))]
    with scope():
        parallel = _make(sampler="teacher")
    parallel_logs = _fit(parallel, x, y)
    result.update(
        rehearsal_max_weight_diff=_max_diff(expected, _weights(parallel)),
        changed=_max_diff(before, expected),
        rehearsal_parallel_logs={k: parallel_logs[k] for k in logs[0]},
        rehearsal_expected_logs={k: float(np.mean([log[k] for log in logs])) for k in logs[0]},
    )
    return result


if __name__ == "__main__":
    from testing import recall_data

    x, y, _ = recall_data(BATCH, seed=1)
    worker = {"jax": _jax_worker, "tensorflow": _tensorflow_worker}[sys.argv[1]]
    result = worker(x, y)
    try:
        keras_rm.distribute.data_parallel(batch_size=BATCH + 1)
    except ValueError as error:
        result["uneven_batch_error"] = str(error)
    print(json.dumps(result))
