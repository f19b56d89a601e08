import keras
from keras import ops

from keras_rm import rehearsal
from keras_rm.layers import memory_update
from keras_rm.layers.memory_machine import MemoryMachine
from keras_rm.layers.memory_reader import MemoryReader
from keras_rm.layers.rehearsal_decoder import RehearsalDecoder
from keras_rm.models import train_steps
from keras_rm.models.task_model import TaskModel, task_loss
from keras_rm.samplers import ImportanceSampler, TeacherSampler, UniformSampler
from keras_rm.validation import (
    check_choice,
    check_fraction,
    check_non_negative,
    check_positive_int,
)

SAMPLERS = ("uniform", "teacher", "importance")
# Models of `.keras` files written before version 0.2 also had an update gate whose bias started at 0.
BEFORE_0_2 = {**memory_update.BEFORE_0_2, "keep_bias": 0.0}


@keras.saving.register_keras_serializable(package="keras_rm")
class RehearsalMemoryModel(TaskModel):
    """Rehearsal Memory (RM): a fixed-size memory over a long sequence, trained to rehearse its history.

    Inference (`call`, `predict`, `evaluate`, the streaming methods): items are
    encoded, written segment by segment into `num_slots` memory slots by the
    `MemoryMachine`, and the query reads the memory (`MemoryReader`) to
    produce answer or click logits (`TaskHead`). The raw sequence is not
    needed after writing: state is `(batch, num_slots, slot_dim)`.

    Training (`fit`) adds, when a rehearsal weight is positive, the
    self-supervised rehearsal of the paper: a history sampler picks
    `num_fragments` fragments of `fragment_length` items per sequence, and a
    `RehearsalDecoder` that sees only the final memory must

    - recollect their masked items (`recollection_loss`, InfoNCE against
      `num_negatives` items of the same sequence, or a full softmax over the
      vocabulary for id items), and
    - tell them from corrupted copies (`familiarity_loss`).

    The training loss is `task + recollection_weight * recollection +
    familiarity_weight * familiarity (+ teacher_weight * teacher task loss)`,
    and the rehearsal gradients reach the memory machine and the item
    encoder. With both rehearsal weights 0 nothing of the rehearsal is
    built: the model is the plain memory baseline.

    Inputs are a dict: `items` (raw items, as the item encoder expects),
    optional `item_mask` (bool `(batch, length)`; padding from the encoder's
    own rule, e.g. id 0, is always masked), `query` (one item or a sequence of
    items, as the query encoder expects), and for `sampler="importance"`
    `importance` (non-negative `(batch, length)`).

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
        recollection_weight: float. Defaults to 1.0.
        familiarity_weight: float. Defaults to 0.5.
        teacher_weight: float. Weight of the teacher's task loss
            (`sampler="teacher"`). Defaults to 1.0.
        sampler: str. `"uniform"`, `"teacher"` or `"importance"`. Defaults to `"uniform"`.
        num_fragments: int. Fragments rehearsed per sequence. Defaults to 4.
        fragment_length: int. Items per fragment. Defaults to `segment_length`.
        mask_ratio: float. Share of a fragment's items masked for
            recollection. Defaults to 0.5.
        mask_selection: str. Which items of a fragment are masked:
            `"random"` (the paper) or `"important"` (the ones the teacher or
            the given importance ranks highest; `sampler="teacher"` or
            `"importance"` only). Defaults to `"random"`.
        corruption_ratio: float. Share of a fragment's items replaced for
            familiarity. Defaults to 0.5.
        num_negatives: int. Negatives of the contrastive recollection. Defaults to 30.
        recollection: str. `"contrastive"` or `"softmax"` (id items only).
            Defaults to `"contrastive"`.
        temperature: float. InfoNCE temperature. Defaults to 0.1.
        sampler_temperature: float. Temperature of importance/teacher
            sampling. Defaults to 1.0.
        uniform_mix: float. Share of uniform exploration in
            importance/teacher sampling. Defaults to 0.1.
        decoder_layers: int. Blocks of the rehearsal decoder. Defaults to 2.
        decoder_width: int. Width of the rehearsal decoder. Defaults to `slot_dim`.
        head_dim: int. Hidden width of the task head. Defaults to `slot_dim`.
        dropout: float. Defaults to 0.
        seed: int. Seed of every random draw of the rehearsal. Defaults to None.

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
        recollection_weight=1.0,
        familiarity_weight=0.5,
        teacher_weight=1.0,
        sampler="uniform",
        num_fragments=4,
        fragment_length=None,
        mask_ratio=0.5,
        mask_selection="random",
        corruption_ratio=0.5,
        num_negatives=30,
        recollection="contrastive",
        temperature=0.1,
        sampler_temperature=1.0,
        uniform_mix=0.1,
        decoder_layers=2,
        decoder_width=None,
        head_dim=None,
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            item_encoder, task, num_classes, query_encoder, head_dim=head_dim, dropout=dropout, **kwargs
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
        self.recollection_weight = check_non_negative("recollection_weight", recollection_weight)
        self.familiarity_weight = check_non_negative("familiarity_weight", familiarity_weight)
        self.teacher_weight = check_non_negative("teacher_weight", teacher_weight)
        self.sampler_kind = check_choice("sampler", sampler, SAMPLERS)
        self.num_fragments = check_positive_int("num_fragments", num_fragments)
        self.fragment_length = check_positive_int("fragment_length", fragment_length or segment_length)
        self.mask_ratio = check_fraction("mask_ratio", mask_ratio)
        self.mask_selection = check_choice("mask_selection", mask_selection, ("random", "important"))
        if mask_selection == "important" and self.sampler_kind == "uniform":
            raise ValueError(
                '`mask_selection="important"` needs a sampler that scores items ("teacher" or "importance"). '
                f"Received: `sampler` = {sampler!r}"
            )
        self.corruption_ratio = check_fraction("corruption_ratio", corruption_ratio)
        self.num_negatives = check_positive_int("num_negatives", num_negatives)
        self.recollection = check_choice("recollection", recollection, ("contrastive", "softmax"))
        if recollection == "softmax" and not item_encoder.has_ids:
            raise ValueError(
                '`recollection="softmax"` needs id items (TokenItemEncoder or CategoricalItemEncoder). '
                f"Received: `item_encoder` = {item_encoder.__class__.__name__}"
            )
        if not temperature > 0:
            raise ValueError(f"`temperature` must be > 0. Received: `temperature` = {temperature!r}")
        self.temperature = float(temperature)
        self.sampler_temperature = float(sampler_temperature)
        self.uniform_mix = float(uniform_mix)
        self.decoder_layers = check_positive_int("decoder_layers", decoder_layers)
        self.decoder_width = decoder_width
        self.seed = seed

        self.memory_machine = MemoryMachine(
            num_slots=num_slots, hidden_dim=self.hidden_dim, segment_length=segment_length,
            num_layers=segment_layers, num_heads=num_heads, per_slot_weights=per_slot_weights,
            keep_bias=keep_bias, slot_identity=slot_identity, null_item=null_item, dropout=dropout,
            name="memory_machine",
        )
        self.reader = MemoryReader(
            hidden_dim=self.hidden_dim, num_heads=num_heads, num_hops=reader_hops, dropout=dropout, name="reader"
        )

        self.rehearses = self.recollection_weight > 0 or self.familiarity_weight > 0
        self.seed_generator = keras.random.SeedGenerator(seed)
        term_names = ["task_loss"]
        if self.rehearses:
            self.decoder = RehearsalDecoder(
                self.hidden_dim, self.fragment_length, decoder_width, decoder_layers, num_heads,
                recollection=self.recollection_weight > 0,
                familiarity=self.familiarity_weight > 0,
                dropout=dropout, name="rehearsal_decoder",
            )
            self.sampler = self._make_sampler()
            if self.recollection_weight > 0:
                term_names += ["recollection_loss", "recollection_accuracy"]
                self.recollection_loss_fn = keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True, reduction="mean_with_sample_weight", name="recollection_loss"
                )
            if self.familiarity_weight > 0:
                term_names += ["familiarity_loss", "familiarity_accuracy"]
                self.familiarity_loss_fn = rehearsal.FamiliarityLoss()
            if self.sampler_kind == "teacher":
                term_names += ["teacher_loss", "teacher_accuracy"]
                self.teacher_loss_fn = task_loss(self.task)
        # Metric trackers live here and are updated only by the training step.
        self.term_trackers = [keras.metrics.Mean(name=name) for name in term_names]

    def _make_sampler(self):
        sampler_seed = None if self.seed is None else self.seed + 1
        common = dict(num_fragments=self.num_fragments, fragment_length=self.fragment_length, seed=sampler_seed)
        if self.sampler_kind == "uniform":
            return UniformSampler(**common, name="sampler")
        mixing = dict(temperature=self.sampler_temperature, uniform_mix=self.uniform_mix)
        if self.sampler_kind == "importance":
            return ImportanceSampler(**common, **mixing, name="sampler")
        return TeacherSampler(
            **common, **mixing, hidden_dim=self.hidden_dim, task=self.task,
            num_classes=self.num_classes, name="sampler",
        )

    def build(self, input_shape):
        # Validate before creating any weight: a failed build must leave nothing half-built.
        length = self.check_input_shape(input_shape)[1]
        if self.rehearses:
            self.sampler.check_length(length)
        self.build_encoders(input_shape)
        encoded_shape = (None, length, self.hidden_dim)
        memory_shape = (None, self.num_slots, self.hidden_dim)
        self.memory_machine.build(encoded_shape)
        self.reader.build((None, self.hidden_dim), memory_shape)
        if self.rehearses:
            self.decoder.build((None, self.fragment_length, self.hidden_dim), None, memory_shape)
            self.sampler.build((None, length))

    # Inference -------------------------------------------------------------

    def call(self, inputs, training=None):
        return self._forward(self.check_inputs(inputs), training)["logits"]

    def _forward(self, inputs, training):
        """The inference path, keeping what the rehearsal needs."""
        items, item_mask = self.encode_items(inputs)
        memory = self.memory_machine(items, item_mask, training=training)
        query = self.encode_query(inputs["query"])
        logits = self.read_out(memory, query, training=training)
        return {"items": items, "item_mask": item_mask, "memory": memory, "query": query, "logits": logits}

    def read_out(self, memory, query, training=None):
        """Task logits from a memory and an encoded query `(batch, hidden_dim)`."""
        slots = self.memory_machine.addressable(memory)
        return self.head(self.reader(query, slots, training=training), query, training=training)

    def initial_memory(self, batch_size):
        """The learned initial memory, `(batch_size, num_slots, slot_dim)`."""
        return self.memory_machine.initial_memory(batch_size)

    def write(self, memory, items, item_mask=None):
        """Writes raw `items` (whole segments) into `memory`; returns the new memory."""
        encoded, mask = self.item_encoder(items, item_mask)
        return self.memory_machine.write(memory, encoded, mask)

    def answer(self, memory, query):
        """Task logits for raw `query` from `memory` alone."""
        return self.read_out(memory, self.encode_query(query))

    # Training --------------------------------------------------------------

    def train_step(self, *args):
        return train_steps.TRAIN_STEPS[keras.config.backend()](self, *args)

    def compute_joint_loss(self, x, y=None, sample_weight=None):
        """One training forward pass and every loss term; backend-agnostic.

        The per-backend training steps differ only in how they take gradients
        of the returned loss.

        Returns:
            `(loss, y_pred, terms)`: the weighted total loss, the task logits
            and a dict of scalar terms named as the metric trackers.
        """
        inputs = self.check_inputs(x)
        if not self.built:  # TF traces `fit` before building; Keras' own step builds in `self(x)`.
            self.build({key: tuple(value.shape) for key, value in inputs.items() if value is not None})
        forward = self._forward(inputs, training=True)
        items, item_mask, memory, query = (forward[k] for k in ("items", "item_mask", "memory", "query"))
        y_pred = forward["logits"]
        loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        terms = {"task_loss": loss}
        if not self.rehearses:
            return loss, y_pred, terms

        importance = inputs.get("importance")
        if self.sampler_kind == "teacher":
            importance, teacher_pred = self.sampler.teach(items, item_mask, query, training=True)
            terms["teacher_loss"] = self.teacher_loss_fn(y, teacher_pred, sample_weight)
            terms["teacher_accuracy"] = ops.mean(self._accuracy(y, teacher_pred))
            loss = loss + self.teacher_weight * terms["teacher_loss"]
        elif self.sampler_kind == "importance" and importance is None:
            raise ValueError('`sampler="importance"` needs `importance` (batch, length) in the inputs.')
        starts = self.sampler(item_mask, importance)

        fragments = rehearsal.gather_fragments(items, starts, self.fragment_length)
        fragment_mask = rehearsal.gather_fragments(item_mask, starts, self.fragment_length)
        fragment_memory = ops.repeat(memory, self.num_fragments, axis=0)
        if self.recollection_weight > 0:
            scores = None
            if self.mask_selection == "important":
                scores = rehearsal.gather_fragments(ops.cast(importance, "float32"), starts, self.fragment_length)
            terms["recollection_loss"], terms["recollection_accuracy"] = self._recollection(
                inputs, items, item_mask, starts, fragments, fragment_mask, fragment_memory, scores
            )
            loss = loss + self.recollection_weight * terms["recollection_loss"]
        if self.familiarity_weight > 0:
            terms["familiarity_loss"], terms["familiarity_accuracy"] = self._familiarity(
                items, item_mask, fragments, fragment_mask, fragment_memory
            )
            loss = loss + self.familiarity_weight * terms["familiarity_loss"]
        return loss, y_pred, terms

    def _accuracy(self, y, logits):
        if self.task == "click":
            return keras.metrics.binary_accuracy(ops.reshape(y, ops.shape(logits)), logits, threshold=0.0)
        return keras.metrics.sparse_categorical_accuracy(y, logits)

    def _recollection(self, inputs, items, item_mask, starts, fragments, fragment_mask, fragment_memory, scores):
        """Recollection: reconstruct masked fragment items (random or most important) from the memory alone."""
        length = self.fragment_length
        count = max(1, round(self.mask_ratio * length))
        positions, chosen = rehearsal.choose_positions(fragment_mask, count, self.seed_generator, scores)
        one_hot = rehearsal.position_one_hot(positions, chosen, length, "float32")
        masked = ops.sum(one_hot, axis=1) > 0
        outputs = self.decoder(
            self.decoder.mask_items(fragments, masked), fragment_mask, fragment_memory, training=True
        )
        reconstructions = ops.take_along_axis(
            outputs["reconstructions"], ops.expand_dims(positions, -1), axis=1
        )
        if self.recollection == "softmax":
            ids = rehearsal.gather_fragments(self.item_encoder.item_ids(inputs["items"]), starts, length)
            labels = ops.take_along_axis(ids, positions, axis=1)
            logits = ops.matmul(reconstructions, ops.transpose(self.item_encoder.embeddings))
        else:
            targets = ops.take_along_axis(fragments, ops.expand_dims(positions, -1), axis=1)
            negatives = rehearsal.draw_items(
                items, item_mask, self.num_fragments * count * self.num_negatives, self.seed_generator
            )
            negatives = ops.reshape(negatives, (-1, count, self.num_negatives, self.hidden_dim))
            logits = rehearsal.contrastive_logits(reconstructions, targets, negatives, self.temperature)
            labels = ops.zeros(ops.shape(positions), dtype="int32")
        weights = ops.cast(chosen, "float32")
        loss = self.recollection_loss_fn(labels, logits, sample_weight=weights)
        hits = ops.equal(ops.argmax(logits, axis=-1), ops.cast(labels, "int32"))
        return loss, rehearsal.weighted_mean(hits, weights)

    def _familiarity(self, items, item_mask, fragments, fragment_mask, fragment_memory):
        """Familiarity: tell real fragments from copies corrupted with another sequence's items."""
        length = self.fragment_length
        count = max(1, round(self.corruption_ratio * length))
        positions, chosen = rehearsal.choose_positions(fragment_mask, count, self.seed_generator)
        donors = ops.roll(items, 1, axis=0)
        donor_mask = ops.roll(item_mask, 1, axis=0)
        replacements = rehearsal.draw_items(donors, donor_mask, self.num_fragments * count, self.seed_generator)
        replacements = ops.reshape(replacements, (-1, count, self.hidden_dim))
        one_hot = rehearsal.position_one_hot(positions, chosen, length, fragments.dtype)
        replaced = ops.sum(one_hot, axis=1)[..., None]
        corrupted = fragments * (1.0 - replaced) + ops.einsum("rcl,rcd->rld", one_hot, replacements)
        logits = self.decoder(
            ops.concatenate([fragments, corrupted], axis=0),
            ops.concatenate([fragment_mask, fragment_mask], axis=0),
            ops.concatenate([fragment_memory, fragment_memory], axis=0),
            training=True,
        )["familiarity_logits"]
        pair_logits = ops.transpose(ops.reshape(logits, (2, -1)))  # (pairs, [real, corrupted])
        weights = ops.cast(ops.any(chosen, axis=1), "float32")
        loss = self.familiarity_loss_fn(ops.zeros_like(pair_logits), pair_logits, sample_weight=weights)
        correct = (ops.cast(pair_logits[:, 0] > 0, "float32") + ops.cast(pair_logits[:, 1] < 0, "float32")) / 2
        return loss, rehearsal.weighted_mean(correct, weights)

    def update_train_metrics(self, loss, terms, x, y, y_pred, sample_weight):
        """Updates the loss, term and compiled metrics after a training step; returns the logs."""
        batch_size = ops.shape(x["items"])[0]
        self._loss_tracker.update_state(train_steps.unscale_loss(loss), sample_weight=batch_size)
        for tracker in self.term_trackers:
            value = terms[tracker.name]
            if tracker.name.endswith("_loss"):
                value = train_steps.unscale_loss(value)
            tracker.update_state(value, sample_weight=batch_size)
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        # `evaluate` runs inference only: it reports no training-only term.
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        hidden = {tracker.name for tracker in self.term_trackers}
        return {name: value for name, value in logs.items() if name not in hidden}

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
                "recollection_weight": self.recollection_weight,
                "familiarity_weight": self.familiarity_weight,
                "teacher_weight": self.teacher_weight,
                "sampler": self.sampler_kind,
                "num_fragments": self.num_fragments,
                "fragment_length": self.fragment_length,
                "mask_ratio": self.mask_ratio,
                "mask_selection": self.mask_selection,
                "corruption_ratio": self.corruption_ratio,
                "num_negatives": self.num_negatives,
                "recollection": self.recollection,
                "temperature": self.temperature,
                "sampler_temperature": self.sampler_temperature,
                "uniform_mix": self.uniform_mix,
                "decoder_layers": self.decoder_layers,
                "decoder_width": self.decoder_width,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return super().from_config({**BEFORE_0_2, **config})
