"""The per-backend training steps of `RehearsalMemoryModel`.

Each is a thin shell of gradient mechanics around the one backend-agnostic
`model.compute_joint_loss`, mirroring what Keras' own `train_step` does on that
backend: loss scaling for mixed precision (`optimizer.scale_loss`), gradient
accumulation (inside `optimizer.apply`), layer `add_loss` terms, seed and
metric state under JAX, and replica scaling under `tf.distribute` (the loss
objects scale themselves; trackers receive unscaled values).
"""

import keras

from keras_rm import distribute


def unscale_loss(loss):
    """A per-replica loss back to the global value: times the replica count under a `tf.distribute` strategy
    of several replicas (what Keras' own trainers do), the identity elsewhere."""
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = keras.ops.multiply(loss, keras.ops.cast(replicas, loss.dtype))
    return loss


def first_replica(batch):
    """The first replica's part of a `tf.distribute` batch (other values pass through)."""
    import tensorflow as tf

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return value.values[0]
        return value

    return keras.tree.map_structure(local, batch)


def tensorflow_train_step(model, data):
    import tensorflow as tf

    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    with tf.GradientTape() as tape:
        loss, y_pred, terms = model.compute_joint_loss(x, y, sample_weight, step=model.optimizer.iterations)
        scaled_loss = model.optimizer.scale_loss(loss)
    weights = model.trainable_weights
    model.optimizer.apply_gradients(zip(tape.gradient(scaled_loss, weights), weights))
    return model.update_train_metrics(loss, terms, x, y, y_pred, sample_weight)


def torch_train_step(model, data):
    import torch

    distribute.check_torch_single_process()
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    model.zero_grad()
    loss, y_pred, terms = model.compute_joint_loss(x, y, sample_weight, step=model.optimizer.iterations)
    model.optimizer.scale_loss(loss).backward()
    weights = model.trainable_weights[:]
    with torch.no_grad():
        model.optimizer.apply([w.value.grad for w in weights], weights)
    return model.update_train_metrics(loss, terms, x, y, y_pred, sample_weight)


def jax_train_step(model, state, data):
    import jax

    trainable, non_trainable, optimizer_variables, metrics_variables = state
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    step = next(
        value
        for variable, value in zip(model.optimizer.variables, optimizer_variables)
        if variable is model.optimizer.iterations
    )

    def loss_fn(trainable, non_trainable, metrics_variables):
        mapping = list(zip(model.trainable_variables, trainable))
        mapping += zip(model.non_trainable_variables, non_trainable)
        mapping += zip(model.metrics_variables, metrics_variables)
        # One stateless scope for the whole pass: layer `add_loss` terms are
        # collected in it (and seen by `compute_loss`), seed-generator and
        # other non-trainable updates are read back out of it.
        with keras.StatelessScope(state_mapping=mapping, collect_losses=True) as scope:
            loss, y_pred, terms = model.compute_joint_loss(x, y, sample_weight, step=step)
        new_non_trainable = [scope.get_current_value(v) for v in model.non_trainable_variables]
        new_metrics = [scope.get_current_value(v) for v in model.metrics_variables]
        optimizer_mapping = zip(model.optimizer.variables, optimizer_variables)
        with keras.StatelessScope(state_mapping=optimizer_mapping):
            scaled_loss = model.optimizer.scale_loss(loss)
        return scaled_loss, (loss, y_pred, terms, new_non_trainable, new_metrics)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (_, aux), grads = grad_fn(trainable, non_trainable, metrics_variables)
    loss, y_pred, terms, non_trainable, metrics_variables = aux
    trainable, optimizer_variables = model.optimizer.stateless_apply(optimizer_variables, grads, trainable)

    with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, metrics_variables))) as scope:
        logs = model.update_train_metrics(loss, terms, x, y, y_pred, sample_weight)
    metrics_variables = [
        scope.get_current_value(v) if scope.get_current_value(v) is not None else v.value
        for v in model.metrics_variables
    ]
    return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)


TRAIN_STEPS = {
    "tensorflow": tensorflow_train_step,
    "jax": jax_train_step,
    "torch": torch_train_step,
}
