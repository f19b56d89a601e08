"""Which interests a trained click model learned: AUC on long-term favourites and on recent drift, apart.

    python -m benchmarks.ctr_interests                 # the 500-behaviour runs of benchmarks/ctr.py
    python -m benchmarks.ctr_interests --runs=output/ctr/run_a,output/ctr/run_b --length=500

Built-in lifelong users click either one of their long-term favourites
(seen in the first 20% of the history, rarely after) or an item of their
current short-term category, half and half. This script scores held-out
validation users (generator seed `--seed`, neither training nor test users)
with each run's `model.keras` and reports the AUC of each kind of positive
against all the negatives. A positive counts as a favourite when its
category is one of the two whose items come back 3 or more times in the
first 20% of the history (the favourites; drift items rarely repeat that
often). Writes benchmarks/results/ctr_interests.json and .png.
"""

import collections
import glob
import os

from absl import app, flags

from benchmarks.common import RESULTS, ROOT, write_results
from keras_rm.pipelines.metrics import format_table
from keras_rm.pipelines.plotting import figure

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", None, "Run directories of experiments/ctr.py (default: the 500-behaviour benchmark runs).")
flags.DEFINE_integer("length", 500, "Behaviours per history (the runs' trained length).")
flags.DEFINE_integer("users", 1000, "Validation users.")
flags.DEFINE_integer("seed", 50_000, "Generator seed of the validation users.")


def favourite_positive(items, query, length):
    """Whether the positive `query` `(item, category)` is of a long-term interest of history `items`."""
    early = items[-length:][: length // 5]
    counts = collections.Counter(early[:, 0].tolist())
    repeated = collections.Counter(category for item, category in early.tolist() if item and counts[item] >= 3)
    return query[1] in [category for category, _ in repeated.most_common(2)]


def interest_aucs(run_dir, examples):
    import keras
    import numpy as np

    import keras_rm  # noqa: F401 (registers the model classes `load_model` needs)
    from keras_rm.pipelines.metrics import auc

    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    scores = np.asarray(
        model.predict({"items": examples["items"], "query": examples["query"]}, batch_size=64, verbose=0)
    ).reshape(-1)
    labels = examples["label"]
    favourite = np.array(
        [favourite_positive(items, query, FLAGS.length) for items, query in zip(examples["items"], examples["query"])]
    )
    negatives = labels == 0

    def positives_auc(chosen):
        picked = chosen | negatives
        return float(auc(labels[picked], scores[picked]))

    return {
        "run": os.path.relpath(run_dir, ROOT),
        "all": float(auc(labels, scores)),
        "favourites": positives_auc((labels == 1) & favourite),
        "drift": positives_auc((labels == 1) & ~favourite),
        "favourite_positives": int(((labels == 1) & favourite).sum()),
        "drift_positives": int(((labels == 1) & ~favourite).sum()),
    }


def main(argv):
    from keras_rm.pipelines.behaviour import generate_lifelong_users, make_examples

    runs = FLAGS.runs or sorted(glob.glob(os.path.join(ROOT, "output/ctr_benchmark", f"builtin_len{FLAGS.length}_*")))
    users = generate_lifelong_users(FLAGS.users, FLAGS.length, seed=FLAGS.seed)
    examples = make_examples(users, FLAGS.length, seed=FLAGS.seed + 1)
    rows = [interest_aucs(run, examples) for run in runs]
    print(
        format_table(
            ["run", "AUC", "favourites", "drift", "positives (fav. / drift)"],
            [
                [
                    r["run"],
                    f"{r['all']:.3f}",
                    f"{r['favourites']:.3f}",
                    f"{r['drift']:.3f}",
                    f"{r['favourite_positives']} / {r['drift_positives']}",
                ]
                for r in rows
            ],
        )
    )
    write_results("ctr_interests", {"length": FLAGS.length, "users": FLAGS.users, "seed": FLAGS.seed, "runs": rows})
    with figure(os.path.join(RESULTS, "ctr_interests.png"), size=(7, 3.6)) as (ax,):
        names = [os.path.basename(r["run"]) for r in rows]
        for i, key in enumerate(("favourites", "drift")):
            ax.bar([x + 0.4 * i for x in range(len(rows))], [r[key] for r in rows], 0.4, label=key)
        ax.set_xticks([x + 0.2 for x in range(len(rows))], names, rotation=30, ha="right", fontsize=7)
        ax.set_ylim(0.5, 1.0)
        ax.set_ylabel("validation AUC")
        ax.legend(fontsize=8)
    print(f"Wrote {RESULTS}/ctr_interests.json and ctr_interests.png")


if __name__ == "__main__":
    app.run(main)
