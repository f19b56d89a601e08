"""History samplers: valid positions only, distributions, teacher."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_rm import fragments, samplers

B, N = 4, 24
rng = np.random.default_rng(2)
MASK = np.arange(N)[None, :] < np.array([[24], [17], [9], [5]])


def draw(sampler, mask, importance=None, times=20):
    return np.stack([ops.convert_to_numpy(sampler(mask, importance)) for _ in range(times)])


def test_uniform_sampler_starts_on_real_items_without_repeats():
    sampler = samplers.UniformSampler(num_fragments=2, fragment_length=4, seed=0)
    starts = draw(sampler, MASK)
    assert starts.shape == (20, B, 2)
    for row in range(3):  # rows with at least 2 real starts
        assert MASK[row][starts[:, row]].all()
        assert (starts[:, row, 0] != starts[:, row, 1]).all()
    assert starts.max() <= N - 4
    # Rows 0 and 1 see different starts over the draws: the draw is random.
    assert len(np.unique(starts[:, 0])) > 2


def test_importance_sampler_distribution_and_preference():
    sampler = samplers.ImportanceSampler(num_fragments=1, fragment_length=4, temperature=1.0, uniform_mix=0.2, seed=0)
    importance = np.zeros((B, N), "float32")
    importance[:, 5] = 1.0
    starts_at = sampler.candidate_starts(N)
    np.testing.assert_array_equal(starts_at, np.arange(0, N - 3, 2))  # windows overlapping by half
    probs = ops.convert_to_numpy(sampler.distribution(MASK, importance))
    assert probs.shape == (B, len(starts_at))
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    valid_windows = np.stack([MASK[:, s : s + 4].any(axis=1) for s in starts_at], axis=1)
    assert (probs[~valid_windows] == 0).all(), "padded windows must never be drawn"
    assert probs[0, 1] + probs[0, 2] > 0.8  # the two windows holding item 5 (starts 2 and 4)
    starts = draw(sampler, MASK, importance)
    assert np.isin(starts[:, 0], [2, 4]).mean() > 0.6
    assert np.isin(starts, starts_at).all()


def test_importance_sampler_can_draw_the_items_past_the_last_multiple_of_the_fragment_length():
    sampler = samplers.ImportanceSampler(num_fragments=1, fragment_length=4, uniform_mix=0.0, seed=0)
    length = 11  # items 8 to 10 lie past the last multiple of 4
    np.testing.assert_array_equal(sampler.candidate_starts(length), [0, 2, 4, 6, 7])
    importance = np.zeros((2, length), "float32")
    importance[:, 10] = 1.0
    starts = ops.convert_to_numpy(sampler(np.ones((2, length), bool), importance))
    np.testing.assert_array_equal(starts, [[7], [7]])


def test_importance_sampler_needs_importance():
    with pytest.raises(ValueError, match="needs an importance score"):
        samplers.ImportanceSampler(1, 4)(MASK)


def test_sampler_rejects_fragments_longer_than_the_sequence():
    with pytest.raises(ValueError, match="`fragment_length` must not exceed the sequence length"):
        samplers.UniformSampler(num_fragments=1, fragment_length=N + 1)(MASK)


@pytest.mark.parametrize("sampler", [samplers.UniformSampler, samplers.ImportanceSampler])
def test_samplers_draw_more_fragments_than_a_short_sequence_has_windows(sampler):
    # 4 fragments of 8 items from 12 (a short story of a length curriculum): 2 importance windows, 5 uniform starts.
    draw_from = sampler(num_fragments=4, fragment_length=8, seed=0)
    starts = ops.convert_to_numpy(draw_from(np.ones((B, 12), bool), np.ones((B, 12), "float32")))
    assert starts.shape == (B, 4) and np.isin(starts, draw_from.candidate_starts(12)).all()


def test_teacher_sampler_attention_is_a_distribution_over_real_items():
    sampler = samplers.TeacherSampler(2, 4, hidden_dim=8, task="classification", num_classes=3, seed=0)
    items = rng.normal(size=(B, N, 8)).astype("float32")
    query = rng.normal(size=(B, 8)).astype("float32")
    attention, logits = sampler.teach(items, MASK, query)
    attention = ops.convert_to_numpy(attention)
    assert tuple(logits.shape) == (B, 3)
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    assert (attention[~MASK] < 1e-6).all()
    probs = ops.convert_to_numpy(sampler.distribution(MASK, attention))
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    starts = ops.convert_to_numpy(sampler(MASK, attention))
    for row in range(B):
        assert MASK[row][starts[row]].all() or MASK[row].sum() < 8


def identity_teacher(hops, positions, dtype=None):
    """A teacher of width 8 whose query, key and value projections are the identity."""
    sampler = samplers.TeacherSampler(
        2, 4, hidden_dim=8, task="classification", num_classes=3, hops=hops, positions=positions, dtype=dtype
    )
    sampler.build()
    for projection in (sampler.query_projection, sampler.key_projection, sampler.value_projection):
        projection.kernel.assign(np.eye(8))
    return sampler


def test_teacher_second_round_can_find_the_fact_the_first_one_points_to():
    e = np.eye(8, dtype="float32")
    items = np.tile(0.1 * e[7], (1, N, 1))
    items[0, 3] = 3 * e[0] + 3 * e[1]  # the fact the query asks about ("John took the football")
    items[0, 10] = 3 * e[1] + 3 * e[2]  # the fact it points to ("John went to the kitchen")
    query = (5 * e[0])[None]  # "where is the football?"
    mask = np.ones((1, N), bool)
    value = np.eye(8)  # what the first round reads of fact 3 asks for "John", no more for "football"
    value[0, 0], value[1, 1], value[1, 2] = -5 / 3, 2.0, 1.0
    attentions = []
    for hops in (1, 2):
        teacher = identity_teacher(hops, False)
        teacher.value_projection.kernel.assign(value)
        attentions.append(ops.convert_to_numpy(teacher.teach(items, mask, query)[0])[0])
    one, two = attentions
    assert one.argmax() == 3 and one[10] < 0.01
    assert two[10] > 0.3, "the second round reads the fact the first one pointed to"
    np.testing.assert_allclose(two.sum(), 1.0, atol=1e-5)


def test_teacher_positions_let_it_prefer_the_latest_of_equal_items_and_keep_float16_finite():
    items = np.tile(rng.normal(size=(1, 1, 8)).astype("float32"), (1, N, 1))  # the same item everywhere
    query = rng.normal(size=(1, 8)).astype("float32")
    mask = np.arange(N)[None] < 12  # the last 4 items are padding
    blind = ops.convert_to_numpy(identity_teacher(1, False).teach(items, mask, query)[0])
    np.testing.assert_allclose(blind[0, :12], 1 / 12, rtol=1e-4)
    teacher = identity_teacher(1, True)
    teacher.position_direction.assign(4 * query[0] / np.linalg.norm(query[0]) ** 2 * np.sqrt(8))  # +4 at the end
    seeing = ops.convert_to_numpy(teacher.teach(items, mask, query)[0])
    assert np.all(np.diff(seeing[0, :12]) > 0) and seeing[0, 12:].max() < 1e-6, "later items weigh more"
    half = identity_teacher(2, True, dtype="float16")
    attention = ops.convert_to_numpy(half.teach(items.astype("float16"), mask, query.astype("float16"))[0])
    assert np.isfinite(attention).all() and attention[0, 12:].max() < 1e-6  # the masks' -1e9 stays in float32
    config = teacher.get_config()
    assert samplers.TeacherSampler.from_config(config).get_config() == config
    legacy = {key: value for key, value in config.items() if key not in ("hops", "positions")}
    assert (
        samplers.TeacherSampler.from_config(legacy).hops,
        samplers.TeacherSampler.from_config(legacy).positions,
    ) == (1, False), "files written before 0.4 keep their one-round teacher without positions"


def test_choose_positions_random_or_by_score():
    valid = np.arange(8)[None, :] < np.array([[8], [3]])
    seed = keras.random.SeedGenerator(0)
    positions, chosen = (ops.convert_to_numpy(t) for t in fragments.choose_positions(valid, 4, seed))
    assert (positions[0] != positions[0][:, None]).sum() == 12, "distinct positions"
    assert valid[0][positions[0]].all() and chosen[0].all()
    assert sorted(positions[1][:3]) == [0, 1, 2] and chosen[1].tolist() == [True, True, True, False]
    scores = np.array([[0, 5, 0, 4, 0, 0, 3, 9], [7, 0, 1, 9, 9, 9, 9, 9]], "float32")
    positions, chosen = (ops.convert_to_numpy(t) for t in fragments.choose_positions(valid, 3, seed, scores))
    assert sorted(positions[0]) == [1, 3, 7], "the highest-scoring positions"
    assert sorted(positions[1]) == [0, 1, 2], "padding is never chosen, whatever its score"
    assert chosen.all()


def test_mask_positions_masks_count_real_items_of_each_fragment_or_all_it_has():
    valid = np.arange(8)[None, :] < np.array([[8], [3]])
    seed = keras.random.SeedGenerator(0)
    masked, positions, chosen = (ops.convert_to_numpy(t) for t in fragments.mask_positions(valid, 4, seed))
    assert masked.sum(axis=1).tolist() == [4, 3] and not masked[~valid].any(), "padding is never masked"
    assert masked[0][positions[0]].all() and chosen.sum() == 7


def test_choose_positions_by_score_keeps_the_order_of_tiny_scores_and_breaks_ties_at_random():
    # Attention over 10,000 items: scores near 1e-4, the two highest only 5% above the rest.
    scores = np.full((1, 10_000), 1e-4, "float32")
    scores[0, [17, 4242]] = 1.05e-4
    valid = np.ones_like(scores, bool)
    seed = keras.random.SeedGenerator(0)
    positions, _ = fragments.choose_positions(valid, 2, seed, scores)
    assert sorted(ops.convert_to_numpy(positions)[0]) == [17, 4242]
    tied = np.ones((1, 8), "float32")
    draws = {
        int(ops.convert_to_numpy(fragments.choose_positions(valid[:, :8], 1, seed, tied)[0])[0, 0]) for _ in range(30)
    }
    assert len(draws) > 3, "equal scores: a random one each time"


def test_contrastive_logits_mask_a_negative_identical_to_the_target():
    reconstructions, targets = rng.normal(size=(2, 2, 3, 8)).astype("float32")
    negatives = rng.normal(size=(2, 4, 8)).astype("float32")  # shared by the 3 masked items of a sequence
    negatives[0, 2] = targets[0, 1]  # the true item of item 1 again (a repeated sentence or frame)
    negatives[1, 0] = 2 * targets[1, 0]  # the same direction, but another item
    logits = ops.convert_to_numpy(fragments.contrastive_logits(reconstructions, targets, negatives, 0.1))

    def cosine(a, b):
        return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)

    expected = (
        np.concatenate(
            [cosine(reconstructions, targets)[..., None], cosine(reconstructions[:, :, None], negatives[:, None])],
            axis=-1,
        )
        / 0.1
    )
    masked = np.zeros(logits.shape, bool)
    masked[0, 1, 3] = True  # column 0 is the target, so negative 2 is column 3; only for item 1
    assert logits[0, 1, 3] == fragments.NEG_INF
    np.testing.assert_allclose(logits[~masked], expected[~masked], rtol=1e-5, atol=1e-5)

    def loss(logits):  # the recollection loss: cross-entropy with the target in column 0
        return ops.convert_to_numpy(
            keras.losses.sparse_categorical_crossentropy(np.zeros(logits.shape[:-1], "int32"), logits, from_logits=True)
        )

    without = fragments.contrastive_logits(
        reconstructions[:1, 1:2], targets[:1, 1:2], np.delete(negatives[:1], 2, 1), 0.1
    )
    np.testing.assert_allclose(loss(logits)[0, 1], loss(ops.convert_to_numpy(without))[0, 0], rtol=1e-5)
