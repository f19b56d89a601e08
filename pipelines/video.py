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
"""

import collections
import dataclasses
import json
import os

import numpy as np

from pipelines.babi import tokenize

UNKNOWN_ANSWER = "<unk>"


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


# --- the ActivityNet-QA layout --------------------------------------------------


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
                    raise ValueError(f"{path}: an .npz must hold one array or one named `features`. "
                                     f"Received: {keys}")
                frames = np.asarray(archive["features" if "features" in keys else keys[0]], np.float32)
        else:  # mapped, not read: a shape check reads the header only, `fit_frames` the frames it keeps
            frames = np.asarray(np.load(path, mmap_mode="r"), np.float32)
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npy / .npz file ({error}).") from None
    if frames.ndim != 2 or not frames.shape[0]:
        raise ValueError(f"{path}: frame features must be (frames, feature_dim) with at least one frame. "
                         f"Received: shape {frames.shape}")
    if feature_dim is not None and frames.shape[1] != feature_dim:
        raise ValueError(f"{path}: expected {feature_dim} features per frame (`feature_dim`). "
                         f"Received: shape {frames.shape}")
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
        examples.append(VideoQA(paths[name], str(entry["question"]), str(entry["answer"]), None,
                                None if entry.get("type") is None else str(entry["type"]), name,
                                str(entry["question_id"])))
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


# --- the built-in generator -------------------------------------------------------

COMMON_EVENTS = ("walking", "running", "talking", "cooking", "eating", "dancing", "driving", "swimming",
                 "reading", "singing", "cycling", "sleeping")
RARE_EVENTS = ("fire", "explosion", "fall", "goal", "proposal", "crash", "rescue", "lightning")
COUNT_WORDS = ("one", "two", "three")
QUESTION_KINDS = ("first", "before", "count")


def event_prototypes(feature_dim, seed=1234):
    """`(events, feature_dim)`: one fixed unit-variance feature vector per event (common, then rare)."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(len(COMMON_EVENTS) + len(RARE_EVENTS), feature_dim)).astype(np.float32)


