"""Question answering over a long video of dense frame features, from a memory of 8 slots.

    python -m examples.video_qa --num_frames=512 --epochs=10 --output_dir=output/video_qa

One job end to end. The videos come from the built-in generator: long runs of
events, each frame a noisy prototype of its event, and fresh videos every epoch.
The questions ask which event came first, what happened just before a rare
event, and how many times a rare event happened. The memory model writes the
frames 32 at a time into 8 slots and answers the question (words) from the
memory alone. Teacher rehearsal trains beside it, ramped in over 500 steps: it
recollects masked frames, each against 30 other frames of the same video. The
first 3 epochs hold videos of 192 frames, more videos each (docs/learning.md).
The job ends with test accuracy by the quarter of the video that holds what the
answer needs, and by question type. It writes `model.keras`, a SavedModel,
`saved_model/`, and `vocabulary.json` (the question words and answer classes)
to `--output_dir`.

`python -m experiments.video_qa` is the same job with every setting a flag:
ActivityNet-QA features and questions, full attention, going on from an
earlier run, and resuming after a crash.
"""

import os

import keras
import numpy as np
from absl import app, flags, logging

import keras_rm
from keras_rm.pipelines.data import import_tensorflow_quietly
from keras_rm.pipelines.metrics import accuracy_report, depth_table, predict_classes
from keras_rm.pipelines.video import VideoQAVectorizer, generate_videos

FLAGS = flags.FLAGS

TRAIN_VIDEOS, TEST_VIDEOS, BATCH_SIZE, FEATURES = 2000, 500, 32, 64
SHORT_EPOCHS, SHORT_LENGTH = 3, 192  # the shortest video the generator makes; as many frames an epoch


def run(num_frames=512, epochs=10, output_dir="output/video_qa"):
    """Trains, tests and saves the model; returns its test metrics."""
    keras.utils.set_random_seed(0)

    # The data: `VideoQA`s (frames `(num_frames, 64)`, a question, its answer, the depth of what the answer needs).
    test = generate_videos(TEST_VIDEOS, num_frames, FEATURES, seed=10_000)
    first = generate_videos(TRAIN_VIDEOS, num_frames, FEATURES, seed=0)
    vectorizer = VideoQAVectorizer(max_words=12)  # question words and answer classes
    vectorizer.adapt(first + test)  # the built-in answers are a closed set: all of it

    # The model: frames in (`DenseItemEncoder`), the question's words read the memory (`TokenItemEncoder`).
    model = keras_rm.RehearsalMemoryModel(
        keras_rm.layers.DenseItemEncoder(64, FEATURES, name="frame_encoder"),
        num_classes=vectorizer.num_classes,
        query_encoder=keras_rm.layers.TokenItemEncoder(vectorizer.vocabulary_size, 64, name="question_encoder"),
        memory={"num_slots": 8, "segment_length": 32},
        rehearsal={"sampler": "teacher", "rehearsal_warmup": 500, "num_negatives": 30},
        seed=0,
    )
    # Here the short videos first made the memory learn; a learning-rate warm-up was not needed (docs/learning.md).
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0))
    # Built for the full length, what the SavedModel's `serve` takes, whatever the short epochs hold.
    model.build({"items": (None, num_frames, FEATURES), "item_mask": (None, num_frames), "query": (None, 12)})

    # Training: one `fit` per epoch, each on videos of its own (drawn in random order: no shuffling needed).
    for epoch in range(epochs):
        length = min(SHORT_LENGTH, num_frames) if epoch < SHORT_EPOCHS else num_frames
        train = (
            first
            if epoch == 0 and length == num_frames
            else generate_videos(TRAIN_VIDEOS * num_frames // length, length, FEATURES, seed=epoch)
        )
        data = vectorizer.dataset(train, BATCH_SIZE, length).map(lambda x, y, depth: (x, y))
        logs = model.fit(data, shuffle=False, verbose=0).history
        print(
            f"Epoch {epoch + 1}/{epochs}, {length} frames: loss {logs['loss'][0]:.4f}, accuracy "
            f"{logs['accuracy'][0]:.4f}"
        )

    # Test accuracy, overall, by the quarter of the video holding what the answer needs, and by question type.
    test_data = vectorizer.dataset(test, 20, num_frames)  # 20 divides the 500 test videos: the pipelines drop none
    predictions, labels, depths = predict_classes(model, test_data)
    correct = vectorizer.correct(predictions, labels)
    kinds = np.asarray([video.kind for video in test])
    metrics = {
        **accuracy_report(correct, depths),
        "accuracy_by_kind": {str(kind): float(correct[kinds == kind].mean()) for kind in sorted(set(kinds))},
        "backend": keras.config.backend(),
    }

    # The model and its vocabularies (`VideoQAVectorizer.load`), and a SavedModel that needs no Keras.
    os.makedirs(output_dir, exist_ok=True)
    model.save(os.path.join(output_dir, "model.keras"))
    keras_rm.export.export_saved_model(model, os.path.join(output_dir, "saved_model"))
    vectorizer.save(os.path.join(output_dir, "vocabulary.json"))
    return metrics


def main(argv):
    logging.set_verbosity(logging.WARNING)  # absl's INFO lines (JAX looking for a TPU) are noise here
    metrics = run(FLAGS.num_frames, FLAGS.epochs, FLAGS.output_dir)
    print(f"\nTest accuracy, video QA, {FLAGS.num_frames} frames, by the quarter of the video holding what the")
    print(f"answer needs:\n{depth_table(metrics)}")
    print("By question type: " + ", ".join(f"{k} {v:.1%}" for k, v in metrics["accuracy_by_kind"].items()))
    print(f"\nWrote model.keras, saved_model/ and vocabulary.json to {FLAGS.output_dir}")


if __name__ == "__main__":
    import_tensorflow_quietly()  # TensorFlow's C++ notices at import, which ignore TF_CPP_MIN_LOG_LEVEL: silenced
    # The flags, defined here so that the module imports beside other absl programs.
    flags.DEFINE_integer("num_frames", 512, "Frames per video.")
    flags.DEFINE_integer("epochs", 10, "Epochs, each of fresh videos (the first 3 short ones).")
    flags.DEFINE_string("output_dir", "output/video_qa", "Where the model, SavedModel and vocabulary go.")
    app.run(main)
