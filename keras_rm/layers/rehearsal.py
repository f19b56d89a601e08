import keras
from keras import ops

from keras_rm import fragments
from keras_rm.layers.rehearsal_decoder import RehearsalDecoder
from keras_rm.layers.task_head import task_accuracy, task_loss
from keras_rm.legacy import FLAT_REHEARSAL, upgrade_config
from keras_rm.samplers import ImportanceSampler, TeacherSampler, UniformSampler
from keras_rm.validation import (
    check_arguments,
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
            use_recollection=self.recollection_weight > 0,
            use_familiarity=self.familiarity_weight > 0,
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

    @property
    def needs_item_ids(self):
        """Whether `call` needs `item_ids` and `embeddings` (recollection by a softmax over the item vocabulary)."""
        return self.active and self.recollection_weight > 0 and self.recollection == "softmax"

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
        if not self.active:
            return {"loss": ops.zeros((), "float32")}
        if self.needs_item_ids and (item_ids is None or embeddings is None):
            raise ValueError('`recollection="softmax"` needs `item_ids` and `embeddings`.')
        terms = {}
        if self.sampler == "teacher":
            importance, terms = self._teacher_terms(items, item_mask, query, labels, sample_weight, training)
        elif self.sampler == "importance" and importance is None:
            raise ValueError('`sampler="importance"` needs `importance` (batch, length) in the inputs.')
        starts = self.fragment_sampler(item_mask, importance)
        views = self._views(items, item_mask, starts, importance, item_ids)
        outputs = self.decoder(
            views.view, views.mask, ops.repeat(memory, self.num_fragments, axis=0), training=training
        )
        if self.recollection_weight > 0:
            terms.update(self._recollection_terms(outputs["reconstructions"], views, items, item_mask, embeddings))
        if self.familiarity_weight > 0:
            terms.update(self._familiarity_terms(outputs["familiarity_logits"], views))
        return {"loss": self._weighted_sum(terms, step), **terms}

    def _teacher_terms(self, items, item_mask, query, labels, sample_weight, training):
        """The teacher answers from the whole sequence: its item attention (the importance) and its task terms."""
        if labels is None:
            raise ValueError('`sampler="teacher"` needs the task `labels` (its teacher learns the task).')
        importance, logits = self.fragment_sampler.teach(items, item_mask, query, training=training)
        terms = {
            "teacher_loss": self.teacher_loss_fn(labels, logits, sample_weight),
            "teacher_accuracy": ops.mean(task_accuracy(self.task, labels, logits)),
        }
        return importance, terms

    def _views(self, items, item_mask, starts, importance, item_ids):
        """The fragments at `starts` and the one view of each that serves both tasks (one decoder pass): a share of
        its items behind [MASK] (recollection), and in half the fragments, drawn at random, a share of the visible
        items replaced by another sequence's (familiarity)."""
        length = self.fragment_length
        fragment_items = fragments.gather_fragments(items, starts, length)
        fragment_mask = fragments.gather_fragments(item_mask, starts, length)
        view, masked, positions, chosen, corrupted, weights = fragment_items, None, None, None, None, None
        if self.recollection_weight > 0:
            scores = None
            if self.mask_selection == "important":
                scores = fragments.gather_fragments(ops.cast(importance, "float32"), starts, length)
            if self.needs_item_ids:
                item_ids = fragments.gather_fragments(item_ids, starts, length)
            masked, positions, chosen = fragments.mask_positions(
                fragment_mask, self._masked_count(), self.seed_generator, scores
            )
        if self.familiarity_weight > 0:
            visible = ops.cast(fragment_mask, "bool")
            if masked is not None:
                visible = ops.logical_and(visible, ops.logical_not(masked))
            count = max(1, round(self.corruption_ratio * (length - self._masked_count())))
            view, corrupted, weights = fragments.corrupt_half(
                view, visible, items, item_mask, count, self.num_fragments, self.seed_generator
            )
        if masked is not None:
            view = self.decoder.mask_items(view, masked)
        return fragments.FragmentViews(
            items=fragment_items,
            mask=fragment_mask,
            view=view,
            masked_positions=positions,
            masked_chosen=chosen,
            item_ids=item_ids if self.needs_item_ids else None,
            corrupted=corrupted,
            weights=weights,
        )

    def _masked_count(self):
        """Items of a fragment behind [MASK] (0 without recollection)."""
        return max(1, round(self.mask_ratio * self.fragment_length)) if self.recollection_weight > 0 else 0

    def _recollection_terms(self, reconstructions, views, items, item_mask, embeddings):
        """Scores the reconstructions of the masked items against the true ones: loss and accuracy."""
        positions = views.masked_positions
        reconstructions = fragments.take_rows(reconstructions, positions)
        count = positions.shape[1]
        if self.needs_item_ids:
            labels = fragments.take_rows(views.item_ids, positions)
            logits = ops.matmul(reconstructions, ops.transpose(embeddings))
        else:
            # The masked items of a sequence's fragments share one draw of negatives from that sequence: a gather
            # (and a gradient scatter) of `num_negatives` items per sequence instead of per masked item.
            per_sequence = (-1, self.num_fragments * count, self.hidden_dim)
            reconstructions = ops.reshape(reconstructions, per_sequence)
            targets = ops.reshape(fragments.take_rows(views.items, positions), per_sequence)
            negatives = fragments.draw_items(items, item_mask, self.num_negatives, self.seed_generator)
            logits = fragments.contrastive_logits(reconstructions, targets, negatives, self.temperature)
            logits = ops.reshape(logits, (-1, count, 1 + self.num_negatives))
            labels = ops.zeros(ops.shape(positions), dtype="int32")
        weights = ops.cast(views.masked_chosen, "float32")
        hits = ops.equal(ops.argmax(logits, axis=-1), ops.cast(labels, "int32"))
        return {
            "recollection_loss": self.recollection_loss_fn(labels, logits, sample_weight=weights),
            "recollection_accuracy": fragments.weighted_mean(hits, weights),
        }

    def _familiarity_terms(self, logits, views):
        """Scores the familiarity logits (real > 0) against which fragments were corrupted: loss and accuracy."""
        return {
            "familiarity_loss": self.familiarity_loss_fn(views.corrupted, logits, sample_weight=views.weights),
            "familiarity_accuracy": fragments.weighted_mean(ops.equal(logits < 0, views.corrupted), views.weights),
        }

    def _weighted_sum(self, terms, step):
        """The rehearsal's loss: its terms times their weights, those of recollection and familiarity rising from 0
        over `rehearsal_warmup` optimizer steps when `step` is given."""
        ramp = 1.0
        if self.rehearsal_warmup and step is not None:
            ramp = ops.minimum(ops.cast(step, "float32") / self.rehearsal_warmup, 1.0)
        weights = {
            "teacher_loss": self.teacher_weight,
            "recollection_loss": self.recollection_weight * ramp,
            "familiarity_loss": self.familiarity_weight * ramp,
        }
        loss = ops.zeros((), "float32")
        for name, weight in weights.items():
            if name in terms:
                loss = loss + weight * terms[name]
        return loss

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


# The rehearsal's own arguments, as a model that composes the layer takes them (the names of its config): those
# files of 0.1-0.5 hold flat in the model's config, and any added since (none yet).
REHEARSAL_ARGUMENTS = FLAT_REHEARSAL


def make_rehearsal(rehearsal, model, flat=None):
    """The `Rehearsal` layer a memory model's `rehearsal` argument names, for the model's `hidden_dim`, `task`,
    `num_classes` and items.

    `rehearsal` is `"paper"` (the layer's defaults), a dict of `REHEARSAL_ARGUMENTS` (the rest as the paper's), a
    `Rehearsal` layer made for the model (used as is) or None (no rehearsal: both weights 0). A dict's layer takes
    the model's `num_heads`, `dropout` and `seed`, and fragments of the model's `segment_length` unless the dict
    says otherwise. `flat`: arguments given the pre-0.6 way, as the model's own (they update the dict).
    """
    mine = {"hidden_dim": model.hidden_dim, "task": model.task, "num_classes": model.num_classes}
    if isinstance(rehearsal, Rehearsal):
        theirs = {key: getattr(rehearsal, key) for key in mine}
        if theirs != mine or flat:
            raise ValueError(
                f"`rehearsal` must be made for this model ({mine}), and its arguments given to it alone. "
                f"Received: a Rehearsal with {theirs}" + (f" and the model's {sorted(flat)}" if flat else "")
            )
    else:
        if rehearsal is None:
            arguments = {"recollection_weight": 0.0, "familiarity_weight": 0.0}
        elif isinstance(rehearsal, str) and rehearsal == "paper":
            arguments = {}
        elif isinstance(rehearsal, dict):
            arguments = rehearsal
        else:
            raise TypeError(
                '`rehearsal` must be "paper", a dict of `keras_rm.layers.Rehearsal` arguments, a `Rehearsal` layer '
                f"or None. Received: {rehearsal!r}"
            )
        arguments = check_arguments("rehearsal", {**arguments, **(flat or {})}, REHEARSAL_ARGUMENTS, "Rehearsal")
        rehearsal = Rehearsal(
            **mine,
            num_heads=model.num_heads,
            dropout=model.dropout,
            seed=model.seed,
            name="rehearsal",
            **{"fragment_length": model.segment_length, **arguments},
        )
    if rehearsal.recollection == "softmax" and not model.item_encoder.items_are_ids:
        raise ValueError(
            '`recollection="softmax"` needs id items (TokenItemEncoder or CategoricalItemEncoder). '
            f"Received: `item_encoder` = {model.item_encoder.__class__.__name__}"
        )
    return rehearsal
