"""`Behaviours` (time-ordered user histories) and the MovieLens-format reader."""

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
