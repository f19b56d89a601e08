"""Operations on history fragments behind the two rehearsal tasks of RM (training only).

The tasks themselves live in `keras_rm.layers.Rehearsal`; these are its pieces
(Zhang et al., ICML 2021):

- `recollection`: mask a share of a fragment's items with the decoder's
  learned [MASK], reconstruct each from the memory, and score the
  reconstruction against the true item and `num_negatives` items drawn from
  the same sequence, one draw shared by its masked items (InfoNCE over cosine
  similarities), or, for id items, against the whole vocabulary (full softmax);
- `familiarity`: tell real fragments from fragments whose items were partly
  replaced by items of another sequence of the batch.

Every random choice uses the `SeedGenerator` passed in. All shapes are static
except the batch, so the functions trace under TF graphs, XLA and JAX jit.
"""

import collections

import keras
from keras import ops

NEG_INF = -1e9

FragmentViews = collections.namedtuple(
    "FragmentViews", ["items", "mask", "view", "masked_positions", "masked_chosen", "item_ids", "corrupted", "weights"]
)
FragmentViews.__doc__ = """What the rehearsal decoder reads of each fragment, and what its two tasks are scored against.

Fields:
    items: the fragments' encoded items `(rows, fragment_length, dim)`, rows = batch * num_fragments.
    mask: bool `(rows, fragment_length)`, the real items.
    view: the decoder's input: `items` with the masked ones behind [MASK] and, in corrupted fragments, some
        replaced by another sequence's.
    masked_positions, masked_chosen: `choose_positions`' outputs for the masked items (None without recollection).
    item_ids: the fragments' item ids `(rows, fragment_length)` (softmax recollection), else None.
    corrupted: bool `(rows,)`, which fragments were corrupted (None without familiarity).
    weights: float `(rows,)`, the familiarity task's weight of each fragment (None without familiarity).
"""


def take_rows(values, positions):
    """`values[b, positions[b, k]]` for every row `b`: `(batch, k, ...)` from `values` `(batch, length, ...)`.

    One gather of rows from the flattened `values`: the result of
    `take_along_axis` with indices broadcast over the features, without an
    index per feature (and a gradient that scatters whole rows).
    """
    length = values.shape[1]
    offsets = ops.arange(ops.shape(values)[0], dtype=positions.dtype)[:, None] * length
    flat = ops.reshape(values, (-1,) + tuple(values.shape[2:]))
    return ops.take(flat, positions + offsets, axis=0)


def gather_fragments(values, starts, fragment_length):
    """Cuts fragments out of `values` `(batch, length, ...)`.

    Args:
        values: `(batch, length)` or `(batch, length, dim)`.
        starts: int `(batch, num_fragments)`.
        fragment_length: int.

    Returns:
        `(batch * num_fragments, fragment_length, ...)`.
    """
    num_fragments = starts.shape[1]
    positions = ops.expand_dims(starts, -1) + ops.arange(fragment_length, dtype=starts.dtype)
    positions = ops.minimum(positions, values.shape[1] - 1)
    positions = ops.reshape(positions, (-1, num_fragments * fragment_length))
    return ops.reshape(take_rows(values, positions), (-1, fragment_length) + tuple(values.shape[2:]))


def choose_positions(valid, count, seed, scores=None):
    """Picks `count` distinct positions per row of `valid` `(rows, length)`, real ones first.

    Args:
        valid: bool `(rows, length)`.
        count: int.
        seed: a `SeedGenerator`.
        scores: optional non-negative float `(rows, length)`: pick the
            highest-scoring real positions (ties broken at random) instead
            of random ones.

    Returns:
        `(positions, chosen)`: int `(rows, count)` and bool `(rows, count)`,
        False where a row had fewer than `count` real positions.
    """
    noise = keras.random.uniform(ops.shape(valid), seed=seed)
    if scores is not None:
        # Ties (and scores within 1e-4 of each other, relatively) are broken at random, whatever the scale of the
        # scores: attention over 10,000 items is about 1e-4 an item.
        scores = ops.cast(scores, noise.dtype)
        noise = scores * (1.0 + 1e-4 * noise) + 1e-30 * noise
    keys = ops.where(valid, noise, ops.min(noise) - 2.0)
    _, positions = ops.top_k(keys, count)
    return positions, ops.take_along_axis(valid, positions, axis=1)


def position_one_hot(positions, chosen, length, dtype):
    """`(rows, count, length)` one-hot of `positions`, zero where not `chosen`."""
    one_hot = ops.one_hot(positions, length, dtype=dtype)
    return one_hot * ops.cast(chosen, dtype)[..., None]


def mask_positions(fragment_mask, count, seed, scores=None):
    """Which `count` items of each fragment go behind [MASK]: random real items, or with `scores` the highest scoring.

    Returns:
        `(masked, positions, chosen)`: bool `(rows, fragment_length)`, and
        `choose_positions`' two outputs.
    """
    positions, chosen = choose_positions(fragment_mask, count, seed, scores)
    one_hot = position_one_hot(positions, chosen, fragment_mask.shape[1], "float32")
    return ops.sum(one_hot, axis=1) > 0, positions, chosen


