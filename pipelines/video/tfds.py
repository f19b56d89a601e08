"""`long_video_qa`: a TFDS builder of long synthetic videos and questions, built offline from the generator.

    import tensorflow_datasets as tfds
    import keras_rm.pipelines.video.tfds  # registers "long_video_qa"
    train = tfds.load("long_video_qa/len512", split="train", data_dir="~/tensorflow_datasets")

Configs `len512` and `len4096` (frames per video, 64 features a frame);
`make_config` makes others. Each example holds `frames` (`(num_frames,
feature_dim)` float32), `question`, `answer`, `kind` (`first`, `before`,
`count`) and `depth` (where the answer's last event starts, as a fraction of
the video), as `pipelines.video.generate_videos` gives them. Nothing is
downloaded.
"""

import numpy as np
import tensorflow_datasets as tfds

from keras_rm.pipelines.video.generator import generate_videos


class LongVideoQAConfig(tfds.core.BuilderConfig):
    """Frames per video, features per frame, and how many videos per split."""

    def __init__(self, *, num_frames, feature_dim=64, train_videos=1000, test_videos=200, **kwargs):
        super().__init__(**kwargs)
        self.num_frames, self.feature_dim = num_frames, feature_dim
        self.train_videos, self.test_videos = train_videos, test_videos


def make_config(num_frames, feature_dim=64, train_videos=1000, test_videos=200):
    return LongVideoQAConfig(
        name=f"len{num_frames}" + ("" if feature_dim == 64 else f"_dim{feature_dim}"),
        description=f"Synthetic videos of {num_frames} frames x {feature_dim} features, one question each.",
        num_frames=num_frames,
        feature_dim=feature_dim,
        train_videos=train_videos,
        test_videos=test_videos,
    )


class LongVideoQA(tfds.core.GeneratorBasedBuilder):
    """Long synthetic videos with questions about their events (no download)."""

    VERSION = tfds.core.Version("1.0.0")
    # 4,096 x 64 float32 frames are 1 MiB a video: the long config keeps fewer videos.
    BUILDER_CONFIGS = [make_config(512), make_config(4096, train_videos=250, test_videos=100)]
    name = "long_video_qa"

    def _info(self):
        config = self.builder_config
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "frames": tfds.features.Tensor(shape=(config.num_frames, config.feature_dim), dtype=np.float32),
                    "question": tfds.features.Text(),
                    "answer": tfds.features.Text(),
                    "kind": tfds.features.Text(),
                    "depth": np.float32,
                }
            ),
            citation="Yu et al., ActivityNet-QA, AAAI 2019; Zhang et al., ICML 2021.",
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        return {
            "train": self._generate_examples(config.train_videos, seed=0),
            "test": self._generate_examples(config.test_videos, seed=10_000),
        }

    def _generate_examples(self, count, seed):
        config = self.builder_config
        for i, example in enumerate(generate_videos(count, config.num_frames, config.feature_dim, seed=seed)):
            yield (
                i,
                {
                    "frames": example.frames,
                    "question": example.question,
                    "answer": example.answer,
                    "kind": example.kind,
                    "depth": np.float32(example.depth),
                },
            )
