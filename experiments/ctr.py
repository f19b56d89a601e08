"""Click-through prediction from a user's whole behaviour history: the memory against the usual baselines.

    python -m experiments.ctr --history_length=500 --model=memory --output_dir=/tmp/ctr
    python -m experiments.ctr --model=recent --recent=50          # DIN-style target attention, last 50 behaviours
    python -m experiments.ctr --data_dir=~/data/ml-1m --history_length=200
    python -m experiments.ctr --history_length=5000 --epochs=2 --train_users=1000 --init_from=/tmp/ctr

Users come from the built-in lifelong generator (long-term interests seen
early and rarely after, short-term drift; fresh users every epoch) or, with
`--data_dir`, from MovieLens-format files (`ratings.dat`/`.csv`,
`movies.dat`/`.csv`; users split 80/20 into train and test). Each user gives
its last behaviour as a positive and one item it never touched before as a
negative, both with the history strictly before that time. Models:
`memory` (RehearsalMemoryModel; rehearsal on when a weight is positive),
`recent` (target attention over the last `--recent` behaviours),
`target_all` (target attention over the whole history), `gru` (a GRU over
the whole history) and `full_attention` (a Transformer over the whole
history and the candidate). Every model first trains `--warmup_epochs` on
histories of `--warmup_length` behaviours (built-in data; more users, as many
behaviours an epoch): the memory learns to write and read one segment in a
few hundred steps, through ten only after thousands. `--init_from` goes on
training an earlier run's model (e.g. on longer histories; no warm-up then).
Writes to `--output_dir`: `metrics.json`
(`auc`, `gauc`, the state each model keeps per user), `model.keras`, and for
the memory a SavedModel under `saved_model/` (`--export`): its `write`
updates one user's memory as behaviours arrive and `answer` scores a
candidate from it. TensorBoard logs go to `logs/` and every epoch's logs to
`history.csv`; an interrupted run goes on after its last finished epoch when
run again (`--noresume` starts over).
"""

import os

from absl import flags, logging

from experiments.fitting import epoch_size, fit_epochs
from experiments.flags import flag_values, main_program, run_config
from experiments.reports import write_run

FLAGS = flags.FLAGS
MODELS = ("memory", "recent", "target_all", "gru", "full_attention")


# One flag per argument of `run`, its default taken from there.
FLAG_HELP = {
    "data_dir": (str, "Folder with MovieLens-format ratings and movies files (default: built-in)."),
    "history_length": "Behaviours kept per history (the most recent ones).",
    "model": (MODELS, "Which model."),
    "num_slots": "Memory slots.",
    "segment_length": "Behaviours written per segment.",
    "hidden_dim": "Width of items, slots and states.",
    "keep_bias": "Initial bias of the slots' update gate (memory).",
    "recollection_weight": "Weight of the recollection loss (memory).",
    "familiarity_weight": "Weight of the familiarity loss (memory).",
    "sampler": (["uniform", "teacher"], "History sampler of the rehearsal."),
    "recent": "Behaviours the `recent` model reads.",
    "train_users": "Training users per epoch (built-in data).",
    "test_users": "Test users (built-in data).",
    "epochs": "Epochs.",
    "warmup_epochs": (
        "First epochs on histories of `--warmup_length` behaviours (built-in data; as many behaviours "
        "an epoch as a full one)."
    ),
    "warmup_length": "Behaviours per history in the warm-up epochs.",
    "init_from": (
        str,
        "Output directory of an earlier run whose model.keras this run goes on training (e.g. on "
        "longer histories); no warm-up epochs then.",
    ),
    "batch_size": "Batch size.",
    "learning_rate": "Adam's learning rate (gradients clipped to norm 1).",
    "learning_rate_warmup": "Steps over which the learning rate rises linearly from 0.",
    "seed": "Seed of data, initialisation and rehearsal draws.",
    "output_dir": "Where the metrics, model and SavedModel go.",
    "export": "Export the memory model as a SavedModel (saved_model/).",
    "resume": "Go on from the backup an interrupted run left in output_dir/backup (--noresume starts over).",
}


def build_model(
    model,
    num_items,
    num_categories,
    hidden_dim,
    num_slots=8,
    segment_length=50,
    keep_bias=1.0,
    recollection_weight=0.0,
    familiarity_weight=0.0,
    sampler="uniform",
    recent=50,
    seed=0,
):
    """The click model `model` (a name of `MODELS`) over items with one side feature (the category)."""
    import keras_rm

    encoder = keras_rm.layers.CategoricalItemEncoder(num_items, hidden_dim, side_vocabulary_sizes=[num_categories])
    if model == "memory":
        return keras_rm.RehearsalMemoryModel(
            encoder,
            task="click",
            memory=dict(num_slots=num_slots, segment_length=segment_length, keep_bias=keep_bias),
            rehearsal=dict(
                recollection_weight=recollection_weight, familiarity_weight=familiarity_weight, sampler=sampler
            ),
            seed=seed,
        )
    if model in ("recent", "target_all"):
        return keras_rm.TargetAttentionModel(encoder, task="click", recent=recent if model == "recent" else None)
    if model == "gru":
        return keras_rm.RecurrentModel(encoder, task="click")
    return keras_rm.FullAttentionModel(encoder, task="click", num_layers=1)


