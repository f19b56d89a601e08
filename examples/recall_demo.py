"""Trains Rehearsal Memory on the built-in associative-recall task and shows what it learned.

    KERAS_BACKEND=jax python examples/recall_demo.py            # what `make demo` runs
    python examples/recall_demo.py --length=256 --num_pairs=12 --epochs=6

Each sequence holds `--num_pairs` (key, value) bindings among distractor
tokens; the query is a key and the answer its value. The model reads the
sequence once into `--num_slots` memory slots and answers from the memory
alone. The demo trains the plain memory (no rehearsal) and the rehearsal
memory on the same fresh examples and prints test accuracy overall and by
where the queried binding sat in the sequence (earliest quarter first),
then one example answered from a streamed memory.
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_integer("length", 128, "Tokens per sequence.")
flags.DEFINE_integer("num_pairs", 6, "(key, value) bindings per sequence.")
flags.DEFINE_integer("num_slots", 4, "Memory slots.")
flags.DEFINE_integer("segment_length", 16, "Tokens written per segment.")
flags.DEFINE_integer("hidden_dim", 32, "Width of items and slots.")
flags.DEFINE_integer("train_examples", 6000, "Fresh training examples per epoch.")
flags.DEFINE_integer("test_examples", 1000, "Test examples.")
flags.DEFINE_integer("epochs", 4, "Training epochs (new examples every epoch).")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_float("recollection_weight", 1.0, "Weight of the recollection loss of the rehearsal model.")
flags.DEFINE_float("familiarity_weight", 0.5, "Weight of the familiarity loss of the rehearsal model.")
flags.DEFINE_integer("seed", 0, "Seed of data and initialisation.")

TASK = dict(num_keys=16, num_values=8, num_distractors=32)


def accuracy_by_quarter(correct, depth):
    quarters = [correct[(depth >= q / 4) & (depth < (q + 1) / 4)] for q in range(4)]
    return [float(q.mean()) if len(q) else float("nan") for q in quarters]


def main(argv):
    import keras
    import numpy as np

    import keras_rm
    from pipelines.recall import make_recall_data, recall_vocabulary_size

    def data(n, seed):
        return make_recall_data(n, length=FLAGS.length, num_pairs=FLAGS.num_pairs, seed=seed, **TASK)

    x_test, y_test, depth = data(FLAGS.test_examples, seed=10_000 + FLAGS.seed)
    variants = {"plain memory": (0.0, 0.0), "rehearsal memory": (FLAGS.recollection_weight, FLAGS.familiarity_weight)}
    print(
        f"Associative recall on {keras.config.backend()}: {FLAGS.num_pairs} bindings in {FLAGS.length} tokens, "
        f"{FLAGS.num_slots} slots x {FLAGS.hidden_dim}, segments of {FLAGS.segment_length}; "
        f"{FLAGS.epochs} epochs x {FLAGS.train_examples} fresh examples; chance = {1 / TASK['num_values']:.0%}"
    )
    rows, models = [], {}
    for name, (recollection, familiarity) in variants.items():
        keras.utils.set_random_seed(FLAGS.seed)
        encoder = keras_rm.layers.TokenItemEncoder(recall_vocabulary_size(**TASK), FLAGS.hidden_dim)
        model = keras_rm.RehearsalMemoryModel(
            encoder,
            num_classes=TASK["num_values"],
            num_slots=FLAGS.num_slots,
            segment_length=FLAGS.segment_length,
            recollection_weight=recollection,
            familiarity_weight=familiarity,
            seed=FLAGS.seed,
        )
        model.compile()
        for epoch in range(FLAGS.epochs):
            x, y, _ = data(FLAGS.train_examples, seed=FLAGS.seed * 1000 + epoch)
            logs = model.fit(x, y, batch_size=FLAGS.batch_size, epochs=1, verbose=0).history
            terms = ", ".join(f"{k} {v[-1]:.3f}" for k, v in sorted(logs.items()))
            print(f"  {name}, epoch {epoch + 1}: {terms}")
        predictions = model.predict(x_test, batch_size=256, verbose=0).argmax(-1)
        correct = predictions == y_test
        rows.append([name, correct.mean()] + accuracy_by_quarter(correct, depth))
        models[name] = model

    print("\nTest accuracy by where the queried binding sat (quarters of the sequence, earliest first):")
    print(f"{'':18s}{'overall':>9s}{'1st':>8s}{'2nd':>8s}{'3rd':>8s}{'4th':>8s}")
    for row in rows:
        print(f"{row[0]:18s}" + "".join(f"{v:8.1%} " for v in row[1:]))

    model = models["rehearsal memory"]
    memory = model.initial_memory(1)
    for start in range(0, FLAGS.length, FLAGS.segment_length):
        memory = model.write(memory, x_test["items"][:1, start : start + FLAGS.segment_length])
    answer = int(np.argmax(keras.ops.convert_to_numpy(model.answer(memory, x_test["query"][:1]))))
    print(
        f"\nStreamed one test sequence segment by segment into a memory of shape {tuple(memory.shape)} "
        f"({int(np.prod(memory.shape)) * 4} bytes, whatever the length); asked for key {x_test['query'][0, 0]}: "
        f"answered value {answer}, truth {y_test[0]}."
    )


if __name__ == "__main__":
    app.run(main)
