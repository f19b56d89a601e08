"""A built-in synthetic associative-recall task (numpy only: runs without TensorFlow).

Each example is a long sequence of token ids in which `num_pairs` (key, value)
bindings are written as two adjacent tokens among distractor tokens; the query
is one of the keys and the answer is its value. The memory must keep the
bindings it read, however early they came, while the distractors stream past.

Token ids: 0 is padding; keys are `1 .. num_keys`; values are
`num_keys + 1 .. num_keys + num_values`; distractors follow. The label is the
value's index in `[0, num_values)`.
"""

import numpy as np


def recall_vocabulary_size(num_keys, num_values, num_distractors):
    """Number of token ids, padding included."""
    return 1 + num_keys + num_values + num_distractors


def make_recall_data(
    num_examples,
    length=64,
    num_pairs=4,
    num_keys=16,
    num_values=8,
    num_distractors=32,
    padding=0,
    as_pairs=False,
    seed=0,
):
    """Draws `num_examples` recall examples.

    Args:
        num_examples: int. Examples to draw.
        length: int. Tokens per sequence, padding included.
        num_pairs: int. (key, value) bindings per sequence; keys are distinct.
        num_keys: int. Size of the key vocabulary.
        num_values: int. Size of the value vocabulary (= answer classes).
        num_distractors: int. Size of the distractor vocabulary.
        padding: int. Trailing padding tokens (id 0) per sequence.
        as_pairs: bool. Group the tokens two by two into items of two ids
            (`items` `(num_examples, length // 2, 2)`, for
            `SentenceItemEncoder`), so each binding is one item; the query is
            then one item `(key, 0)`.
        seed: int. Seed of the draw.

    Returns:
        `(inputs, labels, depth)`: `inputs` a dict with int32 `items`
        `(num_examples, length)` and `query` `(num_examples, 1)`; int32
        `labels` `(num_examples,)`; float `depth` in [0, 1), where the
        queried binding sits in the sequence (0 = earliest).
    """
    real = length - padding
    if num_pairs > num_keys:
        raise ValueError(f"`num_pairs` must not exceed `num_keys`. Received: {num_pairs} > {num_keys}")
    if 2 * num_pairs > real:
        raise ValueError(f"{num_pairs} bindings need {2 * num_pairs} tokens; the sequence has {real} real tokens.")
    rng = np.random.default_rng(seed)
    first_distractor = 1 + num_keys + num_values
    items = rng.integers(first_distractor, first_distractor + num_distractors, (num_examples, length))
    items[:, real:] = 0
    query = np.zeros((num_examples, 1), dtype=np.int64)
    labels = np.zeros(num_examples, dtype=np.int64)
    depth = np.zeros(num_examples)
    slots = real // 2  # bindings sit at even positions so they never overlap
    for i in range(num_examples):
        keys = rng.choice(num_keys, num_pairs, replace=False) + 1
        values = rng.integers(0, num_values, num_pairs)
        positions = 2 * rng.choice(slots, num_pairs, replace=False)
        items[i, positions] = keys
        items[i, positions + 1] = values + 1 + num_keys
        asked = rng.integers(num_pairs)
        query[i, 0] = keys[asked]
        labels[i] = values[asked]
        depth[i] = positions[asked] / real
    if as_pairs:
        items = items.reshape(num_examples, length // 2, 2)
        query = np.concatenate([query, np.zeros_like(query)], axis=1)
    inputs = {"items": items.astype("int32"), "query": query.astype("int32")}
    return inputs, labels.astype("int32"), depth
