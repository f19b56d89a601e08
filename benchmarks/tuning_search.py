"""Cost of a KerasTuner search per backend: wall time of 6 trials and memory (RSS) after 1 and after 6.

    python -m benchmarks.tuning_search --epochs=2 --train_examples=1000 --val_examples=300
    python -m benchmarks.tuning_search --epochs=1 --train_examples=200 --val_examples=100 \
        --results_name=tuning_same_model \
        --space='{"num_slots": 8, "slot_dim": 64, "segment_length": 16, "recollection_weight": 1.0,
                  "familiarity_weight": 0.5, "sampler": "uniform"}'   # only the learning rate varies

Each backend runs `keras_rm.tuning.search.run_search` in its own process on built-in
long bAbI (task 1, 100 sentences), the default search space, random search;
every flag of `python -m keras_rm.tuning.search` applies.
RSS is read at the end of each trial's training; KerasTuner clears the Keras
session before building each trial's model, so memory should not grow from
trial to trial. Writes benchmarks/results/tuning.json and tuning.png.
"""

import json
import os
import shlex
import tempfile
import time

from absl import app, flags

from benchmarks.common import BACKENDS, RESULTS, machine_description, run_worker, write_results
from keras_rm.pipelines.metrics import format_table
from keras_rm.pipelines.plotting import figure
from keras_rm.tuning import search

search.define_flags()  # every flag of the search applies: --max_trials, --epochs, --space, ...

FLAGS = flags.FLAGS
flags.DEFINE_bool("worker", False, "Internal: measure under the current KERAS_BACKEND and print JSON.")
flags.DEFINE_list("backends", list(BACKENDS), "Backends to measure.")
flags.DEFINE_string("results_name", "tuning", "Name of the .json and .png written under benchmarks/results/.")
SEARCH_FLAGS = ("babi_task", "length", "train_examples", "val_examples", "max_trials", "epochs", "tuner", "seed")
# `--space` (JSON) narrows the space; fixing everything but `learning_rate` makes every trial the same
# model, so memory that grows from trial to trial is a leak, not a bigger model.

RSS_AFTER_TRIAL = []  # module level: KerasTuner deep-copies callbacks for every trial


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


def measure():
    import keras

    class RecordRss(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            RSS_AFTER_TRIAL.append(rss_mib())

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        _, trials = search.run_search(
            **{name: FLAGS[name].value for name in SEARCH_FLAGS},
            directory=directory,
            space=json.loads(FLAGS.space) if FLAGS.space else None,
            callbacks=[RecordRss()],
            export=False,
            verbose=0,
        )
    return {
        "backend": keras.config.backend(),
        "seconds": time.perf_counter() - start,
        "rss_mib": RSS_AFTER_TRIAL,
        "best_score": trials[0]["score"],
        "trials": len(trials),
    }


def main(argv):
    if FLAGS.worker:
        print(json.dumps(measure()))
        return
    args = [FLAGS[name].serialize() for name in SEARCH_FLAGS + (("space",) if FLAGS.space else ())]
    runs = {backend: run_worker(__file__, backend, args) for backend in FLAGS.backends}
    rows = [
        [
            backend,
            r["trials"],
            f"{r['seconds']:.0f}",
            f"{r['rss_mib'][0]:.0f}",
            f"{r['rss_mib'][-1]:.0f}",
            f"{r['rss_mib'][-1] - r['rss_mib'][0]:+.0f}",
            f"{r['best_score']:.3f}",
        ]
        for backend, r in runs.items()
    ]
    table = format_table(
        [
            "backend",
            "trials",
            "wall s",
            "RSS after trial 1 (MiB)",
            "RSS after last (MiB)",
            "growth (MiB)",
            "best val_accuracy",
        ],
        rows,
    )
    print(
        f"{FLAGS.tuner} search, bAbI task {FLAGS.babi_task}, {FLAGS.length} sentences, {FLAGS.train_examples} "
        f"training stories, {FLAGS.epochs} epochs per trial ({machine_description()})"
    )
    print(table)
    command = "python -m benchmarks.tuning_search " + " ".join(map(shlex.quote, args))
    path = write_results(
        FLAGS.results_name, {"command": command, "machine": machine_description(), "results": runs, "table": table}
    )
    plot(runs, os.path.join(RESULTS, f"{FLAGS.results_name}.png"))
    print(f"Wrote {path} and {FLAGS.results_name}.png")


def plot(runs, path):
    """Memory (RSS) after every trial, a line per backend, saved to `path`."""
    with figure(path, size=(5.5, 3.4)) as (ax,):
        for backend, r in runs.items():
            ax.plot(range(1, len(r["rss_mib"]) + 1), r["rss_mib"], marker="o", label=backend)
        ax.set_xlabel("trial")
        ax.set_ylabel("RSS after the trial (MiB)")
        ax.set_title("Memory across KerasTuner trials")
        ax.legend()


if __name__ == "__main__":
    app.run(main)
