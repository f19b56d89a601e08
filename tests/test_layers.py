"""Every layer through the shared layer test, plus the properties special to each."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_rm
from keras_rm import fragments, layers
from tests.testing import gradients, run_layer_test

B, N, D = 2, 12, 8
rng = np.random.default_rng(0)


def test_token_item_encoder_masks_padding_and_explicit_mask():
    ids = np.array([[3, 4, 0, 0], [5, 0, 0, 0]], dtype="int32")
    encoded, mask = run_layer_test(
        layers.TokenItemEncoder, dict(vocabulary_size=10, hidden_dim=D), (ids,), ((2, 4, D), (2, 4))
    )
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), ids != 0)
    explicit = np.array([[True, False, True, True]] * 2)
    _, mask = layers.TokenItemEncoder(10, D)(ids, explicit)
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), (ids != 0) & explicit)


def test_sentence_item_encoder_is_order_aware():
    sentences = np.array([[[3, 4, 5], [5, 4, 3], [0, 0, 0]]], dtype="int32")
    encoded, mask = run_layer_test(
        layers.SentenceItemEncoder,
        dict(vocabulary_size=10, hidden_dim=D, max_words=3),
        (sentences,),
        ((1, 3, D), (1, 3)),
    )
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), [[True, True, False]])
    encoded = ops.convert_to_numpy(encoded)
    assert not np.allclose(encoded[0, 0], encoded[0, 1]), "word order must change the sentence vector"


@pytest.mark.parametrize("encoder", ["token", "sentence"])
def test_untrained_item_encoders_give_unit_scale_items(encoder):
    # Raw encodings of fresh embeddings have a standard deviation near 0.04: a layer normalisation with
    # epsilon 1e-3 would shrink them to 0.67-0.76 (as before version 0.3).
    ids = rng.integers(1, 60, size=(16, 40, 8)).astype("int32")
    if encoder == "token":
        layer, items = layers.TokenItemEncoder(vocabulary_size=60, hidden_dim=64), ids[..., 0]
    else:
        layer, items = layers.SentenceItemEncoder(vocabulary_size=60, hidden_dim=64, max_words=8), ids
    encoded, _ = layer(items)
    assert abs(ops.convert_to_numpy(encoded).std() - 1.0) < 0.02
    legacy = type(layer).from_config({k: v for k, v in layer.get_config().items() if k != "norm_epsilon"})
    assert legacy.norm_epsilon == 1e-3, "files written before 0.3 keep their epsilon"


def test_dense_item_encoder_uses_only_the_explicit_mask():
    frames = rng.normal(size=(B, N, 5)).astype("float32")
    encoded, mask = run_layer_test(
        layers.DenseItemEncoder, dict(hidden_dim=D, feature_dim=5), (frames,), ((B, N, D), (B, N))
    )
    assert ops.convert_to_numpy(mask).all()


def test_categorical_item_encoder_with_side_features():
    items = np.array([[[4, 1], [7, 2], [0, 0]]], dtype="int32")
    encoded, mask = run_layer_test(
        layers.CategoricalItemEncoder,
        dict(vocabulary_size=10, hidden_dim=D, side_vocabulary_sizes=[3]),
        (items,),
        ((1, 3, D), (1, 3)),
    )
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), [[True, True, False]])


def test_item_encoders_encode_queries():
    token = layers.TokenItemEncoder(10, D)
    assert tuple(token.encode_query(np.array([[3, 4, 0]], "int32")).shape) == (1, D)
    sentence = layers.SentenceItemEncoder(10, D, max_words=3)
    assert tuple(sentence.encode_query(np.array([[3, 4, 0]], "int32")).shape) == (1, D)
    with pytest.raises(ValueError, match="`query` must have rank"):
        sentence.encode_query(np.zeros((1, 2, 3, 4), "int32"))


def test_transformer_block_ignores_padded_keys():
    x = rng.normal(size=(1, 4, D)).astype("float32")
    mask = np.array([[True, True, False, False]])
    block = layers.TransformerBlock(D, 2)
    run_layer_test(layers.TransformerBlock, dict(hidden_dim=D, num_heads=2), (x,), (1, 4, D), dict(padding_mask=mask))
    changed = x.copy()
    changed[0, 2:] = 100.0
    a = ops.convert_to_numpy(block(x, padding_mask=mask))[0, :2]
    b = ops.convert_to_numpy(block(changed, padding_mask=mask))[0, :2]
    np.testing.assert_allclose(a, b, atol=1e-5)
    changed[0, 1] *= -1.0  # a real key (a constant shift would vanish in the layer normalisation)
    c = ops.convert_to_numpy(block(changed, padding_mask=mask))[0, 0]
    assert not np.allclose(c, a[0], atol=1e-3), "the real keys are attended to"


def test_transformer_block_checks_heads():
    with pytest.raises(ValueError, match="`num_heads` must divide `hidden_dim`"):
        layers.TransformerBlock(hidden_dim=10, num_heads=3)


def test_segment_encoder():
    run_layer_test(
        layers.SegmentEncoder,
        dict(segment_length=4, hidden_dim=D, num_heads=2),
        (rng.normal(size=(B, 4, D)).astype("float32"), np.ones((B, 4), bool)),
        (B, 4, D),
    )


@pytest.mark.parametrize("per_slot_weights", [False, True])
def test_memory_update_keeps_memory_for_all_padding_rows(per_slot_weights):
    memory = rng.normal(size=(B, 3, D)).astype("float32")
    items = rng.normal(size=(B, 4, D)).astype("float32")
    mask = np.array([[True, True, False, False], [False] * 4])
    new = run_layer_test(
        layers.MemoryUpdate,
        dict(num_slots=3, hidden_dim=D, num_heads=2, per_slot_weights=per_slot_weights),
        (memory, items, mask),
        (B, 3, D),
    )
    new = ops.convert_to_numpy(new)
    np.testing.assert_array_equal(new[1], memory[1])
    assert not np.allclose(new[0], memory[0])


@pytest.mark.parametrize("per_slot_weights, slot_identity, null_item", [(False, True, True), (True, False, False)])
def test_memory_update_equals_its_numpy_form(per_slot_weights, slot_identity, null_item):
    # The update written out from the variables, in NumPy.
    update = layers.MemoryUpdate(
        num_slots=3,
        hidden_dim=D,
        num_heads=2,
        per_slot_weights=per_slot_weights,
        slot_identity=slot_identity,
        null_item=null_item,
    )
    memory = rng.normal(size=(B, 3, D)).astype("float32")
    items = rng.normal(size=(B, 4, D)).astype("float32")
    mask = np.array([[True, True, True, False], [True, False, False, False]])
    update.build(memory.shape, items.shape)
    for variable in update.weights:  # no weight at its initial value (ones, zeros) hides a term
        variable.assign(rng.normal(scale=0.5, size=variable.shape))
    new = ops.convert_to_numpy(update(memory, items, mask))
    value = {v.path.split("/", 1)[1]: ops.convert_to_numpy(v) for v in update.weights}
    query = (memory - memory.mean(-1, keepdims=True)) / np.sqrt(memory.var(-1, keepdims=True) + 1e-3)
    query = query * value["query_norm/gamma"] + value["query_norm/beta"]
    if slot_identity:
        query = query + value["slot_embeddings"]
    query = np.einsum("bkd,dhe->bkhe", query, value["attention/query/kernel"]) + value["attention/query/bias"]
    keys_in, key_mask = items, mask
    if null_item:
        keys_in = np.concatenate([np.broadcast_to(value["null_embedding"], (B, 1, D)), items], axis=1)
        key_mask = np.concatenate([np.ones((B, 1), bool), mask], axis=1)
    keys = np.einsum("bld,dhe->blhe", keys_in, value["attention/key/kernel"]) + value["attention/key/bias"]
    values = np.einsum("bld,dhe->blhe", keys_in, value["attention/value/kernel"]) + value["attention/value/bias"]
    scores = np.einsum("bkhe,blhe->bhkl", query, keys) / np.sqrt(D // 2)
    scores = np.where(key_mask[:, None, None], scores, -np.inf)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    scores = scores / scores.sum(-1, keepdims=True)
    read = np.einsum("bhkl,blhe->bkhe", scores, values)
    read = np.einsum("bkhe,hed->bkd", read, value["attention/attention_output/kernel"])
    read = read + value["attention/attention_output/bias"]
    product = "bkd,kdf->bkf" if per_slot_weights else "bkd,df->bkf"
    x = np.einsum(product, read, value["kernel"]) + value["bias"][..., 0, :]
    h = np.einsum(product, memory, value["recurrent_kernel"]) + value["bias"][..., 1, :]
    (x_z, x_r, x_h), (h_z, h_r, h_h) = np.split(x, 3, -1), np.split(h, 3, -1)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    z = sigmoid(x_z + h_z)
    expected = z * memory + (1 - z) * np.tanh(x_h + sigmoid(x_r + h_r) * h_h)
    if null_item:
        expected = memory + (1 - scores[..., 0].mean(1))[..., None] * (expected - memory)
    np.testing.assert_allclose(new, expected, rtol=1e-4, atol=1e-5)


def test_memory_reader():
    run_layer_test(
        layers.MemoryReader,
        dict(hidden_dim=D, num_heads=2, num_hops=2),
        (rng.normal(size=(B, D)).astype("float32"), rng.normal(size=(B, 3, D)).astype("float32")),
        (B, D),
    )


@pytest.mark.parametrize("task,classes", [("classification", 5), ("click", 1)])
def test_task_head(task, classes):
    vectors = rng.normal(size=(B, D)).astype("float32")
    run_layer_test(layers.TaskHead, dict(task=task, num_classes=5, hidden_dim=D), (vectors, vectors), (B, classes))


def test_rehearsal_decoder_builds_only_enabled_read_outs():
    fragments = rng.normal(size=(B, 4, D)).astype("float32")
    memory = rng.normal(size=(B, 3, D)).astype("float32")
    mask = np.ones((B, 4), bool)
    run_layer_test(
        layers.RehearsalDecoder,
        dict(hidden_dim=D, fragment_length=4, num_heads=2, width=12),
        (fragments, mask, memory),
        {"reconstructions": (B, 4, D), "familiarity_logits": (B,)},
    )
    only_familiarity = layers.RehearsalDecoder(D, 4, num_heads=2, use_recollection=False)
    assert set(only_familiarity(fragments, mask, memory)) == {"familiarity_logits"}
    assert not any("mask_embedding" in w.path for w in only_familiarity.weights)
    with pytest.raises(ValueError, match="needs `use_recollection` or `use_familiarity`"):
        layers.RehearsalDecoder(D, 4, use_recollection=False, use_familiarity=False)
    config = only_familiarity.get_config()
    config = {key: value for key, value in config.items() if key not in ("use_recollection", "use_familiarity")}
    for old in ("recollection", "reconstructs"):  # the names of 0.1-0.3 and of 0.4-0.6
        legacy = layers.RehearsalDecoder.from_config({**config, old: False})
        assert not legacy.use_recollection and legacy.use_familiarity
    with pytest.warns(DeprecationWarning, match=r"RehearsalDecoder\(reconstructs=...\)` is renamed `use_recollection"):
        assert not layers.RehearsalDecoder(D, 4, reconstructs=False).use_recollection


@pytest.mark.parametrize("sampler", ["uniform", "teacher"])
def test_rehearsal_returns_its_terms_and_its_gradients_reach_memory_and_items(sampler):
    memory = rng.normal(size=(B, 3, D)).astype("float32")
    items = rng.normal(size=(B, 16, D)).astype("float32")
    mask = np.ones((B, 16), bool)
    query, labels = rng.normal(size=(B, D)).astype("float32"), np.array([1, 3])
    rehearsal = layers.Rehearsal(
        hidden_dim=D,
        num_classes=5,
        sampler=sampler,
        num_fragments=2,
        fragment_length=4,
        num_negatives=3,
        num_heads=2,
        seed=1,
    )
    terms = rehearsal(memory, items, mask, query, labels=labels)
    expected = {"loss", "recollection_loss", "recollection_accuracy", "familiarity_loss", "familiarity_accuracy"}
    assert set(terms) == expected | ({"teacher_loss", "teacher_accuracy"} if sampler == "teacher" else set())
    weighted = terms["recollection_loss"] + 0.5 * terms["familiarity_loss"] + terms.get("teacher_loss", 0.0)
    np.testing.assert_allclose(ops.convert_to_numpy(terms["loss"]), ops.convert_to_numpy(weighted), rtol=1e-5)
    assert {tracker.name for tracker in rehearsal.metrics} == set(terms) - {"loss"}
    memory_v, items_v = keras.Variable(memory), keras.Variable(items)
    grads = gradients(lambda: rehearsal(memory_v, items_v, mask, query, labels=labels)["loss"], [memory_v, items_v])
    assert all(np.abs(g).sum() > 0 for g in grads)
    config = rehearsal.get_config()
    assert layers.Rehearsal.from_config(config).get_config() == config


def test_rehearsal_corrupts_half_the_fragments_with_the_next_sequences_items_where_nothing_is_masked():
    rows, length = 400, 8
    items = np.arange(2 * 16, dtype="float32").reshape(2, 16, 1) * np.ones((1, 1, D), "float32")  # item = its id
    view = np.repeat(items[:, :length], rows // 2, axis=0)  # fragments of sequence 0, then of sequence 1
    masked = np.zeros((rows, length), bool)
    masked[:, :4] = True
    visible = ~masked
    out, corrupted, weights = (
        ops.convert_to_numpy(x)
        for x in fragments.corrupt_half(
            ops.convert_to_tensor(view),
            ops.convert_to_tensor(visible),
            ops.convert_to_tensor(items),
            ops.convert_to_tensor(np.ones((2, 16), bool)),
            count=2,  # round(0.5 * 4 visible items)
            num_fragments=rows // 2,
            seed=keras.random.SeedGenerator(3),
        )
    )
    assert 0.4 < corrupted.mean() < 0.6 and np.all(weights == 1)
    ids, original = out[..., 0], view[..., 0]
    np.testing.assert_array_equal(ids[~corrupted], original[~corrupted])  # real fragments untouched
    changed = ids != original
    assert not changed[:, :4].any(), "masked items (recollection's targets) are never the replaced ones"
    assert np.all(changed[corrupted].sum(axis=1) == 2)  # round(0.5 * 4 visible items)
    # A fragment of sequence 0 gets items of sequence 1 (ids 16-31) and the other way round (the batch rolled).
    assert np.all(ids[:200][changed[:200]] >= 16) and np.all(ids[200:][changed[200:]] < 16)


def test_rehearsal_off_builds_nothing_and_checks_its_arguments():
    plain = layers.Rehearsal(hidden_dim=D, recollection_weight=0.0, familiarity_weight=0.0)
    memory, items = np.zeros((B, 3, D), "float32"), np.zeros((B, 16, D), "float32")
    assert float(plain(memory, items, np.ones((B, 16), bool), np.zeros((B, D), "float32"))["loss"]) == 0.0
    assert not plain.weights and not plain.metrics
    with pytest.raises(ValueError, match="`sampler` must be one of"):
        layers.Rehearsal(hidden_dim=D, sampler="random")
    with pytest.raises(ValueError, match="must not exceed the sequence length"):
        layers.Rehearsal(hidden_dim=D, num_fragments=1, fragment_length=32).check_length(16)
    with pytest.raises(ValueError, match="needs `importance`"):
        layers.Rehearsal(hidden_dim=D, sampler="importance", num_fragments=2, fragment_length=4)(
            memory, items, np.ones((B, 16), bool), np.zeros((B, D), "float32")
        )


def test_sentence_vectorizer_ids_and_its_vocabularies_travel_inside_the_model_file(tmp_path):
    vectorizer = layers.SentenceVectorizer(max_words=4, vocabulary=["mary", "went", "to"], answers=["garden", "hall"])
    ids = ops.convert_to_numpy(vectorizer(np.array([["Mary went to the HALL!", ""], ["mary", "to to to to to"]])))
    np.testing.assert_array_equal(ids, [[[2, 3, 4, 1], [0, 0, 0, 0]], [[2, 0, 0, 0], [4, 4, 4, 4]]])
    assert vectorizer.vocabulary_size == 5
    np.testing.assert_array_equal(ops.convert_to_numpy(vectorizer.answer_classes(np.array(["hall", "garden"]))), [1, 0])
    encoder = layers.SentenceItemEncoder(vocabulary_size=5, hidden_dim=D, max_words=4)
    model = keras_rm.RehearsalMemoryModel(
        encoder,
        num_classes=2,
        memory=dict(num_slots=2, segment_length=4, num_heads=2),
        rehearsal=None,
        text_vectorizer=vectorizer,
    )
    model.build({"items": (None, 8, 4), "query": (None, 4)})
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras").text_vectorizer
    np.testing.assert_array_equal(ops.convert_to_numpy(loaded(np.array(["Mary went to the HALL!"]))), [[2, 3, 4, 1]])
    assert list(loaded.answer_of(np.array([1, 0]))) == [b"hall", b"garden"]
    # The vectorizer travels with the model but runs outside its step: the model still compiles with XLA.
    model.compile()
    plain = keras_rm.RehearsalMemoryModel(encoder, num_classes=2, rehearsal=None)
    plain.compile()
    assert model.jit_compile == plain.jit_compile
    with pytest.raises(TypeError, match="`text_vectorizer` must be"):
        keras_rm.RehearsalMemoryModel(encoder, num_classes=2, text_vectorizer=object())


def test_warmup_halving_schedule_rises_then_halves_and_serializes():
    from keras_rm.schedules import WarmupHalving, learning_rate_schedule

    schedule = learning_rate_schedule(1e-2, warmup_steps=10, halve_every=100)
    rate = lambda step: float(ops.convert_to_numpy(schedule(step)))  # noqa: E731
    np.testing.assert_allclose([rate(0), rate(4), rate(9)], [1e-3, 5e-3, 1e-2], rtol=1e-5)
    np.testing.assert_allclose([rate(109), rate(110), rate(310)], [1e-2, 5e-3, 1.25e-3], rtol=1e-5)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(again, WarmupHalving) and again.get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="`halve_every` must be a positive"):
        WarmupHalving(1e-3, 10, 0)
