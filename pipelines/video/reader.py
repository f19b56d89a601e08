"""The ActivityNet-QA layout: question JSON tied to per-video `.npy` / `.npz` frame-feature files."""

import dataclasses
import json
import os

import numpy as np


@dataclasses.dataclass
class VideoQA:
    """One question about one video.

    Attributes:
        frames: float array `(frames, feature_dim)`, or the path of the
            `.npy` / `.npz` file holding it.
        question: str.
        answer: str.
        depth: float in [0, 1]: where the last frame the answer depends on
            starts, as a fraction of the video; None when unknown.
        kind: str. The question's type (`first`, `before`, `count`, or the
            dataset's own label); None when unknown.
        video_name: str.
        question_id: str.
    """

    frames: object
    question: str
    answer: str
    depth: float = None
    kind: str = None
    video_name: str = None
    question_id: str = None


def _read_json_list(path, required):
    with open(os.path.expanduser(path)) as f:
        try:
            entries = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(entries, list):
        raise ValueError(f"{path} must hold a JSON list of questions. Received: {type(entries).__name__}")
    for index, entry in enumerate(entries):
        missing = [key for key in required if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise ValueError(f"{path}, entry {index}: missing {missing}. Received: {entry!r}")
    return entries


def feature_path(features_dir, video_name):
    """The feature file of `video_name` in `features_dir`: `{name}.npy`, `{name}.npz`, or the same with `v_`.

    ActivityNet-QA names videos without the `v_` prefix that ActivityNet
    feature files usually carry; both spellings are tried.

    Raises:
        FileNotFoundError: naming the video and the paths tried.
    """
    names = [video_name] + ([f"v_{video_name}"] if not video_name.startswith("v_") else [])
    tried = [os.path.join(features_dir, name + ext) for name in names for ext in (".npy", ".npz")]
    for path in tried:
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"No frame features for video {video_name!r}: none of {tried} exists.")


def load_frames(path, feature_dim=None):
    """The `(frames, feature_dim)` float32 array in a `.npy` file or a one-array (or `features`) `.npz` file.

    A float32 `.npy` file is memory-mapped, so checking its shape costs no
    read of the frames.

    Raises:
        ValueError: naming the file, when it cannot be read, or its array is
            not 2-D, has no frame, or has another `feature_dim` than expected.
    """
    try:
        if path.endswith(".npz"):
            with np.load(path) as archive:
                keys = list(archive.keys())
                if "features" not in keys and len(keys) != 1:
                    raise ValueError(f"{path}: an .npz must hold one array or one named `features`. Received: {keys}")
                frames = np.asarray(archive["features" if "features" in keys else keys[0]], np.float32)
        else:  # mapped, not read: a shape check reads the header only, `fit_frames` the frames it keeps
            frames = np.asarray(np.load(path, mmap_mode="r"), np.float32)
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npy / .npz file ({error}).") from None
    if frames.ndim != 2 or not frames.shape[0]:
        raise ValueError(
            f"{path}: frame features must be (frames, feature_dim) with at least one frame. "
            f"Received: shape {frames.shape}"
        )
    if feature_dim is not None and frames.shape[1] != feature_dim:
        raise ValueError(
            f"{path}: expected {feature_dim} features per frame (`feature_dim`). Received: shape {frames.shape}"
        )
    return frames


def read_activitynet_qa(features_dir, questions, answers=None, feature_dim=None):
    """The questions of one split, each tied to its video's feature file.

    Args:
        features_dir: str. Folder of one `.npy` / `.npz` array of frame
            features per video, named after the video (with or without `v_`).
        questions: str. JSON list of `{"video_name", "question_id",
            "question"}`, with `"answer"` (and optionally `"type"`) unless
            `answers` is given.
        answers: str. Optional JSON list of `{"question_id", "answer"}` (and
            optionally `"type"`), joined to `questions` by `question_id` (the
            official files keep them apart: `train_q.json`, `train_a.json`).
        feature_dim: int. Expected features per frame. Defaults to the first
            video's.

    Returns:
        A list of `VideoQA` whose `frames` are file paths (read lazily by
        `VideoQAVectorizer.dataset`); every file's shape is checked here.

    Raises:
        FileNotFoundError: a video without a feature file.
        ValueError: malformed JSON, a question without an answer, or a
            feature file of the wrong shape (naming the file).
    """
    features_dir = os.path.expanduser(features_dir)
    entries = _read_json_list(questions, ["video_name", "question_id", "question"] + ([] if answers else ["answer"]))
    if answers:
        by_id = {str(a["question_id"]): a for a in _read_json_list(answers, ["question_id", "answer"])}
        for entry in entries:
            if str(entry["question_id"]) not in by_id:
                raise ValueError(f"{answers}: no answer to question_id {entry['question_id']!r} of {questions}.")
            entry.update({k: v for k, v in by_id[str(entry["question_id"])].items() if k != "question_id"})
    paths, examples = {}, []
    for entry in entries:
        name = str(entry["video_name"])
        if name not in paths:
            paths[name] = feature_path(features_dir, name)
            frames = load_frames(paths[name], feature_dim)  # checks the shape now, not mid-training
            feature_dim = frames.shape[1]
        examples.append(
            VideoQA(
                paths[name],
                str(entry["question"]),
                str(entry["answer"]),
                None,
                None if entry.get("type") is None else str(entry["type"]),
                name,
                str(entry["question_id"]),
            )
        )
    return examples


def fit_frames(frames, num_frames):
    """`(frames, mask)`: exactly `num_frames` frames, evenly subsampled or zero-padded at the end.

    Args:
        frames: float `(length, feature_dim)`.
        num_frames: int. Frames kept.

    Returns:
        float32 `(num_frames, feature_dim)` and bool `(num_frames,)`, True for
        real frames.
    """
    frames = np.asarray(frames, np.float32)
    length = len(frames)
    if length >= num_frames:
        picks = np.linspace(0, length - 1, num_frames).round().astype(int)
        return frames[picks], np.ones(num_frames, bool)
    padded = np.zeros((num_frames, frames.shape[1]), np.float32)
    padded[:length] = frames
    return padded, np.arange(num_frames) < length