def generate_videos(num_videos, num_frames, feature_dim=64, questions_per_video=1, noise=1.0,
                    event_frames=(8, 24), kinds=QUESTION_KINDS, seed=0):
    """Long synthetic videos of events, with questions whose answers are right by construction.

    A video is a run of events, each lasting `event_frames` frames (so a
    longer video holds more events); every frame is its event's fixed
    prototype plus Gaussian `noise`. Common events follow one another (never
    the same twice in a row); rare events are inserted, never next to each
    other. Questions (`kinds`, drawn evenly):

    - `first`: "what happened first" - the video's first event, any event
      (depth 0);
    - `before`: "what happened just before the <rare event>" - the common
      event right before a rare event that occurs once (depth: the rare
      event's start);
    - `count`: "how many times did <rare event> happen" - one to three
      occurrences inside a quarter of the video, answered "one", "two" or
      "three" (depth: the last occurrence's start).

    Two more rare events occur once each as distractors. Each rare event
    appears in one role per video only, and a video gets one `first`
    question at most (more would ask the same).

    Args:
        num_videos: int.
        num_frames: int. Frames per video; at least 8 times the longest event.
        feature_dim: int. Features per frame. Defaults to 64.
        questions_per_video: int. Questions asked about each video. Defaults to 1.
        noise: float. Standard deviation of the frame noise (the prototypes
            have unit variance per feature). Defaults to 1.0.
        event_frames: (min, max) frames per event. Defaults to (8, 24).
        kinds: question types drawn from. Defaults to all three.
        seed: int.

    Returns:
        A list of `num_videos * questions_per_video` `VideoQA` whose `depth`
        is where the last event the answer depends on starts, as a fraction
        of the video; the questions of one video share its `frames` array.
    """
    low, high = event_frames
    if not 1 <= low <= high or num_frames < 8 * high:
        raise ValueError(f"`num_frames` must be at least 8 x the longest event ({8 * high}), and `event_frames` "
                         f"a (min, max) with 1 <= min <= max. Received: `num_frames` = {num_frames}, "
                         f"`event_frames` = {event_frames}")
    if not kinds or set(kinds) - set(QUESTION_KINDS):
        raise ValueError(f"`kinds` must be a non-empty subset of {QUESTION_KINDS}. Received: {kinds!r}")
    if set(kinds) == {"first"} and questions_per_video > 1:
        raise ValueError(f"Only `first` questions: one per video. Received: `questions_per_video` = "
                         f"{questions_per_video}")
    if not 1 <= questions_per_video <= len(RARE_EVENTS) - 2:
        raise ValueError(f"`questions_per_video` must be in [1, {len(RARE_EVENTS) - 2}]. "
                         f"Received: {questions_per_video}")
    rng = np.random.default_rng(seed)
    prototypes = event_prototypes(feature_dim)
    names = COMMON_EVENTS + RARE_EVENTS
    rare_events = list(range(len(COMMON_EVENTS), len(names)))
    examples = []
    for video in range(num_videos):
        starts = [0]  # event boundaries: runs of low..high frames covering the video
        while starts[-1] + high < num_frames:
            starts.append(starts[-1] + int(rng.integers(low, high + 1)))
        events = [int(rng.integers(len(COMMON_EVENTS)))]
        for _ in starts[1:]:
            events.append(int(rng.choice([e for e in range(len(COMMON_EVENTS)) if e != events[-1]])))
        rare_at = np.zeros(len(starts), bool)  # rare events never sit side by side
        rare_at[0] = True  # the first event is the `first` questions' own

        def insert(event, low_index=1, high_index=len(starts), required=True):
            slot = _free_slot(rng, rare_at, low_index, high_index)
            if slot is None and required:
                raise ValueError(f"A video of {num_frames} frames has no room for {questions_per_video} "
                                 "questions: raise `num_frames` or lower `questions_per_video`.")
            if slot is not None:
                events[slot], rare_at[slot] = event, True
            return slot

        unused = list(rng.permutation(rare_events))
        asked = []
        for _ in range(questions_per_video):
            choices = [k for k in kinds if k != "first" or not any(a[0] == "first" for a in asked)]
            kind = choices[rng.integers(len(choices))]
            if kind == "first":
                events[0] = int(rng.choice(list(range(len(COMMON_EVENTS))) + unused))
                unused = [e for e in unused if e != events[0]]
                asked.append((kind, "what happened first", names[events[0]], 0))
            elif kind == "before":
                rare = unused.pop()
                slot = insert(rare)
                asked.append((kind, f"what happened just before the {names[rare]}", names[events[slot - 1]], slot))
            else:
                rare, count = unused.pop(), int(rng.integers(1, 4))
                window = max(len(starts) // 4, 6 * count)
                first = int(rng.integers(1, max(2, len(starts) - window)))
                slots = [insert(rare, first, first + window) for _ in range(count)]
                asked.append((kind, f"how many times did {names[rare]} happen", COUNT_WORDS[count - 1], max(slots)))
        for distractor in unused[:2]:
            insert(distractor, required=False)
        labels = np.repeat(events, np.diff(np.r_[starts, num_frames]))
        frames = prototypes[labels] + noise * rng.normal(size=(num_frames, feature_dim)).astype(np.float32)
        for kind, question, answer, slot in asked:
            examples.append(VideoQA(frames, question, answer, starts[slot] / num_frames, kind, f"synthetic_{video}"))
    return examples


def _free_slot(rng, rare_at, low, high):
    """A random event index in [low, high) (else anywhere) with no rare event at it or beside it; None if none."""
    for lo, hi in ((low, min(high, len(rare_at))), (1, len(rare_at))):
        candidates = [i for i in range(max(lo, 1), hi) if not rare_at[i - 1:i + 2].any()]
        if candidates:
            return int(rng.choice(candidates))
    return None


# --- vectorisation and tf.data ---------------------------------------------------


class VideoQAVectorizer:
    """Question words and answer classes (Keras `StringLookup`s) and the `tf.data` pipeline of video QA.

    Word id 0 is padding, 1 out-of-vocabulary. Answer class 0 is
    `"<unk>"`: every answer outside the `num_answers` most frequent training
    answers maps to it, and a prediction of class 0 never counts as right
    (`VideoQAVectorizer.correct`).

    Args:
        max_words: int. Words kept per question. Defaults to 12.
        num_answers: int. Answers kept (the most frequent in `adapt`'s
            examples, ties by name). Defaults to 1000.

    Example:

    ```python
    train = generate_videos(256, 512)
    vectorizer = VideoQAVectorizer()
    vectorizer.adapt(train)
    data = vectorizer.dataset(train, batch_size=32, num_frames=512)
    # ({"items": (32, 512, 64) float32, "item_mask": (32, 512) bool, "query": (32, 12) int32}, answer, depth)
    ```
    """

    def __init__(self, max_words=12, num_answers=1000):
        self.max_words, self.num_answers = max_words, num_answers
        self.words, self.answers = None, None

    def adapt(self, examples):
        """Builds the vocabularies from training `examples`: every question word, the top answers."""
        words = sorted({word for e in examples for word in tokenize(e.question)})
        counts = collections.Counter(e.answer for e in examples)
        answers = sorted(counts, key=lambda a: (-counts[a], a))[: self.num_answers]
        self.set_vocabulary(words, [UNKNOWN_ANSWER] + sorted(answers))

    def set_vocabulary(self, words, answers):
        from keras_rm.layers import SentenceVectorizer

        self.words, self.answers = list(words), list(answers)
        # The questions' vectoriser (the same layer as bAbI's: it can travel inside the model).
        self.layer = SentenceVectorizer(max_words=self.max_words, vocabulary=self.words, answers=self.answers)
        self.answer_index = {answer: i for i, answer in enumerate(self.answers)}

    @property
    def vocabulary_size(self):
        """Word ids, padding and out-of-vocabulary included."""
        return len(self.words) + 2

    @property
    def num_classes(self):
        """Answer classes, `"<unk>"` included."""
        return len(self.answers)

    def answer_id(self, answer):
        """The class of `answer` (0 when it is not among the kept answers)."""
        return self.answer_index.get(answer, 0)

    @staticmethod
    def correct(predictions, labels):
        """Whether each predicted class is right: equal to the label, and the label is a known answer."""
        predictions, labels = np.asarray(predictions), np.asarray(labels)
        return (predictions == labels) & (labels != 0)

    def save(self, path):
        """Writes the vocabularies as JSON."""
        with open(path, "w") as f:
            json.dump({"max_words": self.max_words, "num_answers": self.num_answers, "words": self.words,
                       "answers": self.answers}, f)

    @classmethod
    def load(cls, path):
        with open(path) as f:
            saved = json.load(f)
        vectorizer = cls(saved["max_words"], saved["num_answers"])
        vectorizer.set_vocabulary(saved["words"], saved["answers"])
        return vectorizer

    def dataset(self, examples, batch_size, num_frames, shuffle=False, seed=0):
        """A `tf.data.Dataset` of `({"items", "item_mask", "query"}, answer, depth)` batches with static shapes.

        Args:
            examples: `VideoQA`s; `frames` given as paths are read here.
            batch_size: int. The last partial batch is dropped (static shapes).
            num_frames: int. Frames per video (`fit_frames`: subsampled or
                padded; padded frames are False in `item_mask`).
            shuffle: bool. Shuffle the examples every epoch.
            seed: int. Shuffle seed.

        `items` are float32 `(batch, num_frames, feature_dim)`, `query`
        int32 `(batch, max_words)` word ids, the answer an int32 class, and
        `depth` float32 (-1 when unknown).
        """
        import tensorflow as tf

        if self.words is None:
            raise ValueError("Call `adapt(examples)` or `load(path)` before `dataset()`.")
        if not examples:
            raise ValueError("`examples` is empty.")
        first = examples[0].frames
        feature_dim = (load_frames(first) if isinstance(first, str) else np.asarray(first)).shape[1]

        def rows():
            for e in examples:
                frames = load_frames(e.frames, feature_dim) if isinstance(e.frames, str) else e.frames
                if np.shape(frames)[1:] != (feature_dim,):
                    raise ValueError(f"Video {e.video_name!r}: expected {feature_dim} features per frame. "
                                     f"Received: shape {np.shape(frames)}")
                frames, mask = fit_frames(frames, num_frames)
                yield frames, mask, e.question, self.answer_id(e.answer), -1.0 if e.depth is None else e.depth

        signature = (
            tf.TensorSpec((num_frames, feature_dim), tf.float32),
            tf.TensorSpec((num_frames,), tf.bool),
            tf.TensorSpec((), tf.string),
            tf.TensorSpec((), tf.int32),
            tf.TensorSpec((), tf.float32),
        )
        data = tf.data.Dataset.from_generator(rows, output_signature=signature)
        data = data.apply(tf.data.experimental.assert_cardinality(len(examples)))
        if shuffle:
            data = data.shuffle(min(len(examples), 4096), seed=seed, reshuffle_each_iteration=True)

        def vectorize(frames, mask, question, answer, depth):
            inputs = {"items": frames, "item_mask": mask, "query": self.layer(question)}
            return inputs, answer, depth

        data = data.batch(batch_size, drop_remainder=True)
        return data.map(vectorize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
