"""Learning-rate schedules the examples and the tuner share."""

import keras


def learning_rate_schedule(learning_rate, warmup_steps):
    """`learning_rate`, reached linearly from 0 over `warmup_steps` optimizer steps, then constant (0 steps: constant).

    Without a warm-up some seeds of the memory sat at chance for epochs (docs/learning.md).

    Example:

    ```python
    model.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(1e-3, 500), clipnorm=1.0))
    ```
    """
    if not warmup_steps:
        return learning_rate
    return keras.optimizers.schedules.CosineDecay(  # alpha=1: no cosine decay after the warm-up
        0.0, decay_steps=1, alpha=1.0, warmup_target=learning_rate, warmup_steps=warmup_steps
    )
