"""`VideoQAVectorizer`: question words, the top-N answer classes and the `tf.data` pipeline of video QA."""

import collections

import numpy as np

from keras_rm.pipelines.data import batches_from_rows
from keras_rm.pipelines.text import Vocabularies, tokenize
from keras_rm.pipelines.video.reader import fit_frames, load_frames

UNKNOWN_ANSWER = "<unk>"


class VideoQAVectorizer(Vocabularies):
    """Question words and answer classes (Keras `StringLookup`s) and the `tf.data` pipeline of video QA.

    Word id 0 is padding, 1 out-of-vocabulary. Answer class 0 is
    `"<unk>"`: every answer outside the `num_answers` most frequent training
    answers maps to it, and a prediction of class 0 never counts as right
    (`VideoQAVectorizer.correct`).

    Args:
        max_words: int. Words kept per question. Defaults to 12.
        num_answers: int. Answers kept (the most frequent in `adapt`'s
            examples, ties by name). Defaults to 1000.

    Example:

    ```python
    train = generate_videos(256, 512)
    vectorizer = VideoQAVectorizer()
    vectorizer.adapt(train)
    data = vectorizer.dataset(train, batch_size=32, num_frames=512)
    # ({"items": (32, 512, 64) float32, "item_mask": (32, 512) bool, "query": (32, 12) int32}, answer, depth)
    ```
    """

    def __init__(self, max_words=12, num_answers=1000):
        super().__init__(max_words)
        self.num_answers = num_answers

    def adapt(self, examples):
        """Builds the vocabularies from training `examples`: every question word, the top answers."""
        words = sorted({word for e in examples for word in tokenize(e.question)})
        counts = collections.Counter(e.answer for e in examples)
        answers = sorted(counts, key=lambda a: (-counts[a], a))[: self.num_answers]
        self.set_vocabulary(words, [UNKNOWN_ANSWER] + sorted(answers))

    def set_vocabulary(self, words, answers):
        super().set_vocabulary(words, answers)
        self.answer_index = {answer: i for i, answer in enumerate(self.answers)}

    def get_config(self):
        return {**super().get_config(), "num_answers": self.num_answers}

    @property
    def num_classes(self):
        """Answer classes, `"<unk>"` included."""
        return len(self.answers)

    def answer_id(self, answer):
        """The class of `answer` (0 when it is not among the kept answers)."""
        return self.answer_index.get(answer, 0)

    @staticmethod
    def correct(predictions, labels):
        """Whether each predicted class is right: equal to the label, and the label is a known answer."""
        predictions, labels = np.asarray(predictions), np.asarray(labels)
        return (predictions == labels) & (labels != 0)

    def dataset(self, examples, batch_size, num_frames, shuffle=False, seed=0):
        """A `tf.data.Dataset` of `({"items", "item_mask", "query"}, answer, depth)` batches with static shapes.

        Args:
            examples: `VideoQA`s; `frames` given as paths are read here.
            batch_size: int. The last partial batch is dropped (static shapes).
            num_frames: int. Frames per video (`fit_frames`: subsampled or
                padded; padded frames are False in `item_mask`).
            shuffle: bool. Shuffle the examples every epoch.
            seed: int. Shuffle seed.

        `items` are float32 `(batch, num_frames, feature_dim)`, `query`
        int32 `(batch, max_words)` word ids, the answer an int32 class, and
        `depth` float32 (-1 when unknown).
        """
        import tensorflow as tf

        if self.words is None:
            raise ValueError("Call `adapt(examples)` or `load(path)` before `dataset()`.")
        if not examples:
            raise ValueError("`examples` is empty.")
        first = examples[0].frames
        feature_dim = (load_frames(first) if isinstance(first, str) else np.asarray(first)).shape[1]

        def rows():
            for e in examples:
                frames = load_frames(e.frames, feature_dim) if isinstance(e.frames, str) else e.frames
                if np.shape(frames)[1:] != (feature_dim,):
                    raise ValueError(
                        f"Video {e.video_name!r}: expected {feature_dim} features per frame. "
                        f"Received: shape {np.shape(frames)}"
                    )
                frames, mask = fit_frames(frames, num_frames)
                yield frames, mask, e.question, self.answer_id(e.answer), -1.0 if e.depth is None else e.depth

        signature = (
            tf.TensorSpec((num_frames, feature_dim), tf.float32),
            tf.TensorSpec((num_frames,), tf.bool),
            tf.TensorSpec((), tf.string),
            tf.TensorSpec((), tf.int32),
            tf.TensorSpec((), tf.float32),
        )

        def vectorize(frames, mask, question, answer, depth):
            inputs = {"items": frames, "item_mask": mask, "query": self.layer(question)}
            return inputs, answer, depth

        return batches_from_rows(
            rows,
            signature,
            len(examples),
            batch_size,
            vectorize,
            shuffle,
            seed,
            shuffle_buffer=min(len(examples), 4096),
        )
