"""Long user-behaviour click-through prediction: MovieLens-format reader, built-in lifelong users, tf.data.

A user's history is its behaviours in time order: item ids with a category
side feature. An example asks whether the user clicks a candidate item, given
the behaviours strictly before the candidate's time (never later ones): the
user's true next item is a positive (label 1), an item drawn from those the
user had not interacted with by then is a negative (label 0).

    behaviours = read_movielens("~/data/ml-1m")            # or generate_lifelong_users(...)
    examples = make_examples(behaviours, history_length=500, seed=0)
    dataset = ctr_dataset(examples, batch_size=32)        # ({"items", "query"}, label)

Item id 0 and category 0 are padding. Histories are left-padded, so the most
recent behaviour is always last (a recent-N baseline reads the last N
positions) and padding leaves the memory as it was.
"""

import csv
import dataclasses
import os

import numpy as np


@dataclasses.dataclass
class Behaviours:
    """Time-ordered histories of many users over one catalogue.

    Attributes:
        histories: dict user -> `(items, times)`: int32 item ids (from 1) and
            int64 timestamps, sorted by time (ties keep file order).
        item_categories: int32 `(num_items,)`: the category (from 1) of each
            item id; entry 0 (padding) is 0.
        item_names: optional list: the original id of each item id.
    """

    histories: dict
    item_categories: np.ndarray
    item_names: list = None

    @property
    def num_items(self):
        """Item ids, padding id 0 included (the item encoder's vocabulary size)."""
        return len(self.item_categories)

    @property
    def num_categories(self):
        """Category ids, padding 0 included."""
        return int(self.item_categories.max()) + 1


# --- MovieLens-format reader --------------------------------------------------


def _rows(path, separator):
    """`(line number, fields)` of a `::`-separated `.dat` file or a `.csv` file with a header."""
    encoding = "latin-1" if separator == "::" else "utf-8"  # MovieLens 1M/10M files are latin-1
    with open(path, encoding=encoding, newline="") as f:
        if separator == "::":
            for number, line in enumerate(f, 1):
                if line.strip():
                    yield number, line.rstrip("\n").split("::")
        else:
            reader = csv.reader(f)
            next(reader, None)  # header
            for fields in reader:
                if fields:
                    yield reader.line_num, fields


def _find(data_dir, name):
    for extension, separator in ((".dat", "::"), (".csv", ",")):
        path = os.path.join(data_dir, name + extension)
        if os.path.exists(path):
            return path, separator
    raise ValueError(f"No {name}.dat or {name}.csv in `data_dir` = {data_dir!r}.")


def read_movielens(data_dir):
    """Reads MovieLens-format ratings and movies from `data_dir` into `Behaviours`.

    `ratings.dat` (`user::movie::rating::timestamp`, MovieLens 1M/10M) or
    `ratings.csv` (`userId,movieId,rating,timestamp` with a header, MovieLens
    latest/25M); `movies.dat` (`movie::title::genres`) or `movies.csv`
    (`movieId,title,genres`), genres separated by `|`. Every rating is a
    behaviour; a movie's category is its first genre (movies missing from the
    movies file get category "unknown").

    Raises:
        ValueError: a missing file, or a malformed line (naming file and line).
    """
    data_dir = os.path.expanduser(data_dir)
    ratings_path, ratings_sep = _find(data_dir, "ratings")
    movies_path, movies_sep = _find(data_dir, "movies")

    genre_of = {}
    for number, fields in _rows(movies_path, movies_sep):
        if len(fields) < 3:
            raise ValueError(f"{movies_path}, line {number}: expected movie, title, genres. Received: {fields!r}")
        genre_of[fields[0]] = fields[-1].split("|")[0] or "unknown"

    events = {}
    for number, fields in _rows(ratings_path, ratings_sep):
        try:
            user, movie, _, timestamp = fields
            events.setdefault(user, []).append((int(timestamp), movie))
        except ValueError:
            raise ValueError(
                f"{ratings_path}, line {number}: expected user, movie, rating, integer timestamp. Received: {fields!r}"
            ) from None

    names = sorted({movie for history in events.values() for _, movie in history})
    item_id = {movie: i + 1 for i, movie in enumerate(names)}
    genres = sorted({genre_of.get(movie, "unknown") for movie in names})
    category_id = {genre: i + 1 for i, genre in enumerate(genres)}
    item_categories = np.zeros(len(names) + 1, np.int32)
    for movie, i in item_id.items():
        item_categories[i] = category_id[genre_of.get(movie, "unknown")]
    histories = {}
    for user, history in events.items():
        history.sort(key=lambda event: event[0])  # stable: ties keep file order
        histories[user] = (
            np.array([item_id[movie] for _, movie in history], np.int32),
            np.array([t for t, _ in history], np.int64),
        )
    return Behaviours(histories, item_categories, [None] + names)


# --- built-in lifelong users ----------------------------------------------------


def generate_lifelong_users(num_users, length, num_categories=20, items_per_category=50, interests=2, favourites=4,
                            early=0.2, revisit=0.01, drift_length=40, seed=0):
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
            [(c - 1) * items_per_category + 1 + rng.choice(items_per_category, favourites, replace=False) for c in liked]
        )
        others = np.setdiff1d(np.arange(1, num_categories + 1), liked)
        runs = np.cumsum(rng.random(length + 1) < 1.0 / drift_length)  # drift run of each position
        drift = rng.choice(others, runs[-1] + 1)[runs]
        drifting = (drift - 1) * items_per_category + 1 + rng.integers(items_per_category, size=length + 1)
        items = np.where(rng.random(length + 1) < favourite_chance, rng.choice(favoured, length + 1), drifting)
        histories[user] = (items.astype(np.int32), positions.astype(np.int64))
    return Behaviours(histories, item_categories)


# --- examples and tf.data --------------------------------------------------------


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
    dtypes = {"items": np.int32, "query": np.int32, "label": np.float32, "user": np.int32,
              "history_time": np.int64, "candidate_time": np.int64}
    return {key: np.asarray(value, dtypes[key]).reshape((-1,) + np.shape(value)[1:]) for key, value in rows.items()}


def split_users(behaviours, test_share=0.2, seed=0):
    """`(train, test)` `Behaviours` with disjoint users."""
    users = list(behaviours.histories)
    order = np.random.default_rng(seed).permutation(len(users))
    cut = int(round(len(users) * (1 - test_share)))

    def subset(indices):
        return Behaviours({users[i]: behaviours.histories[users[i]] for i in indices}, behaviours.item_categories,
                          behaviours.item_names)

    return subset(sorted(order[:cut])), subset(sorted(order[cut:]))


def ctr_dataset(examples, batch_size, shuffle=False, seed=0):
    """A `tf.data.Dataset` of `({"items", "query"}, label)` batches with static shapes (last partial batch dropped)."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices(({"items": examples["items"], "query": examples["query"]},
                                               examples["label"]))
    if shuffle:
        data = data.shuffle(len(examples["label"]), seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
