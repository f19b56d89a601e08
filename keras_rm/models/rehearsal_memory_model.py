import warnings

import keras
from keras import ops

from keras_rm.layers.memory_machine import MemoryMachine
from keras_rm.layers.memory_reader import MemoryReader
from keras_rm.layers.rehearsal import REHEARSAL_ARGUMENTS, Rehearsal
from keras_rm.legacy import renamed_method
from keras_rm.models import train_steps
from keras_rm.models.task_model import TaskModel
from keras_rm.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_rm")
class RehearsalMemoryModel(TaskModel):
    """Rehearsal Memory (RM): a fixed-size memory over a long sequence, trained to rehearse its history.

    Inference (`call`, `predict`, `evaluate`, the streaming methods): items are
    encoded, written segment by segment into `num_slots` memory slots by the
    `MemoryMachine`, and the query reads the memory (`MemoryReader`) to
    produce answer or click logits (`TaskHead`). The raw sequence is not
    needed after writing: state is `(batch, num_slots, slot_dim)`.

    Training (`fit`) adds, when a rehearsal weight is positive, the
    self-supervised rehearsal of the paper (`keras_rm.layers.Rehearsal`,
    the model's `rehearsal`): a history sampler picks `num_fragments`
    fragments of `fragment_length` items per sequence, and a
    `RehearsalDecoder` that sees only the final memory must

    - recollect their masked items (`recollection_loss`, InfoNCE against
      `num_negatives` items of the same sequence, or a full softmax over the
      vocabulary for id items), and
    - tell real fragments from corrupted ones (`familiarity_loss`).

    The training loss is `task + recollection_weight * recollection +
    familiarity_weight * familiarity (+ teacher_weight * teacher task loss)`,
    and the rehearsal gradients reach the memory machine and the item
    encoder. With both rehearsal weights 0 nothing of the rehearsal is
    built: the model is the plain memory baseline. Inference never runs the
    rehearsal; `inference_layers()` lists what it runs (what export keeps).

    Inputs are a dict: `items` (raw items, as the item encoder expects),
    optional `item_mask` (bool `(batch, length)`; padding from the encoder's
    own rule, e.g. id 0, is always masked), `query` (one item or a sequence of
    items, as the query encoder expects), and for `sampler="importance"`
    `importance` (non-negative `(batch, length)`).

    Several questions along one sequence: with `query_position` (int
    `(batch, questions)`), `query` holds `questions` queries per row
    (`(batch, questions, ...)`) and the logits are `(batch, questions,
    classes)`. The sequence is written once, and each question is answered
    from the memory as it stood after the whole segments before its position
    (items `0 .. position - 1`, `position // segment_length` segments), as
    streaming does: `answer(write(initial_memory(b), items[:, :position]),
    query)`. Put questions at segment boundaries so that they see every item
    before them; a position past the end reads the final memory. Padded
    questions take a `sample_weight` of 0 in `fit` and `evaluate`.

    Args:
        item_encoder: an item encoder layer (`keras_rm.layers.TokenItemEncoder`,
            `SentenceItemEncoder`, `DenseItemEncoder`, `CategoricalItemEncoder`).
        task: str. `"classification"` or `"click"`. Defaults to `"classification"`.
        num_classes: int. Answer classes (classification).
        query_encoder: item encoder of the query. Defaults to `item_encoder`.
        num_slots: int. Memory slots K. Defaults to 8.
        slot_dim: int. Width of a slot; must equal the item encoder's
            `hidden_dim`. Defaults to it.
        segment_length: int. Items written per segment L. Defaults to 16.
        segment_layers: int. Transformer blocks of the segment encoder. Defaults to 1.
        num_heads: int. Attention heads everywhere. Defaults to 4.
        per_slot_weights: bool. One GRU per slot. Defaults to False.
        keep_bias: float. Initial bias of the slots' GRU update gate (how
            much a slot keeps per segment before training). Defaults to 1.0.
        slot_identity: bool. A learned embedding per slot in the slots'
            write queries and in what the reader sees, which keeps the slots
            from collapsing into one. Defaults to True.
        null_item: bool. A learned null item the slots may attend to
            instead of a segment's items; a slot writes only by the share of
            attention it gave real items, so what matches no slot leaves the
            memory as it was. Defaults to True.
        reader_hops: int. Attention hops of the reader. Defaults to 1.
        rehearsal: the self-supervised rehearsal, trained beside the task:
            `"paper"` (the paper's: uniform sampler, recollection weight
            1.0, familiarity weight 0.5), a dict of `keras_rm.layers.Rehearsal`
            arguments (e.g. `{"sampler": "teacher", "rehearsal_warmup":
            1000}`; the rest as the paper's, fragments of `segment_length`
            items), a `Rehearsal` layer of this model's `hidden_dim`, task
            and classes, or None: no rehearsal (the plain memory). Its
            arguments are documented once, on `Rehearsal`. Defaults to
            `"paper"`.
        head_dim: int. Hidden width of the task head. Defaults to `slot_dim`.
        dropout: float. Defaults to 0.
        seed: int. Seed of every random draw of the rehearsal (a dict or
            `"paper"` rehearsal). Defaults to None.

    Example:

    ```python
    encoder = keras_rm.layers.TokenItemEncoder(vocabulary_size=50, hidden_dim=32)
    model = keras_rm.RehearsalMemoryModel(encoder, num_classes=50, num_slots=4, segment_length=16, seed=1)
    model.compile()
    x = {"items": np.random.randint(1, 50, (64, 128)), "query": np.random.randint(1, 50, (64, 2))}
    model.fit(x, np.random.randint(0, 50, (64,)), epochs=1)
    memory = model.write(model.initial_memory(2), x["items"][:2])
    logits = model.answer(memory, x["query"][:2])
    ```

    Reference:
        Zhang et al., "Learning to Rehearse in Long Sequence Memorization",
        ICML 2021. https://arxiv.org/abs/2106.01096
    """

    def __init__(
        self,
        item_encoder,
        task="classification",
        num_classes=None,
        query_encoder=None,
        num_slots=8,
        slot_dim=None,
        segment_length=16,
        segment_layers=1,
        num_heads=4,
        per_slot_weights=False,
        keep_bias=1.0,
        slot_identity=True,
        null_item=True,
        reader_hops=1,
        rehearsal="paper",
        head_dim=None,
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        # Before 0.6 the rehearsal's arguments were the model's own: they still work, for one release.
        flat_rehearsal = {name: kwargs.pop(name) for name in REHEARSAL_ARGUMENTS if name in kwargs}
        super().__init__(
            item_encoder=item_encoder,
            task=task,
            num_classes=num_classes,
            query_encoder=query_encoder,
            head_dim=head_dim,
            dropout=dropout,
            **kwargs,
        )
        if slot_dim is not None and slot_dim != self.hidden_dim:
            raise ValueError(
                "`slot_dim` must equal the item encoder's `hidden_dim` (slots and items share a space). "
                f"Received: `slot_dim` = {slot_dim}, `item_encoder.hidden_dim` = {self.hidden_dim}"
            )
        self.num_slots = check_positive_int("num_slots", num_slots)
        self.slot_dim = self.hidden_dim
        self.segment_length = check_positive_int("segment_length", segment_length)
        self.segment_layers = check_positive_int("segment_layers", segment_layers)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.per_slot_weights = bool(per_slot_weights)
        self.keep_bias = float(keep_bias)
        self.slot_identity = bool(slot_identity)
        self.null_item = bool(null_item)
        self.reader_hops = check_positive_int("reader_hops", reader_hops)
        self.seed = seed

        # Inference: encoders and head (TaskModel), the memory machine and the reader.
        self.memory_machine = MemoryMachine(
            num_slots=num_slots,
            hidden_dim=self.hidden_dim,
            segment_length=segment_length,
            num_layers=segment_layers,
            num_heads=num_heads,
            per_slot_weights=per_slot_weights,
            keep_bias=keep_bias,
            slot_identity=slot_identity,
            null_item=null_item,
            dropout=dropout,
            name="memory_machine",
        )
        self.reader = MemoryReader(
            hidden_dim=self.hidden_dim, num_heads=num_heads, num_hops=reader_hops, dropout=dropout, name="reader"
        )
        # Training only: the rehearsal (builds nothing when both rehearsal weights are 0).
        rehearsal = self._make_rehearsal(rehearsal, flat_rehearsal, segment_length, num_heads, dropout, seed)
        if rehearsal.recollection == "softmax" and not item_encoder.has_ids:
            raise ValueError(
                '`recollection="softmax"` needs id items (TokenItemEncoder or CategoricalItemEncoder). '
                f"Received: `item_encoder` = {item_encoder.__class__.__name__}"
            )
        if rehearsal.active:
            # Files written before the rehearsal had its own layer keep the decoder's weights under
            # `decoder/` and the sampler's under `layers/sampler/`: these two references, tracked before
            # `rehearsal`, keep those paths (Keras saves a layer at the first path it is reached by).
            self.decoder = rehearsal.decoder
            self.sampler = rehearsal.fragment_sampler
        self.rehearsal = rehearsal
        # `loss` is the task loss, as `val_loss` and `evaluate` measure it; what the optimizer minimises with
        # rehearsal on (the task and the weighted rehearsal terms) is logged as `total_loss`.
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss") if rehearsal.active else None

    def _make_rehearsal(self, rehearsal, flat, segment_length, num_heads, dropout, seed):
        """The `Rehearsal` layer `rehearsal` names ("paper", a dict, a layer or None); `flat`: its arguments given
        the pre-0.6 way, as the model's own (they update the dict)."""
        if isinstance(rehearsal, Rehearsal):
            mine = {"hidden_dim": self.hidden_dim, "task": self.task, "num_classes": self.num_classes}
            theirs = {key: getattr(rehearsal, key) for key in mine}
            if theirs != mine or flat:
                raise ValueError(
                    f"`rehearsal` must be made for this model ({mine}), and its arguments given to it alone. "
                    f"Received: a Rehearsal with {theirs}" + (f" and the model's {sorted(flat)}" if flat else "")
                )
            return rehearsal
        if rehearsal is None:
            rehearsal = {"recollection_weight": 0.0, "familiarity_weight": 0.0}
        elif isinstance(rehearsal, str) and rehearsal == "paper":
            rehearsal = {}
        elif not isinstance(rehearsal, dict):
            raise TypeError(
                '`rehearsal` must be "paper", a dict of `keras_rm.layers.Rehearsal` arguments, a `Rehearsal` layer '
                f"or None. Received: {rehearsal!r}"
            )
        if flat:
            warnings.warn(
                f"Rehearsal arguments of `RehearsalMemoryModel` itself ({', '.join(sorted(flat))}) go in version 0.7: "
                f"pass `rehearsal={flat!r}`.",
                DeprecationWarning,
                stacklevel=3,
            )
            rehearsal = {**rehearsal, **flat}
        unknown = sorted(set(rehearsal) - set(REHEARSAL_ARGUMENTS))
        if unknown:
            raise ValueError(
                f"`rehearsal` holds arguments `Rehearsal` does not take here: {unknown}. "
                f"Expected some of: {', '.join(REHEARSAL_ARGUMENTS)}"
            )
        return Rehearsal(
            hidden_dim=self.hidden_dim,
            task=self.task,
            num_classes=self.num_classes,
            num_heads=num_heads,
            dropout=dropout,
            seed=seed,
            name="rehearsal",
            **{"fragment_length": segment_length, **rehearsal},
        )

    input_keys = TaskModel.input_keys + ("query_position",)
    serving_endpoints = ("serve", "initial_memory", "write", "answer")

    def check_inputs(self, inputs):
        inputs = super().check_inputs(inputs)
        positions = inputs.get("query_position")
        if positions is not None:
            query = inputs["query"]
            if len(positions.shape) != 2 or tuple(query.shape[:2]) != tuple(positions.shape):
                raise ValueError(
                    "`query_position` must be `(batch, questions)`, and `query` then holds `questions` queries per "
                    f"row, `(batch, questions, ...)`. Received: `query_position` with shape {tuple(positions.shape)} "
                    f"and `query` with shape {tuple(query.shape)}"
                )
        return inputs

    def build(self, input_shape):
        # Validate before creating any weight: a failed build must leave nothing half-built.
        if isinstance(input_shape, dict) and input_shape.get("query_position") is not None:
            input_shape = {**input_shape, "query": (None, *tuple(input_shape["query"])[2:])}  # one question
        length = self.check_input_shape(input_shape)[1]
        self.rehearsal.check_length(length)
        self.build_encoders(input_shape)
        encoded_shape = (None, length, self.hidden_dim)
        memory_shape = (None, self.num_slots, self.hidden_dim)
        self.memory_machine.build(encoded_shape)
        self.reader.build((None, self.hidden_dim), memory_shape)
        self.rehearsal.build(memory_shape, encoded_shape)

    # Inference -------------------------------------------------------------

    def call(self, inputs, training=None):
        return self.forward_parts(inputs, training)["logits"]

    def forward_parts(self, inputs, training=False):
        """The inference path, keeping what the rehearsal reads: a dict of the encoded `items`, their `item_mask`,
        the final `memory`, the encoded `query` (with `query_position`: every question's, `(batch * questions,
        hidden_dim)`) and the task `logits`."""
        inputs = self.check_inputs(inputs)
        items, item_mask = self.encode_items(inputs)
        if inputs.get("query_position") is not None:
            return {
                "items": items,
                "item_mask": item_mask,
                **self._answer_along(items, item_mask, inputs["query"], inputs["query_position"], training),
            }
        memory = self.memory_machine(items, item_mask, training=training)
        query = self.encode_query(inputs["query"])
        logits = self.answer_encoded(memory, query, training=training)
        return {"items": items, "item_mask": item_mask, "memory": memory, "query": query, "logits": logits}

    def _answer_along(self, items, item_mask, query, positions, training):
        """One pass over the sequence answering each question from the memory at its position: a dict of the
        final `memory`, the encoded `query` and the `logits` `(batch, questions, ...)`."""
        initial = self.initial_memory(ops.shape(items)[0])
        memories = self.memory_machine.write(initial, items, item_mask, training=training, return_sequences=True)
        memories = ops.concatenate([initial[:, None], memories], axis=1)  # after 0, 1, ..., all segments
        # Whole segments written before each question, picked by a one-hot product (the same gradient on every
        # backend as a gather, and cheap: a few dozen segments).
        written = ops.clip(ops.cast(positions, "int32") // self.segment_length, 0, memories.shape[1] - 1)
        pick = ops.one_hot(written, memories.shape[1], dtype=memories.dtype)
        at_questions = ops.einsum("bqs,bskd->bqkd", pick, memories)
        questions = ops.shape(query)[1]
        query = self.encode_query(ops.reshape(query, (-1, *query.shape[2:])))
        slots = ops.reshape(at_questions, (-1, self.num_slots, self.hidden_dim))
        logits = self.answer_encoded(slots, query, training=training)
        logits = ops.reshape(logits, (-1, questions, *logits.shape[1:]))
        return {"memory": memories[:, -1], "query": query, "logits": logits}

    def answer_encoded(self, memory, query, training=None):
        """Task logits from a memory and an already encoded query `(batch, hidden_dim)` (`answer` takes a raw
        one)."""
        slots = self.memory_machine.with_slot_identity(memory)
        return self.head(self.reader(query, slots, training=training), query, training=training)

    read_out = renamed_method("answer_encoded", "read_out")

    def initial_memory(self, batch_size):
        """The learned initial memory, `(batch_size, num_slots, slot_dim)`."""
        return self.memory_machine.initial_memory(batch_size)

    def write(self, memory, items, item_mask=None):
        """Writes raw `items` (whole segments) into `memory`; returns the new memory. (The layer's
        `memory_machine.write` takes items the item encoder already encoded.)"""
        encoded, mask = self.item_encoder(items, item_mask)
        return self.memory_machine.write(memory, encoded, mask)

    def answer(self, memory, query):
        """Task logits for raw `query` from `memory` alone."""
        return self.answer_encoded(memory, self.encode_query(query))

    def inference_layers(self):
        """The layers inference runs (encoders, memory machine, reader, head): all but the rehearsal (training
        only) and the text vectorizer (preprocessing, before the model)."""
        left_out = {id(layer) for layer in self.rehearsal._flatten_layers()} | {id(self.text_vectorizer)}
        return [
            layer for layer in self._flatten_layers(include_self=False, recursive=False) if id(layer) not in left_out
        ]

    # Training --------------------------------------------------------------

    def train_step(self, *args):
        return train_steps.TRAIN_STEPS[keras.config.backend()](self, *args)

    def compute_joint_loss(self, x, y=None, sample_weight=None, step=None):
        """One training forward pass and every loss term; backend-agnostic.

        The per-backend training steps differ only in how they take gradients
        of the returned loss; they pass the optimizer's `step` (the
        rehearsal's warm-up).

        Returns:
            `(loss, y_pred, terms)`: the weighted total loss, the task logits
            and a dict of scalar terms named as the metric trackers.
        """
        inputs = self.check_inputs(x)
        if not self.built:  # TF traces `fit` before building; Keras' own step builds in `self(x)`.
            self.build({key: tuple(value.shape) for key, value in inputs.items() if value is not None})
        forward = self.forward_parts(inputs, training=True)
        y_pred = forward["logits"]
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        terms = {"task_loss": loss}
        if not self.rehearsal.active:
            return loss, y_pred, terms
        if self.rehearsal.sampler == "teacher" and inputs.get("query_position") is not None:
            raise ValueError(
                '`sampler="teacher"` learns from one question per sequence; `query_position` gives several. Train '
                "the teacher on one question per row, or use another sampler."
            )
        ids = self.rehearsal.needs_item_ids
        rehearsal = self.rehearsal(
            forward["memory"],
            forward["items"],
            forward["item_mask"],
            forward["query"],
            labels=y,
            sample_weight=sample_weight,
            importance=inputs.get("importance"),
            item_ids=self.item_encoder.item_ids(inputs["items"]) if ids else None,
            embeddings=self.item_encoder.embeddings if ids else None,
            step=step,
            training=True,
        )
        return loss + rehearsal.pop("loss"), y_pred, {**terms, **rehearsal}

    def update_train_metrics(self, loss, terms, x, y, y_pred, sample_weight):
        """Updates the loss, term and compiled metrics after a training step; returns the logs."""
        batch_size = ops.shape(x["items"])[0]
        self.track_loss(train_steps.unscale_loss(terms["task_loss"]), batch_size)
        if self.total_loss_tracker is not None:
            self.total_loss_tracker.update_state(train_steps.unscale_loss(loss), sample_weight=batch_size)
        self.rehearsal.update_metrics(terms, batch_size, unscale=train_steps.unscale_loss)
        return self._per_question_metrics(x, y, y_pred, sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        # `evaluate` runs inference only: it reports no training-only term.
        logs = self._per_question_metrics(x, y, y_pred, sample_weight)
        hidden = {tracker.name for tracker in [self.total_loss_tracker, *self.rehearsal.term_trackers] if tracker}
        return {name: value for name, value in logs.items() if name not in hidden}

    def _per_question_metrics(self, x, y, y_pred, sample_weight):
        """The compiled metrics, every question one sample. Rows of several questions (`query_position`) are
        flattened first: Keras' metrics average each row's values, so a batch of few questions would weigh more
        than one of many (the question axis varies between bucketed batches)."""
        if isinstance(x, dict) and x.get("query_position") is not None:
            y, y_pred = (ops.reshape(value, (-1, *value.shape[2:])) for value in (y, y_pred))
            sample_weight = None if sample_weight is None else ops.reshape(sample_weight, (-1,))
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_slots": self.num_slots,
                "slot_dim": self.slot_dim,
                "segment_length": self.segment_length,
                "segment_layers": self.segment_layers,
                "num_heads": self.num_heads,
                "per_slot_weights": self.per_slot_weights,
                "keep_bias": self.keep_bias,
                "slot_identity": self.slot_identity,
                "null_item": self.null_item,
                "reader_hops": self.reader_hops,
                "rehearsal": self._serialized_rehearsal(),
                "seed": self.seed,
            }
        )
        return config

    def _serialized_rehearsal(self):
        if not self.rehearsal.active:
            return None
        serialized = keras.saving.serialize_keras_object(self.rehearsal)
        # The model builds its rehearsal in its own `build`, from the input shapes: a rehearsal built on its own
        # when the file is read would lock before the model builds it.
        serialized.pop("build_config", None)
        return serialized

    @classmethod
    def from_config(cls, config):
        rehearsal = config.get("rehearsal")
        if isinstance(rehearsal, dict) and "class_name" in rehearsal:  # a serialized layer (files of 0.6 on)
            config = {**config, "rehearsal": keras.saving.deserialize_keras_object(rehearsal)}
        return super().from_config(config)
