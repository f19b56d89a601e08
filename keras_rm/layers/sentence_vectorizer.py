import keras

from keras_rm.validation import check_positive_int


def to_backend(ids):
    """A TF tensor of ids as a backend tensor, unless inside a TF graph (tf.data, a SavedModel), where it stays TF."""
    import tensorflow as tf

    return keras.ops.convert_to_tensor(ids.numpy()) if tf.executing_eagerly() else ids


@keras.saving.register_keras_serializable(package="keras_rm")
class SentenceVectorizer(keras.layers.Layer):
    """Raw sentences to the word ids of a `SentenceItemEncoder`, and answer words to classes and back.

    A preprocessing layer built on `keras.layers.StringLookup`: a sentence
    is lower-cased, cut into words (runs of `a-z` and `0-9`), and each word
    becomes its id: 0 pads a sentence to `max_words` (and marks an empty
    sentence: a padded item), 1 is an unknown word, the vocabulary's words
    follow from 2. Answers are
    classes `0 .. len(answers) - 1`. The vocabularies are saved with the
    model that holds the layer (Keras' assets of the lookup layers), so a
    `.keras` file or SavedModel takes raw text.

    Like every Keras preprocessing layer it runs TensorFlow string operations
    (in `tf.data` on every backend), and it is not differentiable.

    Args:
        max_words: int. Words kept per sentence (longer sentences are cut).
        vocabulary: list of str. The words (ids from 2). Optional when the
            layer is loaded with a model (the vocabulary comes with it).
        answers: list of str. The answer words (classes from 0).

    Call arguments:
        sentences: string tensor of any shape `S`.

    Returns:
        int32 `S + (max_words,)`.

    Example:

    ```python
    vectorizer = keras_rm.layers.SentenceVectorizer(max_words=4, vocabulary=["mary", "went", "to", "kitchen"],
                                                    answers=["kitchen", "garden"])
    vectorizer(np.array([["Mary went to the kitchen.", ""]]))  # [[[2, 3, 4, 1], [0, 0, 0, 0]]]
    vectorizer.answer_classes(np.array(["garden"]))             # [1]
    ```
    """

    def __init__(self, max_words=8, vocabulary=None, answers=None, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        # Strings stay strings: as in Keras' own TextVectorization, inputs are not converted to backend tensors.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.max_words = check_positive_int("max_words", max_words)
        self.words = keras.layers.StringLookup(mask_token="", name="words")
        self.answers = keras.layers.StringLookup(num_oov_indices=0, name="answers")
        self.answer_words = keras.layers.StringLookup(num_oov_indices=0, invert=True, name="answer_words")
        # Vocabularies set after construction are saved as the lookups' assets (given to their constructor,
        # Keras would keep them in the config instead).
        if vocabulary is not None:
            self.words.set_vocabulary(list(vocabulary))
        if answers is not None:
            self.answers.set_vocabulary(list(answers))
            self.answer_words.set_vocabulary(list(answers))
        for lookup in (self.words, self.answers, self.answer_words):
            lookup.build((None,))
            # A model never runs its text vectorizer inside its own (compiled) step: the layer only travels with
            # it. Keras compiles a model with XLA only if every layer in it supports that, and lookups say no.
            lookup.supports_jit = True
        self.built = True

    @property
    def vocabulary_size(self):
        """Word ids, padding and unknown word included."""
        return self.words.vocabulary_size()  # the padding id counts as the mask token

    def call(self, sentences):
        import tensorflow as tf

        sentences = tf.convert_to_tensor(sentences, tf.string)
        shape = tf.shape(sentences)
        text = tf.strings.regex_replace(tf.strings.lower(tf.reshape(sentences, (-1,))), "[^a-z0-9]+", " ")
        words = tf.strings.split(text)[:, : self.max_words].to_tensor("", shape=(None, self.max_words))
        ids = self.words(words)
        ids = tf.reshape(tf.cast(ids, tf.int32), tf.concat([shape, [self.max_words]], axis=0))
        return to_backend(tf.ensure_shape(ids, sentences.shape.concatenate([self.max_words])))

    def answer_classes(self, answers):
        """Classes (int32, the shape of `answers`) of answer words."""
        import tensorflow as tf

        return to_backend(tf.cast(self.answers(tf.convert_to_tensor(answers, tf.string)), tf.int32))

    def answer_of(self, classes):
        """Answer words (string, the shape of `classes`) of classes."""
        import tensorflow as tf

        if tf.executing_eagerly():
            classes = keras.ops.convert_to_numpy(classes)
        words = self.answer_words.lookup_table.lookup(tf.cast(classes, tf.int64))  # strings: no backend tensor
        return words.numpy() if tf.executing_eagerly() else words

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.max_words,)

    def get_config(self):
        config = super().get_config()
        config.update({"max_words": self.max_words})
        return config
