"""RehearsalMemoryModel and FullAttentionModel: training, metrics, seeds, fidelity to Keras' own step, serialization."""

import warnings

import keras
import numpy as np
import pytest
from keras import ops

import keras_rm
from keras_rm.fragments import FamiliarityLoss
from tests.testing import ROOT, TINY, VOCABULARY, gradients, recall_data, run_model_test, tiny_model, weights_of

BATCH = 8
X, Y, DEPTH = recall_data(64, seed=0)
REHEARSAL_TERMS = {
    "total_loss",
    "recollection_loss",
    "recollection_accuracy",
    "familiarity_loss",
    "familiarity_accuracy",
}


def fit(model, epochs=1, x=X, y=Y, optimizer="auto"):
    """Compiles `model` (Adam unless `optimizer`) and fits it on `x`, `y` in order: its history."""
    model.compile(optimizer=optimizer)
    return model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0).history


def sgd():
    """Plain SGD, for a test of what a training step computes rather than how well it learns: Adam's slots and
    update about double the step TensorFlow traces."""
    return keras.optimizers.SGD(0.1)


def fit_counting_traces(model, **kwargs):
    """`fit(model, **kwargs)` and how many times it traced the model's `train_step` (a call under torch, which
    runs the step eagerly, untraced)."""
    traced = []
    step = model.train_step
    model.train_step = lambda *args: traced.append(1) or step(*args)
    try:
        return fit(model, **kwargs), len(traced)
    finally:
        del model.train_step


@pytest.fixture(scope="module")
def trained():
    """The tiny rehearsing memory trained 6 epochs from seed 0: its history, and how many times the fit traced its
    step (one compiled model serves every test that reads a trained model, its history or its first `fit`)."""
    keras.utils.set_random_seed(0)
    model = tiny_model()
    history, traces = fit_counting_traces(model, epochs=6)
    model.traces = traces
    return model, history


def test_fit_reports_every_term_and_evaluate_only_inference(trained):
    model, history = trained
    assert REHEARSAL_TERMS | {"loss", "accuracy"} == set(history)
    assert all(np.isfinite(v).all() for v in history.values())
    logs = model.evaluate(X, Y, batch_size=BATCH, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    loss, accuracy = model.evaluate(X, Y, batch_size=BATCH, verbose=0)
    logits = model.predict(X, batch_size=BATCH, verbose=0)
    assert logits.shape == (64, TINY["num_classes"])
    # Inference only: the task loss and accuracy of the predictions, no rehearsal term.
    task_loss = keras.losses.sparse_categorical_crossentropy(Y, logits, from_logits=True)
    np.testing.assert_allclose(loss, np.mean(ops.convert_to_numpy(task_loss)), rtol=1e-5)
    assert accuracy == pytest.approx(np.mean(logits.argmax(-1) == Y))


def test_rehearsal_losses_fall_during_fit(trained):
    _, history = trained
    for term in ("recollection_loss", "familiarity_loss", "loss"):
        assert history[term][-1] < history[term][0], (term, history[term])


def test_loss_is_the_task_loss_and_total_loss_the_weighted_sum(trained):
    model, history = trained
    expected = (
        np.array(history["loss"])
        + model.rehearsal.recollection_weight * np.array(history["recollection_loss"])
        + model.rehearsal.familiarity_weight * np.array(history["familiarity_loss"])
    )
    np.testing.assert_allclose(history["total_loss"], expected, rtol=1e-4)
    # `loss` measures what `val_loss` does: the task loss of the model's predictions, nothing of rehearsal.
    x, y = {k: v[:BATCH] for k, v in X.items()}, Y[:BATCH]
    logs = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, validation_data=(x, y)).history
    assert logs["total_loss"][0] > logs["loss"][0] + 0.1
    assert abs(logs["loss"][0] - logs["val_loss"][0]) < 0.1 * logs["loss"][0]


@pytest.fixture(scope="module")
def teacher():
    """The tiny memory with a teacher sampler whose importance picks the items to mask, its recollection and
    familiarity weights ramped up over 5 steps, trained 3 epochs from seed 2: its history. One compiled model for the
    tests of the teacher, of `mask_selection` and of saving a nested rehearsal."""
    keras.utils.set_random_seed(2)
    model = tiny_model(sampler="teacher", mask_selection="important", rehearsal_warmup=5)
    return model, fit(model, epochs=3)


