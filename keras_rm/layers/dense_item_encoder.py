import keras
from keras import ops

from keras_rm.layers.item_encoder import ItemEncoder
from keras_rm.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_rm")
class DenseItemEncoder(ItemEncoder):
    """Projects dense item features `(batch, length, features)` (video frames).

    `Dense(hidden_dim)` (followed, as for every item encoder, by layer
    normalisation). Dense features carry no padding value, so every item is
    real unless `item_mask` says otherwise, or unless it holds a NaN or an
    infinity: such an item is masked out like padding (its non-finite
    features read as 0), and a query's non-finite features read as 0, so
    one corrupt frame never turns the memory into NaN.

    Args:
        hidden_dim: int. Size of every encoded item.
        feature_dim: int. Features per item (the last input axis).

    Call arguments:
        items: float `(batch, length, feature_dim)`.
        item_mask: optional bool `(batch, length)`.

    Returns:
        `(encoded, mask)`: `(batch, length, hidden_dim)` and bool `(batch, length)`.

    Example:

    ```python
    encoder = keras_rm.layers.DenseItemEncoder(hidden_dim=16, feature_dim=32)
    encoded, mask = encoder(np.random.rand(2, 100, 32))
    ```
    """

    item_rank = 1

    def __init__(self, hidden_dim, feature_dim, **kwargs):
        super().__init__(hidden_dim=hidden_dim, **kwargs)
        self.feature_dim = check_positive_int("feature_dim", feature_dim)
        self.projection = keras.layers.Dense(hidden_dim, dtype=self.dtype_policy, name="projection")

    def item_size(self):
        return "`feature_dim`", self.feature_dim

    def build_encoder(self, input_shape):
        self.projection.build(input_shape)

    def encode(self, items):
        return self.projection(ops.where(ops.isfinite(items), items, 0.0))

    def implicit_mask(self, items):
        return ops.all(ops.isfinite(items), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"feature_dim": self.feature_dim})
        return config
