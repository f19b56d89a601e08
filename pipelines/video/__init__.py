"""Long video QA on dense frame features: the ActivityNet-QA layout, a built-in generator, and `tf.data`.

- `read_activitynet_qa(features_dir, questions, answers)`: one `.npy` / `.npz`
  array of frame features per video (`frames x feature_dim`) plus question
  files in the ActivityNet-QA JSON form. Missing feature files and bad
  shapes raise errors that name the file.
- `generate_videos(num_videos, num_frames)`: long synthetic videos with
  questions whose answers are right by construction; nothing is downloaded.
- `fit_frames(frames, num_frames)`: subsamples or pads a video to a fixed
  number of frames (and says which frames are real).
- `VideoQAVectorizer`: the question words and the top-N answers of the
  training split (other answers map to an out-of-vocabulary class that
  counts as wrong), and the `tf.data` pipeline with static shapes.

Every example is a `VideoQA`: the video's frames (an array, or the path of
its feature file, read when the pipeline reaches it), the question, the
answer, and where the frames the answer depends on end (`depth`, a fraction
of the video; None when unknown, as for real data).

Modules: `reader` (`read_activitynet_qa`, `VideoQA`, `feature_path`,
`load_frames`, `fit_frames`), `generator` (`generate_videos` and its
events), `vectorizer` (`VideoQAVectorizer`) and `tfds` (the offline TFDS
builder `long_video_qa`, imported on its own: it needs `tensorflow_datasets`).
"""

from keras_rm.pipelines.video.generator import (
    COMMON_EVENTS,
    COUNT_WORDS,
    QUESTION_KINDS,
    RARE_EVENTS,
    event_prototypes,
    generate_videos,
)
from keras_rm.pipelines.video.reader import VideoQA, feature_path, fit_frames, load_frames, read_activitynet_qa
from keras_rm.pipelines.video.vectorizer import UNKNOWN_ANSWER, VideoQAVectorizer

__all__ = [
    "COMMON_EVENTS",
    "COUNT_WORDS",
    "QUESTION_KINDS",
    "RARE_EVENTS",
    "UNKNOWN_ANSWER",
    "VideoQA",
    "VideoQAVectorizer",
    "event_prototypes",
    "feature_path",
    "fit_frames",
    "generate_videos",
    "load_frames",
    "read_activitynet_qa",
]