def test_rehearsal_warmup_ramps_the_weights_from_the_optimizer_step():
    keras.utils.set_random_seed(0)
    model = tiny_model(rehearsal_warmup=1_000_000)  # every backend's step passes the optimizer's step
    history = fit(model, epochs=1, optimizer=sgd())
    assert history["recollection_loss"][0] > 0.5, "the terms are still computed and reported"
    np.testing.assert_allclose(history["total_loss"], history["loss"], rtol=1e-4)

    rehearsal = model.rehearsal
    forward = model.forward_parts({key: value[:BATCH] for key, value in X.items()}, training=True)
    inputs = [forward[name] for name in ("memory", "items", "item_mask", "query")]
    for step, ramp in ((None, 1.0), (0, 0.0), (250_000, 0.25), (2_000_000, 1.0)):
        terms = rehearsal(*inputs, step=step)
        expected = ramp * (
            rehearsal.recollection_weight * terms["recollection_loss"]
            + rehearsal.familiarity_weight * terms["familiarity_loss"]
        )
        np.testing.assert_allclose(ops.convert_to_numpy(terms["loss"]), ops.convert_to_numpy(expected), rtol=1e-5)


def test_rehearsal_gradients_reach_memory_machine_and_item_encoder(trained):
    model, _ = trained
    parts = {"memory_machine": model.memory_machine, "item_encoder": model.item_encoder}
    variables = [v for part in parts.values() for v in part.trainable_variables]
    for term in ("recollection_loss", "familiarity_loss"):
        grads = gradients(lambda term=term: model.compute_joint_loss(X, Y)[2][term], variables)
        by_variable = dict(zip((v.path for v in variables), grads))
        for name, part in parts.items():
            total = sum(np.abs(by_variable[v.path]).sum() for v in part.trainable_variables)
            assert total > 0, f"{term} gives no gradient to the {name}"


def test_teachers_loss_sends_no_gradient_into_the_item_encoder():
    model = tiny_model(sampler="teacher")
    model.compile()
    x, y = {k: v[:BATCH] for k, v in X.items()}, Y[:BATCH]
    model(x)
    encoder = model.item_encoder.trainable_variables  # (also the query encoder: shared)
    teacher = model.rehearsal.fragment_sampler.trainable_variables
    grads = gradients(lambda: model.compute_joint_loss(x, y)[2]["teacher_loss"], encoder + teacher)
    assert not any(np.abs(g).any() for g in grads[: len(encoder)]), "the teacher sees items and query stop-gradient"
    by_variable = dict(zip((v.path for v in teacher), grads[len(encoder) :]))
    kernels = [path for path in by_variable if path.endswith("kernel")]
    assert len(kernels) >= 4 and all(np.abs(by_variable[path]).any() for path in kernels), "the teacher learns"


def test_same_seed_gives_the_same_losses(trained):
    # A second model made and trained as the fixture's was (seed 0) repeats its first epoch exactly.
    _, first = trained
    keras.utils.set_random_seed(0)
    again = fit(tiny_model(), epochs=1)
    assert set(again) == set(first)
    for key in again:
        np.testing.assert_allclose(again[key], first[key][:1], rtol=1e-6, err_msg=key)


def test_dropout_is_random_in_training_only_and_trains():
    keras.utils.set_random_seed(4)
    model = tiny_model(dropout=0.1)
    x, y = {k: v[:BATCH] for k, v in X.items()}, Y[:BATCH]
    # Two segments: under JAX, training with dropout takes the unrolled segment loop (a scan cannot draw).
    assert x["items"].shape[1] == 2 * TINY["memory"]["segment_length"]
    items, mask = model.item_encoder(x["items"])
    for call in (
        lambda training: model(x, training=training),
        lambda training: model.memory_machine(items, mask, training=training),
    ):
        a, b = (ops.convert_to_numpy(call(True)) for _ in range(2))
        assert not np.allclose(a, b, atol=1e-4), "training draws new dropout masks every call"
        np.testing.assert_array_equal(ops.convert_to_numpy(call(False)), ops.convert_to_numpy(call(False)))
    before = weights_of(model)
    history = fit(model, x=x, y=y, optimizer=sgd())
    assert all(np.isfinite(v).all() for v in history.values())
    after = weights_of(model)
    assert all(np.isfinite(w).all() for w in after) and any(not np.allclose(a, b) for a, b in zip(after, before))


