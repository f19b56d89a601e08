"""Data-parallel training over the local devices, per backend.

JAX shards every batch over the devices with `keras.distribution.DataParallel`
(one program, global batch semantics). TensorFlow runs one replica per device
under `tf.distribute.MirroredStrategy` and sums the replicas' gradients; the
loss objects of `RehearsalMemoryModel` scale themselves by the replica count,
so the step and the logged loss equal the single-device ones. Several hosts:
`tf.distribute.MultiWorkerMirroredStrategy` (TF) or
`keras.distribution.initialize` + `DataParallel` (JAX), see docs/scaling.md.

PyTorch is not supported: Keras 3.15 has no torch implementation of
`keras.distribution` and its torch trainer does not wrap the model in
`DistributedDataParallel`, so every process would train its own copy.
"""

import contextlib

import keras

TORCH_UNSUPPORTED = (
    "Data-parallel training is not supported on the torch backend with this Keras "
    f"({keras.__version__}): `keras.distribution` has no torch implementation and the torch trainer "
    "does not wrap the model in `DistributedDataParallel`, so each device or process would train its own copy. "
    "Use KERAS_BACKEND=jax (`keras.distribution.DataParallel`) or KERAS_BACKEND=tensorflow "
    "(`tf.distribute.MirroredStrategy`), or train on one device (no distribution, no `torch.distributed` group)."
)


def data_parallel(batch_size=None):
    """Sets up data-parallel training over every local device of the backend.

    JAX: sets `keras.distribution.DataParallel` over all local devices (with
    `XLA_FLAGS=--xla_force_host_platform_device_count=N` a CPU counts as N).
    TensorFlow: creates a `tf.distribute.MirroredStrategy` over the GPUs, or
    over the logical CPU devices when there is no GPU. Build and compile the
    model inside `scope()`, then `fit` as usual with the global batch. With a
    single device nothing is set up: training is the plain single-device `fit`.

    Args:
        batch_size: int. The global batch size; it must divide by the number
            of devices (every replica gets an equal share). Defaults to None
            (not checked).

    Returns:
        `(scope, num_replicas)`: a function returning the context to create
        and compile the model in (`strategy.scope` on TensorFlow; a no-op
        on JAX) and the number of devices.

    Raises:
        RuntimeError: on the torch backend (see the module docstring).
        ValueError: if `batch_size` does not divide by the device count.
    """
    backend = keras.config.backend()
    scope = contextlib.nullcontext
    if backend == "jax":
        devices = keras.distribution.list_devices()
        count = len(devices)
        # One device: no distribution at all (measured: `DataParallel` over one CPU device made the step
        # several times slower than the plain step, Keras 3.15.1, JAX 0.10.2).
        if count > 1:
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    elif backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        count = len(devices)
        if count > 1:
            scope = tf.distribute.MirroredStrategy([device.name for device in devices]).scope
    else:
        raise RuntimeError(TORCH_UNSUPPORTED)
    if batch_size is not None and batch_size % count:
        raise ValueError(
            f"`batch_size` must divide by the number of devices ({count}) for data-parallel training. "
            f"Received: `batch_size` = {batch_size}"
        )
    return scope, count


def check_torch_single_process():
    """Raises if a distribution is requested under torch, where Keras would silently train on one device."""
    import torch.distributed

    if keras.distribution.distribution() is not None or (
        torch.distributed.is_available() and torch.distributed.is_initialized()
    ):
        raise RuntimeError(TORCH_UNSUPPORTED)
