"""Bad input and bad arguments raise a clear error that names the problem."""

import numpy as np
import pytest

import keras_rm
from tests.testing import VOCABULARY, recall_data, tiny_model

X, Y, _ = recall_data(4)


@pytest.fixture(scope="module")
def model():
    model = tiny_model()
    model(X)
    return model


def with_inputs(**changes):
    return {**X, **changes}


@pytest.mark.parametrize(
    "inputs,error,match",
    [
        (with_inputs(items=X["items"][..., None]), ValueError, "`items` must have rank 2"),
        (with_inputs(item_mask=np.ones((4, 15), bool)), ValueError, "same length"),
        ({"items": X["items"]}, ValueError, "must contain `query`"),
        (with_inputs(query=X["query"][:3]), ValueError, "same batch size"),
        (with_inputs(items=X["items"] + VOCABULARY), ValueError, "outside the vocabulary"),
        (with_inputs(items=X["items"] - 100), ValueError, "outside the vocabulary"),
        (with_inputs(query=np.zeros((4, 1, 1, 1), "int32")), ValueError, "`query` must have rank"),
        (with_inputs(extra=X["query"]), ValueError, "Unknown input keys"),
        (X["items"], TypeError, "takes a dict"),
    ],
    ids=["rank", "mask-length", "no-query", "batch", "id-too-large", "id-negative", "query-rank", "unknown-key", "not-dict"],
)
def test_bad_inputs(model, inputs, error, match):
    with pytest.raises(error, match=match):
        model(inputs)


@pytest.mark.parametrize(
    "overrides,match",
    [
        (dict(segment_length=0), "`segment_length` must be a positive integer"),
        (dict(segment_length=-4), "`segment_length` must be a positive integer"),
        (dict(num_slots=0), "`num_slots` must be a positive integer"),
        (dict(mask_ratio=0.0), "`mask_ratio` must be in"),
        (dict(corruption_ratio=1.5), "`corruption_ratio` must be in"),
        (dict(recollection_weight=-1.0), "`recollection_weight` must be >= 0"),
        (dict(sampler="random"), "`sampler` must be one of"),
        (dict(slot_dim=16), "`slot_dim` must equal"),
        (dict(temperature=0.0), "`temperature` must be > 0"),
        (dict(mask_selection="first"), "`mask_selection` must be one of"),
        (dict(mask_selection="important"), 'needs a sampler that scores items'),
    ],
)
def test_bad_arguments(overrides, match):
    with pytest.raises(ValueError, match=match):
        tiny_model(**overrides)


def test_fragments_longer_than_the_sequence():
    model = tiny_model(num_fragments=3, fragment_length=8)
    with pytest.raises(ValueError, match="`num_fragments \\* fragment_length` must not exceed"):
        model(X)
    model.compile()  # fit builds symbolically: the same error, not a half-built model
    with pytest.raises(ValueError, match="`num_fragments \\* fragment_length` must not exceed"):
        model.fit(X, Y, verbose=0)


def test_item_encoder_must_be_an_item_encoder():
    with pytest.raises(TypeError, match="`item_encoder` must be a keras_rm item encoder"):
        keras_rm.RehearsalMemoryModel("tokens", num_classes=3)


def test_classification_needs_num_classes():
    with pytest.raises((TypeError, ValueError), match="`num_classes`"):
        keras_rm.RehearsalMemoryModel(keras_rm.layers.TokenItemEncoder(10, 8))