def state_bytes(model, history_length, hidden_dim, num_slots, recent):
    """Bytes a served model keeps per user: the memory, the GRU state, or the behaviours it reads (2 int32 each)."""
    return {
        "memory": num_slots * hidden_dim * 4,
        "gru": hidden_dim * 4,
        "recent": min(recent, history_length) * 2 * 4,
    }.get(model, history_length * 2 * 4)


def run(
    data_dir=None,
    history_length=500,
    model="memory",
    num_slots=8,
    segment_length=50,
    hidden_dim=32,
    keep_bias=1.0,
    recollection_weight=1.0,
    familiarity_weight=0.5,
    sampler="uniform",
    recent=50,
    train_users=2000,
    test_users=500,
    epochs=20,
    warmup_epochs=2,
    warmup_length=50,
    init_from=None,
    batch_size=32,
    learning_rate=1e-3,
    learning_rate_warmup=0,
    seed=0,
    output_dir="output/ctr",
    export=True,
    resume=True,
    verbose=1,
):
    """Trains (going on after a crash, as `experiments.fitting.fit_epochs`), evaluates and writes everything; returns
    the metrics dict. The defaults are the memory of `benchmarks/ctr.py` with its default rehearsal (0 and 0 for
    both weights: the plain memory).

    On built-in data the first `warmup_epochs` train on histories of `warmup_length` behaviours (more users, as
    many behaviours an epoch; `experiments.fitting.epoch_size`).
    """
    import time

    import keras
    import numpy as np

    from keras_rm.pipelines.behaviour import (
        ctr_dataset,
        generate_lifelong_users,
        make_examples,
        read_movielens,
        split_users,
    )
    from keras_rm.pipelines.metrics import auc, gauc

    os.makedirs(output_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)
    if data_dir:
        train_behaviours, test_behaviours = split_users(read_movielens(data_dir), seed=seed)
    else:
        test_behaviours = generate_lifelong_users(test_users, history_length, seed=seed + 10_000)

    if data_dir or init_from:
        warmup_epochs = 0  # real histories are not shortened; a model that goes on has learned from short ones

    def train_examples(epoch):
        if data_dir:
            return make_examples(train_behaviours, history_length, seed=seed + epoch)
        length, users = epoch_size(epoch, history_length, train_users, warmup_epochs, warmup_length)
        return make_examples(generate_lifelong_users(users, length, seed=seed + epoch), length, seed=seed + epoch)

    import keras_rm  # (also registers the model classes `load_model` needs)

    catalogue = test_behaviours
    if init_from:
        net = keras.saving.load_model(os.path.join(init_from, "model.keras"))
    else:
        net = build_model(
            model,
            catalogue.num_items,
            catalogue.num_categories,
            hidden_dim,
            num_slots=num_slots,
            segment_length=segment_length,
            keep_bias=keep_bias,
            recollection_weight=recollection_weight,
            familiarity_weight=familiarity_weight,
            sampler=sampler,
            recent=recent,
            seed=seed,
        )
        schedule = keras_rm.schedules.learning_rate_schedule(learning_rate, learning_rate_warmup)
        net.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0))
        # Built for the trained length (what `serve` is exported for), whatever the warm-up epochs' length.
        net.build({"items": (None, history_length, 2), "query": (None, 2)})
    started = time.perf_counter()
    history, _ = fit_epochs(
        net,
        lambda epoch: ctr_dataset(train_examples(epoch), batch_size, shuffle=True, seed=seed + epoch),
        epochs,
        output_dir,
        resume,
        verbose,
        shape_changes=[warmup_epochs],
    )
    train_seconds = time.perf_counter() - started

    test = make_examples(test_behaviours, history_length, seed=seed + 20_000)
    scores = np.asarray(
        net.predict({"items": test["items"], "query": test["query"]}, batch_size=batch_size, verbose=0)
    ).reshape(-1)
    metrics = {
        "auc": auc(test["label"], scores),
        "gauc": gauc(test["label"], scores, test["user"]),
        "test_examples": int(len(scores)),
        "state_bytes_per_user": state_bytes(model, history_length, hidden_dim, num_slots, recent),
        "train_seconds": train_seconds,
        "train_logs": {name: float(v[-1]) for name, v in history.history.items()} if history else {},
        "backend": keras.config.backend(),
        "config": run_config(run, locals()),
    }
    write_run(net, metrics, output_dir, export and model == "memory")
    return metrics


def main(argv):
    logging.set_verbosity(logging.WARNING)
    metrics = run(**flag_values(run), verbose=2)
    print(
        f"\n{FLAGS.model}, histories of {FLAGS.history_length} behaviours: test AUC {metrics['auc']:.4f}, "
        f"GAUC {metrics['gauc']:.4f} ({metrics['test_examples']} examples); state kept per user "
        f"{metrics['state_bytes_per_user']:,} bytes; training {metrics['train_seconds']:.0f} s."
    )
    print(f"Wrote metrics.json and model.keras to {FLAGS.output_dir}")


if __name__ == "__main__":
    main_program(run, FLAG_HELP, main)
