"""Long bAbI: answer a question about a story hidden among distractor sentences, from a memory of 8 slots.

    python -m examples.babi_long --task=1 --length=100 --epochs=6 --output_dir=output/demo
    python -m examples.babi_long --task=2 --length=200 --data_dir=~/bAbI/tasks_1-20_v1-2/en-10k

One job end to end. The stories come from the built-in generator (tasks 1, 2,
3, 6 and 7; fresh ones every epoch) or, with `--data_dir`, from the official
files of any of the 20 tasks (`keras_rm.pipelines.babi.download_babi()`
fetches them). Each story is lengthened to `--length` sentences with
distractors. The memory model writes a story 16 sentences at a time into 8
slots and answers the question from the memory alone. It is trained with the
recipe that makes the memory learn (docs/learning.md): a learning rate warmed
up over 500 steps, and the first 2 epochs on short stories. It is then tested by
the quarter of the story that holds the supporting facts. Writes `model.keras`,
`metrics.json` and a SavedModel, `saved_model/`, to `--output_dir`.
`examples/serve_stream.py` streams new stories through that SavedModel in plain
TensorFlow.

`python -m experiments.babi_long` is the same job with every setting as a flag
(rehearsal, samplers, full attention, several tasks, resuming after a crash),
as the benchmarks run it.
"""

import json
import os

import keras
import numpy as np
from absl import app, flags, logging

import keras_rm
from keras_rm.pipelines import babi
from keras_rm.pipelines.data import import_tensorflow_quietly
from keras_rm.pipelines.metrics import accuracy_report, depth_table, predict_classes

FLAGS = flags.FLAGS

TRAIN_STORIES, TEST_STORIES, BATCH_SIZE = 8000, 500, 32  # built-in stories: fresh training ones every epoch
# A length curriculum: with the facts close together the memory finds out sooner what to keep.
SHORT_EPOCHS, SHORT_LENGTH = 2, 32


def run(task=1, length=100, epochs=6, output_dir="output/babi_long", data_dir=None):
    """Trains, tests and saves the model; returns the metrics it writes to `output_dir/metrics.json`."""
    keras.utils.set_random_seed(0)

    # The data: `BabiExample`s (a story, its question and answer), the story lengthened with distractor sentences.
    if data_dir:
        official = {split: babi.read_babi_task(data_dir, task, split) for split in ("train", "test")}

    def stories(split, length, seed):
        """The task's stories lengthened to `length` sentences, the distractors (and built-in stories) new for
        every `seed`."""
        if data_dir:
            source = official[split]
        else:
            source = babi.generate_babi(task, TRAIN_STORIES if split == "train" else TEST_STORIES, seed=seed)
        rng = np.random.default_rng(seed)
        return [babi.lengthen(example, length, rng=rng) for example in source]

    # The short epochs' stories hold every official story (up to 90 sentences in task 3).
    longest = max(len(e.story) for split in official.values() for e in split) if data_dir else 0
    short_length = min(length, max(SHORT_LENGTH, longest))
    test = stories("test", length, seed=10_000)
    first = stories("train", short_length, seed=0)

    # Words become ids inside the model (its `text_vectorizer`): its SavedModel then takes raw text.
    vectorizer = babi.BabiVectorizer()
    vectorizer.adapt(first + test)

    def dataset(examples, length):
        """`(inputs, answer)` batches: `inputs` holds `items`, the story's sentences as word ids, and `query`."""
        return vectorizer.dataset(examples, BATCH_SIZE, length).map(lambda x, y, depth: (x, y))

    # The model: the plain memory (no rehearsal: on long bAbI it has not yet beaten the plain memory).
    model = keras_rm.RehearsalMemoryModel(
        keras_rm.layers.SentenceItemEncoder(vectorizer.vocabulary_size, hidden_dim=64, max_words=vectorizer.max_words),
        num_classes=len(vectorizer.answers),
        memory={"num_slots": 8, "segment_length": 16},
        rehearsal=None,
        text_vectorizer=vectorizer.layer,
    )
    # Without the warm-up of the learning rate some seeds sat at chance for epochs.
    schedule = keras_rm.schedules.learning_rate_schedule(1e-3, warmup_steps=500)
    model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0))
    # Built for the full length, what the SavedModel's `serve` takes, whatever the short epochs hold.
    model.build({"items": (None, length, vectorizer.max_words), "query": (None, vectorizer.max_words)})

    # Training: one `fit` per epoch, each on stories of its own (drawn in random order: no shuffling needed).
    for epoch in range(epochs):
        epoch_length = short_length if epoch < SHORT_EPOCHS else length
        train = first if epoch == 0 else stories("train", epoch_length, seed=epoch)
        logs = model.fit(dataset(train, epoch_length), shuffle=False, verbose=0).history
        print(
            f"Epoch {epoch + 1}/{epochs}, {epoch_length} sentences: loss {logs['loss'][0]:.4f}, accuracy "
            f"{logs['accuracy'][0]:.4f}"
        )

    # Test accuracy, overall and by the quarter of the story holding the last supporting fact.
    test_data = vectorizer.dataset(test, 20, length)  # 20 divides the 500 test stories: the pipelines drop none
    predictions, labels, depths = predict_classes(model, test_data)
    metrics = {**accuracy_report(predictions == labels, depths), "backend": keras.config.backend()}

    # The model (`keras.saving.load_model` reads it back), and a SavedModel that needs no Keras (serve_stream.py).
    os.makedirs(output_dir, exist_ok=True)
    model.save(os.path.join(output_dir, "model.keras"))
    keras_rm.export.export_saved_model(model, os.path.join(output_dir, "saved_model"))
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    return metrics


def main(argv):
    logging.set_verbosity(logging.WARNING)  # absl's INFO lines (JAX looking for a TPU) are noise here
    metrics = run(FLAGS.task, FLAGS.length, FLAGS.epochs, FLAGS.output_dir, FLAGS.data_dir)
    print(f"\nTest accuracy, bAbI task {FLAGS.task}, {FLAGS.length} sentences, by the quarter of the story holding")
    print(f"the supporting facts:\n{depth_table(metrics)}")
    print(f"\nWrote model.keras, metrics.json and saved_model/ to {FLAGS.output_dir}")


if __name__ == "__main__":
    import_tensorflow_quietly()  # TensorFlow's C++ notices at import, which ignore TF_CPP_MIN_LOG_LEVEL: silenced
    # The flags, defined here so that the module imports beside other absl programs.
    flags.DEFINE_integer("task", 1, "bAbI task: 1, 2, 3, 6 or 7 of the built-in generator; 1-20 with --data_dir.")
    flags.DEFINE_integer("length", 100, "Sentences per story, distractors included.")
    flags.DEFINE_integer("epochs", 6, "Epochs, each of fresh stories (the first 2 short ones).")
    flags.DEFINE_string("data_dir", None, "Folder of the official qa*_train.txt / qa*_test.txt files.")
    flags.DEFINE_string("output_dir", "output/babi_long", "Where the model, metrics and SavedModel go.")
    app.run(main)
