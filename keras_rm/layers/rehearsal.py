import keras
from keras import ops

from keras_rm import fragments
from keras_rm.layers.rehearsal_decoder import RehearsalDecoder
from keras_rm.layers.task_head import task_accuracy, task_loss
from keras_rm.legacy import upgrade_config
from keras_rm.samplers import ImportanceSampler, TeacherSampler, UniformSampler
from keras_rm.validation import (
    check_choice,
    check_fraction,
    check_non_negative,
    check_non_negative_int,
    check_positive_int,
)

SAMPLERS = ("uniform", "teacher", "importance")


@keras.saving.register_keras_serializable(package="keras_rm")
class Rehearsal(keras.layers.Layer):
    """The self-supervised rehearsal of RM: recollection and familiarity of history fragments (training only).

    A history sampler picks `num_fragments` fragments of `fragment_length`
    encoded items per sequence, and a `RehearsalDecoder` that sees only the
    final memory must

    - recollect their masked items (`recollection_loss`: InfoNCE against
      `num_negatives` items of the same sequence, one draw shared by its
      masked items, or, for id items, a full softmax over the item
      vocabulary), and
    - tell real fragments from fragments corrupted with another sequence's
      items (`familiarity_loss`).

    Both tasks read one view per fragment (one decoder pass): `mask_ratio` of
    its items are masked, and half the fragments, drawn at random, have
    `corruption_ratio` of their other items replaced.

    With `sampler="teacher"` a small full-attention teacher answers the task
    from the whole sequence; its attention over the items chooses the
    fragments, and its own task loss (`teacher_loss`) is one of the terms.
    The layer owns its sampler, decoder, random draws and the trackers of its
    terms (`metrics`), so a model adds the returned `loss` to its task loss
    and reports the terms. With both weights 0 the layer builds nothing and
    returns a zero loss: the plain memory.

    Args:
        hidden_dim: int. Width of the encoded items and of the memory slots.
        task: str. `"classification"` or `"click"` (the teacher's task).
            Defaults to `"classification"`.
        num_classes: int. Answer classes of the teacher (classification).
        recollection_weight: float. Defaults to 1.0.
        familiarity_weight: float. Defaults to 0.5.
        teacher_weight: float. Weight of the teacher's task loss
            (`sampler="teacher"`). Defaults to 1.0.
        rehearsal_warmup: int. Optimizer steps over which the recollection
            and familiarity weights rise linearly from 0 to their values, so
            the task is learned first (pass `step` when called). 0: full
            weights from the first step (the paper). Defaults to 0.
        sampler: str. `"uniform"` (the paper), `"teacher"` or `"importance"`
            (scores given with the inputs). Defaults to `"uniform"`.
        num_fragments: int. Fragments rehearsed per sequence. Defaults to 4.
        fragment_length: int. Items per fragment. Defaults to 16.
        mask_ratio: float. Share of a fragment's items masked for
            recollection. Defaults to 0.5.
        mask_selection: str. `"random"` (the paper) or `"important"` (the
            items the teacher or the given importance ranks highest).
            Defaults to `"random"`.
        corruption_ratio: float. Share of a corrupted fragment's unmasked
            items replaced for familiarity. Defaults to 0.5.
        num_negatives: int. Negatives of the contrastive recollection. Defaults to 30.
        recollection: str. `"contrastive"` or `"softmax"` (id items only:
            pass `item_ids` and `embeddings` when called). Defaults to `"contrastive"`.
        temperature: float. InfoNCE temperature. Defaults to 0.1.
        sampler_temperature: float. Temperature of importance/teacher
            sampling. Defaults to 1.0.
        teacher_hops: int. Attention rounds of the teacher (`sampler="teacher"`).
            Defaults to 2.
        teacher_positions: bool. The teacher's keys carry the items'
            relative positions. Defaults to True.
        uniform_mix: float. Share of uniform exploration in importance/teacher
            sampling. Defaults to 0.1.
        decoder_layers: int. Blocks of the rehearsal decoder. Defaults to 2.
        decoder_width: int. Width of the rehearsal decoder. Defaults to `hidden_dim`.
        num_heads: int. Attention heads of the decoder. Defaults to 4.
        dropout: float. Defaults to 0.
        seed: int. Seed of every random draw (the sampler uses `seed + 1`). Defaults to None.

    Call arguments:
        memory: `(batch, num_slots, hidden_dim)`, the memory after the whole sequence.
        items: encoded items `(batch, length, hidden_dim)`.
        item_mask: bool `(batch, length)`.
        query: encoded query `(batch, hidden_dim)` (read by the teacher).
        labels: task labels (the teacher's loss). Optional otherwise.
        sample_weight: optional task sample weights.
        importance: non-negative `(batch, length)`, required by `sampler="importance"`.
        item_ids: int `(batch, length)` ids of the items (`recollection="softmax"`).
        embeddings: `(vocabulary_size, hidden_dim)` id table (`recollection="softmax"`).
        step: the optimizer's step (`rehearsal_warmup`). Optional: without
            it the weights are full.

    Returns:
        A dict: `"loss"` (the weighted sum of the terms) and every enabled
        term, among `recollection_loss`, `recollection_accuracy`,
        `familiarity_loss`, `familiarity_accuracy`, `teacher_loss`,
        `teacher_accuracy`.

    Example:

    ```python
    rehearsal = keras_rm.layers.Rehearsal(hidden_dim=16, num_fragments=2, fragment_length=8, num_heads=2, seed=0)
    memory, items = np.random.rand(4, 3, 16), np.random.rand(4, 32, 16)
    terms = rehearsal(memory, items, np.ones((4, 32), bool), np.random.rand(4, 16))
    terms["loss"]  # add it to the task loss
    ```
    """

    def __init__(
        self,
        hidden_dim,
        task="classification",
        num_classes=None,
        recollection_weight=1.0,
        familiarity_weight=0.5,
        teacher_weight=1.0,
        rehearsal_warmup=0,
        sampler="uniform",
        num_fragments=4,
        fragment_length=16,
        mask_ratio=0.5,
        mask_selection="random",
        corruption_ratio=0.5,
        num_negatives=30,
        recollection="contrastive",
        temperature=0.1,
        sampler_temperature=1.0,
        teacher_hops=2,
        teacher_positions=True,
        uniform_mix=0.1,
        decoder_layers=2,
        decoder_width=None,
        num_heads=4,
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.task = check_choice("task", task, ("classification", "click"))
        self.num_classes = num_classes
        self.recollection_weight = check_non_negative("recollection_weight", recollection_weight)
        self.familiarity_weight = check_non_negative("familiarity_weight", familiarity_weight)
        self.teacher_weight = check_non_negative("teacher_weight", teacher_weight)
        self.rehearsal_warmup = check_non_negative_int("rehearsal_warmup", rehearsal_warmup)
        self.sampler = check_choice("sampler", sampler, SAMPLERS)
        self.num_fragments = check_positive_int("num_fragments", num_fragments)
        self.fragment_length = check_positive_int("fragment_length", fragment_length)
        self.mask_ratio = check_fraction("mask_ratio", mask_ratio)
        self.mask_selection = check_choice("mask_selection", mask_selection, ("random", "important"))
        if mask_selection == "important" and sampler == "uniform":
            raise ValueError(
                '`mask_selection="important"` needs a sampler that scores items ("teacher" or "importance"). '
                f"Received: `sampler` = {sampler!r}"
            )
        self.corruption_ratio = check_fraction("corruption_ratio", corruption_ratio)
        self.num_negatives = check_positive_int("num_negatives", num_negatives)
        self.recollection = check_choice("recollection", recollection, ("contrastive", "softmax"))
        if not temperature > 0:
            raise ValueError(f"`temperature` must be > 0. Received: `temperature` = {temperature!r}")
        self.temperature = float(temperature)
        self.sampler_temperature = float(sampler_temperature)
        self.teacher_hops = check_positive_int("teacher_hops", teacher_hops)
        self.teacher_positions = bool(teacher_positions)
        self.uniform_mix = float(uniform_mix)
        self.decoder_layers = check_positive_int("decoder_layers", decoder_layers)
        self.decoder_width = decoder_width
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.dropout = float(dropout)
        self.seed = seed

        self.active = self.recollection_weight > 0 or self.familiarity_weight > 0
        self.term_trackers = []
        if not self.active:
            return
        self.decoder = RehearsalDecoder(
            hidden_dim=self.hidden_dim,
            fragment_length=self.fragment_length,
            width=decoder_width,
            num_layers=decoder_layers,
            num_heads=num_heads,
            reconstructs=self.recollection_weight > 0,
            judges_familiarity=self.familiarity_weight > 0,
            dropout=dropout,
            dtype=self.dtype_policy,
            name="rehearsal_decoder",
        )
        self.fragment_sampler = self._make_sampler()
        self.seed_generator = keras.random.SeedGenerator(seed)
        names = []
        if self.recollection_weight > 0:
            names += ["recollection_loss", "recollection_accuracy"]
            self.recollection_loss_fn = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight", name="recollection_loss"
            )
        if self.familiarity_weight > 0:
            names += ["familiarity_loss", "familiarity_accuracy"]
            self.familiarity_loss_fn = fragments.FamiliarityLoss()
        if self.sampler == "teacher":
            names += ["teacher_loss", "teacher_accuracy"]
            self.teacher_loss_fn = task_loss(self.task)
        self.term_trackers = [keras.metrics.Mean(name=name) for name in names]  # reported by `fit`

    def _make_sampler(self):
        common = dict(
            num_fragments=self.num_fragments,
            fragment_length=self.fragment_length,
            seed=None if self.seed is None else self.seed + 1,
            dtype=self.dtype_policy,
            name="sampler",
        )
        if self.sampler == "uniform":
            return UniformSampler(**common)
        mixing = dict(temperature=self.sampler_temperature, uniform_mix=self.uniform_mix)
        if self.sampler == "importance":
            return ImportanceSampler(**common, **mixing)
        return TeacherSampler(
            **common,
            **mixing,
            hidden_dim=self.hidden_dim,
            task=self.task,
            num_classes=self.num_classes,
            hops=self.teacher_hops,
            positions=self.teacher_positions,
        )

    def check_length(self, length):
        """Raises a clear error when the fragments cannot fit in sequences of `length` items."""
        if self.active:
            self.fragment_sampler.check_length(length)

    def build(self, memory_shape, items_shape=None, item_mask_shape=None, query_shape=None):
        if not self.active:
            return
        if items_shape is not None:
            self.check_length(items_shape[1])
        self.decoder.build((None, self.fragment_length, self.hidden_dim), None, tuple(memory_shape))
        self.fragment_sampler.build((None, None if items_shape is None else items_shape[1]))

    def call(
        self,
        memory,
        items,
        item_mask,
        query,
        labels=None,
        sample_weight=None,
        importance=None,
        item_ids=None,
        embeddings=None,
        step=None,
        training=True,
    ):
        terms = {}
        loss = ops.zeros((), "float32")
        if not self.active:
            return {"loss": loss}
        recollection_weight, familiarity_weight = self.recollection_weight, self.familiarity_weight
        if self.rehearsal_warmup and step is not None:
            ramp = ops.minimum(ops.cast(step, "float32") / self.rehearsal_warmup, 1.0)
            recollection_weight, familiarity_weight = recollection_weight * ramp, familiarity_weight * ramp
        if self.sampler == "teacher":
            if labels is None:
                raise ValueError('`sampler="teacher"` needs the task `labels` (its teacher learns the task).')
            importance, teacher_logits = self.fragment_sampler.teach(items, item_mask, query, training=training)
            terms["teacher_loss"] = self.teacher_loss_fn(labels, teacher_logits, sample_weight)
            terms["teacher_accuracy"] = ops.mean(task_accuracy(self.task, labels, teacher_logits))
            loss = loss + self.teacher_weight * terms["teacher_loss"]
        elif self.sampler == "importance" and importance is None:
            raise ValueError('`sampler="importance"` needs `importance` (batch, length) in the inputs.')
        starts = self.fragment_sampler(item_mask, importance)
        fragment_items = fragments.gather_fragments(items, starts, self.fragment_length)
        fragment_mask = fragments.gather_fragments(item_mask, starts, self.fragment_length)

        # One view per fragment serves both tasks, so the decoder runs once: a share of its items go behind [MASK]
        # (recollection), and half the fragments, drawn at random, get a share of their visible items replaced
        # by another sequence's (familiarity).
        view = fragment_items
        masked = ops.zeros_like(fragment_mask, dtype="bool")
        if self.recollection_weight > 0:
            scores = None
            if self.mask_selection == "important":
                scores = fragments.gather_fragments(ops.cast(importance, "float32"), starts, self.fragment_length)
            if self.recollection == "softmax":
                if item_ids is None or embeddings is None:
                    raise ValueError('`recollection="softmax"` needs `item_ids` and `embeddings`.')
                item_ids = fragments.gather_fragments(item_ids, starts, self.fragment_length)
            masked, positions, chosen = self._masked_positions(fragment_mask, scores)
        if self.familiarity_weight > 0:
            visible = ops.logical_and(ops.cast(fragment_mask, "bool"), ops.logical_not(masked))
            view, corrupted, familiarity_weights = self._corrupt_half(view, visible, items, item_mask)
        if self.recollection_weight > 0:
            view = self.decoder.mask_items(view, masked)
        outputs = self.decoder(view, fragment_mask, ops.repeat(memory, self.num_fragments, axis=0), training=training)
        if self.recollection_weight > 0:
            terms["recollection_loss"], terms["recollection_accuracy"] = self._recollection_terms(
                outputs["reconstructions"], fragment_items, positions, chosen, items, item_mask, item_ids, embeddings
            )
            loss = loss + recollection_weight * terms["recollection_loss"]
        if self.familiarity_weight > 0:
            logits = outputs["familiarity_logits"]
            terms["familiarity_loss"] = self.familiarity_loss_fn(corrupted, logits, sample_weight=familiarity_weights)
            terms["familiarity_accuracy"] = fragments.weighted_mean(
                ops.equal(logits < 0, corrupted), familiarity_weights
            )
            loss = loss + familiarity_weight * terms["familiarity_loss"]
        return {"loss": loss, **terms}

    def _masked_count(self):
        """Items of a fragment behind [MASK] (0 without recollection)."""
        return max(1, round(self.mask_ratio * self.fragment_length)) if self.recollection_weight > 0 else 0

    def _masked_positions(self, fragment_mask, scores):
        """Which items of each fragment go behind [MASK] (random or the most important): `(masked, positions,
        chosen)`, the mask `(rows, fragment_length)` and `fragments.choose_positions`' two outputs."""
        positions, chosen = fragments.choose_positions(fragment_mask, self._masked_count(), self.seed_generator, scores)
        one_hot = fragments.position_one_hot(positions, chosen, self.fragment_length, "float32")
        return ops.sum(one_hot, axis=1) > 0, positions, chosen

    def _recollection_terms(
        self, reconstructions, fragment_items, positions, chosen, items, item_mask, item_ids, embeddings
    ):
        """Scores the reconstructions of the masked items against the true ones: loss and accuracy."""
        reconstructions = fragments.take_rows(reconstructions, positions)
        count = positions.shape[1]
        if self.recollection == "softmax":
            labels = fragments.take_rows(item_ids, positions)
            logits = ops.matmul(reconstructions, ops.transpose(embeddings))
        else:
            # The masked items of a sequence's fragments share one draw of negatives from that sequence: a gather
            # (and a gradient scatter) of `num_negatives` items per sequence instead of per masked item.
            per_sequence = (-1, self.num_fragments * count, self.hidden_dim)
            reconstructions = ops.reshape(reconstructions, per_sequence)
            targets = ops.reshape(fragments.take_rows(fragment_items, positions), per_sequence)
            negatives = fragments.draw_items(items, item_mask, self.num_negatives, self.seed_generator)
            logits = fragments.contrastive_logits(reconstructions, targets, negatives, self.temperature)
            logits = ops.reshape(logits, (-1, count, 1 + self.num_negatives))
            labels = ops.zeros(ops.shape(positions), dtype="int32")
        weights = ops.cast(chosen, "float32")
        loss = self.recollection_loss_fn(labels, logits, sample_weight=weights)
        hits = ops.equal(ops.argmax(logits, axis=-1), ops.cast(labels, "int32"))
        return loss, fragments.weighted_mean(hits, weights)

    def _corrupt_half(self, view, visible, items, item_mask):
        """Replaces, in half the fragments (drawn at random), `corruption_ratio` of their `visible` items by items
        of another sequence (the next row of the batch).

        Returns:
            `(view, corrupted, weights)`: the fragments, bool `(rows,)` which
            were corrupted, and the weights of the familiarity task (0 for a
            fragment without a real item, or a corrupted one without a
            replaced item).
        """
        length = self.fragment_length
        count = max(1, round(self.corruption_ratio * (length - self._masked_count())))
        positions, chosen = fragments.choose_positions(visible, count, self.seed_generator)
        donors = ops.roll(items, 1, axis=0)
        donor_mask = ops.roll(item_mask, 1, axis=0)
        replacements = fragments.draw_items(donors, donor_mask, self.num_fragments * count, self.seed_generator)
        replacements = ops.reshape(replacements, (-1, count, self.hidden_dim))
        one_hot = fragments.position_one_hot(positions, chosen, length, view.dtype)
        replaced = ops.sum(one_hot, axis=1)[..., None]
        corrupted_view = view * (1.0 - replaced) + ops.einsum("rcl,rcd->rld", one_hot, replacements)
        corrupted = keras.random.uniform((ops.shape(view)[0],), seed=self.seed_generator) < 0.5
        weights = ops.where(corrupted, ops.any(chosen, axis=1), ops.any(visible, axis=1))
        return ops.where(corrupted[:, None, None], corrupted_view, view), corrupted, ops.cast(weights, "float32")

    def update_metrics(self, terms, batch_size, unscale=lambda value: value):
        """Adds a step's terms (from `call`) to the trackers; `unscale` maps a per-replica loss to the global one."""
        for tracker in self.term_trackers:
            value = terms[tracker.name]
            tracker.update_state(unscale(value) if tracker.name.endswith("_loss") else value, sample_weight=batch_size)

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in REHEARSAL_ARGUMENTS})
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "task": self.task,
                "num_classes": self.num_classes,
                "num_heads": self.num_heads,
                "dropout": self.dropout,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**upgrade_config(cls, config))  # files of older versions: keras_rm.legacy


# The rehearsal's own arguments, as a model that composes the layer takes them (the names of its config).
REHEARSAL_ARGUMENTS = (
    "recollection_weight",
    "familiarity_weight",
    "teacher_weight",
    "rehearsal_warmup",
    "sampler",
    "num_fragments",
    "fragment_length",
    "mask_ratio",
    "mask_selection",
    "corruption_ratio",
    "num_negatives",
    "recollection",
    "temperature",
    "sampler_temperature",
    "teacher_hops",
    "teacher_positions",
    "uniform_mix",
    "decoder_layers",
    "decoder_width",
)