def corrupt_half(view, visible, items, item_mask, count, num_fragments, seed):
    """Replaces, in half the fragments (drawn at random), `count` of their `visible` items by items of another
    sequence (the next row of the batch).

    Args:
        view: fragments `(batch * num_fragments, fragment_length, dim)`, a sequence's fragments in consecutive rows.
        visible: bool `(batch * num_fragments, fragment_length)`: the items that may be replaced.
        items, item_mask: the sequences `(batch, length, dim)` and `(batch, length)` the replacements come from.
        count: int. Items replaced per corrupted fragment.
        num_fragments: int. Fragments per sequence.
        seed: a `SeedGenerator`.

    Returns:
        `(view, corrupted, weights)`: the fragments, bool `(rows,)` which
        were corrupted, and the weights of the familiarity task (0 for a
        fragment without a real item, or a corrupted one without a
        replaced item).
    """
    positions, chosen = choose_positions(visible, count, seed)
    donors = ops.roll(items, 1, axis=0)
    donor_mask = ops.roll(item_mask, 1, axis=0)
    replacements = draw_items(donors, donor_mask, num_fragments * count, seed)
    replacements = ops.reshape(replacements, (-1, count, view.shape[-1]))
    one_hot = position_one_hot(positions, chosen, view.shape[1], view.dtype)
    replaced = ops.sum(one_hot, axis=1)[..., None]
    corrupted_view = view * (1.0 - replaced) + ops.einsum("rcl,rcd->rld", one_hot, replacements)
    corrupted = keras.random.uniform((ops.shape(view)[0],), seed=seed) < 0.5
    weights = ops.where(corrupted, ops.any(chosen, axis=1), ops.any(visible, axis=1))
    return ops.where(corrupted[:, None, None], corrupted_view, view), corrupted, ops.cast(weights, "float32")


def draw_items(items, item_mask, num_samples, seed):
    """Draws `num_samples` real items per row of `items` `(batch, length, dim)`, uniformly, with replacement.

    Draws a rank below each row's count of real items and takes the real item
    of that rank: `batch * num_samples` random numbers, where a categorical
    draw would need `batch * num_samples * length`. Rows without real items
    return arbitrary items (callers give them no weight).
    """
    valid = ops.cast(item_mask, "int32")
    counts = ops.sum(valid, axis=1, keepdims=True)
    uniform = keras.random.uniform((ops.shape(valid)[0], num_samples), seed=seed)
    ranks = ops.minimum(ops.cast(uniform * ops.cast(counts, "float32"), "int32"), ops.maximum(counts - 1, 0))
    real_first = ops.argsort(1 - valid, axis=1)  # positions of the real items come first
    positions = ops.take_along_axis(real_first, ranks, axis=1)
    return take_rows(items, positions)


def l2_normalize(x):
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), 1e-12))


def contrastive_logits(reconstructions, targets, negatives, temperature):
    """InfoNCE logits `(batch, count, 1 + num_negatives)`: column 0 is the true item.

    Args:
        reconstructions: `(batch, count, dim)`, the decoder's guesses of the
            masked items of a sequence's fragments.
        targets: `(batch, count, dim)`, the true items.
        negatives: `(batch, num_negatives, dim)`, items of the same sequence,
            shared by all its masked items (one draw per sequence, not per item).
        temperature: float.

    Cosine similarities divided by `temperature`. A negative identical to the
    true item (the same sentence or frame repeated) is not a negative: it is
    masked out. (Identical: squared distance under 1e-5 of the squared norms,
    from one small matmul; comparing every feature of every pair cost 4% of
    a rehearsal step.)
    """
    exact_targets, exact_negatives = ops.cast(targets, "float32"), ops.cast(negatives, "float32")
    norms = ops.sum(ops.square(exact_targets), -1)[..., None] + ops.sum(ops.square(exact_negatives), -1)[:, None]
    distances = norms - 2.0 * ops.einsum("bcd,bkd->bck", exact_targets, exact_negatives)
    same = distances <= 1e-5 * norms
    reconstructions = l2_normalize(reconstructions)
    positive = ops.sum(reconstructions * l2_normalize(targets), axis=-1, keepdims=True)
    negative = ops.einsum("bcd,bkd->bck", reconstructions, l2_normalize(negatives))
    logits = ops.concatenate([positive, negative], axis=-1) / temperature
    not_negative = ops.concatenate([ops.zeros_like(same[..., :1]), same], axis=-1)
    return ops.where(not_negative, NEG_INF, ops.cast(logits, "float32"))


@keras.saving.register_keras_serializable(package="keras_rm")
class FamiliarityLoss(keras.losses.Loss):
    """Familiarity loss of RM: `-[log s(real) + log(1 - s(corrupt))]`, one fragment at a time.

    The paper sums the binary cross-entropy of a real fragment and of its
    corrupted copy (its printed equation has the wrong sign; this is the
    intended one). Here each fragment is either real or corrupted, with
    probability 1/2, so the loss of one fragment is twice its binary
    cross-entropy: the same expected value as the paper's pair, at half the
    decoder's work. Computed from logits with `softplus`, so a confident
    classifier never takes `log(0)`.

    Call arguments:
        y_true: bool or 0/1 `(fragments,)`: True for a corrupted fragment.
        y_pred: logits `(fragments,)`, positive for "real" (familiar).
        sample_weight: `(fragments,)`, 0 for fragments that carry no task (padding).
    """

    def __init__(self, reduction="mean_with_sample_weight", name="familiarity_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        return 2.0 * ops.softplus(ops.where(ops.cast(y_true, "bool"), y_pred, -y_pred))


def weighted_mean(values, weights):
    weights = ops.cast(weights, "float32")
    return ops.sum(ops.cast(values, "float32") * weights) / ops.maximum(ops.sum(weights), 1.0)
