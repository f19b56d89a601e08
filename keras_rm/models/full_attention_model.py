import keras
from keras import ops

from keras_rm.layers.transformer_block import TransformerBlock
from keras_rm.models.task_model import TaskModel
from keras_rm.validation import check_positive_int


def sinusoidal_positions(length, dim, dtype):
    """`(length, dim)` sine/cosine position encoding (Vaswani et al., 2017)."""
    positions = ops.arange(length, dtype="float32")[:, None]
    rates = ops.exp(-ops.log(10000.0) * ops.arange(0, dim, 2, dtype="float32") / dim)
    angles = positions * rates[None, :]
    encoding = ops.reshape(ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1), (length, -1))
    return ops.cast(encoding[:, :dim], dtype)


@keras.saving.register_keras_serializable(package="keras_rm")
class FullAttentionModel(TaskModel):
    """Full-attention upper bound: a Transformer over the query and every item of the sequence, no memory.

    The query vector is prepended to the encoded items (plus sinusoidal
    positions), `num_layers` Transformer blocks attend over all `length + 1`
    positions (padded items masked), and the query position's output goes
    through the same `TaskHead` as the memory model. It keeps the whole
    sequence: its state and per-query cost grow with the length, which is
    what a fixed-size memory is compared against.

    Args:
        item_encoder: an item encoder layer, as for `RehearsalMemoryModel`.
        task: str. `"classification"` or `"click"`.
        num_classes: int. Answer classes (classification).
        query_encoder: item encoder of the query. Defaults to `item_encoder`.
        num_layers: int. Transformer blocks. Defaults to 2.
        num_heads: int. Attention heads. Defaults to 4.
        head_dim: int. Hidden width of the task head. Defaults to `hidden_dim`.
        dropout: float. Defaults to 0.

    Example:

    ```python
    encoder = keras_rm.layers.TokenItemEncoder(vocabulary_size=50, hidden_dim=32)
    model = keras_rm.FullAttentionModel(encoder, num_classes=50)
    model.compile()
    x = {"items": np.random.randint(1, 50, (64, 128)), "query": np.random.randint(1, 50, (64, 2))}
    model.fit(x, np.random.randint(0, 50, (64,)), epochs=1)
    ```
    """

    serving_endpoints = ("serve",)

    def __init__(
        self,
        item_encoder,
        task="classification",
        num_classes=None,
        query_encoder=None,
        num_layers=2,
        num_heads=4,
        head_dim=None,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(
            item_encoder=item_encoder,
            task=task,
            num_classes=num_classes,
            query_encoder=query_encoder,
            head_dim=head_dim,
            dropout=dropout,
            **kwargs,
        )
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.blocks = [
            TransformerBlock(self.hidden_dim, num_heads, dropout=dropout, name=f"block_{i}") for i in range(num_layers)
        ]
        self.norm = keras.layers.LayerNormalization(name="norm")

    def build(self, input_shape):
        items_shape = self.build_encoders(input_shape)
        x_shape = (None, items_shape[1] + 1, self.hidden_dim)
        for block in self.blocks:
            block.build(x_shape)
        self.norm.build(x_shape)

    def call(self, inputs, training=None):
        inputs = self.check_inputs(inputs)
        items, item_mask = self.encode_items(inputs)
        query = self.encode_query(inputs["query"])
        length = items.shape[1]
        items = items + sinusoidal_positions(length, self.hidden_dim, items.dtype)
        x = ops.concatenate([ops.expand_dims(query, 1), items], axis=1)
        mask = ops.concatenate([ops.ones_like(item_mask[:, :1]), item_mask], axis=1)
        for block in self.blocks:
            x = block(x, padding_mask=mask, training=training)
        read = self.norm(x)[:, 0]
        return self.head(read, query, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"num_layers": self.num_layers, "num_heads": self.num_heads})
        return config
