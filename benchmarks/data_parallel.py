"""Step time of data-parallel training over 1, 2 and 4 CPU devices, JAX and TensorFlow.

    python -m benchmarks.data_parallel

One fixed config (the rehearsal model of benchmarks/throughput.py, global
batch 32) trained with `keras_rm.distribute.data_parallel` in a fresh process
per backend and device count: JAX gets N host devices from
`XLA_FLAGS=--xla_force_host_platform_device_count=N`, TF splits its CPU into N
logical devices for `MirroredStrategy`. The first epoch (tracing,
compilation) is excluded; the figure is the median seconds per step of the
timed epochs. On one machine the devices share the same cores, so this
measures the cost of the data-parallel machinery, not a speed-up (torch: not
supported, see `keras_rm.distribute`). Writes
benchmarks/results/data_parallel.json and data_parallel.png.
"""

import json
import os

from absl import app, flags

from benchmarks.common import (
    RESULTS,
    epoch_timer,
    machine_description,
    memory_arguments,
    run_worker,
    write_results,
)
from benchmarks.common import (
    TRAINING_CONFIG as CONFIG,
)
from keras_rm.pipelines.metrics import format_table
from keras_rm.pipelines.plotting import figure

FLAGS = flags.FLAGS
flags.DEFINE_bool("worker", False, "Internal: measure under the current KERAS_BACKEND and print JSON.")
flags.DEFINE_list("backends", ["jax", "tensorflow"], "Backends to measure (jax, tensorflow).")
flags.DEFINE_list("devices", ["1", "2", "4"], "Device counts to measure.")
flags.DEFINE_integer("num_devices", 1, "Internal: the worker's device count.")
flags.DEFINE_integer("batch_size", 32, "Global batch size (divisible by every device count).")
flags.DEFINE_integer("length", 256, "Items (tokens) per sequence.")
flags.DEFINE_integer("steps", 10, "Steps per timed epoch.")
flags.DEFINE_integer("timed_epochs", 2, "Epochs timed after the warm-up epoch.")


def measure(num_devices):
    import keras

    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    import numpy as np

    import keras_rm
    from keras_rm.pipelines.recall import make_recall_data, recall_vocabulary_size

    vocab = dict(num_keys=32, num_values=16, num_distractors=64)
    x, y, _ = make_recall_data(FLAGS.batch_size * FLAGS.steps, length=FLAGS.length, num_pairs=8, seed=0, **vocab)
    scope, devices = keras_rm.distribute.data_parallel(FLAGS.batch_size)
    if devices != num_devices:
        raise RuntimeError(f"Asked for {num_devices} devices, the backend sees {devices}.")
    keras.utils.set_random_seed(0)
    with scope():
        encoder = keras_rm.layers.TokenItemEncoder(recall_vocabulary_size(**vocab), CONFIG["hidden_dim"])
        model = keras_rm.RehearsalMemoryModel(encoder, num_classes=16, seed=0, **memory_arguments(CONFIG))
        model.compile()
    timer = epoch_timer()
    history = model.fit(x, y, batch_size=FLAGS.batch_size, epochs=1 + FLAGS.timed_epochs, verbose=0, callbacks=[timer])
    return {
        "backend": keras.config.backend(),
        "devices": devices,
        "seconds_per_step": float(np.median(timer.times[1:])) / FLAGS.steps,
        "warmup_seconds": timer.times[0],
        "final_loss": float(history.history["loss"][-1]),
        "load_average": os.getloadavg()[0],  # other work on the machine skews the figures
    }


def main(argv):
    if FLAGS.worker:
        print(json.dumps(measure(FLAGS.num_devices)))
        return
    args = [
        f"--batch_size={FLAGS.batch_size}",
        f"--length={FLAGS.length}",
        f"--steps={FLAGS.steps}",
        f"--timed_epochs={FLAGS.timed_epochs}",
    ]
    runs = {}
    for backend in FLAGS.backends:
        for count in map(int, FLAGS.devices):
            env = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={count}"}
            runs.setdefault(backend, {})[count] = run_worker(__file__, backend, [*args, f"--num_devices={count}"], env)
    counts = list(map(int, FLAGS.devices))
    rows = []
    for backend, results in runs.items():
        step = {c: results[c]["seconds_per_step"] for c in counts}
        rows.append([backend, *(f"{step[c] * 1000:.0f} ms ({step[c] / step[counts[0]]:.2f}x)" for c in counts)])
    table = format_table(["backend", *(f"{c} device{'s' if c > 1 else ''}" for c in counts)], rows)
    print(
        f"Step time of data-parallel training, global batch {FLAGS.batch_size} x {FLAGS.length} items, "
        f"rehearsal config {CONFIG}, CPU devices sharing {os.cpu_count()} cores ({machine_description()})"
    )
    print(table)
    path = write_results(
        "data_parallel",
        {
            "command": "python -m benchmarks.data_parallel " + " ".join(args),
            "config": CONFIG,
            "batch_size": FLAGS.batch_size,
            "length": FLAGS.length,
            "machine": machine_description(),
            "results": runs,
            "table": table,
        },
    )
    plot(runs, counts, os.path.join(RESULTS, "data_parallel.png"))
    print(f"Wrote {path} and data_parallel.png")


def plot(runs, counts, path):
    """Milliseconds per training step against the number of devices, a line per backend, saved to `path`."""
    with figure(path) as (ax,):
        for backend, results in runs.items():
            ax.plot(counts, [results[c]["seconds_per_step"] * 1000 for c in counts], marker="o", label=backend)
        ax.set_xticks(counts)
        ax.set_xlabel("CPU devices (same cores)")
        ax.set_ylabel("ms per training step")
        ax.set_ylim(bottom=0)
        ax.set_title("Data-parallel step time, global batch fixed")
        ax.legend()


if __name__ == "__main__":
    app.run(main)
