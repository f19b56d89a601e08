"""Learning checks on the built-in recall task (slow: `make test-all`)."""

import keras
import pytest

import keras_rm
from pipelines.recall import make_recall_data, recall_vocabulary_size

TASK = dict(length=64, num_pairs=3, num_keys=16, num_values=8, num_distractors=32, as_pairs=True)


def train_and_test(model, epochs):
    model.compile()
    for epoch in range(epochs):
        x, y, _ = make_recall_data(4000, seed=epoch, **TASK)
        model.fit(x, y, batch_size=32, verbose=0)
    x, y, _ = make_recall_data(500, seed=999, **TASK)
    return float((model.predict(x, verbose=0).argmax(-1) == y).mean())


def encoder():
    return keras_rm.layers.SentenceItemEncoder(recall_vocabulary_size(16, 8, 32), 32, max_words=2)


@pytest.mark.slow
def test_plain_memory_learns_recall_above_chance():
    keras.utils.set_random_seed(0)
    model = keras_rm.RehearsalMemoryModel(
        encoder(), num_classes=8, num_slots=8, segment_length=8, recollection_weight=0.0, familiarity_weight=0.0
    )
    assert train_and_test(model, epochs=8) > 2 / 8  # chance is 1/8


@pytest.mark.slow
def test_full_attention_solves_recall():
    keras.utils.set_random_seed(0)
    assert train_and_test(keras_rm.FullAttentionModel(encoder(), num_classes=8), epochs=8) > 0.9
