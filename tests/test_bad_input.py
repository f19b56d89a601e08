"""Bad input and numerical safety: a clear error or a defined result, never a NaN or a backend crash.

Defined results (documented in docs/model.md): an empty or all-padding sequence
is read from the initial memory; a sequence shorter than a segment, or not a
whole number of segments, is padded; a dense item holding NaN/inf is masked
out like padding. Everything else here is an error naming the argument.
"""

import numpy as np
import pytest
from keras import ops

import keras_rm
from tests.testing import VOCABULARY, recall_data, tiny_model

X, Y, _ = recall_data(4)


@pytest.fixture(scope="module")
def model():
    model = tiny_model()
    model(X)
    return model


def logits(model, items, query=X["query"], **extra):
    return ops.convert_to_numpy(model({"items": items, "query": query, **extra}))


def test_empty_and_all_padding_sequences_read_the_initial_memory(model):
    from_initial = ops.convert_to_numpy(model.answer(model.initial_memory(4), X["query"]))
    empty = logits(model, X["items"][:, :0])
    all_padding = logits(model, np.zeros_like(X["items"]))
    assert np.isfinite(empty).all()
    np.testing.assert_allclose(empty, from_initial, atol=1e-5)
    np.testing.assert_allclose(all_padding, from_initial, atol=1e-5)


@pytest.mark.parametrize("length", [3, 13], ids=["shorter-than-a-segment", "not-whole-segments"])
def test_partial_segments_are_padded(model, length):
    padded = np.zeros_like(X["items"])
    padded[:, :length] = X["items"][:, :length]
    np.testing.assert_allclose(logits(model, X["items"][:, :length]), logits(model, padded), atol=1e-5)


def test_non_finite_dense_features_are_masked_out():
    encoder = keras_rm.layers.DenseItemEncoder(8, feature_dim=3)
    model = keras_rm.RehearsalMemoryModel(
        encoder, num_classes=2, memory=dict(num_slots=2, segment_length=4), rehearsal=dict(num_fragments=1)
    )
    rng = np.random.default_rng(0)
    items, query = rng.normal(size=(2, 8, 3)).astype("float32"), rng.normal(size=(2, 3)).astype("float32")
    corrupt = items.copy()
    corrupt[0, 2, 1], corrupt[1, 5, 0], corrupt[1, 6] = np.nan, np.inf, -np.inf
    mask = np.isfinite(corrupt).all(-1)
    result = logits(model, corrupt, query)
    assert np.isfinite(result).all()
    np.testing.assert_allclose(result, logits(model, items, query, item_mask=mask), atol=1e-5)
    bad_query = query.copy()
    bad_query[0, 0] = np.nan
    assert np.isfinite(logits(model, items, bad_query)).all()


@pytest.mark.parametrize(
    "inputs,error,match",
    [
        ({**X, "items": X["items"] + VOCABULARY}, ValueError, "outside the vocabulary"),
        ({**X, "items": X["items"] - 100}, ValueError, "outside the vocabulary"),
        ({**X, "items": X["items"].astype("float32")}, TypeError, "reads integer ids.*float32"),
        ({**X, "query": X["query"].astype("float32")}, TypeError, "reads integer ids.*float32"),
        ({**X, "query": X["query"][:3]}, ValueError, "same batch size"),
        ({**X, "item_mask": np.ones((2, 16), bool)}, ValueError, "same batch size"),
        ({**X, "item_mask": np.ones((4, 15), bool)}, ValueError, "same length"),
        ({**X, "items": X["items"][..., None]}, ValueError, "`items` must have rank 2"),
        ({**X, "query": np.zeros((4, 1, 1, 1), "int32")}, ValueError, "`query` must have rank"),
        ({"items": X["items"]}, ValueError, "must contain `query`"),
        ({**X, "extra": X["query"]}, ValueError, "Unknown input keys"),
        ({**X, "query_position": np.zeros((4, 3), "int32")}, ValueError, "`query_position` must be"),
        (X["items"], TypeError, "takes a dict"),
    ],
    ids=[
        "id-too-large",
        "id-negative",
        "float-ids",
        "float-query",
        "query-batch",
        "mask-batch",
        "mask-length",
        "items-rank",
        "query-rank",
        "no-query",
        "unknown-key",
        "query-position-shape",
        "not-dict",
    ],
)
def test_bad_values_dtypes_and_shapes(model, inputs, error, match):
    with pytest.raises(error, match=match):
        model(inputs)