class StockStepModel(keras_rm.RehearsalMemoryModel):
    """The same model trained by Keras' own `train_step`."""

    def train_step(self, *args):
        return keras.Model.train_step(self, *args)


def test_plain_memory_step_equals_keras_stock_step():
    kwargs = dict(TINY, rehearsal=None)
    ours = tiny_model(rehearsal=None)
    stock = StockStepModel(keras_rm.layers.TokenItemEncoder(VOCABULARY, 8), **kwargs)
    for model in (ours, stock):
        model.build({"items": X["items"].shape, "query": X["query"].shape})
    stock.set_weights(ours.get_weights())
    x, y = {k: v[:BATCH] for k, v in X.items()}, Y[:BATCH]
    before = weights_of(ours)
    # Plain SGD: the step is the gradient itself (Adam's first step, about `lr * sign(g)`, would hide its scale).
    logs = [fit(model, x=x, y=y, optimizer=keras.optimizers.SGD(0.1)) for model in (ours, stock)]
    assert max(np.abs(a - w).max() for a, w in zip(weights_of(ours), before)) > 1e-3, "the step moves the weights"
    for a, b, w in zip(weights_of(ours), weights_of(stock), before):
        np.testing.assert_allclose(a - w, b - w, atol=1e-6)
    np.testing.assert_allclose(logs[0]["loss"], logs[1]["loss"], rtol=1e-5)
    assert not hasattr(ours, "decoder") and not hasattr(ours, "sampler")
    assert set(logs[0]) == set(logs[1]) == {"loss", "accuracy"}


def test_teacher_sampler_trains_the_teacher(teacher):
    _, history = teacher
    assert {"teacher_loss", "teacher_accuracy"} <= set(history)
    assert history["teacher_loss"][-1] < history["teacher_loss"][0]


def test_recollection_can_mask_the_teachers_most_important_items(teacher):
    model, history = teacher
    assert np.isfinite(history["recollection_loss"]).all()
    assert model.get_config()["rehearsal"]["config"]["mask_selection"] == "important"


def test_importance_supplied_in_the_data():
    x = dict(X, importance=(X["items"] <= 6).astype("float32"))  # keys are ids 1..6
    model = tiny_model(sampler="importance")
    history = fit(model, x=x, optimizer=sgd())
    assert np.isfinite(history["loss"]).all()
    with pytest.raises(ValueError, match="needs `importance`"):
        model.fit(X, Y, batch_size=BATCH, verbose=0)  # the same model, on data without it


def test_softmax_recollection_for_id_items():
    history = fit(tiny_model(recollection="softmax", familiarity_weight=0.0), optimizer=sgd())
    assert {"recollection_loss", "recollection_accuracy"} <= set(history)
    assert "familiarity_loss" not in history
    with pytest.raises(ValueError, match="needs id items"):
        keras_rm.RehearsalMemoryModel(
            keras_rm.layers.DenseItemEncoder(8, feature_dim=3), num_classes=2, rehearsal={"recollection": "softmax"}
        )


def test_familiarity_loss_is_twice_the_binary_cross_entropy_and_finite_when_confident():
    corrupted = np.array([False, True, False, True])
    logits = np.array([100.0, -100.0, -100.0, 100.0], "float32")  # right, right, wrong, wrong
    loss = ops.convert_to_numpy(FamiliarityLoss()(corrupted, logits))
    np.testing.assert_allclose(loss, 100.0, rtol=1e-5)  # 2 * (0 + 0 + 100 + 100) / 4
    small = np.array([0.3, -1.2], "float32")
    expected = 2 * np.mean([np.log1p(np.exp(-0.3)), np.log1p(np.exp(-1.2))])  # -log s(real), -log(1 - s(corrupt))
    np.testing.assert_allclose(
        ops.convert_to_numpy(FamiliarityLoss()(np.array([False, True]), small)), expected, rtol=1e-5
    )
    confident = ops.convert_to_numpy(FamiliarityLoss()(np.array([False, True]), np.array([1e4, -1e4], "float32")))
    assert np.isfinite(confident) and confident == 0.0


