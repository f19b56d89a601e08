"""What `.keras` files of older versions mean by the arguments they do not name: one table for every class.

A config holds the arguments its version had. An argument added later is missing from older files, and its
default today is not what those models were: such a file loads with the value its version behaved as. A file
that names an argument keeps its value. `tests/data/` holds files of every version; they load with the
predictions they were saved with.
"""

# (version that added the argument, class, argument, what files of earlier versions mean). A row applies to
# the class and its subclasses.
ADDED = (
    ("0.2", "MemoryUpdate", "slot_identity", False),
    ("0.2", "MemoryUpdate", "null_item", False),
    ("0.2", "MemoryMachine", "slot_identity", False),
    ("0.2", "MemoryMachine", "null_item", False),
    ("0.2", "RehearsalMemoryModel", "slot_identity", False),
    ("0.2", "RehearsalMemoryModel", "null_item", False),
    ("0.2", "RehearsalMemoryModel", "keep_bias", 0.0),  # the update gate's bias started at 0
    ("0.2", "TaskModel", "head_activation", "relu"),
    ("0.2", "TaskHead", "activation", "relu"),
    ("0.3", "ItemEncoder", "norm_epsilon", 1e-3),
    ("0.4", "RehearsalMemoryModel", "teacher_hops", 1),  # a one-round teacher that knew no positions
    ("0.4", "RehearsalMemoryModel", "teacher_positions", False),
    ("0.4", "TeacherSampler", "hops", 1),
    ("0.4", "TeacherSampler", "positions", False),
)

# (version of the new name, class, old name, new name).
RENAMED = (
    ("0.4", "RehearsalDecoder", "recollection", "reconstructs"),
    ("0.4", "RehearsalDecoder", "familiarity", "judges_familiarity"),
)


def upgrade_config(cls, config):
    """`config` of a file of any version, as the arguments of `cls` today: old names renamed, and every
    argument the file does not name set to what its version meant (`ADDED`)."""
    names = {klass.__name__ for klass in cls.__mro__}
    config = dict(config)
    for _, owner, old, new in RENAMED:
        if owner in names and old in config:
            config[new] = config.pop(old)
    for _, owner, argument, value in ADDED:
        if owner in names:
            config.setdefault(argument, value)
    return config
