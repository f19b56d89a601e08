"""Argument and input checks shared by the layers and models.

Every check raises `ValueError`/`TypeError` naming the argument, what was
expected and what was received, in Keras' "Received: `x` = ..." style, so
that bad input never surfaces as a backend stack trace.
"""

import numpy as np
from keras import ops


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be a positive integer. Received: `{name}` = {value!r}")
    if value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: `{name}` = {value}")
    return int(value)


def check_non_negative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be a non-negative integer. Received: `{name}` = {value!r}")
    if value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer. Received: `{name}` = {value}")
    return int(value)


def check_non_negative(name, value):
    if value is None or value < 0:
        raise ValueError(f"`{name}` must be >= 0. Received: `{name}` = {value!r}")
    return float(value)


def check_fraction(name, value, allow_zero=False):
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= 1):
        bound = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"`{name}` must be in {bound}. Received: `{name}` = {value!r}")
    return float(value)


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {sorted(choices)}. Received: `{name}` = {value!r}")
    return value


def check_arguments(name, arguments, accepted, layer):
    """Checks that the dict `arguments`, given as `name`, holds only `accepted` arguments of the class `layer`."""
    unknown = sorted(set(arguments) - set(accepted))
    if unknown:
        raise ValueError(
            f"`{name}` holds arguments `{layer}` does not take here: {unknown}. Expected some of: {', '.join(accepted)}"
        )
    return dict(arguments)


def concrete_value(x):
    """Returns `x` as a numpy array when it holds concrete values, else None.

    Symbolic tensors (TF graph tensors, JAX tracers, KerasTensors) cannot be
    read; checks that need values are then skipped (the traced program stays
    free of host callbacks).
    """
    if isinstance(x, np.ndarray):
        return x
    try:
        return ops.convert_to_numpy(x)
    except Exception:  # Each backend raises its own type for symbolic values.
        return None


def check_ids_in_range(name, ids, vocabulary_size):
    """Checks that integer ids lie in `[0, vocabulary_size)`, when concrete."""
    if 0 in tuple(ids.shape):
        return
    # Two scalars leave the device, not the batch (torch runs every training step eagerly).
    low, high = concrete_value(ops.min(ids)), concrete_value(ops.max(ids))
    if low is None or high is None:
        return
    low, high = int(low), int(high)
    if low < 0 or high >= vocabulary_size:
        bad = low if low < 0 else high
        raise ValueError(f"`{name}` holds ids outside the vocabulary [0, {vocabulary_size}). Received: an id = {bad}")