def test_streaming_answer_equals_predict(trained):
    model, _ = trained
    x = {k: v[:4] for k, v in X.items()}
    memory = model.initial_memory(4)
    for start in range(0, x["items"].shape[1], model.segment_length):
        memory = model.write(memory, x["items"][:, start : start + model.segment_length])
    streamed = ops.convert_to_numpy(model.answer(memory, x["query"]))
    np.testing.assert_allclose(streamed, ops.convert_to_numpy(model(x)), atol=1e-5)


def test_questions_along_the_sequence_are_answered_from_the_memory_at_their_place(trained):
    model, _ = trained
    items, length = X["items"][:4], X["items"].shape[1]  # 16 items: 2 segments of 8
    # Each row asks X's query of rows 0-3 at positions 0, 8 (one segment), 16 (both) and 21 (past the end).
    query = np.stack([X["query"][:4]] * 4, axis=1)
    positions = np.tile([0, 8, 16, 21], (4, 1))
    along = ops.convert_to_numpy(model({"items": items, "query": query, "query_position": positions}))
    assert along.shape == (4, 4, TINY["num_classes"])
    for j, position in enumerate(positions[0]):
        memory = model.initial_memory(4)
        if position:
            memory = model.write(memory, items[:, : min(position, length)])
        streamed = ops.convert_to_numpy(model.answer(memory, query[:, j]))
        np.testing.assert_allclose(along[:, j], streamed, atol=1e-5)
    # A question at the end is the one-question model's answer; a question at 8 sees nothing after it.
    np.testing.assert_allclose(along[:, 2], ops.convert_to_numpy(model(X)[:4]), atol=1e-5)
    changed = {"items": np.concatenate([items[:, :8], items[::-1, 8:]], axis=1), "query": query}
    after = ops.convert_to_numpy(model({**changed, "query_position": positions}))
    np.testing.assert_allclose(after[:, :2], along[:, :2], atol=1e-6)
    assert not np.allclose(after[:, 2], along[:, 2], atol=1e-4)


