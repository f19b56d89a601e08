"""Leak-free click examples from user histories, a split by user, and their `tf.data` pipeline."""

import numpy as np

from keras_rm.pipelines.behaviour.reader import Behaviours


def make_examples(behaviours, history_length, candidates_per_user=1, negatives=1, seed=0):
    """Click examples from the end of every user's history.

    For each of a user's last `candidates_per_user` behaviours (the
    candidate): the history is the behaviours strictly before the candidate's
    timestamp (the last `history_length` of them, left-padded), the candidate
    itself is a positive, and `negatives` items the user had not interacted
    with up to that time are negatives with the same history (none if the
    user had touched every item). Users with no behaviour before a candidate
    give no example for it.

    Returns:
        A dict of numpy arrays: `items` int32 `(n, history_length, 2)` (item
        id, category), `query` int32 `(n, 2)`, `label` float32 `(n,)`, `user`
        int32 `(n,)` (index of the user, for GAUC), `history_time` int64
        `(n, history_length)` (-1 for padding) and `candidate_time` int64 `(n,)`.
    """
    rng = np.random.default_rng(seed)
    categories = behaviours.item_categories
    num_items = behaviours.num_items
    rows = {key: [] for key in ("items", "query", "label", "user", "history_time", "candidate_time")}
    for user_index, (items, times) in enumerate(behaviours.histories.values()):
        for t in range(max(0, len(items) - candidates_per_user), len(items)):
            end = int(np.searchsorted(times, times[t], side="left"))  # behaviours strictly earlier
            if end == 0:
                continue
            start = max(0, end - history_length)
            pad = history_length - (end - start)
            history = np.zeros((history_length, 2), np.int32)
            history[pad:, 0] = items[start:end]
            history[pad:, 1] = categories[items[start:end]]
            history_time = np.full(history_length, -1, np.int64)
            history_time[pad:] = times[start:end]
            seen = set(items[: t + 1].tolist())
            candidates = [(int(items[t]), 1.0)]
            wanted = 1 + (negatives if len(seen) < num_items - 1 else 0)  # none left when every item was touched
            while len(candidates) < wanted:
                negative = int(rng.integers(1, num_items))
                if negative not in seen:
                    candidates.append((negative, 0.0))
            for item, label in candidates:
                rows["items"].append(history)
                rows["query"].append((item, categories[item]))
                rows["label"].append(label)
                rows["user"].append(user_index)
                rows["history_time"].append(history_time)
                rows["candidate_time"].append(times[t])
    dtypes = {
        "items": np.int32,
        "query": np.int32,
        "label": np.float32,
        "user": np.int32,
        "history_time": np.int64,
        "candidate_time": np.int64,
    }
    return {key: np.asarray(value, dtypes[key]).reshape((-1,) + np.shape(value)[1:]) for key, value in rows.items()}


def split_users(behaviours, test_share=0.2, seed=0):
    """`(train, test)` `Behaviours` with disjoint users."""
    users = list(behaviours.histories)
    order = np.random.default_rng(seed).permutation(len(users))
    cut = int(round(len(users) * (1 - test_share)))

    def subset(indices):
        return Behaviours(
            {users[i]: behaviours.histories[users[i]] for i in indices},
            behaviours.item_categories,
            behaviours.item_names,
        )

    return subset(sorted(order[:cut])), subset(sorted(order[cut:]))


def ctr_dataset(examples, batch_size, shuffle=False, seed=0):
    """A `tf.data.Dataset` of `({"items", "query"}, label)` batches with static shapes (last partial batch dropped)."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices(
        ({"items": examples["items"], "query": examples["query"]}, examples["label"])
    )
    if shuffle:
        data = data.shuffle(len(examples["label"]), seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
