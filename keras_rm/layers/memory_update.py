import keras
from keras import ops

from keras_rm.legacy import upgrade_config
from keras_rm.validation import check_positive_int

# What the write path of `.keras` files written before version 0.2 had: no slot identity, no null item.


@keras.saving.register_keras_serializable(package="keras_rm")
class MemoryUpdate(keras.layers.Layer):
    """Writes one encoded segment into the memory: slot-to-item attention, then a GRU per slot.

    Each of the K slots queries the segment's items (multi-head attention,
    padded items masked), and the read vector updates the slot through a GRU
    (Cho et al., 2014; Keras' `reset_after` form):

        a_k, r_k = Attention(query=LN(m_k) + e_k, keys=values=[null, segment items])
        m_k' = m_k + (1 - a_k[null]) * (GRU(input=r_k, state=m_k) - m_k)

    `e_k` is a learned identity of slot k (`slot_identity=True`). Without it,
    slots that share one GRU and start close together read the same items,
    receive the same update and soon hold one and the same vector: the K
    slots collapse into one. With it, each slot asks its own question of
    every segment and slots stay distinct (the memory reader sees the
    identity too: `MemoryMachine.with_slot_identity`).

    The null item (`null_item=True`) is a learned item every slot may attend
    to instead of the segment's items; a slot changes only by the share of
    its attention that went to real items. A segment with nothing for a slot
    (another actor's facts, filler) then leaves it as it was, however long
    the sequence, instead of wearing it down segment after segment. (The
    gating of Recurrent Entity Networks, Henaff et al., 2017, plays the same
    role.)

    GRU weights are shared by all slots by default, or one set per slot. A
    row whose segment is all padding keeps its memory exactly.

    Args:
        num_slots: int. Memory slots K.
        hidden_dim: int. Width of a slot and of an item.
        num_heads: int. Heads of the slot-to-item attention. Defaults to 4.
        per_slot_weights: bool. One GRU per slot instead of one shared GRU.
            Defaults to False.
        keep_bias: float. Initial bias of the GRU's update gate. A positive
            value makes slots keep their content at the start of training,
            as a forget-gate bias of 1 does for LSTMs (Jozefowicz et al.,
            2015); with 0, every slot halves its old content at each segment
            before it has learned what to keep. Defaults to 1.0.
        slot_identity: bool. Add a learned embedding per slot to the slots'
            attention queries. Defaults to True.
        null_item: bool. Let slots attend to a learned null item and write
            only by the share of attention they gave the segment's items.
            Defaults to True.
        dropout: float. Attention dropout. Defaults to 0.

    Call arguments:
        memory: `(batch, num_slots, hidden_dim)`.
        items: encoded segment `(batch, segment_length, hidden_dim)`.
        item_mask: bool `(batch, segment_length)`.
        training: bool.

    Returns:
        The new memory, `(batch, num_slots, hidden_dim)`.

    Example:

    ```python
    update = keras_rm.layers.MemoryUpdate(num_slots=4, hidden_dim=16, num_heads=2)
    memory = update(np.zeros((2, 4, 16)), np.random.rand(2, 8, 16), np.ones((2, 8), bool))
    ```
    """

    def __init__(
        self,
        num_slots,
        hidden_dim,
        num_heads=4,
        per_slot_weights=False,
        keep_bias=1.0,
        slot_identity=True,
        null_item=True,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_slots = check_positive_int("num_slots", num_slots)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.per_slot_weights = bool(per_slot_weights)
        self.keep_bias = float(keep_bias)
        self.slot_identity = bool(slot_identity)
        self.null_item = bool(null_item)
        self.dropout = float(dropout)
        self.query_norm = keras.layers.LayerNormalization(dtype=self.dtype_policy, name="query_norm")
        # The projections of a Keras MultiHeadAttention (the attention itself is computed in `step`, which
        # also needs the attention the null item received).
        self.attention = keras.layers.MultiHeadAttention(
            num_heads, hidden_dim // num_heads, dropout=dropout, dtype=self.dtype_policy, name="attention"
        )
        self.softmax = keras.layers.Softmax(axis=-1, dtype=self.dtype_policy)
        self.attention_dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, memory_shape, items_shape, item_mask_shape=None):
        self.query_norm.build(memory_shape)
        self.attention.build(memory_shape, items_shape)
        if self.null_item:
            self.null_embedding = self.add_weight(
                shape=(1, 1, self.hidden_dim), initializer="zeros", name="null_embedding"
            )
        if self.slot_identity:
            # On the scale of the layer-normalised slot it is added to (unit variance per feature).
            self.slot_embeddings = self.add_weight(
                shape=(self.num_slots, self.hidden_dim),
                initializer=keras.initializers.RandomNormal(stddev=1.0),
                name="slot_embeddings",
            )
        copies = (self.num_slots,) if self.per_slot_weights else ()
        d = self.hidden_dim
        self.kernel = self.add_weight(shape=copies + (d, 3 * d), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=copies + (d, 3 * d), initializer="orthogonal", name="recurrent_kernel"
        )
        keep_bias = self.keep_bias

        def bias_initializer(shape, dtype=None):
            # Input bias of the update gate z (first third): z = sigmoid(keep_bias) at the start.
            gate = ops.concatenate([ops.full((d,), keep_bias), ops.zeros((2 * d,))])
            bias = ops.stack([gate, ops.zeros((3 * d,))])
            return ops.cast(ops.tile(bias, tuple(shape[:-2]) + (1, 1)), dtype)  # a copy per slot, not a view

        self.bias = self.add_weight(shape=copies + (2, 3 * d), initializer=bias_initializer, name="bias")

    def _slotwise(self, x, kernel):
        if self.per_slot_weights:
            return ops.einsum("bkd,kde->bke", x, kernel)
        return ops.matmul(x, kernel)

    def project_items(self, items):
        """Attention keys and values of `items` `(batch, length, hidden_dim)`, the null item first.

        They do not depend on the memory: `MemoryMachine` projects every
        segment at once and runs only `step` segment after segment.
        """
        if self.null_item:
            null = ops.broadcast_to(
                ops.cast(self.null_embedding, items.dtype), (ops.shape(items)[0], 1, self.hidden_dim)
            )
            items = ops.concatenate([null, items], axis=1)
        return self.attention.key_dense(items), self.attention.value_dense(items)

    def step(self, memory, keys, values, item_mask, training=None):
        """Writes one segment, given as `project_items` keys and values and its item mask."""
        query = self.query_norm(memory)
        if self.slot_identity:
            query = query + ops.cast(self.slot_embeddings, query.dtype)
        query = self.attention.query_dense(query) * ops.cast(self.attention.key_dim**-0.5, query.dtype)
        item_mask = ops.cast(item_mask, "bool")
        key_mask = item_mask
        if self.null_item:
            key_mask = ops.concatenate([ops.ones((ops.shape(item_mask)[0], 1), "bool"), item_mask], axis=1)
        scores = self.softmax(
            ops.einsum("bkhe,blhe->bhkl", query, keys), mask=key_mask[:, None, None, :]
        )  # (batch, heads, slots, items)
        read = ops.einsum("bhkl,blhe->bkhe", self.attention_dropout(scores, training=training), values)
        read = self.attention.output_dense(read)
        input_bias, recurrent_bias = self.bias[..., 0, :], self.bias[..., 1, :]
        x_z, x_r, x_h = ops.split(self._slotwise(read, self.kernel) + input_bias, 3, axis=-1)
        h_z, h_r, h_h = ops.split(self._slotwise(memory, self.recurrent_kernel) + recurrent_bias, 3, axis=-1)
        z = ops.sigmoid(x_z + h_z)
        r = ops.sigmoid(x_r + h_r)
        candidate = ops.tanh(x_h + r * h_h)
        updated = z * memory + (1.0 - z) * candidate
        if self.null_item:
            # A slot writes as much as it attended to real items: the attention left to the null item
            # (mean over heads) is the share of the slot that stays as it was.
            strength = 1.0 - ops.mean(scores[..., 0], axis=1)[..., None]
            updated = memory + ops.cast(strength, memory.dtype) * (updated - memory)
        has_items = ops.any(item_mask, axis=-1)[:, None, None]
        return ops.where(has_items, updated, memory)

    def call(self, memory, items, item_mask, training=None):
        return self.step(memory, *self.project_items(items), item_mask, training=training)

    def compute_output_shape(self, memory_shape, items_shape, item_mask_shape=None):
        return memory_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_slots": self.num_slots,
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "per_slot_weights": self.per_slot_weights,
                "keep_bias": self.keep_bias,
                "slot_identity": self.slot_identity,
                "null_item": self.null_item,
                "dropout": self.dropout,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**upgrade_config(cls, config))  # files of older versions: keras_rm.legacy
