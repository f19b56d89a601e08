"""What rehearsal adds to a training step, by the depth of its decoder: CPU time a step, per backend.

    python -m benchmarks.rehearsal_cost                                   # JAX, torch, TF; 2 rounds
    python -m benchmarks.rehearsal_cost --backends=jax --rounds=1

The model and data of `benchmarks/throughput.py` (batch 32 x 256 token
items, 8 slots, segments of 32; the paper's rehearsal weights, 4 fragments
of 32 items, 30 negatives): the plain step, and the rehearsal step with a
decoder of each of `--decoder_layers` layers. Each is measured in a fresh
process of one thread pinned to one core, as the process's CPU time per step: its own
clock, less disturbed than wall time by other work on the machine (the
median over the timed epochs, after a first one that traces and compiles).
In each round the variants run in turn, in reverse order every other round;
the table gives each round's ratios, to the plain step and to the library's
default decoder. Writes benchmarks/results/rehearsal_cost.json and
rehearsal_cost.png.
"""

import json
import os
import time

from absl import app, flags

from benchmarks.common import (
    BACKENDS,
    RESULTS,
    epoch_timer,
    machine_description,
    run_worker,
    step_model_and_data,
    write_results,
)
from keras_rm.pipelines.metrics import format_table
from keras_rm.pipelines.plotting import figure

# One thread a worker: a pool's threads spinning on a shared core would count as CPU time.
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
}

FLAGS = flags.FLAGS
flags.DEFINE_bool("worker", False, "Internal: measure one variant under the current KERAS_BACKEND, print JSON.")
flags.DEFINE_integer("layers", 0, "Internal (worker): decoder layers of the rehearsal, 0 for the plain step.")
flags.DEFINE_list("backends", list(BACKENDS), "Backends to measure.")
flags.DEFINE_list("decoder_layers", ["2", "1"], "Decoder depths of the rehearsal step (the first: the default's).")
flags.DEFINE_integer("steps", 20, "Steps per timed epoch.")
flags.DEFINE_integer("timed_epochs", 3, "Epochs timed after the first.")
flags.DEFINE_integer("rounds", 2, "Measurements of each variant per backend.")


def measure(layers):
    """CPU milliseconds per step of the plain step (`layers` 0) or of the rehearsal step."""
    import numpy as np

    weights = {"recollection_weight": 1.0, "familiarity_weight": 0.5, "decoder_layers": layers} if layers else {}
    model, x, y = step_model_and_data(32 * FLAGS.steps, **weights)
    timer = epoch_timer(time.process_time)
    model.fit(x, y, batch_size=32, epochs=1 + FLAGS.timed_epochs, verbose=0, callbacks=[timer])
    return {"cpu_ms_per_step": 1e3 * float(np.median(timer.times[1:])) / FLAGS.steps}


def main(argv):
    if FLAGS.worker:
        print(json.dumps(measure(FLAGS.layers)))
        return
    variants = [0] + [int(layers) for layers in FLAGS.decoder_layers]
    args = [f"--steps={FLAGS.steps}", f"--timed_epochs={FLAGS.timed_epochs}"]
    if hasattr(os, "sched_setaffinity"):  # the workers inherit it: one core, whatever else the machine runs
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    load_before = os.getloadavg()
    rounds = []
    for backend in FLAGS.backends:
        for number in range(FLAGS.rounds):
            measured = {}
            for layers in variants[:: -1 if number % 2 else 1]:
                measured[layers] = run_worker(__file__, backend, [*args, f"--layers={layers}"], ONE_THREAD)[
                    "cpu_ms_per_step"
                ]
            rounds.append({"backend": backend, "round": number + 1, "cpu_ms_per_step": measured})
            print(rounds[-1], flush=True)
    load_after = os.getloadavg()

    def name(layers):
        return "plain" if layers == 0 else f"{layers} decoder layer" + "s" * (layers > 1)

    default = variants[1]
    rows = [
        [
            r["backend"],
            r["round"],
            *(f"{r['cpu_ms_per_step'][layers]:.0f}" for layers in variants),
            *(f"{r['cpu_ms_per_step'][layers] / r['cpu_ms_per_step'][0]:.2f}x" for layers in variants[1:]),
            *(f"{r['cpu_ms_per_step'][layers] / r['cpu_ms_per_step'][default]:.2f}x" for layers in variants[2:]),
        ]
        for r in rounds
    ]
    headers = ["backend", "round", *(f"{name(layers)} CPU ms" for layers in variants)]
    headers += [f"{name(layers)} / plain" for layers in variants[1:]]
    headers += [f"{name(layers)} / {name(default)}" for layers in variants[2:]]
    table = format_table(headers, rows)
    load = f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    print(f"CPU time of a training step, one core, batch 32 x 256 items ({machine_description()}, {load})")
    print(table)
    command = " ".join(
        ["python -m benchmarks.rehearsal_cost", f"--backends={','.join(FLAGS.backends)}", *args]
        + [f"--decoder_layers={','.join(FLAGS.decoder_layers)}", f"--rounds={FLAGS.rounds}"]
    )
    payload = {
        "command": command,
        "machine": machine_description(),
        "load_average": {"before": load_before, "after": load_after},
        "rounds": rounds,
        "table": table,
    }
    path = write_results("rehearsal_cost", payload)
    plot(rounds, variants, name, os.path.join(RESULTS, "rehearsal_cost.png"))
    print(f"Wrote {path} and rehearsal_cost.png")


def plot(rounds, variants, name, path):
    """Each round's CPU time a step relative to the plain step: a group of bars per backend and round."""
    import numpy as np

    labels = [f"{r['backend']} {r['round']}" for r in rounds]
    width = 0.8 / (len(variants) - 1)
    with figure(path, size=(7, 3.5)) as (ax,):
        for i, layers in enumerate(variants[1:]):
            ratios = [r["cpu_ms_per_step"][layers] / r["cpu_ms_per_step"][0] for r in rounds]
            ax.bar(np.arange(len(rounds)) + i * width, ratios, width, label=f"rehearsal, {name(layers)}")
        ax.axhline(1.5, color="grey", linestyle="--", linewidth=0.8, label="1.5x the plain step")
        ax.set_xticks(np.arange(len(rounds)) + width * (len(variants) - 2) / 2, labels, fontsize=8)
        ax.set_ylim(
            0, 1.3 * max(r["cpu_ms_per_step"][layers] / r["cpu_ms_per_step"][0] for r in rounds for layers in variants)
        )
        ax.set_ylabel("CPU time a step / plain step")
        ax.legend(fontsize=8)


if __name__ == "__main__":
    app.run(main)