def test_fit_on_several_questions_a_row_weighs_out_padded_questions():
    keras.utils.set_random_seed(0)
    model = tiny_model(rehearsal=None)
    query = np.stack([X["query"], X["query"][::-1]], axis=1)
    x = {"items": X["items"], "query": query, "query_position": np.tile([8, 16], (len(Y), 1))}
    y = np.stack([Y, Y[::-1]], axis=1)
    weights = np.ones((len(Y), 2), "float32")
    weights[:, 1] = 0.0  # the second question is padding: its label must not count
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    first = model.evaluate(x, y, sample_weight=weights, verbose=0, return_dict=True)
    noisy = model.evaluate(x, np.stack([Y, (Y[::-1] + 1) % 4], axis=1), sample_weight=weights, verbose=0)
    np.testing.assert_allclose(noisy[0], first["loss"], rtol=1e-5)
    history = model.fit(x, y, sample_weight=weights, batch_size=BATCH, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    # Every real question counts once in the accuracy: a padded question answered wrong changes nothing, and a
    # batch asking one question a row weighs no more than one asking two (bucketed batches differ so).
    answers = ops.convert_to_numpy(model.predict(x, verbose=0)).argmax(-1)
    y[:, 1] = (answers[:, 1] + 1) % 4  # the second questions answered wrong
    weights = np.ones((32, 2), "float32")
    weights[16:, 1] = 0.0  # half of them padding
    one = (
        {"items": x["items"][:32], "query": query[:32, :1], "query_position": x["query_position"][:32, :1]},
        y[:32, :1],
        np.ones((32, 1), "float32"),
    )
    two = ({key: value[32:] for key, value in x.items()}, y[32:], weights)
    logs = model.evaluate((batch for batch in (one, two)), steps=2, verbose=0, return_dict=True)
    right = np.concatenate([answers[:32, 0] == y[:32, 0], (answers[32:] == y[32:])[weights > 0]])
    np.testing.assert_allclose(logs["accuracy"], right.mean(), atol=1e-6)


def test_fit_and_predict_at_several_sequence_lengths(trained):
    # The segment loop needs a static length; under TF each new length gets a new traced step. The fixture's model
    # trained at 16 items: it fits, validates and predicts at 8, then at 16 again (its weights do not depend on the
    # length: whichever comes first builds the same model).
    model, _ = trained
    for length in (8, 16):
        x = {"items": X["items"][:, :length], "query": X["query"]}
        model.fit(x, Y, batch_size=BATCH, epochs=1, verbose=0, validation_data=(x, Y))
        assert model.predict(x, verbose=0).shape == (len(Y), TINY["num_classes"])


def test_a_partial_segment_answers_as_the_same_items_padded_to_whole_segments(trained):
    # What lets bucketed batches of short stories be padded only to their own length (`bucketed_length`).
    model, _ = trained  # (inference: its rehearsal plays no part)
    items = np.where(np.arange(X["items"].shape[1]) < 5, X["items"], 0)  # 5 items, then padding
    short, whole = ({"items": items[:, :length], "query": X["query"]} for length in (6, 16))
    np.testing.assert_allclose(model.predict(short, verbose=0), model.predict(whole, verbose=0), atol=1e-6)


@pytest.mark.skipif(keras.config.backend() == "torch", reason="torch runs the step eagerly, untraced")
def test_a_fit_traces_its_step_once(trained):
    # Keras' TF trainer built an unbuilt model and its optimizer inside the first trace, and TF traces a function
    # again when it created variables: every first `fit` paid for two traces. (The fixture's: a new model, 6 epochs.)
    model, _ = trained
    assert model.traces == 1


def test_file_of_version_0_1_loads_with_its_predictions():
    # Written by keras-rm 0.1 (JAX): a model without slot identity, whose update gate started at bias 0.
    data = np.load(ROOT / "tests" / "data" / "memory_model_v0.1.npz")
    model = keras.saving.load_model(ROOT / "tests" / "data" / "memory_model_v0.1.keras")
    assert not model.slot_identity and not model.memory_machine.update.slot_identity
    x = {"items": data["items"], "query": data["query"]}
    np.testing.assert_allclose(model.predict(x, verbose=0), data["logits"], atol=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        tiny_model,
        lambda: keras_rm.FullAttentionModel(
            keras_rm.layers.TokenItemEncoder(VOCABULARY, 8), num_classes=TINY["num_classes"], num_layers=1, num_heads=2
        ),
    ],
    ids=["memory", "full_attention"],
)
def test_model_contract(make):
    # Config round trip, a compiled fit, save/load with equal predictions, mixed precision.
    keras.utils.set_random_seed(3)
    run_model_test(make, X, Y, batch_size=BATCH)


@pytest.mark.skipif(keras.config.backend() != "tensorflow", reason="IndexedSlices gradients are TensorFlow's")
def test_loss_scaling_skips_a_step_whose_embedding_gradient_overflows():
    # An embedding's gradient with inf among rows of one id: Keras' own check reads it as finite and applies it.
    import tensorflow as tf

    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = tiny_model()
        model.compile()
    finally:
        keras.config.set_dtype_policy("float32")
    overflow = tf.IndexedSlices(tf.constant([[1.0, np.inf], [1.0, 2.0]]), tf.constant([1, 1]), tf.constant([3, 2]))
    assert not bool(model.optimizer.check_finite([overflow, tf.ones(3)]))
    assert bool(
        model.optimizer.check_finite([tf.IndexedSlices(tf.ones((2, 2)), tf.constant([1, 1]), tf.constant([3, 2]))])
    )


@pytest.mark.parametrize("sampler", ["uniform", "teacher"])
def test_every_trainable_weight_gets_a_gradient(sampler):
    # torch DistributedDataParallel requires it, and an unused weight is a bug.
    model = tiny_model(sampler=sampler)
    model.compile()
    model(X)
    grads = gradients(lambda: model.compute_joint_loss(X, Y)[0], model.trainable_variables)
    dead = [v.path for v, g in zip(model.trainable_variables, grads) if not np.abs(g).any()]
    assert not dead, dead


