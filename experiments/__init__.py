"""The experiment engine: the command-line jobs the benchmarks and docs run (`python -m experiments.babi_long`).

Each job (`babi_long`, `ctr`, `video_qa`) exposes every setting of its `run` as a flag (`flags.define_flags`), goes
on from its backup after a crash (`fitting.fit_epochs`), trains on a length curriculum (short sequences first), and
reports accuracy by where the facts sit (`reports`). `benchmarks/` calls `run` directly or runs the module in a
process of its own. Not installed by `pip install .`: it runs from a checkout. For a short job to read top to
bottom, see `examples/`.
"""
