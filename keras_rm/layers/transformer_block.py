import keras
from keras import ops

from keras_rm.validation import check_positive_int


def key_padding_mask(mask):
    """Bool `(batch, 1, keys)` attention mask from a `(batch, keys)` padding mask."""
    return None if mask is None else ops.expand_dims(ops.cast(mask, "bool"), 1)


@keras.saving.register_keras_serializable(package="keras_rm")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm Transformer block: self-attention, cross-attention, feed-forward, each optional but the last.

    The building block of the segment encoder, the rehearsal decoder, the
    memory reader and the full-attention baseline. Padded positions are never
    attended to (`padding_mask` masks keys); their own outputs are computed
    but meaningless, and callers ignore them.

    Args:
        hidden_dim: int. Width of the block.
        num_heads: int. Attention heads; must divide `hidden_dim`.
        intermediate_dim: int. Width of the feed-forward layer. Defaults to
            `4 * hidden_dim`.
        cross_attention: bool. Whether the block also attends into a
            `context` sequence (the memory slots). Defaults to False.
        self_attention: bool. Whether positions attend to each other; off
            for a single position (the memory reader's query), whose
            self-attention would be the identity. Defaults to True.
        dropout: float. Dropout after attention and feed-forward. Defaults to 0.

    Call arguments:
        x: `(batch, length, hidden_dim)`.
        padding_mask: optional bool `(batch, length)`, True for real positions.
        context: `(batch, context_length, context_dim)`; required when
            `cross_attention=True`.
        context_mask: optional bool `(batch, context_length)`.
        training: bool.

    Returns:
        `(batch, length, hidden_dim)`.

    Example:

    ```python
    block = keras_rm.layers.TransformerBlock(hidden_dim=16, num_heads=2)
    y = block(np.random.rand(2, 5, 16), padding_mask=np.array([[1, 1, 1, 0, 0]] * 2, bool))
    ```
    """

    def __init__(
        self,
        hidden_dim,
        num_heads,
        intermediate_dim=None,
        cross_attention=False,
        self_attention=True,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.num_heads = check_positive_int("num_heads", num_heads)
        if hidden_dim % num_heads:
            raise ValueError(
                f"`num_heads` must divide `hidden_dim`. Received: `hidden_dim` = {hidden_dim}, "
                f"`num_heads` = {num_heads}"
            )
        self.intermediate_dim = intermediate_dim or 4 * hidden_dim
        self.cross_attention = bool(cross_attention)
        self.self_attention = bool(self_attention)
        self.dropout = float(dropout)
        policy = self.dtype_policy
        key_dim = hidden_dim // num_heads
        if self.self_attention:
            self.self_attention_norm = keras.layers.LayerNormalization(dtype=policy, name="self_attention_norm")
            self.self_attention_layer = keras.layers.MultiHeadAttention(
                num_heads, key_dim, dropout=dropout, dtype=policy, name="self_attention"
            )
        if self.cross_attention:
            self.cross_attention_norm = keras.layers.LayerNormalization(dtype=policy, name="cross_attention_norm")
            self.cross_attention_layer = keras.layers.MultiHeadAttention(
                num_heads, key_dim, dropout=dropout, dtype=policy, name="cross_attention"
            )
        self.feedforward_norm = keras.layers.LayerNormalization(dtype=policy, name="feedforward_norm")
        self.feedforward_in = keras.layers.Dense(
            self.intermediate_dim, activation="gelu", dtype=policy, name="feedforward_in"
        )
        self.feedforward_out = keras.layers.Dense(hidden_dim, dtype=policy, name="feedforward_out")
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=policy)

    def build(self, x_shape, context_shape=None):
        if self.self_attention:
            self.self_attention_norm.build(x_shape)
            self.self_attention_layer.build(x_shape, x_shape)
        if self.cross_attention:
            if context_shape is None:
                raise ValueError("A cross-attention `TransformerBlock` needs `context_shape` to build.")
            self.cross_attention_norm.build(x_shape)
            self.cross_attention_layer.build(x_shape, context_shape)
        self.feedforward_norm.build(x_shape)
        self.feedforward_in.build(x_shape)
        self.feedforward_out.build(tuple(x_shape[:-1]) + (self.intermediate_dim,))

    def call(self, x, padding_mask=None, context=None, context_mask=None, training=None):
        if self.self_attention:
            h = self.self_attention_norm(x)
            h = self.self_attention_layer(h, h, attention_mask=key_padding_mask(padding_mask), training=training)
            x = x + self.dropout_layer(h, training=training)
        if self.cross_attention:
            if context is None:
                raise ValueError("This `TransformerBlock` has `cross_attention=True`: pass `context`.")
            h = self.cross_attention_norm(x)
            h = self.cross_attention_layer(h, context, attention_mask=key_padding_mask(context_mask), training=training)
            x = x + self.dropout_layer(h, training=training)
        h = self.feedforward_out(self.feedforward_in(self.feedforward_norm(x)))
        return x + self.dropout_layer(h, training=training)

    def compute_output_shape(self, x_shape, context_shape=None):
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "cross_attention": self.cross_attention,
                "self_attention": self.self_attention,
                "dropout": self.dropout,
            }
        )
        return config
