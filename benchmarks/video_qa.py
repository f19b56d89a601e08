"""Long video QA on dense frames: accuracy by depth with and without rehearsal, and what a training step costs.

    python -m benchmarks.video_qa                  # the configuration in the README (about 70 min on 2 CPUs)
    python -m benchmarks.video_qa --lengths=512 --epochs=2 --train_videos=200 --variants=plain,full_attention
    python -m benchmarks.video_qa --lengths=512 --epochs=10 --train_videos=2000 --variants=full_attention --seeds=0
    python -m benchmarks.video_qa --noaccuracy     # the step cost only

Variants, each at every `--lengths` (frames per video), on the same built-in
videos, epochs and seed. Every run from scratch first trains `--warmup_epochs`
on videos of `--warmup_length` frames (as many frames an epoch); with
`--warm_start` a longer length's run goes on from the previous length's run of
the same variant and seed instead (as `benchmarks/ctr.py` does: from scratch,
4,096 frames cost eight times as much per step as 512). The variants:

- `plain`: the memory without rehearsal;
- `uniform`, `teacher`: the memory with rehearsal (contrastive recollection
  against `--num_negatives` frames, familiarity; weights 1.0 and 0.5) and
  that history sampler;
- `teacher_warmup`: teacher rehearsal whose weights rise from 0 over the
  first 500 steps (the warm-up epochs), while the task and the teacher learn;
- `uniform_light`: uniform rehearsal at a tenth of those weights;
- `full_attention`: a Transformer over every frame and the question (the
  upper bound).

Accuracy: `experiments/video_qa.py` per run, in its own process (with `--jobs=1` in this one; finished runs
with the same settings are read back), overall, by quarter of the video
holding what the answer needs, and by question type; beside it the chance
level, answering each question type's most frequent answer. Full attention is
trained up to `--full_attention_max_length` frames (beyond, its cost only).
Cost: a fresh process per run trains `--cost_steps` steps on one batch of
`--cost_batch` videos and reports the median step time (first two steps,
tracing and compilation, excluded) and its peak memory: the largest
resident set of the process minus the resident set before the first step.
A run the machine cannot hold is recorded as failed, with the reason.

Writes benchmarks/results/video_qa.json and video_qa.png and prints the table.
`--noaccuracy` measures the costs again and keeps the accuracies on record.
Runs of other lengths already in video_qa.json are kept (each run records
its settings), so lengths can be run in separate invocations and budgets:

    python -m benchmarks.video_qa --lengths=4096 --epochs=4 --train_videos=500 --nowarm_start
"""

import json
import os
import subprocess
import sys

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
from keras_rm.pipelines.plotting import figure, quarter_axis

VARIANTS = {
    "plain": {"model": "memory", "recollection_weight": 0.0, "familiarity_weight": 0.0},
    "uniform": {"model": "memory", "sampler": "uniform"},
    "teacher": {"model": "memory", "sampler": "teacher"},
    "teacher_warmup": {"model": "memory", "sampler": "teacher", "rehearsal_warmup": 500},
    "uniform_light": {"model": "memory", "sampler": "uniform", "recollection_weight": 0.1, "familiarity_weight": 0.05},
    "full_attention": {"model": "full_attention"},
}

FLAGS = flags.FLAGS
flags.DEFINE_bool("worker", False, "Internal: measure one training step cost and print JSON.")
flags.DEFINE_list("lengths", ["512", "4096"], "Frames per video.")
flags.DEFINE_list("variants", ["plain", "uniform", "teacher"], f"Models compared, of {', '.join(VARIANTS)}.")
flags.DEFINE_bool("accuracy", True, "Train and evaluate every variant (else the step cost only).")
flags.DEFINE_integer("full_attention_max_length", 1024, "Longest videos full attention is trained on.")
flags.DEFINE_list("epochs", ["10", "2"], "Epochs of every accuracy run at each length (warm-up epochs included).")
flags.DEFINE_list("train_videos", ["2000", "1000"], "Fresh training videos per epoch at each length.")
flags.DEFINE_integer("warmup_epochs", 3, "First epochs of a run from scratch on shorter videos (as many frames).")
flags.DEFINE_integer("warmup_length", 192, "Frames per video in the warm-up epochs.")
flags.DEFINE_bool("warm_start", True, "Start each longer length from the previous length's run.")
flags.DEFINE_integer("test_videos", 500, "Test videos.")
flags.DEFINE_integer("num_negatives", 30, "Frames each recollected frame is contrasted with.")
flags.DEFINE_integer("segment_length", 32, "Frames written per segment.")
flags.DEFINE_integer("cost_batch", 8, "Videos per batch of the step-cost measurement.")
flags.DEFINE_integer("cost_steps", 6, "Steps of the step-cost measurement (the first two are not timed).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of the accuracy runs (data and models); the cost uses the first.")
flags.DEFINE_integer("jobs", 2, "Accuracy runs at a time (each gets cpu_count / jobs threads).")
flags.DEFINE_string("backend", "jax", "KERAS_BACKEND of every run.")
flags.DEFINE_string("runs_dir", "output/video_qa_benchmark", "Where each accuracy run's output directory goes.")
# The worker's own flags.
flags.DEFINE_string("variant", "plain", "Internal: the variant the worker measures.")
flags.DEFINE_integer("num_frames", 512, "Internal: the video length the worker measures.")


