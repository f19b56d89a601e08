"""Where a training step's time goes: the plain memory's step and the step with rehearsal, profiled.

    KERAS_BACKEND=torch python -m benchmarks.profile_step      # a table of operators by self time
    KERAS_BACKEND=jax python -m benchmarks.profile_step        # a trace for TensorBoard's profile plugin

The model and data of `benchmarks/throughput.py` (batch 32, 256 items, 8 slots
of 64). Each variant trains one untimed epoch (tracing, compilation), then one
profiled epoch of `--steps` steps. Under torch the profiler's table of
operators (self CPU time) is printed and written to
benchmarks/results/profile_torch.txt; under JAX and TensorFlow the backend's
profiler writes a trace under `--trace_dir` (open it with TensorBoard's
profile plugin: `tensorboard --logdir <trace_dir>`).
"""

import os

from absl import app, flags

from benchmarks.common import RESULTS, memory_arguments
from benchmarks.common import TRAINING_CONFIG as CONFIG

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 6, "Steps in the profiled epoch.")
flags.DEFINE_integer("rows", 18, "Operators shown per variant (torch).")
flags.DEFINE_string("trace_dir", "output/profile", "Where the JAX and TensorFlow traces go.")

VARIANTS = {"plain memory": (0.0, 0.0), "rehearsal": (1.0, 0.5)}


def model_and_data(weights):
    import keras

    import keras_rm
    from keras_rm.pipelines.recall import make_recall_data, recall_vocabulary_size

    vocab = dict(num_keys=32, num_values=16, num_distractors=64)
    x, y, _ = make_recall_data(32 * FLAGS.steps, length=256, num_pairs=8, seed=0, **vocab)
    keras.utils.set_random_seed(0)
    encoder = keras_rm.layers.TokenItemEncoder(recall_vocabulary_size(**vocab), CONFIG["hidden_dim"])
    arguments = memory_arguments(CONFIG, recollection_weight=weights[0], familiarity_weight=weights[1])
    model = keras_rm.RehearsalMemoryModel(encoder, num_classes=16, seed=0, **arguments)
    model.compile()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # tracing and compiling, not profiled
    return model, x, y


def main(argv):
    import keras

    backend = keras.config.backend()
    tables = []
    for name, weights in VARIANTS.items():
        model, x, y = model_and_data(weights)
        if backend == "torch":
            import torch

            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
                model.fit(x, y, batch_size=32, epochs=1, verbose=0)
            table = profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=FLAGS.rows)
            tables.append(f"==== {name}: {FLAGS.steps} steps\n{table}")
            print(tables[-1], flush=True)
            continue
        folder = os.path.join(FLAGS.trace_dir, backend, name.replace(" ", "_"))
        if backend == "jax":
            import jax

            with jax.profiler.trace(folder):
                model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        else:
            import tensorflow as tf

            tf.profiler.experimental.start(folder)
            model.fit(x, y, batch_size=32, epochs=1, verbose=0)
            tf.profiler.experimental.stop()
        print(f"{name}: trace written to {folder} (tensorboard --logdir {folder})")
    if tables:
        path = os.path.join(RESULTS, "profile_torch.txt")
        with open(path, "w") as f:
            f.write("\n".join(tables))
        print(f"Wrote {path}")


if __name__ == "__main__":
    app.run(main)
