"""`lifelong_behaviour`: a TFDS builder of click examples from built-in lifelong users (no download).

    import tensorflow_datasets as tfds
    import keras_rm.pipelines.behaviour.tfds  # registers "lifelong_behaviour"
    train = tfds.load("lifelong_behaviour/len500", split="train", data_dir="~/tensorflow_datasets")

Configs `len500` and `len5000` (behaviours per history); `make_config` makes
others. Each example holds `items` (`(history_length, 2)` int32: item id,
category; left-padded with 0), `query` (the candidate, `(2,)`), `label` (1
click, 0 not) and `user`, as `pipelines.behaviour.make_examples` gives them.
"""

import numpy as np
import tensorflow_datasets as tfds

from keras_rm.pipelines.behaviour.clicks import make_examples
from keras_rm.pipelines.behaviour.generator import generate_lifelong_users


class LifelongBehaviourConfig(tfds.core.BuilderConfig):
    """A history length and how many users per split."""

    def __init__(self, *, history_length, train_users=2000, test_users=500, **kwargs):
        super().__init__(**kwargs)
        self.history_length, self.train_users, self.test_users = history_length, train_users, test_users


def make_config(history_length, train_users=2000, test_users=500):
    return LifelongBehaviourConfig(
        name=f"len{history_length}",
        description=f"Built-in lifelong users, histories of {history_length} behaviours.",
        history_length=history_length,
        train_users=train_users,
        test_users=test_users,
    )


class LifelongBehaviour(tfds.core.GeneratorBasedBuilder):
    """Click examples of built-in lifelong users (no download)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [make_config(length) for length in (500, 5000)]
    name = "lifelong_behaviour"

    def _info(self):
        length = self.builder_config.history_length
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "items": tfds.features.Tensor(shape=(length, 2), dtype=np.int32),
                    "query": tfds.features.Tensor(shape=(2,), dtype=np.int32),
                    "label": np.float32,
                    "user": np.int32,
                }
            ),
            supervised_keys=None,
            citation="Zhang et al., Learning to Rehearse in Long Sequence Memorization, ICML 2021.",
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        return {
            "train": self._generate_examples(config.train_users, seed=0),
            "test": self._generate_examples(config.test_users, seed=10_000),
        }

    def _generate_examples(self, users, seed):
        length = self.builder_config.history_length
        examples = make_examples(generate_lifelong_users(users, length, seed=seed), length, seed=seed)
        for i in range(len(examples["label"])):
            yield i, {key: examples[key][i] for key in ("items", "query", "label", "user")}
