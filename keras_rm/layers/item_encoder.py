"""Base class of the item encoders: raw items -> `(batch, length, hidden_dim)`."""

import warnings

import keras
from keras import ops

from keras_rm.legacy import upgrade_config
from keras_rm.validation import check_ids_in_range, check_positive_int


def masked_mean(values, mask):
    """Mean of `values` `(B, N, d)` over the positions where `mask` `(B, N)` is True.

    Rows with no valid position give zeros (never NaN).
    """
    weights = ops.cast(mask, values.dtype)[..., None]
    total = ops.sum(values * weights, axis=1)
    count = ops.maximum(ops.sum(weights, axis=1), 1.0)
    return total / count


class ItemEncoder(keras.layers.Layer):
    """Turns raw items of a long sequence into `hidden_dim`-vectors and a mask.

    Subclasses implement `build_encoder(input_shape)`, `encode(items)` and
    `implicit_mask(items)`; this base class layer-normalises the encoded
    items (so every kind of item enters the memory at the same scale),
    combines the implicit padding mask (e.g. id 0) with an explicit
    `item_mask`, and encodes queries with the same weights.

    Args:
        hidden_dim: int. Size of every encoded item.
        item_rank: int. Rank of one raw item: 0 for an id, 1 for a vector of
            word ids or features.
        norm_epsilon: float. Epsilon of the layer normalisation. Small (1e-6)
            because raw encodings are small: a bag of word embeddings
            initialised at scale 0.05 has a standard deviation near 0.04, and
            an epsilon of 1e-3 would shrink every encoded item to about 0.76.

    Call arguments:
        items: raw items, `(batch, length)` + the shape of one item.
        item_mask: optional bool `(batch, length)`, True for real items.
            Combined (logical and) with the encoder's own padding rule.

    Returns:
        `(encoded, mask)`: float `(batch, length, hidden_dim)` and bool
        `(batch, length)`.
    """

    item_rank = 0
    # True when each item is one id of the encoder's embedding table (`embeddings`, `item_ids`): what a softmax
    # recollection predicts. (Sentences are integer items, word ids, but not one id each.)
    items_are_ids = False
    integer_items = False  # True when raw items are integers (ids of items, words or side features).

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "has_ids" in vars(cls):  # the name before 0.7
            warnings.warn(
                f"`{cls.__name__}.has_ids` is renamed `items_are_ids`; the old name goes in version 0.8.",
                DeprecationWarning,
                stacklevel=2,
            )
            cls.items_are_ids = cls.has_ids

    def __init__(self, hidden_dim, norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        if not isinstance(norm_epsilon, (int, float)) or not norm_epsilon > 0:
            raise ValueError(f"`norm_epsilon` must be a positive float. Received: norm_epsilon={norm_epsilon!r}")
        self.norm_epsilon = float(norm_epsilon)
        self.norm = keras.layers.LayerNormalization(epsilon=self.norm_epsilon, dtype=self.dtype_policy, name="norm")

    def build(self, input_shape):
        self.check_items("items", input_shape)
        self.build_encoder(input_shape)
        self.norm.build(tuple(input_shape[:2]) + (self.hidden_dim,))

    # Hooks for subclasses.
    def build_encoder(self, input_shape):
        """Creates the subclass's weights for raw items of shape `input_shape`."""
        raise NotImplementedError

    def encode(self, items):
        raise NotImplementedError

    def implicit_mask(self, items):
        """Bool `(batch, length)`: which items are real according to their values."""
        raise NotImplementedError

    def id_ranges(self, items, name="items"):
        """`(label, ids, vocabulary_size)` of every id table `items` index, e.g. `[("items", items, 50)]`:
        what `check_ids` checks, and what an exported SavedModel asserts. Empty for items that are not ids."""
        return []

    def check_ids(self, items, name="items"):
        """Raises a `ValueError` naming `name`, the vocabulary size and the id when integer `items` (numpy or
        eager) hold an id outside the vocabulary. Symbolic values cannot be read, so a traced step checks
        nothing: `TaskModel` checks its inputs on the host first (`TaskModel.check_data`)."""
        for label, ids, vocabulary_size in self.id_ranges(items, name):
            check_ids_in_range(label, ids, vocabulary_size)

    # Optional hooks used by the full-softmax recollection of id items.
    @property
    def embeddings(self):
        """The `(vocabulary_size, hidden_dim)` id table, or None for non-id items."""
        return None

    def item_ids(self, items):
        """Integer ids `(batch, length)` of the items (id encoders only)."""
        raise NotImplementedError(f"{self.__class__.__name__} has no item ids.")

    def item_size(self):
        """`(what, size)` of the last axis of one item, e.g. `("`max_words`", 8)`; None for single ids."""
        return None

    def check_items(self, name, shape):
        """Raises a clear error when items of this `shape` have the wrong rank or item size for this encoder."""
        rank = len(shape)
        if rank != self.item_rank + 2:
            raise ValueError(
                f"`{name}` must have rank {self.item_rank + 2} for "
                f"{self.__class__.__name__} (batch, length{', item features' if self.item_rank else ''}). "
                f"Received: `{name}` with shape {tuple(shape)}"
            )
        self.check_item_size(name, shape)

    def check_item_size(self, name, shape):
        """Raises a clear error when the last axis of `shape` is not the size of one item."""
        size = self.item_size()
        if size is not None and shape[-1] is not None and shape[-1] != size[1]:
            raise ValueError(
                f"The last axis of `{name}` must equal {size[0]} = {size[1]} for {self.__class__.__name__}. "
                f"Received: `{name}` with shape {tuple(shape)}"
            )

    def call(self, items, item_mask=None):
        self.check_items("items", items.shape)
        dtype = keras.backend.standardize_dtype(items.dtype)
        if self.integer_items and "int" not in dtype:
            raise TypeError(
                f"{self.__class__.__name__} reads integer ids (items and queries). "
                f"Received: dtype {dtype} for shape {tuple(items.shape)}"
            )
        encoded = self.norm(self.encode(items))
        mask = self.implicit_mask(items)
        if item_mask is not None:
            if len(item_mask.shape) != 2:
                raise ValueError(
                    "`item_mask` must have shape (batch, length). "
                    f"Received: `item_mask` with shape {tuple(item_mask.shape)}"
                )
            if item_mask.shape[1] is not None and items.shape[1] is not None and (item_mask.shape[1] != items.shape[1]):
                raise ValueError(
                    "`items` and `item_mask` must have the same length. Received: "
                    f"`items` with shape {tuple(items.shape)} and `item_mask` with "
                    f"shape {tuple(item_mask.shape)}"
                )
            mask = ops.logical_and(mask, ops.cast(item_mask, "bool"))
        return encoded, mask

    def encode_query(self, query):
        """Encodes a query into one `(batch, hidden_dim)` vector.

        A query shaped like one item (`(batch,)` + item shape) is encoded as
        that item; a query shaped like a sequence of items is encoded item by
        item and mean-pooled over its real items.
        """
        rank = len(query.shape)
        if rank in (self.item_rank + 1, self.item_rank + 2):
            self.check_item_size("query", query.shape)
        if rank == self.item_rank + 1:
            encoded, _ = self(ops.expand_dims(query, 1))
            return encoded[:, 0]
        if rank == self.item_rank + 2:
            encoded, mask = self(query)
            return masked_mean(encoded, mask)
        raise ValueError(
            f"`query` must have rank {self.item_rank + 1} (one item) or "
            f"{self.item_rank + 2} (a sequence of items) for {self.__class__.__name__}. "
            f"Received: `query` with shape {tuple(query.shape)}"
        )

    def compute_output_spec(self, items, item_mask=None):
        batch, length = items.shape[0], items.shape[1]
        return (
            keras.KerasTensor((batch, length, self.hidden_dim), dtype=self.compute_dtype),
            keras.KerasTensor((batch, length), dtype="bool"),
        )

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim, "norm_epsilon": self.norm_epsilon})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**upgrade_config(cls, config))  # files of older versions: keras_rm.legacy
