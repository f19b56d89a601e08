"""`babi_long`: a TFDS builder of lengthened bAbI stories, built offline from the built-in generator.

    import tensorflow_datasets as tfds
    import keras_rm.pipelines.babi.tfds  # registers "babi_long"
    train = tfds.load("babi_long/qa1_len100", split="train", data_dir="~/tensorflow_datasets")

Configs are named `qa{task}_len{length}` for the built-in tasks (1, 2, 3, 6, 7)
and lengths 100 and 1000 sentences; `make_config` makes others. Each example
holds the lengthened `story` (sentences), `question`, `answer`, `supporting`
(indices into the story) and the fact `depth`. Nothing is downloaded.
"""

import numpy as np
import tensorflow_datasets as tfds

from keras_rm.pipelines.babi.generator import TASKS, generate_babi
from keras_rm.pipelines.babi.lengthening import lengthen


class BabiLongConfig(tfds.core.BuilderConfig):
    """A task, a length in sentences, and how many examples per split."""

    def __init__(self, *, task, length, depth="uniform", train_examples=1000, test_examples=200, **kwargs):
        super().__init__(**kwargs)
        self.task, self.length, self.depth = task, length, depth
        self.train_examples, self.test_examples = train_examples, test_examples


def make_config(task, length, depth="uniform", train_examples=1000, test_examples=200):
    suffix = "" if depth == "uniform" else f"_{depth}"
    return BabiLongConfig(
        name=f"qa{task}_len{length}{suffix}",
        description=f"bAbI task {task} ({TASKS[task]}), stories lengthened to {length} sentences, facts {depth}.",
        task=task,
        length=length,
        depth=depth,
        train_examples=train_examples,
        test_examples=test_examples,
    )


class BabiLong(tfds.core.GeneratorBasedBuilder):
    """Long bAbI from the built-in generator (no download)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [make_config(task, length) for task in sorted(TASKS) for length in (100, 1000)]
    name = "babi_long"

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "story": tfds.features.Sequence(tfds.features.Text()),
                    "question": tfds.features.Text(),
                    "answer": tfds.features.Text(),
                    "supporting": tfds.features.Sequence(np.int32),
                    "depth": np.float32,
                }
            ),
            citation="Weston et al., Towards AI-Complete Question Answering, 2015; Zhang et al., ICML 2021.",
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        return {
            "train": self._generate_examples(config.train_examples, seed=0),
            "test": self._generate_examples(config.test_examples, seed=1),
        }

    def _generate_examples(self, count, seed):
        config = self.builder_config
        rng = np.random.default_rng(seed + 1000 * config.task)
        for i, example in enumerate(generate_babi(config.task, count, seed=seed + 1000 * config.task)):
            long = lengthen(example, config.length, config.depth, rng=rng)
            yield (
                i,
                {
                    "story": long.story,
                    "question": long.question,
                    "answer": long.answer,
                    "supporting": np.asarray(long.supporting, np.int32),
                    "depth": np.float32(long.depth),
                },
            )
