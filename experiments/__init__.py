"""The experiment engine: the command-line jobs the benchmarks and docs run (`python -m experiments.babi_long`)."""
