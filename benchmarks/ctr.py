"""Click-through prediction from lifelong histories: AUC and GAUC of the memory against the usual baselines.

    python -m benchmarks.ctr                                   # the configuration in the README
    python -m benchmarks.ctr --lengths=500 --epochs=2 --train_users=500 --variants=recent,memory
    python -m benchmarks.ctr --data_dir=~/data/ml-1m --lengths=200 --epochs=10 --train_users=0

For every history length x variant x seed, runs `experiments/ctr.py` (`--backend`; with
`--jobs=1` in this process, else each in its own, `--jobs` at a time) on the same data, epochs and seeds,
and reads its `metrics.json`. Every run from scratch first trains
`--warmup_epochs` on histories of `--warmup_length` behaviours; with
`--warm_start` a longer length's run goes on from the previous length's run
of the same variant and seed (training from scratch on 5,000 behaviours
costs ten times as much for the same number of steps). The variants:

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
benchmarks/results/ctr.json (every run, and the mean over seeds of every
length x variant), ctr.png (mean AUC per variant and length) and prints the
table, with the state each model keeps per user. Runs of other lengths or
variants already in ctr.json are kept, and so are other seeds of the same length and variant
(each run records its own settings; the means are over all seeds).
"""

import os

from absl import app, flags

from benchmarks.common import (
    RESULTS,
    ROOT,
    check_one_per_length,
    machine_description,
    merge_runs,
    run_experiment,
    train_by_length,
    write_results,
)
from keras_rm.pipelines.metrics import format_table
from keras_rm.pipelines.plotting import figure

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
flags.DEFINE_list("variants", ["recent", "gru", "target_all", "memory", "memory_rehearsal"], "Models compared.")
flags.DEFINE_string("data_dir", None, "MovieLens-format folder (default: built-in lifelong users).")
flags.DEFINE_list("epochs", ["20", "6"], "Epochs of every variant at each length (warm-up epochs included).")
flags.DEFINE_list("train_users", ["2000", "1000"], "Fresh training users per epoch at each length (built-in data).")
flags.DEFINE_integer("warmup_epochs", 2, "First epochs of a run from scratch on short histories.")
flags.DEFINE_integer("warmup_length", 50, "Behaviours per history in the warm-up epochs.")
flags.DEFINE_bool("warm_start", True, "Start each longer length from the previous length's run.")
flags.DEFINE_integer("test_users", 500, "Test users (built-in data).")
flags.DEFINE_integer("full_attention_max_length", 1000, "Longest history full attention is run on.")
flags.DEFINE_enum("sampler", "uniform", ["uniform", "teacher"], "Sampler of `memory_rehearsal`.")
flags.DEFINE_float("recollection_weight", 1.0, "Recollection weight of `memory_rehearsal`.")
flags.DEFINE_float("familiarity_weight", 0.5, "Familiarity weight of `memory_rehearsal`.")
flags.DEFINE_list("seeds", ["0", "1"], "Seeds of data and models.")
flags.DEFINE_integer("jobs", 2, "Runs at a time (each gets cpu_count / jobs threads).")
flags.DEFINE_string("backend", "jax", "KERAS_BACKEND of the runs.")
flags.DEFINE_string("runs_dir", "output/ctr_benchmark", "Where each run's output directory goes.")


def run_dir(length, variant, seed):
    source = "movielens" if FLAGS.data_dir else "builtin"
    return os.path.join(ROOT, FLAGS.runs_dir, f"{source}_len{length}_{variant}_seed{seed}")


def run_one(variant, length, seed, init_from):
    index = FLAGS.lengths.index(str(length))
    settings = {
        "history_length": length,
        "epochs": int(FLAGS.epochs[index]),
        "train_users": int(FLAGS.train_users[index]),
        "test_users": FLAGS.test_users,
        "seed": seed,
        "sampler": FLAGS.sampler,
        "recollection_weight": FLAGS.recollection_weight,
        "familiarity_weight": FLAGS.familiarity_weight,
        "warmup_epochs": FLAGS.warmup_epochs,
        "warmup_length": FLAGS.warmup_length,
        **VARIANTS[variant],
    }
    if FLAGS.data_dir:
        settings["data_dir"] = FLAGS.data_dir
    if init_from:
        settings["init_from"] = init_from
    metrics = run_experiment("ctr", settings, run_dir(length, variant, seed), FLAGS.backend, FLAGS.jobs)
    return dict(metrics, length=length, variant=variant, seed=seed, settings=settings)


