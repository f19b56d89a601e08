"""A KerasTuner `HyperModel` for `RehearsalMemoryModel`: memory size, segment length, rehearsal weights."""

import keras
import keras_tuner

import keras_rm
from keras_rm.layers.rehearsal import SAMPLERS
from keras_rm.schedules import learning_rate_schedule
from keras_rm.validation import check_non_negative_int

# Each entry: a list (a choice), a `(min, max)` tuple or `{"min", "max"}` dict
# (a range), or a single value (fixed). The rehearsal weights are log-spaced
# choices that include 0, so "no rehearsal" is a point of the space.
DEFAULT_SPACE = {
    "num_slots": [4, 8, 16],
    "slot_dim": [32, 64],
    "segment_length": [8, 16, 32],
    "recollection_weight": [0.0, 0.01, 0.1, 1.0],
    "familiarity_weight": [0.0, 0.01, 0.1, 1.0],
    "sampler": ["uniform", "teacher"],
    "learning_rate": (1e-4, 1e-2),
}
_INTEGER = ("num_slots", "slot_dim", "segment_length")
_LOG_SCALE = ("recollection_weight", "familiarity_weight", "learning_rate")


def _check_value(name, value):
    if name == "sampler":
        if value not in SAMPLERS:
            raise ValueError(f"Search space `sampler` values must be in {list(SAMPLERS)}. Received: {value!r}")
        return value
    if name in _INTEGER:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Search space `{name}` values must be positive integers. Received: {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"Search space `{name}` values must be non-negative numbers. Received: {value!r}")
    if name == "learning_rate" and value == 0:
        raise ValueError(f"Search space `learning_rate` values must be > 0. Received: {value!r}")
    return float(value)


def check_space(space):
    """Fills `DEFAULT_SPACE` in with `space` and validates every entry; returns the full space.

    Raises:
        ValueError: naming the hyperparameter, for an unknown name, an empty
            choice, a range whose minimum is not below its maximum, a log-scale
            range that starts at 0, or a value out of its domain.
    """
    full = dict(DEFAULT_SPACE)
    for name, entry in (space or {}).items():
        if name not in DEFAULT_SPACE:
            raise ValueError(f"Unknown hyperparameter {name!r}; the space covers {list(DEFAULT_SPACE)}.")
        full[name] = entry
    checked = {}
    for name, entry in full.items():
        if isinstance(entry, dict):
            if set(entry) != {"min", "max"}:
                raise ValueError(f"A range for `{name}` needs exactly `min` and `max`. Received: {entry!r}")
            entry = (entry["min"], entry["max"])
        if isinstance(entry, tuple):
            if len(entry) != 2 or name == "sampler":
                raise ValueError(f"`{name}` cannot be a range like {entry!r}; give a list of choices.")
            low, high = (_check_value(name, v) for v in entry)
            if not low < high:
                raise ValueError(f"The range of `{name}` needs min < max. Received: min={low}, max={high}")
            if name in _LOG_SCALE and low == 0:
                raise ValueError(
                    f"`{name}` is searched on a log scale, so a range cannot start at 0. Received: {entry!r}. "
                    f"To include 0, give a list of choices, e.g. [0.0, 0.01, 0.1, 1.0]."
                )
            checked[name] = (low, high)
        elif isinstance(entry, list):
            if not entry:
                raise ValueError(f"The choices of `{name}` are empty.")
            checked[name] = [_check_value(name, v) for v in entry]
        else:
            checked[name] = _check_value(name, entry)
    return checked


