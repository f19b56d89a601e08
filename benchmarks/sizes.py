"""What the memory's three sizes cost: `num_slots`, `segment_length` and `hidden_dim`, one at a time.

    python -m benchmarks.sizes
    python -m benchmarks.sizes --steps=5 --rounds=1   # quick

Around the defaults (8 slots, segments of 16, items 64 wide), each size is
varied alone; for each configuration: the training step of the plain memory
(no rehearsal: its cost is benchmarks/throughput.py's), the state a sequence
keeps, and the weights. Token items, batch 32 x 256 items, under the current
KERAS_BACKEND, all in this process. The configurations are timed in
`--rounds` rounds, each in a new order, and a step's time is its median
over the rounds (first epoch, tracing and compiling, excluded). What the
sizes did to accuracy is not measured here: docs/data.md ("Sizes") gathers
what the benchmarks showed. Writes benchmarks/results/sizes.json and
sizes.png.
"""

import os
import random

from absl import app, flags

from benchmarks.common import RESULTS, epoch_timer, machine_description, memory_arguments, write_results
from keras_rm.pipelines.metrics import format_table
from keras_rm.pipelines.plotting import figure

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 32, "Sequences per batch.")
flags.DEFINE_integer("length", 256, "Items (tokens) per sequence.")
flags.DEFINE_integer("steps", 20, "Steps per timed epoch.")
flags.DEFINE_integer("rounds", 3, "Timed epochs of every configuration, each round in a new order.")

DEFAULT = dict(num_slots=8, segment_length=16, hidden_dim=64)
VARIED = dict(num_slots=[4, 16, 32], segment_length=[8, 32, 64], hidden_dim=[32, 128])
VOCABULARY = dict(num_keys=32, num_values=16, num_distractors=64)


def configurations():
    """The default, then each size varied alone: (name, the size varied, config)."""
    yield "default", None, dict(DEFAULT)
    for size, values in VARIED.items():
        for value in values:
            yield f"{size}={value}", size, {**DEFAULT, size: value}


def build(config, x, y):
    """The plain memory of `config`, compiled and trained for one untimed epoch (tracing and compiling)."""
    import keras

    import keras_rm
    from keras_rm.pipelines.recall import recall_vocabulary_size

    keras.utils.set_random_seed(0)
    encoder = keras_rm.layers.TokenItemEncoder(recall_vocabulary_size(**VOCABULARY), config["hidden_dim"])
    arguments = memory_arguments(config, recollection_weight=0.0, familiarity_weight=0.0)  # no rehearsal
    model = keras_rm.RehearsalMemoryModel(encoder, num_classes=16, seed=0, **arguments)
    model.compile()
    model.fit(x, y, batch_size=FLAGS.batch_size, epochs=1, verbose=0)
    return model


def measure():
    """Per configuration: the median seconds of a training step over the rounds, the state and weight sizes."""
    import numpy as np

    from keras_rm.pipelines.recall import make_recall_data

    x, y, _ = make_recall_data(FLAGS.batch_size * FLAGS.steps, length=FLAGS.length, num_pairs=8, seed=0, **VOCABULARY)
    models = {name: (size, config, build(config, x, y)) for name, size, config in configurations()}
    times = {name: [] for name in models}
    order = list(models)
    for number in range(FLAGS.rounds):
        random.Random(number).shuffle(order)
        for name in order:
            timer = epoch_timer()
            models[name][2].fit(x, y, batch_size=FLAGS.batch_size, epochs=1, verbose=0, callbacks=[timer])
            times[name].append(timer.times[0] / FLAGS.steps)
    results = []
    for name, (size, config, model) in models.items():
        results.append(
            {
                "name": name,
                "varied": size,
                "config": config,
                "seconds_per_step": float(np.median(times[name])),
                "seconds_per_step_by_round": times[name],
                "state_bytes": config["num_slots"] * config["hidden_dim"] * 4,
                "weights": int(sum(np.prod(w.shape) for w in model.weights)),
            }
        )
    default = results[0]["seconds_per_step"]
    for result in results:
        result["step_cost"] = result["seconds_per_step"] / default
    return results


def plot(results, path):
    """Step cost against the default, one panel per size, saved to `path`."""
    with figure(path, ncols=len(VARIED), size=(3.4, 3.2), title="The plain memory's training step by size") as axes:
        for ax, size in zip(axes, VARIED):
            points = sorted((r["config"][size], r["step_cost"]) for r in results if r["varied"] in (size, None))
            ax.plot(*zip(*points), marker="o")
            ax.set_xscale("log", base=2)
            ax.set_xlabel(size)
            ax.axhline(1.0, color="grey", linewidth=0.5)
        axes[0].set_ylabel("step time / default's")


def main(argv):
    import keras

    results = measure()
    rows = [
        [
            r["name"],
            f"{r['seconds_per_step'] * 1000:,.0f}",
            f"{r['step_cost']:.2f}x",
            f"{r['state_bytes']:,}",
            f"{r['weights']:,}",
        ]
        for r in results
    ]
    table = format_table(["configuration", "step ms", "step vs default", "state bytes a sequence", "weights"], rows)
    load = os.getloadavg()[0]
    header = (
        f"The plain memory's training step by size, batch {FLAGS.batch_size} x {FLAGS.length} items, "
        f"{keras.config.backend()}, median of {FLAGS.rounds} rounds ({machine_description()}, load average {load:.1f})"
    )
    print(header)
    print(table)
    path = write_results(
        "sizes",
        {
            "command": f"python -m benchmarks.sizes --steps={FLAGS.steps} --rounds={FLAGS.rounds}",
            "backend": keras.config.backend(),
            "batch_size": FLAGS.batch_size,
            "length": FLAGS.length,
            "machine": machine_description(),
            "load_average": load,
            "runs": results,
            "table": table,
        },
    )
    plot(results, os.path.join(RESULTS, "sizes.png"))
    print(f"Wrote {path} and sizes.png")


if __name__ == "__main__":
    app.run(main)
