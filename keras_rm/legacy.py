"""What `.keras` files of older versions mean by the arguments they do not name: one table for every class.

A config holds the arguments its version had. An argument added later is missing from older files, and its
default today is not what those models were: such a file loads with the value its version behaved as. A file
that names an argument keeps its value. `tests/data/` holds files of every version; they load with the
predictions they were saved with. A renamed public method or argument keeps its old name for one release
(`renamed_method`, `renamed_arguments`), and so does an argument given flat that is now nested (`flat_arguments`).
"""

import warnings

# (version that added the argument, class, argument, what files of earlier versions mean). A row applies to
# the class and its subclasses.
ADDED = (
    ("0.2", "MemoryUpdate", "slot_identity", False),
    ("0.2", "MemoryUpdate", "null_item", False),
    ("0.2", "MemoryMachine", "slot_identity", False),
    ("0.2", "MemoryMachine", "null_item", False),
    ("0.2", "MemoryMachine", "keep_bias", 0.0),  # the update gate's bias started at 0
    ("0.2", "TaskModel", "head_activation", "relu"),
    ("0.2", "TaskHead", "activation", "relu"),
    ("0.3", "ItemEncoder", "norm_epsilon", 1e-3),
    ("0.4", "Rehearsal", "teacher_hops", 1),  # a one-round teacher that knew no positions
    ("0.4", "Rehearsal", "teacher_positions", False),
    ("0.4", "TeacherSampler", "hops", 1),
    ("0.4", "TeacherSampler", "positions", False),
)

# The rehearsal's arguments as files of 0.1-0.5 hold them: flat, beside the memory model's own.
FLAT_REHEARSAL = (
    "recollection_weight",
    "familiarity_weight",
    "teacher_weight",
    "rehearsal_warmup",
    "sampler",
    "num_fragments",
    "fragment_length",
    "mask_ratio",
    "mask_selection",
    "corruption_ratio",
    "num_negatives",
    "recollection",
    "temperature",
    "sampler_temperature",
    "teacher_hops",
    "teacher_positions",
    "uniform_mix",
    "decoder_layers",
    "decoder_width",
)

# The memory machine's arguments as files of 0.1-0.6 hold them: flat, beside the memory model's own, by the model's
# names, and their names in `MemoryMachine` (the model's `slot_dim` is the machine's `hidden_dim`).
FLAT_MEMORY = {
    "num_slots": "num_slots",
    "slot_dim": "hidden_dim",
    "segment_length": "segment_length",
    "segment_layers": "num_layers",
    "num_heads": "num_heads",
    "per_slot_weights": "per_slot_weights",
    "keep_bias": "keep_bias",
    "slot_identity": "slot_identity",
    "null_item": "null_item",
}

# (version that nested them, class, the argument that holds them now, the class it holds, the arguments files of
# earlier versions hold flat, beside the class's own: each flat name and its name in the class it holds). The flat
# arguments keep working for one release after the version that nested them.
NESTED = (
    ("0.6", "RehearsalMemoryModel", "rehearsal", "Rehearsal", {name: name for name in FLAT_REHEARSAL}),
    ("0.7", "RehearsalMemoryModel", "memory", "MemoryMachine", FLAT_MEMORY),
)

# (version of the new name, class, old name, new name). Rows apply in order, so a name renamed twice reaches today's.
RENAMED = (
    ("0.4", "RehearsalDecoder", "recollection", "reconstructs"),
    ("0.4", "RehearsalDecoder", "familiarity", "judges_familiarity"),
    ("0.7", "RehearsalDecoder", "reconstructs", "use_recollection"),
    ("0.7", "RehearsalDecoder", "judges_familiarity", "use_familiarity"),
)


def renamed_method(new, old, removed_in="0.7"):
    """A method called `old` that warns (`DeprecationWarning`) and calls the method `new`: a public name that
    changed keeps working for one release."""

    def method(self, *args, **kwargs):
        warnings.warn(
            f"`{type(self).__name__}.{old}` is renamed `{new}`; the old name goes in version {removed_in}.",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(self, new)(*args, **kwargs)

    method.__name__ = old
    method.__doc__ = f"Deprecated: the old name of `{new}`, removed in version {removed_in}."
    return method


def renamed_arguments(layer, kwargs, removed_in="0.8"):
    """The constructor arguments of `layer` that `kwargs` gives by an old name (`RENAMED`), popped from `kwargs`
    and keyed by today's name, each with a `DeprecationWarning`: a renamed argument keeps working for one release."""
    names = {klass.__name__ for klass in type(layer).__mro__}
    renamed = {}
    for _, owner, old, new in RENAMED:
        if owner in names and (old in kwargs or old in renamed):
            warnings.warn(
                f"`{type(layer).__name__}({old}=...)` is renamed `{new}`; the old name goes in version {removed_in}.",
                DeprecationWarning,
                stacklevel=3,
            )
            renamed[new] = kwargs.pop(old) if old in kwargs else renamed.pop(old)
    return renamed


def flat_arguments(layer, kwargs):
    """The constructor arguments of `layer` that `kwargs` gives flat and that are now nested (`NESTED`): popped
    from `kwargs`, by their nested names, in a dict keyed by the argument that holds them now, each group with a
    `DeprecationWarning` naming the nested form. Flat arguments keep working for one release."""
    names = {klass.__name__ for klass in type(layer).__mro__}
    nested = {}
    for version, owner, argument, holds, keys in NESTED:
        given = sorted(key for key in keys if key in kwargs)
        if owner in names and given:
            nested[argument] = {keys[key]: kwargs.pop(key) for key in given}
            major, minor = version.split(".")
            warnings.warn(
                f"{holds} arguments of `{type(layer).__name__}` itself ({', '.join(given)}) go in version "
                f"{major}.{int(minor) + 1}: pass `{argument}={nested[argument]!r}`.",
                DeprecationWarning,
                stacklevel=3,
            )
    return nested


def upgrade_config(cls, config):
    """`config` of a file of any version, as the arguments of `cls` today: old names renamed, flat arguments
    nested (`NESTED`), and every argument the file does not name set to what its version meant (`ADDED`)."""
    return _upgrade({klass.__name__ for klass in cls.__mro__}, config)


def _upgrade(names, config):
    config = dict(config)
    for _, owner, old, new in RENAMED:
        if owner in names and old in config:
            config[new] = config.pop(old)
    for _, owner, argument, nested, keys in NESTED:
        if owner in names and argument not in config and any(key in config for key in keys):
            config[argument] = _upgrade({nested}, {keys[key]: config.pop(key) for key in keys if key in config})
    for _, owner, argument, value in ADDED:
        if owner in names:
            config.setdefault(argument, value)
    return config


def default_task(model, num_classes):
    """The task of a model built without one: `"classification"`, as every model's default is since 0.7, or, for a
    model given no `num_classes`, `"click"`, the default of the click baselines (`RecurrentModel`,
    `TargetAttentionModel`) before 0.7, with a `DeprecationWarning` until 0.8."""
    if num_classes is not None:
        return "classification"
    warnings.warn(
        f"`{model}` without `task` is a click model until version 0.8, then a classifier like every model: pass "
        "`task='click'`.",
        DeprecationWarning,
        stacklevel=4,
    )
    return "click"
