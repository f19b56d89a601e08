import keras
from keras import ops

from keras_rm.layers.memory_machine import make_memory_machine
from keras_rm.layers.memory_reader import MemoryReader
from keras_rm.layers.rehearsal import make_rehearsal
from keras_rm.legacy import flat_arguments, renamed_method
from keras_rm.models import train_steps
from keras_rm.models.task_model import TaskModel
from keras_rm.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_rm")
class RehearsalMemoryModel(TaskModel):
    """Rehearsal Memory (RM): a fixed-size memory over a long sequence, trained to rehearse its history.

    Inference (`call`, `predict`, `evaluate`, the streaming methods `initial_memory`, `write`, `answer`): the
    items are encoded and written segment by segment into memory slots by the `memory_machine`
    (`keras_rm.layers.MemoryMachine`), and the query reads the memory (`MemoryReader`) to produce answer or
    click logits (`TaskHead`); the state is `(batch, num_slots, slot_dim)`. Training (`fit`) adds the loss of the
    self-supervised `rehearsal` (`keras_rm.layers.Rehearsal`), whose gradients reach the memory machine and the
    item encoder. `inference_layers()` lists what inference runs (what export keeps).

    Inputs are a dict: `items`, optional `item_mask` (bool `(batch, length)`, beside the encoder's own padding),
    `query`, for `sampler="importance"` `importance`, and optional `query_position` (int `(batch, questions)`:
    `questions` queries a row, each answered from the memory after the whole segments before its position, as
    streaming would). docs/model.md describes each.

    Args:
        item_encoder: an item encoder layer (`keras_rm.layers.TokenItemEncoder`, `SentenceItemEncoder`,
            `DenseItemEncoder`, `CategoricalItemEncoder`).
        task: str. `"classification"` or `"click"`. Defaults to `"classification"`.
        num_classes: int. Answer classes (classification).
        query_encoder: item encoder of the query. Defaults to `item_encoder`.
        memory: the memory machine: a `keras_rm.layers.MemoryMachine` of the item encoder's `hidden_dim`, a dict
            of its arguments (e.g. `{"num_slots": 4, "segment_length": 32}`; `hidden_dim` and `dropout` are the
            model's), or None: its defaults. Its arguments are documented once, on `MemoryMachine`; its
            `num_heads` serves the reader and the rehearsal too. Defaults to None.
        reader_hops: int. Attention hops of the reader. Defaults to 1.
        rehearsal: the rehearsal trained beside the task: `"paper"` (the paper's), a dict of
            `keras_rm.layers.Rehearsal` arguments (e.g. `{"sampler": "teacher"}`; the rest as the paper's,
            fragments of `segment_length` items), a `Rehearsal` layer of this model's `hidden_dim`, task and
            classes, or None: no rehearsal (the plain memory). Its arguments are documented once, on `Rehearsal`.
            Defaults to `"paper"`.
        head_dim: int. Hidden width of the task head. Defaults to `slot_dim`.
        dropout: float. Defaults to 0.
        seed: int. Seed of every random draw of the rehearsal (a dict or `"paper"` rehearsal). Defaults to None.

    Example:

    ```python
    encoder = keras_rm.layers.TokenItemEncoder(vocabulary_size=50, hidden_dim=32)
    model = keras_rm.RehearsalMemoryModel(encoder, num_classes=50, memory={"num_slots": 4}, seed=1)
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
        memory=None,
        reader_hops=1,
        rehearsal="paper",
        head_dim=None,
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        flat = flat_arguments(self, kwargs)  # the memory's and the rehearsal's arguments given the pre-0.7 way
        super().__init__(
            item_encoder=item_encoder,
            task=task,
            num_classes=num_classes,
            query_encoder=query_encoder,
            head_dim=head_dim,
            dropout=dropout,
            **kwargs,
        )
        self.reader_hops = check_positive_int("reader_hops", reader_hops)
        self.seed = seed

        # Inference: encoders and head (TaskModel), the memory machine and the reader.
        self.memory_machine = make_memory_machine(memory, self.hidden_dim, dropout, flat=flat.get("memory"))
        self.reader = MemoryReader(
            hidden_dim=self.hidden_dim, num_heads=self.num_heads, num_hops=reader_hops, dropout=dropout, name="reader"
        )
        # Training only: the rehearsal (builds nothing when both rehearsal weights are 0).
        rehearsal = make_rehearsal(rehearsal, self, flat=flat.get("rehearsal"))
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

    # The memory machine's arguments that callers read on the model.
    num_slots = property(lambda self: self.memory_machine.num_slots, doc="Memory slots K (the memory machine's).")
    slot_dim = property(lambda self: self.memory_machine.hidden_dim, doc="Width of a slot: the items' `hidden_dim`.")
    segment_length = property(lambda self: self.memory_machine.segment_length, doc="Items written per segment L.")
    num_heads = property(lambda self: self.memory_machine.num_heads, doc="Attention heads of memory and reader.")
    slot_identity = property(lambda self: self.memory_machine.slot_identity, doc="Slots carry identity embeddings.")

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
            answers = self._answer_along(items, item_mask, inputs["query"], inputs["query_position"], training)
            return {"items": items, "item_mask": item_mask, **answers}
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
        """Task logits from a memory and an encoded query `(batch, hidden_dim)` (`answer` takes a raw one)."""
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
        parts = self._flatten_layers(include_self=False, recursive=False)
        return [layer for layer in parts if id(layer) not in left_out]

    # Training --------------------------------------------------------------

    def train_step(self, *args):
        return train_steps.TRAIN_STEPS[keras.config.backend()](self, *args)

    def compute_joint_loss(self, x, y=None, sample_weight=None, step=None):
        """One backend-agnostic training forward pass (the per-backend steps pass the optimizer's `step`, the
        rehearsal's warm-up): `(loss, y_pred, terms)`, the weighted total loss, the task logits and a dict of scalar
        terms named as the metric trackers."""
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
        # The parts without their build config: the model builds them in its own `build`, from the input shapes (a
        # part built on its own when the file is read would lock before the model builds it).
        def part(layer):
            return {k: v for k, v in keras.saving.serialize_keras_object(layer).items() if k != "build_config"}

        config = super().get_config()
        config.update(
            {
                "memory": part(self.memory_machine),
                "reader_hops": self.reader_hops,
                "rehearsal": part(self.rehearsal) if self.rehearsal.active else None,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("memory", "rehearsal"):  # serialized layers (files of 0.6 on: the rehearsal, of 0.7 on: both)
            if isinstance(config.get(key), dict) and "class_name" in config[key]:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return super().from_config(config)  # older files: their flat arguments nest in keras_rm.legacy
