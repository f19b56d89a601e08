"""Bad constructor arguments raise a clear error that names the problem (bad inputs: test_bad_input.py)."""

import pytest

import keras_rm
from tests.testing import recall_data, tiny_model

X, Y, _ = recall_data(4)


@pytest.mark.parametrize(
    "overrides,match",
    [
        (dict(segment_length=0), "`segment_length` must be a positive integer"),
        (dict(segment_length=-4), "`segment_length` must be a positive integer"),
        (dict(num_slots=0), "`num_slots` must be a positive integer"),
        (dict(mask_ratio=0.0), "`mask_ratio` must be in"),
        (dict(corruption_ratio=1.5), "`corruption_ratio` must be in"),
        (dict(recollection_weight=-1.0), "`recollection_weight` must be >= 0"),
        (dict(rehearsal_warmup=-1), "`rehearsal_warmup` must be a non-negative integer"),
        (dict(sampler="random"), "`sampler` must be one of"),
        (dict(memory=dict(hidden_dim=16)), "The memory's `hidden_dim` must equal the item encoder's"),
        (dict(temperature=0.0), "`temperature` must be > 0"),
        (dict(mask_selection="first"), "`mask_selection` must be one of"),
        (dict(mask_selection="important"), "needs a sampler that scores items"),
    ],
)
def test_bad_arguments(overrides, match):
    with pytest.raises(ValueError, match=match):
        tiny_model(**overrides)


def test_fragments_longer_than_the_sequence():
    model = tiny_model(num_fragments=1, fragment_length=24)  # sequences of 16 items
    with pytest.raises(ValueError, match="`fragment_length` must not exceed the sequence length"):
        model(X)
    model.compile()  # fit builds symbolically: the same error, not a half-built model
    with pytest.raises(ValueError, match="`fragment_length` must not exceed the sequence length"):
        model.fit(X, Y, verbose=0)


def test_item_encoder_must_be_an_item_encoder():
    with pytest.raises(TypeError, match="`item_encoder` must be a keras_rm item encoder"):
        keras_rm.RehearsalMemoryModel("tokens", num_classes=3)


def test_classification_needs_num_classes():
    with pytest.raises((TypeError, ValueError), match="`num_classes`"):
        keras_rm.RehearsalMemoryModel(keras_rm.layers.TokenItemEncoder(10, 8))