def summarise(length, variant, by_seed):
    """One row of ctr.json: the mean over seeds of AUC, GAUC and time, with every seed's metrics under `by_seed`."""
    import numpy as np

    first = next(iter(by_seed.values()))
    return {
        "length": length,
        "variant": variant,
        "config": first["config"],
        **{key: float(np.mean([m[key] for m in by_seed.values()])) for key in ("auc", "gauc", "seconds")},
        "test_examples": first["test_examples"],
        "state_bytes_per_user": first["state_bytes_per_user"],
        "by_seed": by_seed,
    }


def table(runs):
    rows = []
    for r in runs:
        c = r["config"]
        schedule = f"{c['epochs']} x {c['train_users']:,}" + (" (from the shorter run)" if c.get("init_from") else "")
        aucs = " / ".join(f"{m['auc']:.4f}" for m in r["by_seed"].values())
        rows.append(
            [
                r["length"],
                r["variant"],
                schedule,
                len(r["by_seed"]),
                f"{r['auc']:.4f}",
                aucs,
                f"{r['gauc']:.4f}",
                r["test_examples"],
                f"{r['state_bytes_per_user']:,}",
                f"{r['seconds']:.0f}",
            ]
        )
    return format_table(
        [
            "behaviours",
            "model",
            "epochs x users",
            "seeds",
            "AUC (mean)",
            "AUC per seed",
            "GAUC",
            "test examples",
            "state bytes/user",
            "train s",
        ],
        rows,
    )


def plot(runs, path):
    """Mean test AUC of every variant, a bar per history length, saved to `path`."""
    import numpy as np

    lengths = sorted({r["length"] for r in runs})
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in runs)]
    width = 0.8 / len(lengths)
    with figure(path, size=(7, 3.6)) as (ax,):
        for i, length in enumerate(lengths):
            values = [
                next((r["auc"] for r in runs if r["variant"] == v and r["length"] == length), np.nan) for v in variants
            ]
            ax.bar(np.arange(len(variants)) + i * width, values, width, label=f"{length} behaviours")
        ax.set_xticks(np.arange(len(variants)) + width * (len(lengths) - 1) / 2, variants, rotation=15)
        ax.set_ylim(0.5, 1.0)
        ax.set_ylabel("test AUC (mean over seeds)")
        ax.legend(fontsize=8)
        ax.set_title("Click prediction from lifelong histories (built-in users)" if not FLAGS.data_dir else "MovieLens")


def main(argv):
    check_one_per_length("epochs", "train_users")

    def variants(length):
        return [v for v in FLAGS.variants if v != "full_attention" or length <= FLAGS.full_attention_max_length]

    runs = []
    seeds = list(map(int, FLAGS.seeds))
    for length, results in train_by_length(
        map(int, FLAGS.lengths), variants, seeds, run_one, run_dir, FLAGS.warm_start, FLAGS.jobs
    ):
        for variant in variants(length):
            runs.append(summarise(length, variant, {str(seed): results[variant, seed] for seed in seeds}))
            print(f"{length:>5} {variant:<17} AUC {runs[-1]['auc']:.4f}", flush=True)
    name = "ctr" if not FLAGS.data_dir else "ctr_movielens"
    # Seeds run earlier stay beside the new ones; the means are over all of them.
    runs = [
        summarise(r["length"], r["variant"], r["by_seed"]) for r in merge_runs(name, runs, VARIANTS, keep=["by_seed"])
    ]
    print(table(runs))
    write_results(name, {"machine": machine_description(), "backend": FLAGS.backend, "runs": runs})
    plot(runs, os.path.join(RESULTS, f"{name}.png"))
    print(f"Wrote {RESULTS}/{name}.json and {name}.png")


if __name__ == "__main__":
    app.run(main)
