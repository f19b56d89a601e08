"""Learning-rate schedules the examples and the tuner share."""

import keras


@keras.saving.register_keras_serializable(package="keras_rm")
class WarmupHalving(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warm-up from 0 to `learning_rate`, then the rate halved every `halve_every` steps.

    The step schedule of the bAbI memories (MemN2N halves every 15 epochs,
    EntNet every 25) after the warm-up the memory needs to leave chance.

    Args:
        learning_rate: float. The rate after the warm-up.
        warmup_steps: int. Steps of the linear warm-up (0: none).
        halve_every: int. Steps between halvings after the warm-up.

    Example:

    ```python
    schedule = WarmupHalving(1e-3, warmup_steps=500, halve_every=20 * steps_per_epoch)
    model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0))
    ```
    """

    def __init__(self, learning_rate, warmup_steps, halve_every):
        if halve_every <= 0:
            raise ValueError(
                f"`halve_every` must be a positive number of steps. Received: `halve_every` = {halve_every}"
            )
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.halve_every = int(halve_every)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = keras.ops.minimum(1.0, (step + 1.0) / max(self.warmup_steps, 1))
        halvings = keras.ops.floor(keras.ops.maximum(step - self.warmup_steps, 0.0) / self.halve_every)
        return self.learning_rate * warmup * keras.ops.power(0.5, halvings)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps, "halve_every": self.halve_every}


def learning_rate_schedule(learning_rate, warmup_steps, halve_every=0):
    """`learning_rate`, reached linearly from 0 over `warmup_steps` optimizer steps, then constant (0 steps:
    constant), or with `halve_every` steps halved that often after the warm-up (`WarmupHalving`).

    Without a warm-up some seeds of the memory sat at chance for epochs (docs/learning.md).

    Example:

    ```python
    model.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(1e-3, 500), clipnorm=1.0))
    ```
    """
    if halve_every:
        return WarmupHalving(learning_rate, warmup_steps, halve_every)
    if not warmup_steps:
        return learning_rate
    return keras.optimizers.schedules.CosineDecay(  # alpha=1: no cosine decay after the warm-up
        0.0, decay_steps=1, alpha=1.0, warmup_target=learning_rate, warmup_steps=warmup_steps
    )
