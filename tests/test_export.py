"""SavedModel export: the served model equals the Keras model, streamed or whole, without keras_rm."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_rm
from keras_rm.export import export_saved_model

LENGTH, SEGMENT, WORDS, VOCABULARY = 24, 8, 3, 20
WORD_LIST, ANSWERS = [f"w{i}" for i in range(VOCABULARY - 2)], ["north", "south", "east", "west"]


def sentence_data(batch, seed=0):
    rng = np.random.default_rng(seed)
    items = rng.integers(0, VOCABULARY, (batch, LENGTH, WORDS)).astype("int32")
    mask = np.ones((batch, LENGTH), bool)
    mask[: batch // 2, LENGTH - 5 :] = False  # half the batch ends with masked items
    query = rng.integers(1, VOCABULARY, (batch, WORDS)).astype("int32")
    return {"items": items, "item_mask": mask, "query": query}, rng.integers(0, 4, batch)


@pytest.fixture(scope="module")
def memory_export(tmp_path_factory):
    """A rehearsing memory model, its export and its predictions on a batch of another size. Compiled with its
    optimizer's variables built, it holds everything a trained model does; its weights are random, which the
    export reproduces as well as trained ones (a training step here would only add a step to compile)."""
    encoder = keras_rm.layers.SentenceItemEncoder(VOCABULARY, 8, WORDS)
    vectorizer = keras_rm.layers.SentenceVectorizer(max_words=WORDS, vocabulary=WORD_LIST, answers=ANSWERS)
    model = keras_rm.RehearsalMemoryModel(
        encoder,
        num_classes=4,
        memory=dict(num_slots=2, segment_length=SEGMENT, num_heads=2),
        rehearsal=dict(num_fragments=2, fragment_length=4, num_negatives=3, decoder_layers=1),
        seed=3,
        text_vectorizer=vectorizer,
    )
    model.compile()
    model.build({key: (None, *value.shape[1:]) for key, value in sentence_data(1)[0].items()})
    model.optimizer.build(model.trainable_variables)
    path = str(tmp_path_factory.mktemp("export") / "memory")
    model.export(path, chunk_segments=2)  # Keras' entry point: keras_rm.export.export_saved_model
    test_x, _ = sentence_data(5, seed=1)
    return model, path, test_x, np.asarray(model.predict(test_x, verbose=0))


def load(path):
    import tensorflow as tf

    return tf.saved_model.load(path)


def test_serve_equals_predict(memory_export):
    _, path, x, expected = memory_export
    served = load(path)
    logits = served.serve(x["items"], x["item_mask"], x["query"])["logits"].numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    assert sorted(served.signatures) == [
        "answer",
        "answer_text",
        "initial_memory",
        "serve",
        "serving_default",
        "write",
        "write_chunk",
        "write_text",
    ]


def stream(served, x, repeats=1):
    """Writes `x["items"]` segment by segment, `repeats` times over, into a served initial memory."""
    import tensorflow as tf

    memory = served.initial_memory(tf.constant(len(x["items"])))["memory"]
    for _ in range(repeats):
        for start in range(0, LENGTH, SEGMENT):
            window = slice(start, start + SEGMENT)
            memory = served.write(memory, x["items"][:, window], x["item_mask"][:, window])["memory"]
    return memory


def test_write_chained_then_answer_equals_serve(memory_export):
    _, path, x, expected = memory_export
    served = load(path)
    memory = stream(served, x)
    assert memory.shape == (5, 2, 8)
    np.testing.assert_allclose(served.answer(memory, x["query"])["logits"].numpy(), expected, atol=1e-5)


def test_write_chunk_equals_its_segments_written_one_by_one(memory_export):
    """Two segments a call, then one: the answer of the whole sequence; a chunk padded with masked items writes
    what its unmasked segment does."""
    import tensorflow as tf

    _, path, x, expected = memory_export
    served = load(path)
    start = served.initial_memory(tf.constant(5))["memory"]
    chunk, rest = slice(0, 2 * SEGMENT), slice(2 * SEGMENT, LENGTH)
    memory = served.write_chunk(start, x["items"][:, chunk], x["item_mask"][:, chunk])["memory"]
    memory = served.write(memory, x["items"][:, rest], x["item_mask"][:, rest])["memory"]
    np.testing.assert_allclose(served.answer(memory, x["query"])["logits"].numpy(), expected, atol=1e-5)

    items, mask = x["items"][:, chunk].copy(), x["item_mask"][:, chunk].copy()
    items[:, SEGMENT:], mask[:, SEGMENT:] = 0, False
    padded = served.write_chunk(start, items, mask)["memory"]
    one = served.write(start, items[:, :SEGMENT], mask[:, :SEGMENT])["memory"]
    np.testing.assert_allclose(padded.numpy(), one.numpy(), atol=1e-6)


def test_streaming_goes_past_the_trained_length(memory_export):
    """`write` takes any number of segments: three times the trained length equals the Keras model's streaming."""
    model, path, x, _ = memory_export
    served = load(path)
    expected = model.initial_memory(5)
    for _ in range(3):
        expected = model.write(expected, x["items"], x["item_mask"])
    expected = keras.ops.convert_to_numpy(model.answer(expected, x["query"]))
    logits = served.answer(stream(served, x, repeats=3), x["query"])["logits"].numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-5)


