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

Modules: `reader` (`read_movielens`, `Behaviours`), `generator`
(`generate_lifelong_users`), `clicks` (`make_examples`, `split_users`,
`ctr_dataset`) and `tfds` (the offline TFDS builder `lifelong_behaviour`,
imported on its own: it needs `tensorflow_datasets`).
"""

from keras_rm.pipelines.behaviour.clicks import ctr_dataset, make_examples, split_users
from keras_rm.pipelines.behaviour.generator import generate_lifelong_users
from keras_rm.pipelines.behaviour.reader import Behaviours, read_movielens

__all__ = ["Behaviours", "ctr_dataset", "generate_lifelong_users", "make_examples", "read_movielens", "split_users"]
