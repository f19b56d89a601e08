"""Example programs of keras-rm: each one job end to end (data, model, `fit`, evaluate, save and export), read top to
bottom. `experiments/` holds the command lines the benchmarks run, with every flag."""
