import keras
from keras import ops

from keras_rm.layers.item_encoder import ItemEncoder
from keras_rm.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_rm")
class TokenItemEncoder(ItemEncoder):
    """Embeds token ids `(batch, length)`; id 0 is padding.

    Each item is one token (a word of a long text, a user's clicked item).
    The padding mask is `ids != 0`, combined with an explicit `item_mask`.

    Args:
        vocabulary_size: int. Number of ids, padding id 0 included.
        hidden_dim: int. Size of every encoded item.
        embeddings_initializer: initializer of the id table. Defaults to
            `"uniform"` (Keras' `Embedding` default).

    Call arguments:
        items: int `(batch, length)`.
        item_mask: optional bool `(batch, length)`.

    Returns:
        `(encoded, mask)`: `(batch, length, hidden_dim)` and bool `(batch, length)`.

    Example:

    ```python
    encoder = keras_rm.layers.TokenItemEncoder(vocabulary_size=100, hidden_dim=16)
    encoded, mask = encoder(np.array([[5, 7, 0]]))  # (1, 3, 16), [[True, True, False]]
    ```
    """

    item_rank = 0

    def __init__(self, vocabulary_size, hidden_dim, embeddings_initializer="uniform", **kwargs):
        super().__init__(hidden_dim=hidden_dim, **kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embedding = keras.layers.Embedding(
            vocabulary_size,
            hidden_dim,
            embeddings_initializer=self.embeddings_initializer,
            dtype=self.dtype_policy,
            name="embedding",
        )

    def build_encoder(self, input_shape):
        self.embedding.build(input_shape)

    items_are_ids = True
    integer_items = True

    @property
    def embeddings(self):
        return self.embedding.embeddings

    def item_ids(self, items):
        return items

    def id_ranges(self, items, name="items"):
        return [(name, items, self.vocabulary_size)]

    def encode(self, items):
        self.check_ids(items)
        return self.embedding(items)

    def implicit_mask(self, items):
        return ops.not_equal(items, 0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            }
        )
        return config