def test_file_of_version_0_2_with_rehearsal_loads_every_weight():
    # Written by keras-rm 0.2.0 (JAX), before the rehearsal had its own layer: a teacher sampler, recollection and
    # familiarity, one epoch of training. Inference and rehearsal weights (decoder, teacher) come back.
    data = np.load(ROOT / "tests" / "data" / "memory_model_v0.2.npz")
    model = keras.saving.load_model(ROOT / "tests" / "data" / "memory_model_v0.2.keras")
    x = {"items": data["items"], "query": data["query"]}
    np.testing.assert_allclose(model.predict(x, verbose=0), data["logits"], atol=1e-5)
    rehearsal_weights = model.rehearsal.decoder.weights + model.rehearsal.fragment_sampler.weights
    assert len(rehearsal_weights) == len([key for key in data if key.startswith("rehearsal_")])
    for i, weight in enumerate(rehearsal_weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(weight), data[f"rehearsal_{i}"], err_msg=weight.path)


@keras.saving.register_keras_serializable(package="keras_rm_tests")
class GRUQuestionEncoder(keras_rm.layers.ItemEncoder):
    """docs/model.md's own encoder: a question of word ids `(batch, words)` as one item, read in order by a GRU."""

    item_rank = 1
    integer_items = True

    def __init__(self, vocabulary_size, hidden_dim, **kwargs):
        super().__init__(hidden_dim=hidden_dim, **kwargs)
        self.vocabulary_size = vocabulary_size
        self.embedding = keras.layers.Embedding(vocabulary_size, hidden_dim, mask_zero=True)
        self.gru = keras.layers.GRU(hidden_dim)

    def build_encoder(self, input_shape):
        self.embedding.build(input_shape[-1:])
        self.gru.build((None, input_shape[-1], self.hidden_dim))

    def encode(self, items):
        words = ops.reshape(items, (-1, items.shape[-1]))
        read = self.gru(self.embedding(words), mask=ops.not_equal(words, 0))
        return ops.reshape(read, (-1, items.shape[1], self.hidden_dim))

    def implicit_mask(self, items):
        return ops.any(ops.not_equal(items, 0), axis=-1)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size}


def test_a_users_own_query_encoder_keeps_word_order_trains_and_saves(tmp_path):
    # No rehearsal: its uniform sampler never reads the query, and it would only make the step to compile longer.
    model = tiny_model(rehearsal=None, query_encoder=GRUQuestionEncoder(vocabulary_size=VOCABULARY, hidden_dim=8))
    x = {**X, "query": np.concatenate([X["query"], np.roll(X["query"], 1, axis=0)], axis=1)}  # two-word questions
    assert (x["query"][:, 0] != x["query"][:, 1]).any()
    history = fit(model, epochs=2, x=x)
    assert history["loss"][-1] < history["loss"][0]
    swapped = {**x, "query": x["query"][:, ::-1]}
    assert not np.allclose(model.predict(x, verbose=0), model.predict(swapped, verbose=0), atol=1e-4), (
        "the question's word order reaches the answer"
    )
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_any_keras_layer_can_encode_the_query_and_the_model_saves_and_exports(tmp_path):
    import tensorflow as tf

    question = keras.Sequential([keras.layers.Embedding(VOCABULARY, 8, mask_zero=True), keras.layers.GRU(8)])
    model = tiny_model(rehearsal=None, query_encoder=question)
    x = {**X, "query": np.concatenate([X["query"], np.roll(X["query"], 1, axis=0)], axis=1)}
    history = fit(model, epochs=2, x=x)
    assert history["loss"][-1] < history["loss"][0]
    expected = model.predict(x, verbose=0)
    assert not np.allclose(expected, model.predict({**x, "query": x["query"][:, ::-1]}, verbose=0), atol=1e-4)
    model.save(tmp_path / "model.keras")
    np.testing.assert_allclose(
        keras.saving.load_model(tmp_path / "model.keras").predict(x, verbose=0), expected, atol=1e-6
    )
    model.export(str(tmp_path / "exported"))
    served = tf.saved_model.load(str(tmp_path / "exported"))
    logits = served.serve(x["items"], np.ones(x["items"].shape, bool), x["query"].astype("int32"))["logits"]
    np.testing.assert_allclose(logits.numpy(), expected, atol=1e-5)
    with pytest.raises(ValueError, match="`query_encoder` must give \\(batch, 8\\) vectors"):
        tiny_model(query_encoder=keras.layers.Embedding(VOCABULARY, 8))(X)