class RehearsalHyperModel(keras_tuner.HyperModel):
    """Search space of a `RehearsalMemoryModel` for KerasTuner.

    Tunes the memory machine's `num_slots` and `segment_length`, `slot_dim`
    (the width of items and slots: the item encoder's `hidden_dim`),
    `recollection_weight` and `familiarity_weight` (log scale, including 0:
    no rehearsal), the `sampler` and the Adam learning rate. Any of them can
    be fixed or narrowed with `space`. `build(hp)` returns a compiled model
    built for `input_shape`, so the tuner's `get_best_models()` loads
    weights into real variables on every backend.

    The number of rehearsed fragments is `min(num_fragments, length //
    segment_length)` so every segment length of the space fits the sequence.

    A trial can begin with a curriculum: `tuner.search(..., warmup_data=short,
    warmup_epochs=2)` first trains each trial's model for `warmup_epochs` on
    `warmup_data` (e.g. shorter stories), then as the search asks; only the
    second part reports to the tuner.

    Args:
        make_item_encoder: callable `hidden_dim -> ItemEncoder`, called once
            per trial (e.g. `lambda d: SentenceItemEncoder(vocab_size, d, 8)`).
        input_shape: dict of input shapes without the batch, e.g.
            `{"items": (100, 8), "query": (8,)}`.
        task: str. `"classification"` (bAbI QA) or `"click"` (CTR).
            Defaults to `"classification"`.
        num_classes: int. Answer classes (classification).
        space: dict. Overrides of `DEFAULT_SPACE`: a list is a choice, a
            `(min, max)` tuple or `{"min", "max"}` dict a range, anything else
            a fixed value. Defaults to `DEFAULT_SPACE`.
        num_fragments: int. Upper bound of rehearsed fragments. Defaults to 4.
        learning_rate_warmup: int. Optimizer steps over which the learning
            rate rises linearly from 0 to the trial's. Defaults to 0.
        model_kwargs: dict. Further fixed `RehearsalMemoryModel` arguments; a
            `memory` dict among them holds further `MemoryMachine` arguments
            (e.g. `{"num_heads": 2}`).
        seed: int. Seed of the model's random draws. Defaults to None.

    Example:

    ```python
    hypermodel = RehearsalHyperModel(
        lambda d: keras_rm.layers.TokenItemEncoder(50, d), {"items": (64,), "query": (2,)},
        num_classes=50, space={"num_slots": [2, 4], "slot_dim": 16, "segment_length": 16},
    )
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2)
    ```
    """

    def __init__(
        self,
        make_item_encoder,
        input_shape,
        task="classification",
        num_classes=None,
        space=None,
        num_fragments=4,
        learning_rate_warmup=0,
        model_kwargs=None,
        seed=None,
        name=None,
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        if not callable(make_item_encoder):
            raise TypeError(
                f"`make_item_encoder` must be callable (hidden_dim -> ItemEncoder). Received: {make_item_encoder!r}"
            )
        if not isinstance(input_shape, dict) or "items" not in input_shape or "query" not in input_shape:
            raise ValueError(
                f"`input_shape` must be a dict with `items` and `query` shapes (no batch). "
                f"Received: `input_shape` = {input_shape!r}"
            )
        self.make_item_encoder = make_item_encoder
        self.input_shape = {key: tuple(shape) for key, shape in input_shape.items()}
        self.task = task
        self.num_classes = num_classes
        self.space = check_space(space)
        self.num_fragments = num_fragments
        self.learning_rate_warmup = check_non_negative_int("learning_rate_warmup", learning_rate_warmup)
        self.model_kwargs = dict(model_kwargs or {})
        self.seed = seed

    def hyperparameter(self, hp, name):
        """Declares `name` in `hp` as the space says; returns its value for this trial."""
        entry = self.space[name]
        if isinstance(entry, list):
            return hp.Choice(name, entry)
        if isinstance(entry, tuple):
            sampling = "log" if name in _LOG_SCALE else "linear"
            if name in _INTEGER:
                return hp.Int(name, entry[0], entry[1], sampling=sampling)
            return hp.Float(name, entry[0], entry[1], sampling=sampling)
        return hp.Fixed(name, entry)

    def build(self, hp):
        values = {name: self.hyperparameter(hp, name) for name in DEFAULT_SPACE}
        length = self.input_shape["items"][0]
        segment_length = values["segment_length"]
        if segment_length > length:
            raise ValueError(f"`segment_length` = {segment_length} is longer than the sequences ({length} items).")
        model_kwargs = dict(self.model_kwargs)
        memory = dict(
            model_kwargs.pop("memory", None) or {}, num_slots=values["num_slots"], segment_length=segment_length
        )
        model = keras_rm.RehearsalMemoryModel(
            self.make_item_encoder(values["slot_dim"]),
            task=self.task,
            num_classes=self.num_classes,
            memory=memory,
            rehearsal=dict(
                recollection_weight=values["recollection_weight"],
                familiarity_weight=values["familiarity_weight"],
                sampler=values["sampler"],
                num_fragments=max(1, min(self.num_fragments, length // segment_length)),
            ),
            seed=self.seed,
            **model_kwargs,
        )
        model.build({key: (None, *shape) for key, shape in self.input_shape.items()})
        schedule = learning_rate_schedule(values["learning_rate"], self.learning_rate_warmup)
        model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0))
        model.optimizer.build(model.trainable_variables)  # so a trial's checkpoint restores the optimizer too
        return model

    def fit(self, hp, model, *args, warmup_data=None, warmup_epochs=0, **kwargs):
        """Trains a trial's model: `warmup_epochs` on `warmup_data` first (without the tuner's callbacks, so they
        see only the search's own epochs), then `model.fit(*args, **kwargs)`, whose history the tuner scores."""
        if warmup_epochs:
            if warmup_data is None:
                raise ValueError(f"`warmup_epochs` = {warmup_epochs} needs `warmup_data`.")
            model.fit(warmup_data, epochs=warmup_epochs, shuffle=False, verbose=kwargs.get("verbose", "auto"))
        return model.fit(*args, **kwargs)
