"""Where a training step's time goes: the plain memory's step and the step with rehearsal, profiled.

    KERAS_BACKEND=torch python -m benchmarks.profile_step        # each backend: a table of operators by time
    KERAS_BACKEND=jax python -m benchmarks.profile_step
    KERAS_BACKEND=tensorflow python -m benchmarks.profile_step

The model and data of `benchmarks/throughput.py` (batch 32, 256 items, 8 slots
of 64). Each variant trains one untimed epoch (tracing, compilation), then one
profiled epoch of `--steps` steps. The table of operators by time is printed
and written to benchmarks/results/profile_<backend>.txt: under torch the
profiler's own (self CPU time); under JAX and TensorFlow the backend's
profiler writes a trace under `--trace_dir` (open it with TensorBoard's
profile plugin: `tensorboard --logdir <trace_dir>`), whose operator events
are summed here: XLA's kernels by name (JAX: `ynn_fusion` and `dot` are the
matmuls, `*_fusion` the fused elementwise work) and TensorFlow's operators by
type, with the share of the time the compute threads were busy.
"""

import collections
import glob
import os
import re
import time

from absl import app, flags

from benchmarks.common import RESULTS, step_model_and_data

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 6, "Steps in the profiled epoch.")
flags.DEFINE_integer("rows", 18, "Operators shown per variant (torch).")
flags.DEFINE_string("trace_dir", "output/profile", "Where the JAX and TensorFlow traces go.")

VARIANTS = {"plain memory": (0.0, 0.0), "rehearsal": (1.0, 0.5)}


def model_and_data(weights):
    model, x, y = step_model_and_data(32 * FLAGS.steps, 256, *weights)
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
        began = time.perf_counter()
        if backend == "jax":
            import jax

            with jax.profiler.trace(folder):
                model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        else:
            import tensorflow as tf

            tf.profiler.experimental.start(folder)
            model.fit(x, y, batch_size=32, epochs=1, verbose=0)
            tf.profiler.experimental.stop()
        wall = time.perf_counter() - began
        tables.append(
            f"==== {name}: {FLAGS.steps} steps in {wall:.2f} s, profiler included (trace: {folder})\n"
            + trace_table(folder, backend)
        )
        print(tables[-1], flush=True)
    if tables:
        path = os.path.join(RESULTS, f"profile_{backend}.txt")
        with open(path, "w") as f:
            f.write("\n".join(tables))
        print(f"Wrote {path}")


# The threads that run the compiled step, and the events on them that only contain others.
COMPUTE_THREADS = {"jax": "XLAEigen", "tensorflow": "tf_Compute"}
CONTAINERS = ("ThunkExecutor::", "ExecutorState::", "ParallelFor", "ThreadpoolListener::")


def trace_table(folder, backend):
    """The operator events of the newest trace under `folder` on the compute threads, summed by operator (XLA's
    kernels by name without their number, TensorFlow's operators by type), as a table of time and share."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from keras_rm.pipelines.metrics import format_table

    path = max(glob.glob(os.path.join(folder, "**", "*.xplane.pb"), recursive=True), key=os.path.getmtime)
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    seconds, calls, busy, threads = collections.Counter(), collections.Counter(), 0.0, 0
    for plane in space.planes:
        for line in plane.lines:
            if COMPUTE_THREADS[backend] not in line.name:
                continue
            threads += 1
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if name.startswith(CONTAINERS):
                    if name in ("ThunkExecutor::Execute", "ExecutorState::Process"):
                        busy += event.duration_ps / 1e12
                    continue
                name = name.rsplit(":", 1)[-1] if backend == "tensorflow" else re.sub(r"\.\d+$", "", name)
                seconds[name] += event.duration_ps / 1e12
                calls[name] += 1
    total = sum(seconds.values())
    rows = [[name, f"{t:.3f}", f"{100 * t / total:.1f}%", calls[name]] for name, t in seconds.most_common(FLAGS.rows)]
    summary = f"operators {total:.3f} s on {threads} compute threads (busy {busy:.3f} s)"
    return format_table(["operator", "seconds", "share", "calls"], rows) + "\n" + summary


if __name__ == "__main__":
    app.run(main)
