"""Helpers shared by the benchmark scripts: running an experiment or a worker per backend, results files."""

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
BACKENDS = ("tensorflow", "jax", "torch")
# The small model of the training-cost benchmarks (throughput.py, data_parallel.py).
TRAINING_CONFIG = dict(num_slots=8, hidden_dim=64, segment_length=32, num_heads=4, num_fragments=4, num_negatives=30)

# The memory with and without rehearsal, and full attention, as `experiments/babi_long.py` settings (forgetting.py,
# babi_long_forms.py).
REHEARSAL_VARIANTS = {
    "plain": {"recollection_weight": 0.0, "familiarity_weight": 0.0},
    "uniform": {"sampler": "uniform"},
    "teacher": {"sampler": "teacher"},
    "uniform_warmup": {"sampler": "uniform", "rehearsal_warmup": 1000},
    "teacher_important": {"sampler": "teacher", "mask_selection": "important"},
    # Fragments around the supporting facts the bAbI files mark, their facts masked (what there is to recall).
    "supporting": {"sampler": "importance", "mask_selection": "important"},
    # The paper's rehearsal with a decoder of one layer (two by default): what a narrower decoder costs in signal.
    "uniform_decoder1": {"sampler": "uniform", "decoder_layers": 1},
    "full_attention": {"model": "full_attention"},
}

# Training logs that say whether the rehearsal (and its teacher) learned anything.
TRAIN_TERMS = ("accuracy", "recollection_accuracy", "familiarity_accuracy", "teacher_accuracy")


def memory_arguments(config, **rehearsal):
    """`RehearsalMemoryModel` arguments of a `TRAINING_CONFIG`-like `config` (its `hidden_dim` is the encoder's):
    the memory machine's settings nested under `memory`, the rehearsal's under `rehearsal`, with `rehearsal` (e.g.
    its weights) added."""
    config = {key: value for key, value in config.items() if key != "hidden_dim"}
    nested = {key: config.pop(key) for key in ("num_fragments", "num_negatives") if key in config}
    return {"memory": config, "rehearsal": {**nested, **rehearsal}}


def step_model_and_data(sequences, length=256, recollection_weight=0.0, familiarity_weight=0.0, **rehearsal):
    """The model and data whose training step throughput.py, profile_step.py and rehearsal_cost.py time: a compiled
    `RehearsalMemoryModel` of `TRAINING_CONFIG` (`rehearsal`: more arguments of its rehearsal, e.g.
    `decoder_layers`), and `(x, y)`: `sequences` recall sequences of `length` token items."""
    import keras

    import keras_rm
    from keras_rm.pipelines.recall import make_recall_data, recall_vocabulary_size

    vocab = dict(num_keys=32, num_values=16, num_distractors=64)
    x, y, _ = make_recall_data(sequences, length=length, num_pairs=8, seed=0, **vocab)
    keras.utils.set_random_seed(0)
    encoder = keras_rm.layers.TokenItemEncoder(recall_vocabulary_size(**vocab), TRAINING_CONFIG["hidden_dim"])
    weights = dict(recollection_weight=recollection_weight, familiarity_weight=familiarity_weight)
    model = keras_rm.RehearsalMemoryModel(
        encoder, num_classes=16, seed=0, **memory_arguments(TRAINING_CONFIG, **weights, **rehearsal)
    )
    model.compile()
    return model, x, y