def settings(variant, length, seed, init_from=None):
    """The flags of `experiments/video_qa.py` for one accuracy run."""
    index = FLAGS.lengths.index(str(length))
    config = {
        "num_frames": length,
        "epochs": int(FLAGS.epochs[index]),
        "train_videos": int(FLAGS.train_videos[index]),
        "warmup_epochs": FLAGS.warmup_epochs,
        "warmup_length": FLAGS.warmup_length,
        "test_videos": FLAGS.test_videos,
        "num_negatives": FLAGS.num_negatives,
        "segment_length": FLAGS.segment_length,
        "seed": seed,
        **VARIANTS[variant],
    }
    return dict(config, init_from=init_from) if init_from else config


def step_cost():
    """The worker: median training step seconds and peak memory growth of one variant at one length."""
    import resource
    import time

    import keras
    import numpy as np

    from experiments.video_qa import build_model
    from keras_rm.pipelines.video import VideoQAVectorizer, generate_videos

    seed = int(FLAGS.seeds[0])
    config = VARIANTS[FLAGS.variant]
    keras.utils.set_random_seed(seed)
    videos = generate_videos(FLAGS.cost_batch, FLAGS.num_frames, seed=seed)
    vectorizer = VideoQAVectorizer()
    vectorizer.adapt(videos)
    x, y, _ = next(iter(vectorizer.dataset(videos, FLAGS.cost_batch, FLAGS.num_frames)))
    x, y = {key: np.asarray(value) for key, value in x.items()}, np.asarray(y)
    net = build_model(  # 8 slots x 64 and the rehearsal weights: experiments/video_qa.py's defaults
        config["model"],
        vectorizer,
        feature_dim=videos[0].frames.shape[1],
        hidden_dim=64,
        memory=dict(num_slots=8, segment_length=FLAGS.segment_length),
        rehearsal=dict(
            recollection_weight=config.get("recollection_weight", 1.0),
            familiarity_weight=config.get("familiarity_weight", 0.5),
            sampler=config.get("sampler", "uniform"),
            num_negatives=FLAGS.num_negatives,
        ),
        seed=seed,
    )
    net.compile()
    with open("/proc/self/statm") as f:
        before = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    times = []
    for _ in range(FLAGS.cost_steps):
        start = time.perf_counter()
        net.train_on_batch(x, y)  # returns numpy logs: the step has finished
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "step_seconds": float(np.median(times[2:])),
        "first_step_seconds": times[0],
        "peak_memory_bytes": peak - before,
        "backend": keras.config.backend(),
    }


