"""The memory machine: padding, streaming, gradients."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_rm import layers
from tests.testing import gradients, run_layer_test

B, N, D, K, L = 2, 20, 8, 3, 8
rng = np.random.default_rng(1)
ITEMS = rng.normal(size=(B, N, D)).astype("float32")


@pytest.fixture(scope="module")
def machine():
    machine = layers.MemoryMachine(num_slots=K, hidden_dim=D, segment_length=L, num_heads=2)
    machine(ITEMS)
    return machine


def np_memory(machine, items, mask=None):
    return ops.convert_to_numpy(machine(items, mask))


def test_layer_contract():
    run_layer_test(
        layers.MemoryMachine,
        dict(num_slots=K, hidden_dim=D, segment_length=L, num_heads=2, per_slot_weights=True),
        (ITEMS,),
        (B, K, D),
    )


def test_streaming_equals_writing_at_once(machine):
    at_once = np_memory(machine, ITEMS)
    memory = machine.initial_memory(B)
    for start in range(0, N, L):  # the last write holds the 4 remaining items
        memory = machine.write(memory, ITEMS[:, start : start + L])
    np.testing.assert_allclose(ops.convert_to_numpy(memory), at_once, atol=1e-5)


def test_return_sequences_gives_the_memory_after_every_segment(machine):
    memories = ops.convert_to_numpy(machine.write(machine.initial_memory(B), ITEMS, return_sequences=True))
    assert memories.shape == (B, 3, K, D)  # 20 items: 3 segments of 8, the last padded
    for segments in (1, 2, 3):
        streamed = machine.write(machine.initial_memory(B), ITEMS[:, : segments * L])
        np.testing.assert_allclose(memories[:, segments - 1], ops.convert_to_numpy(streamed), atol=1e-5)


def test_padding_never_changes_the_memory(machine):
    mask = np.ones((B, N), bool)
    mask[:, 13:] = False
    memory = np_memory(machine, ITEMS, mask)
    # Other values behind the padding, and more padding segments: same memory.
    noisy = ITEMS.copy()
    noisy[:, 13:] = 50.0
    np.testing.assert_allclose(np_memory(machine, noisy, mask), memory, atol=1e-5)
    longer = np.concatenate([ITEMS, rng.normal(size=(B, 2 * L, D)).astype("float32")], axis=1)
    longer_mask = np.concatenate([mask, np.zeros((B, 2 * L), bool)], axis=1)
    np.testing.assert_allclose(np_memory(machine, longer, longer_mask), memory, atol=1e-5)


def test_all_padding_sequence_gives_the_initial_memory(machine):
    memory = np_memory(machine, ITEMS, np.zeros((B, N), bool))
    np.testing.assert_allclose(memory, ops.convert_to_numpy(machine.initial_memory(B)), atol=0)


def test_rows_are_independent(machine):
    both = np_memory(machine, ITEMS)
    alone = np_memory(machine, ITEMS[1:])
    np.testing.assert_allclose(both[1:], alone, atol=1e-5)


def test_every_weight_gets_a_gradient(machine):
    variables = machine.trainable_variables
    grads = gradients(lambda: ops.sum(machine(ITEMS) ** 2), variables)
    assert all(np.abs(g).sum() > 0 for g in grads), [v.path for v, g in zip(variables, grads) if not np.abs(g).any()]


def test_first_segment_reaches_the_final_memory(machine):
    items = keras.Variable(ITEMS)
    grad = gradients(lambda: ops.sum(machine(items) ** 2), [items])[0]
    assert np.abs(grad[:, :L]).sum() > 0


def test_write_checks_shapes(machine):
    with pytest.raises(ValueError, match="`memory` must have shape"):
        machine.write(np.zeros((B, K + 1, D), "float32"), ITEMS)
    with pytest.raises(ValueError, match="encoded items"):
        machine.write(machine.initial_memory(B), np.zeros((B, N, D + 1), "float32"))
    with pytest.raises(ValueError, match="`segment_length` must be a positive integer"):
        layers.MemoryMachine(num_slots=K, hidden_dim=D, segment_length=0)


def test_defaults_and_a_missing_width():
    machine = layers.MemoryMachine(hidden_dim=D)
    assert (machine.num_slots, machine.segment_length, machine.num_layers, machine.num_heads) == (8, 16, 1, 4)
    with pytest.raises(TypeError, match="`hidden_dim` must be a positive integer. Received: `hidden_dim` = None"):
        layers.MemoryMachine(num_slots=K, segment_length=L)


def slot_spread(memory):
    """Mean 1 - cosine similarity between the slots of each memory row: 0 when all slots are one vector."""
    unit = memory / np.linalg.norm(memory, axis=-1, keepdims=True)
    cosine = np.einsum("bkd,bjd->bkj", unit, unit)
    return float(1.0 - cosine[:, ~np.eye(memory.shape[1], dtype=bool)].mean())


@pytest.mark.parametrize("slot_identity", [True, False])
def test_slots_stay_distinct_over_60_segments_only_with_slot_identity(slot_identity):
    # A shared GRU fed the same reads drives every slot to one vector; the slot identity keeps them apart.
    keras.utils.set_random_seed(0)
    machine = layers.MemoryMachine(
        num_slots=8, hidden_dim=16, segment_length=4, num_heads=2, slot_identity=slot_identity
    )
    items = np.random.default_rng(0).normal(size=(2, 60 * 4, 16)).astype("float32")
    spread = slot_spread(np_memory(machine, items))
    assert spread > 0.1 if slot_identity else spread < 0.01, spread