def run_worker(script, backend, args=(), env=None, root=ROOT):
    """Runs `script --worker ...` under `KERAS_BACKEND=backend` (and extra `env`) with the package of the checkout
    `root` (by default this one); returns the JSON it prints last."""
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    result = subprocess.run(
        [sys.executable, script, "--worker", *args], cwd=root, env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise RuntimeError(f"{script} failed under {backend}:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def commit_of(checkout):
    """The commit a checkout is at."""
    done = subprocess.run(["git", "-C", checkout, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def run_experiment(module, settings, output_dir, backend, jobs=1, root=ROOT, own_process=False):
    """Runs `experiments.<module>` once with `settings` as flags, or reads back a finished identical run.

    The run writes `metrics.json` into `output_dir`; its wall time is added
    as `seconds`, and `settings.json` records what produced it, so an
    interrupted benchmark goes on where it stopped (a run whose settings
    differ is run again). A benchmark running one job at a time (`jobs=1`)
    calls the experiment's `run` in this process, with the arguments its
    command line would parse from `settings`. A process of its own runs it
    only where one is needed: `jobs` runs at a time (each with
    `cpu_count / jobs` threads), another checkout's code (`root`, an earlier
    version's, to compare with), a backend other than this process's Keras
    one, or `own_process` (timings to compare with such runs).

    Returns:
        The metrics dict.
    """
    metrics_path = os.path.join(output_dir, "metrics.json")
    settings_path = os.path.join(output_dir, "settings.json")
    wanted = dict(settings, backend=backend, **({} if root == ROOT else {"commit": commit_of(root)}))
    if settings.get("init_from"):
        # A run that starts from another's model (a test of it, a longer stage) is run again once that model has
        # trained on (e.g. with more `--epochs`): its settings alone would not say so.
        wanted["init_from_finished"] = os.path.getmtime(os.path.join(settings["init_from"], "metrics.json"))
    if os.path.exists(metrics_path) and os.path.exists(settings_path):
        with open(settings_path) as f:
            if json.load(f) == wanted:
                with open(metrics_path) as g:
                    return json.load(g)
    args = [f"--{name}={value}" for name, value in settings.items()] + ["--noexport", f"--output_dir={output_dir}"]
    start = time.perf_counter()
    if jobs == 1 and root == ROOT and not own_process and settle_backend(backend):
        run_in_this_process(module, args)
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS=str(threads))
        env.setdefault("JAX_COMPILATION_CACHE_DIR", JAX_CACHE)
        command = [sys.executable, "-m", f"experiments.{module}", *args]
        result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"experiments.{module} {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    with open(metrics_path) as f:
        metrics = json.load(f)
    metrics["seconds"] = time.perf_counter() - start
    with open(metrics_path, "w") as f:
        json.dump(metrics, f, indent=2)
    with open(settings_path, "w") as f:
        json.dump(wanted, f, indent=2)
    return metrics


# A resumed run (or another seed) reuses JAX's compiled steps: one per batch shape, seconds each.
JAX_CACHE = os.path.join(ROOT, ".cache", "jax-benchmarks")


def settle_backend(backend):
    """Whether Keras runs `backend` in this process: it does if Keras is imported under it, or, not imported yet, it
    will be (`KERAS_BACKEND` is set here)."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", JAX_CACHE)
        return True
    import keras

    return keras.config.backend() == backend


def run_in_this_process(module, args):
    """Calls the `run` of `experiments.<module>` with what its command line parses from `args`, as a fresh process
    would: Keras' global state cleared first, JAX's compiled steps dropped after."""
    import importlib

    import keras

    from experiments.flags import parse_flags
    from keras_rm.pipelines.data import import_tensorflow_quietly

    import_tensorflow_quietly()
    experiment = importlib.import_module(f"experiments.{module}")
    arguments = parse_flags(experiment.run, experiment.FLAG_HELP, args)
    keras.backend.clear_session()
    try:
        experiment.run(**arguments, verbose=0)
    finally:
        if keras.config.backend() == "jax":
            import jax

            jax.clear_caches()
        keras.backend.clear_session()


def check_one_per_length(*names):
    """Raises a `ValueError` unless each list flag `names` holds one value per `--lengths` value."""
    from absl import flags

    values = {name: flags.FLAGS[name].value for name in ("lengths", *names)}
    if any(len(values[name]) != len(values["lengths"]) for name in names):
        raise ValueError(
            " and ".join(f"`--{name}`" for name in names)
            + " need one value per length. Received: "
            + ", ".join(f"--{name}={value}" for name, value in values.items())
        )


def train_by_length(lengths, variants, seeds, train, run_dir, warm_start, jobs):
    """Trains every variant and seed at each length, shortest first, `jobs` runs at a time.

    With `warm_start` a run goes on from its variant and seed's run at the
    previous length (passed as `init_from`) where that variant ran there.

    Args:
        variants: function of a length: the variants trained at it.
        train: function `(variant, length, seed, init_from)` returning a run's result.
        run_dir: function `(length, variant, seed)` giving a run's output directory.

    Yields:
        `(length, {(variant, seed): result})` as each length finishes.
    """
    import concurrent.futures

    lengths = sorted(lengths)
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for previous, length in zip([None] + lengths, lengths):
            futures = {}
            for variant in variants(length):
                warm = warm_start and previous is not None and variant in variants(previous)
                for seed in seeds:
                    init_from = run_dir(previous, variant, seed) if warm else None
                    futures[variant, seed] = pool.submit(train, variant, length, seed, init_from)
            yield length, {key: future.result() for key, future in futures.items()}


def command_line(script, flag_names):
    """The command that reproduces a benchmark run: `python -m benchmarks.<script>` with these flags' values."""
    from absl import flags

    return f"python -m benchmarks.{script.removesuffix('.py')} " + " ".join(
        flags.FLAGS[name].serialize() for name in flag_names
    )


def epoch_timer(clock=time.perf_counter):
    """A Keras callback that records the time of every epoch's training by `clock` (wall time by default) in its
    `times` list."""
    from experiments.fitting import EpochTimer

    return EpochTimer(clock)


def write_results(name, payload):
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{name}.json")
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
    return path


def recorded_runs(name):
    """The runs results/`name`.json holds ([] when there is none): what earlier invocations measured."""
    path = os.path.join(RESULTS, f"{name}.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)["runs"]


def merge_runs(name, runs, order, keep=()):
    """`runs` plus the runs in results/`name`.json of other (length, variant) pairs, sorted by length, `order`.

    Lets a benchmark run its lengths in separate invocations (each with its
    own budget); every run records the settings that produced it. The `keep`
    entries (dicts) of an earlier run of the same pair are carried over,
    updated by the new run's (e.g. its accuracy per seed, when other seeds or
    only costs were measured this time).
    """
    earlier = {(r["length"], r["variant"]): r for r in recorded_runs(name)}
    for run in runs:
        old = earlier.pop((run["length"], run["variant"]), {})
        run.update({key: {**old[key], **run.get(key, {})} for key in keep if key in old})
    runs = list(earlier.values()) + runs
    return sorted(runs, key=lambda r: (r["length"], list(order).index(r["variant"])))


def machine_description():
    import platform

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
