"""Click-through prediction from lifelong histories: AUC and GAUC of the memory against the usual baselines.

    python benchmarks/ctr.py                                   # the configuration in the README
    python benchmarks/ctr.py --lengths=500 --epochs=2 --train_users=500 --variants=recent,memory
    python benchmarks/ctr.py --data_dir=~/data/ml-1m --lengths=200

For every history length x variant, runs `examples/ctr.py` in its own
process (`--backend`, `--jobs` at a time) on the same data, epochs and seed,
and reads its `metrics.json`:

- `recent`: target attention over the last 50 behaviours (DIN-style, what
  most production systems do);
- `gru`: a GRU over the whole history;
- `full_attention`: a Transformer over the whole history and the candidate
  (the upper bound; quadratic, so only up to `--full_attention_max_length`);
- `target_all`: target attention over the whole history (a linear upper
  bound that keeps every behaviour);
- `memory`: the memory without rehearsal;
- `memory_rehearsal`: the memory with rehearsal (`--sampler`, weights
  `--recollection_weight` / `--familiarity_weight`);
- `memory_teacher`: the same with the teacher sampler.

Finished runs with the same settings are read back, not repeated. Writes
benchmarks/results/ctr.json, ctr.png (AUC per variant and length) and prints
the table with the state each model keeps per user. Runs of other lengths
already in ctr.json are kept (each run records its own settings), so lengths
can be run in separate invocations with different budgets:

    python benchmarks/ctr.py --lengths=5000 --epochs=5 --train_users=1000
"""

import concurrent.futures
import os

from absl import app, flags

from benchmarks.common import (
    RESULTS, ROOT, machine_description, merge_runs, run_example, write_results)
from examples.plotting import figure
from pipelines.metrics import format_table

VARIANTS = {
    "recent": {"model": "recent"},
    "gru": {"model": "gru"},
    "full_attention": {"model": "full_attention"},
    "target_all": {"model": "target_all"},
    "memory": {"model": "memory", "recollection_weight": 0.0, "familiarity_weight": 0.0},
    "memory_rehearsal": {"model": "memory"},
    "memory_teacher": {"model": "memory", "sampler": "teacher"},
}

FLAGS = flags.FLAGS
flags.DEFINE_list("lengths", ["500", "5000"], "Behaviours per history.")
flags.DEFINE_list("variants", [v for v in VARIANTS if v != "memory_teacher"], "Models compared.")
flags.DEFINE_string("data_dir", None, "MovieLens-format folder (default: built-in lifelong users).")
flags.DEFINE_integer("epochs", 10, "Epochs of every variant.")
flags.DEFINE_integer("train_users", 2000, "Fresh training users per epoch (built-in data).")
flags.DEFINE_integer("test_users", 500, "Test users (built-in data).")
flags.DEFINE_integer("full_attention_max_length", 1000, "Longest history full attention is run on.")
flags.DEFINE_enum("sampler", "uniform", ["uniform", "teacher"], "Sampler of `memory_rehearsal`.")
flags.DEFINE_float("recollection_weight", 1.0, "Recollection weight of `memory_rehearsal`.")
flags.DEFINE_float("familiarity_weight", 0.5, "Familiarity weight of `memory_rehearsal`.")
flags.DEFINE_integer("seed", 0, "Seed of data and models.")
flags.DEFINE_integer("jobs", 1, "Runs at a time (each gets cpu_count / jobs threads).")
flags.DEFINE_string("backend", "jax", "KERAS_BACKEND of the runs.")
flags.DEFINE_string("runs_dir", "output/ctr_benchmark", "Where each run's output directory goes.")


def run_one(length, variant):
    settings = {
        "history_length": length, "epochs": FLAGS.epochs, "train_users": FLAGS.train_users,
        "test_users": FLAGS.test_users, "seed": FLAGS.seed, "sampler": FLAGS.sampler,
        "recollection_weight": FLAGS.recollection_weight, "familiarity_weight": FLAGS.familiarity_weight,
        **VARIANTS[variant],
    }
    if FLAGS.data_dir:
        settings["data_dir"] = FLAGS.data_dir
    source = "movielens" if FLAGS.data_dir else "builtin"
    output_dir = os.path.join(ROOT, FLAGS.runs_dir, f"{source}_len{length}_{variant}_seed{FLAGS.seed}")
    metrics = run_example("ctr.py", settings, output_dir, FLAGS.backend, max(1, os.cpu_count() // FLAGS.jobs))
    return dict(metrics, length=length, variant=variant, settings=settings)


def table(runs):
    return format_table(
        ["behaviours", "model", "epochs x users", "AUC", "GAUC", "state bytes/user", "train s"],
        [[r["length"], r["variant"], f"{r['config']['epochs']} x {r['config']['train_users']:,}", f"{r['auc']:.4f}",
          f"{r['gauc']:.4f}", f"{r['state_bytes_per_user']:,}", f"{r['seconds']:.0f}"] for r in runs],
    )


def plot(runs, path):
    """Test AUC of every variant, a bar per history length, saved to `path`."""
    import numpy as np

    lengths = sorted({r["length"] for r in runs})
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in runs)]
    width = 0.8 / len(lengths)
    with figure(path, size=(7, 3.6)) as (ax,):
        for i, length in enumerate(lengths):
            values = [next((r["auc"] for r in runs if r["variant"] == v and r["length"] == length), np.nan)
                      for v in variants]
            ax.bar(np.arange(len(variants)) + i * width, values, width, label=f"{length} behaviours")
        ax.set_xticks(np.arange(len(variants)) + width * (len(lengths) - 1) / 2, variants, rotation=15)
        ax.set_ylim(0.5, 1.0)
        ax.set_ylabel("test AUC")
        ax.legend(fontsize=8)
        ax.set_title("Click prediction from lifelong histories (built-in users)" if not FLAGS.data_dir else "MovieLens")


def main(argv):
    jobs = [(int(length), variant) for length in FLAGS.lengths for variant in FLAGS.variants
            if variant != "full_attention" or int(length) <= FLAGS.full_attention_max_length]
    with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
        runs = list(pool.map(lambda job: run_one(*job), jobs))
    name = "ctr" if not FLAGS.data_dir else "ctr_movielens"
    runs = merge_runs(name, runs, VARIANTS)
    print(table(runs))
    write_results(name, {"machine": machine_description(), "backend": FLAGS.backend, "runs": runs})
    plot(runs, os.path.join(RESULTS, f"{name}.png"))
    print(f"Wrote {RESULTS}/{name}.json and {name}.png")


if __name__ == "__main__":
    app.run(main)
