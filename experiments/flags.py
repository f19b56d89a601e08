"""Command-line flags of the example programs, one per argument of their `run`, and the run's config."""


def define_flags(fn, table):
    """Defines an absl flag for each argument of `fn` in `table`, with the argument's default as the flag's.

    The defaults then live in one place, the signature of an example's `run`,
    for a library call and the command line alike (`flag_values` reads them
    back).

    Args:
        fn: function whose arguments the flags are.
        table: `{argument: help}`, or `{argument: (kind, help)}` where kind is
            a list or tuple of choices (an enum flag) or, for an argument whose default
            is None, its type (`int`, `float`, `str`).
    """
    import inspect

    from absl import flags

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
            flags.DEFINE_enum(name, defaults[name], list(kind), help_text)
        elif kind in define:
            define[kind](name, defaults[name], help_text)
        else:
            raise TypeError(f"Flag `{name}` needs a kind in `table`: its default is {defaults[name]!r}.")


def flag_values(fn, skip=("verbose",)):
    """`{argument: flag value}` for the arguments of `fn` (an example defines one absl flag per argument of its
    `run`, `define_flags`), leaving out `skip`."""
    import inspect

    from absl import flags

    return {name: flags.FLAGS[name].value for name in inspect.signature(fn).parameters if name not in skip}


# Arguments of an example's `run` that say where it writes and how it reports, not what it trains.
NOT_CONFIG = ("output_dir", "export", "resume", "verbose")


def run_config(fn, values, skip=NOT_CONFIG):
    """What a run's `metrics.json` records as its `config`: the arguments of `fn` but `skip`, with their values in
    `values` (`locals()` inside `fn`, so an argument the run settled, e.g. a length, is recorded as settled)."""
    import inspect

    return {name: values[name] for name in inspect.signature(fn).parameters if name not in skip}