def test_rehearsal_is_one_argument_paper_dict_layer_or_none():
    def model(**kwargs):
        return keras_rm.RehearsalMemoryModel(keras_rm.layers.TokenItemEncoder(VOCABULARY, 8), num_classes=4, **kwargs)

    paper = model().rehearsal
    assert (paper.recollection_weight, paper.familiarity_weight, paper.sampler) == (1.0, 0.5, "uniform")
    assert paper.fragment_length == 16  # a fragment is a segment unless the dict says otherwise
    assert not model(rehearsal=None).rehearsal.active
    teacher = model(rehearsal={"sampler": "teacher", "rehearsal_warmup": 100}).rehearsal
    assert (teacher.sampler, teacher.rehearsal_warmup, teacher.recollection_weight) == ("teacher", 100, 1.0)
    layer = keras_rm.layers.Rehearsal(hidden_dim=8, num_classes=4, num_fragments=3)
    assert model(rehearsal=layer).rehearsal is layer
    with pytest.raises(ValueError, match="must be made for this model"):
        model(rehearsal=keras_rm.layers.Rehearsal(hidden_dim=16, num_classes=4))
    with pytest.raises(ValueError, match=r"does not take here: \['num_slot'\]"):
        model(rehearsal={"num_slot": 3})
    with pytest.raises(TypeError, match="`rehearsal` must be"):
        model(rehearsal="teacher")


def test_rehearsal_arguments_given_flat_warn_and_build_the_same_model():
    def model(**kwargs):
        return keras_rm.RehearsalMemoryModel(keras_rm.layers.TokenItemEncoder(VOCABULARY, 8), num_classes=4, **kwargs)

    with pytest.warns(DeprecationWarning, match=r"\(num_fragments, sampler\) go in version 0.7: pass `rehearsal="):
        flat = model(sampler="teacher", num_fragments=2)
    assert (
        flat.rehearsal.get_config()
        == model(rehearsal={"sampler": "teacher", "num_fragments": 2}).rehearsal.get_config()
    )
    with pytest.warns(DeprecationWarning):
        assert not model(recollection_weight=0.0, familiarity_weight=0.0).rehearsal.active


def test_memory_is_one_argument_layer_dict_or_none():
    def model(**kwargs):
        return keras_rm.RehearsalMemoryModel(keras_rm.layers.TokenItemEncoder(VOCABULARY, 8), num_classes=4, **kwargs)

    default = model()
    assert (default.num_slots, default.segment_length, default.num_heads, default.slot_dim) == (8, 16, 4, 8)
    assert default.memory_machine.name == "memory_machine"  # the path of its weights in the model's files
    given = model(memory={"num_slots": 3, "segment_length": 4, "num_heads": 2, "keep_bias": 0.5}, dropout=0.1)
    machine = given.memory_machine
    assert (machine.num_slots, machine.segment_length, machine.keep_bias, machine.hidden_dim) == (3, 4, 0.5, 8)
    assert machine.dropout == 0.1 and (given.num_slots, given.segment_length, given.slot_dim) == (3, 4, 8)
    # The memory's heads serve the reader and the rehearsal; a fragment is a segment unless the rehearsal says not.
    assert given.reader.num_heads == given.rehearsal.num_heads == given.num_heads == 2
    assert given.rehearsal.fragment_length == 4
    layer = keras_rm.layers.MemoryMachine(num_slots=5, hidden_dim=8, segment_length=4, num_heads=2)
    assert model(memory=layer).memory_machine is layer and model(memory=layer).num_slots == 5
    with pytest.raises(ValueError, match=r"`hidden_dim` must equal the item encoder's.*= 16, .*= 8"):
        model(memory=keras_rm.layers.MemoryMachine(hidden_dim=16))
    with pytest.raises(ValueError, match=r"`hidden_dim` must equal the item encoder's.*= 16, .*= 8"):
        model(memory={"hidden_dim": 16})
    with pytest.raises(
        ValueError, match=r"does not take here: \['num_slot'\]. Expected some of: num_slots, hidden_dim"
    ):
        model(memory={"num_slot": 3})
    with pytest.raises(ValueError, match="does not take here: \\['dropout'\\]"):
        model(memory={"dropout": 0.5})  # the model's own
    with pytest.raises(TypeError, match="`memory` must be"):
        model(memory=4)


