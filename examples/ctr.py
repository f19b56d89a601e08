"""Click-through prediction from a user's whole behaviour history, kept in a memory of 8 slots per user.

    python -m examples.ctr --history_length=500 --epochs=20 --output_dir=output/ctr

One job end to end. The users come from the built-in lifelong generator: each
has long-term interests, seen early in the history and rarely after, and
short-term drift; there are fresh users every epoch. Each user gives two
examples, each with the history strictly before it: its last behaviour as a
positive, and one item it never touched as a negative. The memory model writes
the history 50 behaviours at a time (each an item and its category) and scores
the candidate from the memory alone; the paper's rehearsal trains beside it. The
first 2 epochs hold histories of 50 behaviours, more users each (docs/learning.md:
the memory learns to write and read one segment in a few hundred steps, through
ten only after thousands). The job ends with test AUC and GAUC (AUC per user,
averaged). It writes `model.keras` and a SavedModel, `saved_model/`,
to `--output_dir`. The SavedModel's `write` updates one user's memory as
behaviours arrive, and its `answer` scores a candidate from that memory.

`python -m experiments.ctr` is the same job with every setting a flag: the
baselines (the last behaviours, target attention, a GRU, full attention),
MovieLens files, and resuming after a crash.
"""

import os

import keras
import numpy as np
from absl import app, flags, logging

import keras_rm
from keras_rm.pipelines.behaviour import ctr_dataset, generate_lifelong_users, make_examples
from keras_rm.pipelines.data import import_tensorflow_quietly
from keras_rm.pipelines.metrics import auc, gauc

FLAGS = flags.FLAGS

TRAIN_USERS, TEST_USERS, BATCH_SIZE = 2000, 500, 32
SHORT_EPOCHS, SHORT_LENGTH = 2, 50  # as many behaviours an epoch: 10x the users on 500 behaviours


def run(history_length=500, epochs=20, output_dir="output/ctr"):
    """Trains, tests and saves the model; returns its test metrics."""
    keras.utils.set_random_seed(0)

    # The data: `items` `(users, length, 2)` (item and category ids, 0 pads), `query` `(users, 2)`, `label` 0 or 1.
    def clicks(users, length, seed):
        """Click examples of `users` fresh built-in users, histories of `length` behaviours."""
        return make_examples(generate_lifelong_users(users, length, seed=seed), length, seed=seed)

    test_users = generate_lifelong_users(TEST_USERS, history_length, seed=10_000)
    test = make_examples(test_users, history_length, seed=20_000)

    # The model: 8 slots of 32 numbers per user, whatever the history's length; the paper's rehearsal in training.
    model = keras_rm.RehearsalMemoryModel(
        keras_rm.layers.CategoricalItemEncoder(
            test_users.num_items, hidden_dim=32, side_vocabulary_sizes=[test_users.num_categories]
        ),
        task="click",
        memory={"num_slots": 8, "segment_length": 50},
        rehearsal="paper",
        seed=0,
    )
    # Here the short histories first made the memory learn; a learning-rate warm-up added nothing (docs/learning.md).
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0))
    # Built for the full length, what the SavedModel's `serve` takes, whatever the short epochs hold.
    model.build({"items": (None, history_length, 2), "query": (None, 2)})

    # Training: one `fit` per epoch, each on users of its own (`ctr_dataset` shuffles them: `fit` cannot).
    for epoch in range(epochs):
        length = min(SHORT_LENGTH, history_length) if epoch < SHORT_EPOCHS else history_length
        train = clicks(TRAIN_USERS * history_length // length, length, seed=epoch)
        logs = model.fit(ctr_dataset(train, BATCH_SIZE, shuffle=True, seed=epoch), shuffle=False, verbose=0).history
        print(f"Epoch {epoch + 1}/{epochs}, {length} behaviours: loss {logs['loss'][0]:.4f}, AUC {logs['auc'][0]:.4f}")

    # Test AUC over every example, and GAUC: each user's AUC, weighted by the user's examples.
    scores = np.asarray(model.predict({"items": test["items"], "query": test["query"]}, verbose=0)).reshape(-1)
    metrics = {
        "auc": auc(test["label"], scores),
        "gauc": gauc(test["label"], scores, test["user"]),
        "test_examples": len(scores),
        "backend": keras.config.backend(),
    }

    # The model (`keras.saving.load_model` reads it back), and a SavedModel that serves a user's stream.
    os.makedirs(output_dir, exist_ok=True)
    model.save(os.path.join(output_dir, "model.keras"))
    keras_rm.export.export_saved_model(model, os.path.join(output_dir, "saved_model"))
    return metrics


def main(argv):
    logging.set_verbosity(logging.WARNING)  # absl's INFO lines (JAX looking for a TPU) are noise here
    metrics = run(FLAGS.history_length, FLAGS.epochs, FLAGS.output_dir)
    print(
        f"\nHistories of {FLAGS.history_length} behaviours: test AUC {metrics['auc']:.4f}, GAUC {metrics['gauc']:.4f} "
        f"({metrics['test_examples']} examples); the memory keeps {8 * 32 * 4:,} bytes per user."
    )
    print(f"Wrote model.keras and saved_model/ to {FLAGS.output_dir}")


if __name__ == "__main__":
    import_tensorflow_quietly()  # TensorFlow's C++ notices at import, which ignore TF_CPP_MIN_LOG_LEVEL: silenced
    # The flags, defined here so that the module imports beside other absl programs.
    flags.DEFINE_integer("history_length", 500, "Behaviours per history (the most recent ones).")
    flags.DEFINE_integer("epochs", 20, "Epochs, each of fresh users (the first 2 on short histories).")
    flags.DEFINE_string("output_dir", "output/ctr", "Where the model and SavedModel go.")
    app.run(main)
