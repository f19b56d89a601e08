import keras
from keras import ops

from keras_rm.layers.transformer_block import TransformerBlock
from keras_rm.legacy import renamed_arguments, upgrade_config
from keras_rm.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_rm")
class RehearsalDecoder(keras.layers.Layer):
    """The rehearsal model H(M, fragment): a bidirectional Transformer that recalls a fragment from memory.

    Used only in training. The input is a history fragment of encoded items;
    a [CLS] token is prepended and learned positions added; every layer
    self-attends over the fragment (padded items masked) and cross-attends into
    the K memory slots. Two read-outs:

    - recollection: each position is projected back to the item space, so a
      fragment whose items were replaced by the learned [MASK] embedding
      (`mask_items`) is reconstructed from the memory alone;
    - familiarity: the [CLS] state gives one logit, "this fragment was in the
      sequence written into the memory".

    Only the read-outs that are enabled are built, so every weight gets a
    gradient in every training step.

    Args:
        hidden_dim: int. Width of the items and of the memory slots.
        fragment_length: int. Items per fragment.
        width: int. Width of the decoder's own layers. Defaults to `hidden_dim`.
        num_layers: int. Transformer blocks. Defaults to 2.
        num_heads: int. Attention heads. Defaults to 4.
        use_recollection: bool. Build the [MASK] embedding and the
            reconstruction read-out. Defaults to True.
        use_familiarity: bool. Build the familiarity read-out. Defaults to
            True. (Called `reconstructs` and `judges_familiarity` before
            0.7; the old names warn and go in 0.8.)
        dropout: float. Defaults to 0.

    Call arguments:
        fragments: `(batch, fragment_length, hidden_dim)`.
        fragment_mask: bool `(batch, fragment_length)`.
        memory: `(batch, num_slots, hidden_dim)`.
        training: bool.

    Returns:
        A dict with `"reconstructions"` `(batch, fragment_length, hidden_dim)`
        (when `use_recollection`) and `"familiarity_logits"` `(batch,)` (when
        `use_familiarity`).

    Example:

    ```python
    decoder = keras_rm.layers.RehearsalDecoder(hidden_dim=16, fragment_length=8, num_heads=2)
    out = decoder(np.random.rand(2, 8, 16), np.ones((2, 8), bool), np.random.rand(2, 4, 16))
    ```
    """

    def __init__(
        self,
        hidden_dim,
        fragment_length,
        width=None,
        num_layers=2,
        num_heads=4,
        use_recollection=True,
        use_familiarity=True,
        dropout=0.0,
        **kwargs,
    ):
        renamed = renamed_arguments(self, kwargs)
        use_recollection = renamed.get("use_recollection", use_recollection)
        use_familiarity = renamed.get("use_familiarity", use_familiarity)
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.fragment_length = check_positive_int("fragment_length", fragment_length)
        self.width = check_positive_int("width", width or hidden_dim)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.num_heads = check_positive_int("num_heads", num_heads)
        if not (use_recollection or use_familiarity):
            raise ValueError("A `RehearsalDecoder` needs `use_recollection` or `use_familiarity` (or both).")
        self.use_recollection = bool(use_recollection)
        self.use_familiarity = bool(use_familiarity)
        self.dropout = float(dropout)
        policy = self.dtype_policy
        self.input_projection = keras.layers.Dense(self.width, dtype=policy, name="input_projection")
        self.blocks = [
            TransformerBlock(
                self.width,
                num_heads,
                cross_attention=True,
                dropout=dropout,
                dtype=policy,
                name=f"block_{i}",
            )
            for i in range(num_layers)
        ]
        self.norm = keras.layers.LayerNormalization(dtype=policy, name="norm")
        if self.use_recollection:
            self.reconstruction = keras.layers.Dense(hidden_dim, dtype=policy, name="reconstruction")
        if self.use_familiarity:
            self.familiarity_logit = keras.layers.Dense(1, dtype=policy, name="familiarity_logit")

    def build(self, fragments_shape, fragment_mask_shape=None, memory_shape=None):
        memory_shape = memory_shape or (None, None, self.hidden_dim)
        self.cls_embedding = self.add_weight(
            shape=(self.width,), initializer=keras.initializers.RandomNormal(stddev=0.02), name="cls_embedding"
        )
        self.position_embeddings = self.add_weight(
            shape=(self.fragment_length + 1, self.width),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="position_embeddings",
        )
        self.input_projection.build((None, self.fragment_length, self.hidden_dim))
        x_shape = (None, self.fragment_length + 1, self.width)
        for block in self.blocks:
            block.build(x_shape, memory_shape)
        self.norm.build(x_shape)
        if self.use_recollection:
            self.mask_embedding = self.add_weight(
                shape=(self.hidden_dim,),
                initializer=keras.initializers.RandomNormal(stddev=0.02),
                name="mask_embedding",
            )
            self.reconstruction.build(x_shape)
        if self.use_familiarity:
            self.familiarity_logit.build((None, self.width))

    def mask_items(self, fragments, masked):
        """Replaces the items where `masked` `(batch, fragment_length)` is True by [MASK]."""
        mask_item = ops.cast(self.mask_embedding, fragments.dtype)
        return ops.where(ops.expand_dims(masked, -1), mask_item, fragments)

    def call(self, fragments, fragment_mask, memory, training=None):
        batch = ops.shape(fragments)[0]
        cls = ops.broadcast_to(ops.cast(self.cls_embedding, self.compute_dtype)[None, None], (batch, 1, self.width))
        x = ops.concatenate([cls, self.input_projection(fragments)], axis=1)
        x = x + self.position_embeddings
        padding_mask = ops.concatenate([ops.ones((batch, 1), dtype="bool"), ops.cast(fragment_mask, "bool")], axis=1)
        for block in self.blocks:
            x = block(x, padding_mask=padding_mask, context=memory, training=training)
        x = self.norm(x)
        outputs = {}
        if self.use_recollection:
            outputs["reconstructions"] = self.reconstruction(x[:, 1:])
        if self.use_familiarity:
            outputs["familiarity_logits"] = self.familiarity_logit(x[:, 0])[:, 0]
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "fragment_length": self.fragment_length,
                "width": self.width,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "use_recollection": self.use_recollection,
                "use_familiarity": self.use_familiarity,
                "dropout": self.dropout,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**upgrade_config(cls, config))  # files of older versions: keras_rm.legacy