def test_memory_arguments_given_flat_warn_and_build_the_same_model():
    def model(**kwargs):
        return keras_rm.RehearsalMemoryModel(keras_rm.layers.TokenItemEncoder(VOCABULARY, 8), num_classes=4, **kwargs)

    def config(model):
        return {key: value for key, value in model.get_config().items() if key not in ("name", "item_encoder")}

    flat_arguments = dict(num_slots=4, slot_dim=8, segment_length=8, segment_layers=2, num_heads=2, keep_bias=0.5)
    warned = r"\(keep_bias, null_item, .*, slot_identity\) go in version 0.8: pass `memory=\{'keep_bias': 0.5, 'null_"
    with pytest.warns(DeprecationWarning, match=warned):
        flat = model(**flat_arguments, per_slot_weights=True, slot_identity=False, null_item=False)
    nested = model(
        memory=dict(
            num_slots=4,
            segment_length=8,
            num_layers=2,
            num_heads=2,
            keep_bias=0.5,
            per_slot_weights=True,
            slot_identity=False,
            null_item=False,
        )
    )
    assert config(flat) == config(nested)
    assert flat.reader.num_heads == flat.rehearsal.num_heads == 2
    with pytest.warns(DeprecationWarning, match=r"pass `memory=\{'num_slots': 4\}`"):
        assert model(memory={"segment_length": 8}, num_slots=4).memory_machine.get_config() == (
            model(memory={"num_slots": 4, "segment_length": 8}).memory_machine.get_config()
        )
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(ValueError, match="`hidden_dim` must equal the item encoder's"),
    ):
        model(slot_dim=16)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="give its arguments to it"):
        model(memory=keras_rm.layers.MemoryMachine(hidden_dim=8), num_slots=3)


def test_a_nested_memory_round_trips_its_config():
    model = tiny_model(keep_bias=0.5, per_slot_weights=True)
    config = model.get_config()
    assert config["memory"]["class_name"] == "MemoryMachine" and "build_config" not in config["memory"]
    assert config["memory"]["config"]["keep_bias"] == 0.5 and config["memory"]["config"]["per_slot_weights"]
    assert not set(config) & {"num_slots", "slot_dim", "segment_length", "segment_layers", "num_heads", "keep_bias"}
    revived = keras_rm.RehearsalMemoryModel.from_config(config)
    assert revived.memory_machine.get_config() == model.memory_machine.get_config()
    assert revived.get_config() == config


def test_a_nested_rehearsal_saves_and_loads_and_trains_on(teacher, tmp_path):
    # (test_model_contract saves and loads the plain rehearsing memory: equal predictions and optimizer steps.)
    model, _ = teacher
    path = str(tmp_path / "model.keras")
    model.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(path)
    assert not [w for w in caught if "cannot be built" in str(w.message)], "the file's build config must build it"
    assert loaded.rehearsal.get_config() == model.rehearsal.get_config()
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-5)
    for a, b in zip(weights_of(loaded.rehearsal), weights_of(model.rehearsal)):
        np.testing.assert_array_equal(a, b)
    steps = [int(ops.convert_to_numpy(m.optimizer.iterations)) for m in (loaded, model)]
    assert steps[0] == steps[1], f"optimizer steps {steps[0]} after loading, {steps[1]} saved"
    history = loaded.fit(X, Y, batch_size=BATCH, epochs=1, verbose=0).history  # training resumes
    assert np.isfinite(history["total_loss"]).all()