def test_raw_text_endpoints_answer_as_the_id_endpoints(memory_export):
    # Sentences written as text ("W3 w7, w12." and "" for a padded sentence) and the same sentences as word ids.
    import tensorflow as tf

    _, path, x, _ = memory_export
    served = load(path)
    rng = np.random.default_rng(4)
    ids = rng.integers(2, VOCABULARY, (5, SEGMENT, WORDS))
    sentences = np.array([[f"W{a - 2} w{b - 2}, w{c - 2}." for a, b, c in row] for row in ids], dtype=object)
    sentences[:2, -3:] = ""
    ids[:2, -3:] = 0
    questions = np.array([f"Where is w{a - 2}?" for a in ids[:, 0, 0]])
    query = np.stack([np.ones(5), np.ones(5), ids[:, 0, 0]], axis=1).astype("int32")  # "where", "is": unknown (1)

    start = served.initial_memory(tf.constant(5))["memory"]
    by_ids = served.write(start, ids.astype("int32"), ids[..., 0] > 0)["memory"]
    by_text = served.write_text(start, tf.constant(sentences.astype(str)))["memory"]
    np.testing.assert_allclose(by_text.numpy(), by_ids.numpy(), atol=1e-6)
    logits = served.answer(by_ids, query)["logits"].numpy()
    answered = served.answer_text(by_text, tf.constant(questions))
    np.testing.assert_allclose(answered["logits"].numpy(), logits, atol=1e-5)
    assert [a.decode() for a in answered["answer"].numpy()] == [ANSWERS[i] for i in logits.argmax(-1)]


@pytest.mark.parametrize("endpoint", ["serve", "write", "write_chunk", "answer"])
def test_served_ids_outside_the_vocabulary_fail_naming_the_input(memory_export, endpoint):
    """A traced lookup cannot raise, and JAX's returns NaN: the SavedModel asserts its ids in the graph."""
    import tensorflow as tf

    _, path, x, _ = memory_export
    served = load(path)
    items, query = x["items"].copy(), x["query"].copy()
    (query if endpoint in ("serve", "answer") else items)[0, 0] = VOCABULARY  # one id past the vocabulary
    memory = served.initial_memory(tf.constant(5))["memory"]
    calls = {
        "serve": lambda: served.serve(items, x["item_mask"], query),
        "write": lambda: served.write(memory, items[:, :SEGMENT], x["item_mask"][:, :SEGMENT]),
        "write_chunk": lambda: served.write_chunk(memory, items[:, : 2 * SEGMENT], x["item_mask"][:, : 2 * SEGMENT]),
        "answer": lambda: served.answer(memory, query),
    }
    name = "query" if endpoint in ("serve", "answer") else "items"
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"`{name}` holds ids outside the vocabulary \[0, 20\)"):
        calls[endpoint]()


