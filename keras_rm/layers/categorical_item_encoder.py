import keras
from keras import ops

from keras_rm.layers.item_encoder import ItemEncoder
from keras_rm.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_rm")
class CategoricalItemEncoder(ItemEncoder):
    """Embeds behaviour ids with optional side-feature ids (category, shop, ...).

    An item is an id, or an id followed by one id per side feature. Its vector
    is the sum of the id embedding and the side-feature embeddings. Item id 0
    is padding.

    Args:
        vocabulary_size: int. Number of item ids, padding id 0 included.
        hidden_dim: int. Size of every encoded item.
        side_vocabulary_sizes: list of int. Vocabulary size of each side
            feature; empty for plain ids. Defaults to `()`.

    Call arguments:
        items: int `(batch, length)` without side features, or
            `(batch, length, 1 + len(side_vocabulary_sizes))` with them
            (column 0 is the item id).
        item_mask: optional bool `(batch, length)`.

    Returns:
        `(encoded, mask)`: `(batch, length, hidden_dim)` and bool `(batch, length)`.

    Example:

    ```python
    encoder = keras_rm.layers.CategoricalItemEncoder(1000, 16, side_vocabulary_sizes=[20])
    items = np.array([[[17, 3], [512, 7], [0, 0]]])  # (item id, category id)
    encoded, mask = encoder(items)
    ```
    """

    def __init__(self, vocabulary_size, hidden_dim, side_vocabulary_sizes=(), **kwargs):
        super().__init__(hidden_dim=hidden_dim, **kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.side_vocabulary_sizes = [
            check_positive_int("side_vocabulary_sizes", size) for size in side_vocabulary_sizes
        ]
        self.item_rank = 1 if self.side_vocabulary_sizes else 0
        self.embedding = keras.layers.Embedding(vocabulary_size, hidden_dim, dtype=self.dtype_policy, name="embedding")
        self.side_embeddings = [
            keras.layers.Embedding(size, hidden_dim, dtype=self.dtype_policy, name=f"side_embedding_{i}")
            for i, size in enumerate(self.side_vocabulary_sizes)
        ]

    def item_size(self):
        if self.side_vocabulary_sizes:
            return "1 (the item id) + one id per side feature", 1 + len(self.side_vocabulary_sizes)
        return None

    def build_encoder(self, input_shape):
        ids_shape = tuple(input_shape[:2])
        self.embedding.build(ids_shape)
        for embedding in self.side_embeddings:
            embedding.build(ids_shape)

    items_are_ids = True
    integer_items = True

    @property
    def embeddings(self):
        return self.embedding.embeddings

    def item_ids(self, items):
        return items[..., 0] if self.side_vocabulary_sizes else items

    def id_ranges(self, items, name="items"):
        ranges = [(name, self.item_ids(items), self.vocabulary_size)]
        for i, size in enumerate(self.side_vocabulary_sizes):
            ranges.append((f"{name}[..., {i + 1}] (side feature {i})", items[..., i + 1], size))
        return ranges

    def encode(self, items):
        self.check_ids(items)
        encoded = self.embedding(self.item_ids(items))
        for i, embedding in enumerate(self.side_embeddings):
            encoded = encoded + embedding(items[..., i + 1])
        return encoded

    def implicit_mask(self, items):
        return ops.not_equal(self.item_ids(items), 0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "side_vocabulary_sizes": list(self.side_vocabulary_sizes),
            }
        )
        return config
