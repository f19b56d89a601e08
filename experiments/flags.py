"""Command-line flags of the experiments, one per argument of their `run`, and the run's config."""


def define_flags(fn, table, flag_values=None):
    """Defines an absl flag for each argument of `fn` in `table`, with the argument's default as the flag's.

    The defaults then live in one place, the signature of an experiment's `run`,
    for a library call and the command line alike (`flag_values` reads them
    back).

    Args:
        fn: function whose arguments the flags are.
        table: `{argument: help}`, or `{argument: (kind, help)}` where kind is
            a list or tuple of choices (an enum flag) or, for an argument whose default
            is None, its type (`int`, `float`, `str`).
        flag_values: the `absl.flags.FlagValues` they go to. Defaults to `absl.flags.FLAGS`.
    """
    import inspect

    from absl import flags

    flag_values = flags.FLAGS if flag_values is None else flag_values
    define = {
        bool: flags.DEFINE_bool,
        int: flags.DEFINE_integer,
        float: flags.DEFINE_float,
        str: flags.DEFINE_string,
        list: flags.DEFINE_list,
    }
    defaults = {name: parameter.default for name, parameter in inspect.signature(fn).parameters.items()}
    for name, entry in table.items():
        kind, help_text = entry if isinstance(entry, tuple) else (type(defaults[name]), entry)
        if isinstance(kind, (list, tuple)):
            flags.DEFINE_enum(name, defaults[name], list(kind), help_text, flag_values=flag_values)
        elif kind in define:
            define[kind](name, defaults[name], help_text, flag_values=flag_values)
        else:
            raise TypeError(f"Flag `{name}` needs a kind in `table`: its default is {defaults[name]!r}.")


def flag_values(fn, skip=("verbose",), parsed=None):
    """`{argument: flag value}` for the arguments of `fn` (an experiment defines one absl flag per argument of its
    `run`, `define_flags`), leaving out `skip`; from `parsed` (an `absl.flags.FlagValues`, by default
    `absl.flags.FLAGS`)."""
    import inspect

    from absl import flags

    parsed = flags.FLAGS if parsed is None else parsed
    return {name: parsed[name].value for name in inspect.signature(fn).parameters if name not in skip}


def parse_flags(fn, table, args):
    """`{argument: value}` for the arguments of `fn` (but `verbose`) that the command line `args` (e.g.
    `["--task=1"]`) gives, parsed as `absl.app.run` parses them (`define_flags(fn, table)`), the defaults of
    `fn` for the rest: a call of `fn` that does what the command line does."""
    from absl import flags

    parsed = flags.FlagValues()
    define_flags(fn, table, parsed)
    parsed(["", *args])
    return flag_values(fn, parsed=parsed)


# Arguments of an experiment's `run` that say where it writes and how it reports, not what it trains.
NOT_CONFIG = ("output_dir", "export", "resume", "verbose")


def run_config(fn, values, skip=NOT_CONFIG):
    """What a run's `metrics.json` records as its `config`: the arguments of `fn` but `skip`, with their values in
    `values` (`locals()` inside `fn`, so an argument the run settled, e.g. a length, is recorded as settled)."""
    import inspect

    return {name: values[name] for name in inspect.signature(fn).parameters if name not in skip}


def main_program(run, table, main):
    """Runs an experiment's command line: TensorFlow imported quietly, a flag per entry of `table` (`define_flags`),
    then `main` under `absl.app.run`."""
    from absl import app

    from keras_rm.pipelines.data import import_tensorflow_quietly

    import_tensorflow_quietly()
    define_flags(run, table)
    app.run(main)