def measure_cost(variant, length):
    env = dict(os.environ, KERAS_BACKEND=FLAGS.backend, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    args = [
        f"--variant={variant}",
        f"--num_frames={length}",
        f"--cost_batch={FLAGS.cost_batch}",
        f"--cost_steps={FLAGS.cost_steps}",
        f"--num_negatives={FLAGS.num_negatives}",
        f"--segment_length={FLAGS.segment_length}",
        f"--seeds={FLAGS.seeds[0]}",
    ]
    done = subprocess.run(
        [sys.executable, __file__, "--worker", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        reason = "killed (out of memory)" if done.returncode == -9 else done.stderr.strip().splitlines()[-1][-300:]
        return {"failed": reason}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_dir(length, variant, seed):
    return os.path.join(ROOT, FLAGS.runs_dir, f"len{length}_{variant}_seed{seed}")


def accuracy_run(variant, length, seed, init_from):
    return run_experiment(
        "video_qa",
        settings(variant, length, seed, init_from),
        run_dir(length, variant, seed),
        FLAGS.backend,
        FLAGS.jobs,
    )


def mean_accuracy(run):
    """Accuracy overall and by quarter, averaged over the run's seeds (None where nothing was trained)."""
    import numpy as np

    seeds = list(run.get("accuracy", {}).values())
    if not seeds:
        return None, [None] * 4
    by_depth = [[m["accuracy_by_depth"][q] for m in seeds if m["accuracy_by_depth"][q] is not None] for q in range(4)]
    return float(np.mean([m["accuracy"] for m in seeds])), [float(np.mean(v)) if v else None for v in by_depth]


def mean_chance(run):
    """The chance level of the run's test questions (each type's most frequent answer), averaged over seeds."""
    values = [m["prior_accuracy"] for m in run.get("accuracy", {}).values() if "prior_accuracy" in m]
    return sum(values) / len(values) if values else None


def percent(value):
    return "n/a" if value is None else f"{value:.1%}"


def table(runs):
    rows = []
    for r in runs:
        c = r["cost"]
        accuracy, by_depth = mean_accuracy(r)
        rows.append(
            [
                r["length"],
                r["variant"],
                len(r.get("accuracy", {})),
                percent(accuracy),
                percent(mean_chance(r)),
                *(percent(v) for v in by_depth),
                "failed" if "failed" in c else f"{c['step_seconds'] * 1000:,.0f}",
                "failed" if "failed" in c else f"{c['peak_memory_bytes'] / 2**20:,.0f}",
            ]
        )
    return format_table(
        ["frames", "model", "seeds", "accuracy", "chance", "Q1 (earliest)", "Q2", "Q3", "Q4", "step ms", "peak MiB"],
        rows,
    )


def plot(runs, path):
    """Accuracy by quarter of the video (left) and training step time (right) of every variant, saved to `path`."""
    import numpy as np

    lengths = sorted({r["length"] for r in runs})
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in runs)]
    width = 0.8 / len(lengths)
    with figure(path, ncols=2, size=(5, 3.6), title="Long video QA on dense frames (built-in videos)") as axes:
        for r in runs:
            if r.get("accuracy"):
                axes[0].plot(
                    range(1, 5),
                    [np.nan if v is None else v for v in mean_accuracy(r)[1]],
                    marker="o",
                    label=f"{r['variant']}, {r['length']} frames",
                )
        quarter_axis(axes[0], "quarter of the video holding what the answer needs", "test accuracy (mean over seeds)")
        axes[0].legend(fontsize=7)
        for i, length in enumerate(lengths):
            values = [
                next(
                    (
                        r["cost"].get("step_seconds", np.nan) * 1000
                        for r in runs
                        if r["variant"] == v and r["length"] == length
                    ),
                    np.nan,
                )
                for v in variants
            ]
            axes[1].bar(np.arange(len(variants)) + i * width, values, width, label=f"{length} frames")
        axes[1].set_xticks(np.arange(len(variants)) + width * (len(lengths) - 1) / 2, variants, rotation=15)
        axes[1].set_yscale("log")
        axes[1].set_ylabel(f"training step ms (batch {FLAGS.cost_batch})")
        axes[1].legend(fontsize=8)


def main(argv):
    if FLAGS.worker:
        print(json.dumps(step_cost()))
        return
    check_one_per_length("epochs", "train_videos")
    jobs = [(variant, int(length)) for length in FLAGS.lengths for variant in FLAGS.variants]
    runs = []
    for variant, length in jobs:  # one at a time: the figures are times and memory
        runs.append({"variant": variant, "length": length, "cost": measure_cost(variant, length)})
        print(f"{length:>5} {variant:<15} cost {runs[-1]['cost']}", flush=True)
    if FLAGS.accuracy:
        trained = {
            (r["variant"], r["length"]): r
            for r in runs
            if r["variant"] != "full_attention" or r["length"] <= FLAGS.full_attention_max_length
        }

        def variants(length):
            return [v for v, run_length in trained if run_length == length]

        for length, results in train_by_length(
            map(int, FLAGS.lengths),
            variants,
            list(map(int, FLAGS.seeds)),
            accuracy_run,
            run_dir,
            FLAGS.warm_start,
            FLAGS.jobs,
        ):
            for (variant, seed), result in results.items():
                trained[variant, length].setdefault("accuracy", {})[str(seed)] = result
    for run in runs:  # (an accuracy run records its own settings in its `config`)
        run["cost"].update(batch=FLAGS.cost_batch, steps=FLAGS.cost_steps, segment_length=FLAGS.segment_length)
    runs = merge_runs("video_qa", runs, VARIANTS, keep=["accuracy"])
    print(table(runs))
    write_results("video_qa", {"machine": machine_description(), "backend": FLAGS.backend, "runs": runs})
    plot(runs, os.path.join(RESULTS, "video_qa.png"))
    print(f"Wrote {RESULTS}/video_qa.json and video_qa.png")


if __name__ == "__main__":
    app.run(main)