def test_rehearsal_parts_are_not_exported(memory_export):
    model, path, _, _ = memory_export
    served = load(path)
    inference = sum(len(layer.weights) for layer in model.inference_layers())
    assert len(served.variables) == inference < len(model.weights)


def test_saved_model_runs_without_keras_rm_or_keras(memory_export, tmp_path):
    _, path, x, expected = memory_export
    np.savez(tmp_path / "batch.npz", **x)
    script = textwrap.dedent(f"""
        import sys
        sys.modules["keras_rm"] = sys.modules["keras"] = None  # any import of them now fails
        import numpy as np
        import tensorflow as tf
        x = np.load({str(tmp_path / "batch.npz")!r})
        served = tf.saved_model.load({path!r})
        logits = served.serve(x["items"], x["item_mask"], x["query"])["logits"]
        np.save({str(tmp_path / "logits.npy")!r}, logits.numpy())
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "WARNING:absl" not in done.stderr, done.stderr[-2000:]  # e.g. JAX's "unsaved custom gradients"
    np.testing.assert_allclose(np.load(tmp_path / "logits.npy"), expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["memory", "full_attention"])
def test_dense_frames_with_a_word_query(kind, tmp_path):
    """The video QA models: dense frame items and a question of word ids through its own encoder."""
    frames = keras_rm.layers.DenseItemEncoder(8, feature_dim=5)
    words = keras_rm.layers.TokenItemEncoder(11, 8)
    if kind == "memory":
        model = keras_rm.RehearsalMemoryModel(
            frames,
            num_classes=3,
            query_encoder=words,
            memory=dict(num_slots=2, segment_length=4, num_heads=2),
            rehearsal=dict(num_fragments=2, fragment_length=4, num_negatives=3, decoder_layers=1),
            seed=0,
        )
    else:
        model = keras_rm.FullAttentionModel(frames, num_classes=3, query_encoder=words, num_layers=1, num_heads=2)
    model.compile()
    rng = np.random.default_rng(0)
    mask = np.ones((8, 12), bool)
    mask[:4, 9:] = False  # shorter videos, padded
    x = {
        "items": rng.normal(size=(8, 12, 5)).astype("float32"),
        "item_mask": mask,
        "query": rng.integers(0, 11, (8, 4)).astype("int32"),
    }
    expected = np.asarray(model.predict(x, verbose=0))  # builds the model, as a training step would
    served = load(export_saved_model(model, str(tmp_path / kind)))
    assert ("write" in served.signatures) == (kind == "memory")
    np.testing.assert_allclose(served.serve(x["items"], mask, x["query"])["logits"].numpy(), expected, atol=1e-5)


def test_unbuilt_model_is_a_clear_error(tmp_path):
    model = keras_rm.RehearsalMemoryModel(keras_rm.layers.TokenItemEncoder(10, 8), num_classes=2)
    with pytest.raises(ValueError, match="never built or trained"):
        export_saved_model(model, str(tmp_path / "x"))
    with pytest.raises(ValueError, match="`chunk_segments` must be an int, 0 or more. Received: `chunk_segments` = -1"):
        export_saved_model(model, str(tmp_path / "x"), chunk_segments=-1)
    full = keras_rm.FullAttentionModel(keras_rm.layers.TokenItemEncoder(10, 8), num_classes=2)
    with pytest.raises(ValueError, match="FullAttentionModel does not stream"):
        export_saved_model(full, str(tmp_path / "x"), chunk_segments=2)
    with pytest.raises(TypeError, match="RehearsalMemoryModel or keras_rm.FullAttentionModel"):
        export_saved_model(keras.Sequential([keras.layers.Dense(1)]), str(tmp_path / "x"))