@pytest.mark.parametrize("source", ["arrays", "tf.data"])
def test_ids_out_of_the_vocabulary_stop_compiled_fit_evaluate_and_predict(model, source):
    # A compiled step cannot read its values (JAX's lookup would give NaN in silence): the inputs are checked
    # on the host, arrays at once, a tf.data.Dataset batch by batch as it is read.
    import tensorflow as tf

    model.compile()
    too_large = {**X, "items": np.where(X["items"] > 0, X["items"] + VOCABULARY + 4, 0).astype("int32")}
    largest = int(too_large["items"].max())
    bad_query = {**X, "query": X["query"] - 50}
    for inputs, name, bad in ((too_large, "items", largest), (bad_query, "query", int(bad_query["query"].min()))):
        data = tf.data.Dataset.from_tensor_slices((inputs, Y)).batch(2) if source == "tf.data" else None
        # A dataset is checked batch by batch: the id named is the first batch's.
        bad = bad if data is None else "-?[0-9]+"
        message = f"`{name}` holds ids outside the vocabulary \\[0, {VOCABULARY}\\). Received: an id = {bad}"
        for call in ("fit", "evaluate", "predict"):
            kwargs = (
                {"x": data.map(lambda x, y: x) if call == "predict" else data}
                if data is not None
                else ({"x": inputs} if call == "predict" else {"x": inputs, "y": Y, "batch_size": 2})
            )
            with pytest.raises(Exception, match=message) as caught:
                getattr(model, call)(verbose=0, **kwargs)
            if source == "arrays":
                assert caught.type is ValueError
    history = model.fit(X, Y, batch_size=2, verbose=0, validation_data=(X, Y)).history
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_loss"]).all()
    with pytest.raises(ValueError, match="`items` holds ids outside"):
        model.fit(X, Y, batch_size=2, verbose=0, validation_data=(too_large, Y))


def test_query_longer_than_a_sentence_and_wrong_feature_width():
    sentences = keras_rm.RehearsalMemoryModel(
        keras_rm.layers.SentenceItemEncoder(20, 8, max_words=6),
        num_classes=3,
        memory=dict(num_slots=2, segment_length=4),
        rehearsal=dict(num_fragments=1),
    )
    items = np.ones((2, 8, 6), "int32")
    sentences({"items": items, "query": np.ones((2, 6), "int32")})
    with pytest.raises(ValueError, match="last axis of `query` must equal `max_words` = 6.*\\(2, 9\\)"):
        sentences({"items": items, "query": np.ones((2, 9), "int32")})
    frames = keras_rm.RehearsalMemoryModel(
        keras_rm.layers.DenseItemEncoder(8, feature_dim=3),
        num_classes=2,
        memory=dict(num_slots=2, segment_length=4),
        rehearsal=dict(num_fragments=1),
    )
    with pytest.raises(ValueError, match="last axis of `items` must equal `feature_dim` = 3.*\\(2, 8, 5\\)"):
        frames({"items": np.zeros((2, 8, 5), "float32"), "query": np.zeros((2, 5), "float32")})


def test_weights_of_an_incompatible_config_are_an_error(model, tmp_path):
    path = str(tmp_path / "model.keras")
    model.save(path)
    other = tiny_model(num_slots=3, rehearsal=None)
    other(X)
    with pytest.raises(ValueError, match="could not be loaded|expected .* variables|shape"):
        other.load_weights(path)


def written_memory(num_segments):
    model = tiny_model(segment_length=2)
    items = np.random.default_rng(0).integers(1, VOCABULARY, (2, 2 * num_segments))
    initial = ops.convert_to_numpy(model.initial_memory(2))
    return initial, ops.convert_to_numpy(model.write(model.initial_memory(2), items))


def check_bounded(initial, memory):
    # The GRU write keeps every slot value within [-1, 1] (or the initial memory's range).
    assert np.isfinite(memory).all()
    assert np.abs(memory).max() <= max(1.0, np.abs(initial).max()) + 1e-5


def test_a_long_stream_keeps_the_memory_finite_and_bounded():
    check_bounded(*written_memory(100))


@pytest.mark.slow
def test_a_thousand_segments_keep_the_memory_finite_and_bounded():
    check_bounded(*written_memory(1000))
