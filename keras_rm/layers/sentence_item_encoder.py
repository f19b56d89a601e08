import keras
from keras import ops

from keras_rm.layers.item_encoder import ItemEncoder
from keras_rm.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_rm")
class SentenceItemEncoder(ItemEncoder):
    """Encodes sentences of word ids `(batch, length, words)` by a position-weighted bag of words.

    Each item is a sentence (a bAbI story line). A sentence vector is
    `sum_j w_j * E[word_j]` where `w_j` is a learned `(hidden_dim,)` weight
    for word position `j`, initialised to the position encoding of
    End-To-End Memory Networks (Sukhbaatar et al., 2015), so word order
    matters ("Mary went to the kitchen" differs from "the kitchen went to
    Mary"). Word id 0 is padding inside a sentence; a sentence whose words are
    all padding is a padded item (mask False).

    Args:
        vocabulary_size: int. Number of word ids, padding id 0 included.
        hidden_dim: int. Size of every encoded sentence.
        max_words: int. Words per sentence (the last input axis).

    Call arguments:
        items: int `(batch, length, max_words)`.
        item_mask: optional bool `(batch, length)`.

    Returns:
        `(encoded, mask)`: `(batch, length, hidden_dim)` and bool `(batch, length)`.

    Example:

    ```python
    encoder = keras_rm.layers.SentenceItemEncoder(50, hidden_dim=16, max_words=4)
    encoded, mask = encoder(np.array([[[3, 4, 5, 0], [0, 0, 0, 0]]]))
    ```

    Reference:
        Sukhbaatar et al., "End-To-End Memory Networks", NeurIPS 2015.
    """

    item_rank = 1
    integer_items = True

    def __init__(self, vocabulary_size, hidden_dim, max_words, **kwargs):
        super().__init__(hidden_dim=hidden_dim, **kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.max_words = check_positive_int("max_words", max_words)
        self.embedding = keras.layers.Embedding(vocabulary_size, hidden_dim, dtype=self.dtype_policy, name="embedding")

    def item_size(self):
        return "`max_words`", self.max_words

    def build_encoder(self, input_shape):
        self.embedding.build(input_shape)

        def position_encoding(shape, dtype=None):
            words, dim = shape
            j = ops.arange(1, words + 1, dtype="float32")[:, None] / words
            k = ops.arange(1, dim + 1, dtype="float32")[None, :] / dim
            return ops.cast((1.0 - j) - k * (1.0 - 2.0 * j), dtype)

        self.position_weights = self.add_weight(
            shape=(self.max_words, self.hidden_dim),
            initializer=position_encoding,
            name="position_weights",
        )

    def id_ranges(self, items, name="items"):
        return [(name, items, self.vocabulary_size)]

    def encode(self, items):
        self.check_ids(items)
        words = self.embedding(items)  # (B, N, W, d)
        word_mask = ops.cast(ops.not_equal(items, 0), words.dtype)[..., None]
        return ops.sum(words * word_mask * self.position_weights, axis=-2)

    def implicit_mask(self, items):
        return ops.any(ops.not_equal(items, 0), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary_size": self.vocabulary_size, "max_words": self.max_words})
        return config
