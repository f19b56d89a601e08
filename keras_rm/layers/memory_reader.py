import keras
from keras import ops

from keras_rm.layers.transformer_block import TransformerBlock
from keras_rm.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_rm")
class MemoryReader(keras.layers.Layer):
    """The read side of the task model R(M, Q): a query attends over the memory slots.

    Each hop is a pre-norm block whose single query position cross-attends
    over the K slots and goes through a feed-forward layer (no
    self-attention: there is one position); several hops let
    the query refine itself (as in End-To-End Memory Networks). The memory has
    no padding: every slot is read.

    Args:
        hidden_dim: int. Width of the query and of a slot.
        num_heads: int. Attention heads. Defaults to 4.
        num_hops: int. Attention hops. Defaults to 1.
        dropout: float. Defaults to 0.

    Call arguments:
        query: encoded query `(batch, hidden_dim)`.
        memory: `(batch, num_slots, hidden_dim)`.
        training: bool.

    Returns:
        The read vector `(batch, hidden_dim)`.

    Example:

    ```python
    reader = keras_rm.layers.MemoryReader(hidden_dim=16, num_heads=2, num_hops=2)
    read = reader(np.random.rand(2, 16), np.random.rand(2, 4, 16))
    ```
    """

    def __init__(self, hidden_dim, num_heads=4, num_hops=1, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.num_hops = check_positive_int("num_hops", num_hops)
        self.dropout = float(dropout)
        self.hops = [
            TransformerBlock(
                hidden_dim,
                num_heads,
                cross_attention=True,
                self_attention=False,
                dropout=dropout,
                dtype=self.dtype_policy,
                name=f"hop_{i}",
            )
            for i in range(num_hops)
        ]
        self.norm = keras.layers.LayerNormalization(dtype=self.dtype_policy, name="norm")

    def build(self, query_shape, memory_shape):
        x_shape = (query_shape[0], 1, self.hidden_dim)
        for hop in self.hops:
            hop.build(x_shape, memory_shape)
        self.norm.build(x_shape)

    def call(self, query, memory, training=None):
        x = ops.expand_dims(query, 1)
        for hop in self.hops:
            x = hop(x, context=memory, training=training)
        return self.norm(x)[:, 0]

    def compute_output_shape(self, query_shape, memory_shape):
        return query_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "num_hops": self.num_hops,
                "dropout": self.dropout,
            }
        )
        return config
