"""Trains Rehearsal Memory on the built-in associative-recall task and shows what it learned.

    KERAS_BACKEND=jax python -m examples.recall_demo            # what `make demo` runs
    python -m examples.recall_demo --length=128 --num_pairs=6 --num_slots=4 --epochs=12

Each sequence holds `--num_pairs` (key, value) bindings among distractor
pairs; each item is a pair of tokens (a two-word "sentence"); the query is a
key and the answer its value. The memory models read the sequence once into
`--num_slots` slots and answer from the memory alone. The demo trains the
plain memory (no rehearsal), the rehearsal memory (once per `--rehearsal`
setting: sampler and weights) and the full-attention upper bound (which keeps the
whole sequence) on the same fresh examples, and prints test accuracy overall and by where the queried binding sat in the
sequence (earliest quarter first), then one answer from a streamed memory.
"""

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("length", 64, "Tokens per sequence (two tokens per item).")
flags.DEFINE_integer("num_pairs", 3, "(key, value) bindings per sequence.")
flags.DEFINE_integer("num_slots", 8, "Memory slots.")
flags.DEFINE_integer("segment_length", 8, "Items written per segment.")
flags.DEFINE_integer("hidden_dim", 32, "Width of items and slots.")
flags.DEFINE_integer("train_examples", 4000, "Fresh training examples per epoch.")
flags.DEFINE_integer("test_examples", 1000, "Test examples.")
flags.DEFINE_integer("epochs", 8, "Training epochs (new examples every epoch).")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_list(
    "rehearsal",
    ["uniform:1.0:0.5", "teacher:1.0:0.5"],
    "Rehearsal models to train, one per 'sampler:recollection_weight:familiarity_weight' "
    "(sampler uniform or teacher; 1.0:0.5 are the library's default weights).",
)
flags.DEFINE_integer("seed", 0, "Seed of data and initialisation.")

TASK = dict(num_keys=16, num_values=8, num_distractors=32)


def main(argv):
    import keras
    import numpy as np

    import keras_rm
    from keras_rm.pipelines.metrics import accuracy_by_depth
    from keras_rm.pipelines.recall import make_recall_data, recall_vocabulary_size

    def data(n, seed):
        return make_recall_data(n, length=FLAGS.length, num_pairs=FLAGS.num_pairs, as_pairs=True, seed=seed, **TASK)

    def encoder():
        return keras_rm.layers.SentenceItemEncoder(recall_vocabulary_size(**TASK), FLAGS.hidden_dim, max_words=2)

    x_test, y_test, depth = data(FLAGS.test_examples, seed=10_000 + FLAGS.seed)
    items = FLAGS.length // 2
    print(
        f"Associative recall on {keras.config.backend()}: {FLAGS.num_pairs} bindings among {items} items, "
        f"{FLAGS.num_slots} slots x {FLAGS.hidden_dim}, segments of {FLAGS.segment_length} items; "
        f"{FLAGS.epochs} epochs x {FLAGS.train_examples} fresh examples; chance = {1 / TASK['num_values']:.0%}"
    )

    def memory_model(sampler="uniform", recollection=0.0, familiarity=0.0):
        return keras_rm.RehearsalMemoryModel(
            encoder(),
            num_classes=TASK["num_values"],
            memory=dict(num_slots=FLAGS.num_slots, segment_length=FLAGS.segment_length),
            rehearsal=dict(recollection_weight=recollection, familiarity_weight=familiarity, sampler=sampler),
            seed=FLAGS.seed,
        )

    variants = {"plain memory": memory_model}
    for spec in FLAGS.rehearsal:
        sampler, recollection, familiarity = spec.split(":")
        variants[f"rehearsal {spec}"] = lambda s=sampler, r=float(recollection), f=float(familiarity): memory_model(
            s, r, f
        )
    variants["full attention"] = lambda: keras_rm.FullAttentionModel(encoder(), num_classes=TASK["num_values"])
    rows, models = [], {}
    for name, make_model in variants.items():
        keras.utils.set_random_seed(FLAGS.seed)
        model = make_model()
        model.compile()
        for epoch in range(FLAGS.epochs):
            x, y, _ = data(FLAGS.train_examples, seed=FLAGS.seed * 1000 + epoch)
            logs = model.fit(x, y, batch_size=FLAGS.batch_size, epochs=1, verbose=0).history
            terms = ", ".join(f"{k} {v[-1]:.3f}" for k, v in sorted(logs.items()))
            print(f"  {name}, epoch {epoch + 1}: {terms}")
        predictions = model.predict(x_test, batch_size=256, verbose=0).argmax(-1)
        correct = predictions == y_test
        rows.append([name, correct.mean()] + accuracy_by_depth(correct, depth))
        models[name] = model

    print("\nTest accuracy by where the queried binding sat (quarters of the sequence, earliest first):")
    print(f"{'':28s}{'overall':>8s}{'1st':>9s}{'2nd':>9s}{'3rd':>9s}{'4th':>9s}")
    for row in rows:
        print(f"{row[0]:28s}" + "".join("     n/a " if v is None else f"{v:8.1%} " for v in row[1:]))

    model = models["plain memory"]
    memory = model.initial_memory(1)
    for start in range(0, items, FLAGS.segment_length):
        memory = model.write(memory, x_test["items"][:1, start : start + FLAGS.segment_length])
    answer = int(np.argmax(keras.ops.convert_to_numpy(model.answer(memory, x_test["query"][:1]))))
    print(
        f"\nStreamed one test sequence segment by segment into a memory of shape {tuple(memory.shape)} "
        f"({int(np.prod(memory.shape)) * 4} bytes, whatever the length); asked for key {x_test['query'][0, 0]}: "
        f"answered value {answer}, truth {y_test[0]}."
    )


if __name__ == "__main__":
    app.run(main)
