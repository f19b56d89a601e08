import keras

from keras_rm.layers.transformer_block import TransformerBlock
from keras_rm.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_rm")
class SegmentEncoder(keras.layers.Layer):
    """Transformer encoder over one segment of items, with learned positions.

    The first stage of the memory machine's write: items of a segment see each
    other (padded items are masked as keys) before the memory slots read them.

    Args:
        segment_length: int. Items per segment.
        hidden_dim: int. Width of the items.
        num_layers: int. Transformer blocks. Defaults to 1.
        num_heads: int. Attention heads. Defaults to 4.
        intermediate_dim: int. Feed-forward width. Defaults to `4 * hidden_dim`.
        dropout: float. Defaults to 0.

    Call arguments:
        items: `(batch, segment_length, hidden_dim)`.
        item_mask: bool `(batch, segment_length)`.
        training: bool.

    Returns:
        `(batch, segment_length, hidden_dim)`.

    Example:

    ```python
    encoder = keras_rm.layers.SegmentEncoder(segment_length=8, hidden_dim=16, num_heads=2)
    y = encoder(np.random.rand(2, 8, 16), np.ones((2, 8), bool))
    ```
    """

    def __init__(
        self,
        segment_length,
        hidden_dim,
        num_layers=1,
        num_heads=4,
        intermediate_dim=None,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.segment_length = check_positive_int("segment_length", segment_length)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.intermediate_dim = intermediate_dim
        self.dropout = float(dropout)
        self.blocks = [
            TransformerBlock(
                hidden_dim,
                num_heads,
                intermediate_dim,
                dropout=dropout,
                dtype=self.dtype_policy,
                name=f"block_{i}",
            )
            for i in range(num_layers)
        ]
        self.norm = keras.layers.LayerNormalization(dtype=self.dtype_policy, name="norm")

    def build(self, items_shape, item_mask_shape=None):
        self.position_embeddings = self.add_weight(
            shape=(self.segment_length, self.hidden_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="position_embeddings",
        )
        for block in self.blocks:
            block.build(items_shape)
        self.norm.build(items_shape)

    def call(self, items, item_mask, training=None):
        x = items + self.position_embeddings
        for block in self.blocks:
            x = block(x, padding_mask=item_mask, training=training)
        return self.norm(x)

    def compute_output_shape(self, items_shape, item_mask_shape=None):
        return items_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "segment_length": self.segment_length,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
            }
        )
        return config
