import keras
from keras import ops

from keras_rm.layers.memory_update import MemoryUpdate
from keras_rm.layers.segment_encoder import SegmentEncoder
from keras_rm.legacy import renamed_method, upgrade_config
from keras_rm.validation import check_arguments, check_positive_int


def num_segments(length, segment_length):
    """Segments needed for `length` items (the last one padded)."""
    return -(-length // segment_length)


@keras.saving.register_keras_serializable(package="keras_rm")
class MemoryMachine(keras.layers.Layer):
    """The memory machine G(X) -> M of Rehearsal Memory: reads a long sequence once, segment by segment.

    The sequence is padded up to a multiple of `segment_length` and cut into
    segments. Every segment is encoded by a `SegmentEncoder` (in one batched
    call: the encoding does not depend on the memory), then, starting from a
    learned initial memory of `num_slots` slots, the segments are written one
    after the other by a `MemoryUpdate` (slot-to-item attention, then a GRU
    per slot). The loop is a Python `for` over the static number of segments
    (the one construct whose gradients work on TF graph and XLA and torch),
    except on JAX, where it is a `keras.ops.scan` (`lax.scan`): JAX then
    compiles one segment step instead of all of them (an unrolled
    100-segment loop took minutes and over 20 GB to compile). With dropout in
    training JAX unrolls too.

    Padding: padded items are never attended to, and a segment that is all
    padding leaves the memory unchanged, so appending padding to a sequence
    never changes its memory. An all-padding sequence gives the initial
    memory.

    Streaming: `initial_memory(batch_size)` then `write(memory, items,
    item_mask)` once per arriving segment gives the same memory as one call on
    the whole sequence, provided every write but the last holds a whole
    number of segments.

    Args:
        num_slots: int. Memory slots K. Defaults to 8.
        hidden_dim: int. Width of a slot and of an encoded item (required; a
            model fills it with its item encoder's).
        segment_length: int. Items per segment L. Defaults to 16.
        num_layers: int. Transformer blocks of the segment encoder. Defaults to 1.
        num_heads: int. Attention heads. Defaults to 4.
        intermediate_dim: int. Feed-forward width. Defaults to `4 * hidden_dim`.
        per_slot_weights: bool. One GRU per slot instead of a shared one.
            Defaults to False.
        keep_bias: float. Initial bias of the GRU's update gate: how much of
            its content a slot keeps per segment before training (see
            `MemoryUpdate`). Defaults to 1.0.
        slot_identity: bool. A learned embedding per slot in the slots'
            write queries, so that slots stay distinct (see `MemoryUpdate`).
            Defaults to True.
        null_item: bool. A learned null item the slots may attend to
            instead of a segment's items; a slot writes only by the share of
            attention it gave real items (see `MemoryUpdate`). Defaults to True.
        dropout: float. Defaults to 0.

    Call arguments:
        items: encoded items `(batch, length, hidden_dim)`.
        item_mask: optional bool `(batch, length)`; defaults to all real.
        training: bool.

    Returns:
        The memory `(batch, num_slots, hidden_dim)`.

    Example:

    ```python
    machine = keras_rm.layers.MemoryMachine(num_slots=4, hidden_dim=16, segment_length=8, num_heads=2)
    items = np.random.rand(2, 40, 16).astype("float32")
    memory = machine(items)                      # (2, 4, 16)
    streamed = machine.initial_memory(2)
    for start in range(0, 40, 8):
        streamed = machine.write(streamed, items[:, start:start + 8])
    ```

    Reference:
        Zhang et al., "Learning to Rehearse in Long Sequence Memorization",
        ICML 2021. https://arxiv.org/abs/2106.01096
    """

    def __init__(
        self,
        num_slots=8,
        hidden_dim=None,
        segment_length=16,
        num_layers=1,
        num_heads=4,
        intermediate_dim=None,
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
        self.segment_length = check_positive_int("segment_length", segment_length)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.intermediate_dim = intermediate_dim
        self.per_slot_weights = bool(per_slot_weights)
        self.keep_bias = float(keep_bias)
        self.slot_identity = bool(slot_identity)
        self.null_item = bool(null_item)
        self.dropout = float(dropout)
        self.segment_encoder = SegmentEncoder(
            segment_length=segment_length,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            num_heads=num_heads,
            intermediate_dim=intermediate_dim,
            dropout=dropout,
            dtype=self.dtype_policy,
            name="segment_encoder",
        )
        self.update = MemoryUpdate(
            num_slots=num_slots,
            hidden_dim=hidden_dim,
            num_heads=num_heads,
            per_slot_weights=per_slot_weights,
            keep_bias=keep_bias,
            slot_identity=slot_identity,
            null_item=null_item,
            dropout=dropout,
            dtype=self.dtype_policy,
            name="update",
        )

    def build(self, items_shape, item_mask_shape=None):
        if items_shape[-1] != self.hidden_dim:
            raise ValueError(
                f"The last axis of the encoded items must equal `hidden_dim` = {self.hidden_dim}. "
                f"Received: items with shape {tuple(items_shape)}"
            )
        self.initial_slots = self.add_weight(
            shape=(self.num_slots, self.hidden_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.1),
            name="initial_slots",
        )
        segment_shape = (None, self.segment_length, self.hidden_dim)
        self.segment_encoder.build(segment_shape)
        self.update.build((None, self.num_slots, self.hidden_dim), segment_shape)

    def _ensure_built(self):
        if not self.built:
            self.build((None, None, self.hidden_dim))

    def initial_memory(self, batch_size):
        """The learned initial memory, `(batch_size, num_slots, hidden_dim)`."""
        self._ensure_built()
        slots = ops.cast(self.initial_slots, self.compute_dtype)
        return ops.broadcast_to(slots[None], (batch_size, self.num_slots, self.hidden_dim))

    def with_slot_identity(self, memory):
        """The memory as a reader should see it: with `slot_identity`, every slot plus its identity embedding.

        The write query of slot k carries its identity `e_k`; a reader that
        sees `m_k + e_k` can find a slot by what it was asked to store, not
        only by what it happens to hold.
        """
        if not self.slot_identity:
            return memory
        return memory + ops.cast(self.update.slot_embeddings, memory.dtype)

    addressable = renamed_method("with_slot_identity", "addressable")

    def write(self, memory, items, item_mask=None, training=None, return_sequences=False):
        """Writes encoded `items` `(batch, length, hidden_dim)` into `memory`; returns the new memory.

        `length` needs not be a multiple of `segment_length`: the last segment
        is padded. Items whose `item_mask` is False are not written. With
        `return_sequences`, returns the memory after every segment instead,
        `(batch, segments, num_slots, hidden_dim)` (as Keras' recurrent layers
        do): what a question asked after segment `s` reads is `[:, s]`.
        """
        self._ensure_built()
        if len(items.shape) != 3 or items.shape[-1] != self.hidden_dim:
            raise ValueError(
                f"`items` must be encoded items of shape (batch, length, {self.hidden_dim}). "
                f"Received: `items` with shape {tuple(items.shape)}"
            )
        if tuple(memory.shape[1:]) != (self.num_slots, self.hidden_dim):
            raise ValueError(
                f"`memory` must have shape (batch, {self.num_slots}, {self.hidden_dim}). "
                f"Received: `memory` with shape {tuple(memory.shape)}"
            )
        length = items.shape[1]
        if length is None:
            raise ValueError(
                "The memory machine needs a static sequence length (it loops over segments). "
                f"Received: `items` with shape {tuple(items.shape)}"
            )
        if item_mask is None:
            item_mask = ops.ones(ops.shape(items)[:2], dtype="bool")
        item_mask = ops.cast(item_mask, "bool")
        segments = num_segments(length, self.segment_length)
        if segments == 0:  # nothing to write
            return memory[:, None][:, :0] if return_sequences else memory
        padding = segments * self.segment_length - length
        if padding:
            items = ops.pad(items, [[0, 0], [0, padding], [0, 0]])
            item_mask = ops.cast(ops.pad(ops.cast(item_mask, "int32"), [[0, 0], [0, padding]]), "bool")
        # What does not depend on the memory runs once over all segments, as a batch of segments: the segment
        # encoder and the keys and values of the slots' attention. Only `update.step` runs segment by segment.
        encoded = self.segment_encoder(
            ops.reshape(items, (-1, self.segment_length, self.hidden_dim)),
            ops.reshape(item_mask, (-1, self.segment_length)),
            training=training,
        )
        by_segment = [ops.reshape(x, (-1, segments) + tuple(x.shape[1:])) for x in self.update.project_items(encoded)]
        by_segment.append(ops.reshape(item_mask, (-1, segments, self.segment_length)))
        if keras.config.backend() == "jax" and segments > 1 and not (training and self.dropout):
            # JAX: one traced segment step under `lax.scan`. Unrolled, a 100-segment loop compiles for minutes
            # and the compiler alone needs over 20 GB. (Dropout draws random numbers, which a scan body cannot.)
            def step(memory, segment):
                memory = self.update.step(memory, *segment, training=training)
                return memory, memory if return_sequences else None

            memory, memories = ops.scan(step, memory, [ops.moveaxis(x, 1, 0) for x in by_segment])
            return ops.moveaxis(memories, 0, 1) if return_sequences else memory
        # Unstacked once rather than sliced segment by segment: the gradient of each slice `x[:, s]` is a whole
        # zero tensor of `x`'s size (TF's StridedSliceGrad, torch's SliceBackward), quadratic in the segments; that
        # of an unstack is one stack.
        memories = []
        for segment in zip(*(ops.unstack(x, axis=1) for x in by_segment)):
            memory = self.update.step(memory, *segment, training=training)
            memories.append(memory)
        return ops.stack(memories, axis=1) if return_sequences else memory

    def call(self, items, item_mask=None, training=None):
        return self.write(self.initial_memory(ops.shape(items)[0]), items, item_mask, training=training)

    def compute_output_shape(self, items_shape, item_mask_shape=None):
        return (items_shape[0], self.num_slots, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_slots": self.num_slots,
                "hidden_dim": self.hidden_dim,
                "segment_length": self.segment_length,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
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


# The machine's arguments a model that composes the layer takes in its `memory` dict: all but `dropout`, the model's.
MEMORY_ARGUMENTS = (
    "num_slots",
    "hidden_dim",
    "segment_length",
    "num_layers",
    "num_heads",
    "intermediate_dim",
    "per_slot_weights",
    "keep_bias",
    "slot_identity",
    "null_item",
)


def make_memory_machine(memory, hidden_dim, dropout, flat=None):
    """The `MemoryMachine` a model's `memory` argument names, for encoded items of `hidden_dim`.

    `memory` is a `MemoryMachine` (used as is), a dict of `MEMORY_ARGUMENTS` (the rest as the layer's defaults)
    or None (all the defaults). A dict's machine takes the model's `dropout` and is named `memory_machine`, the
    path of its weights in the model's files. `flat`: arguments given the pre-0.7 way, as the model's own (they
    update the dict).
    """
    if isinstance(memory, MemoryMachine):
        if flat:
            raise ValueError(
                "`memory` is a layer: give its arguments to it, not to the model. "
                f"Received: a MemoryMachine and the model's {sorted(flat)}"
            )
        width = memory.hidden_dim
    elif memory is None or isinstance(memory, dict):
        arguments = check_arguments("memory", {**(memory or {}), **(flat or {})}, MEMORY_ARGUMENTS, "MemoryMachine")
        width = arguments.setdefault("hidden_dim", hidden_dim)
    else:
        raise TypeError(
            "`memory` must be a dict of `keras_rm.layers.MemoryMachine` arguments, a `MemoryMachine` layer or None. "
            f"Received: `memory` = {memory!r}"
        )
    if width != hidden_dim:
        raise ValueError(
            "The memory's `hidden_dim` must equal the item encoder's (slots and items share a space). "
            f"Received: `memory.hidden_dim` = {width}, `item_encoder.hidden_dim` = {hidden_dim}"
        )
    if isinstance(memory, MemoryMachine):
        return memory
    return MemoryMachine(**arguments, dropout=dropout, name="memory_machine")
