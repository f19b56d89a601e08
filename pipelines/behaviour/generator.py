"""The built-in lifelong users: long-term interests seen early, then rarely, among short-term drift."""

import numpy as np

from keras_rm.pipelines.behaviour.reader import Behaviours


def generate_lifelong_users(
    num_users,
    length,
    num_categories=20,
    items_per_category=50,
    interests=2,
    favourites=4,
    early=0.2,
    revisit=0.01,
    drift_length=40,
    seed=0,
):
    """Users whose next click often needs their earliest history: long-term interests seen early, then rarely.

    Each user has `interests` long-term interest categories and
    `favourites` favourite items in each. In the first `early` share of the
    history half of the behaviours are favourites; afterwards a favourite comes
    back only with probability `revisit`, and the rest is short-term drift: a
    run of items of one non-interest category, switching on average every
    `drift_length` behaviours. The last behaviour (the one to predict) is a
    favourite or an item of the current drift category with equal
    probability: the recent behaviours reveal only the second kind.

    Args:
        num_users: int.
        length: int. Behaviours per user before the last one (histories hold `length + 1`).
        num_categories: int. Item categories.
        items_per_category: int. Items per category; item ids run from 1.
        interests: int. Long-term interest categories per user.
        favourites: int. Favourite items per interest.
        early: float. Share of the history where interests are frequent.
        revisit: float. Chance of a favourite after the early part.
        drift_length: float. Mean length of a short-term drift run.
        seed: int.

    Returns:
        `Behaviours`; timestamps are positions.
    """
    rng = np.random.default_rng(seed)
    item_categories = np.concatenate([[0], np.repeat(np.arange(1, num_categories + 1), items_per_category)])
    item_categories = item_categories.astype(np.int32)
    histories = {}
    positions = np.arange(length + 1)
    favourite_chance = np.where((positions < early * length) | (positions == length), 0.5, revisit)
    for user in range(num_users):
        liked = rng.choice(np.arange(1, num_categories + 1), interests, replace=False)
        favoured = np.concatenate(
            [
                (c - 1) * items_per_category + 1 + rng.choice(items_per_category, favourites, replace=False)
                for c in liked
            ]
        )
        others = np.setdiff1d(np.arange(1, num_categories + 1), liked)
        runs = np.cumsum(rng.random(length + 1) < 1.0 / drift_length)  # drift run of each position
        drift = rng.choice(others, runs[-1] + 1)[runs]
        drifting = (drift - 1) * items_per_category + 1 + rng.integers(items_per_category, size=length + 1)
        items = np.where(rng.random(length + 1) < favourite_chance, rng.choice(favoured, length + 1), drifting)
        histories[user] = (items.astype(np.int32), positions.astype(np.int64))
    return Behaviours(histories, item_categories)
