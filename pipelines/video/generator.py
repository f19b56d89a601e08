"""The built-in generator: long synthetic videos of events, with questions right by construction."""

import numpy as np

from keras_rm.pipelines.video.reader import VideoQA

COMMON_EVENTS = (
    "walking",
    "running",
    "talking",
    "cooking",
    "eating",
    "dancing",
    "driving",
    "swimming",
    "reading",
    "singing",
    "cycling",
    "sleeping",
)
RARE_EVENTS = ("fire", "explosion", "fall", "goal", "proposal", "crash", "rescue", "lightning")
COUNT_WORDS = ("one", "two", "three")
QUESTION_KINDS = ("first", "before", "count")


def event_prototypes(feature_dim, seed=1234):
    """`(events, feature_dim)`: one fixed unit-variance feature vector per event (common, then rare)."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(len(COMMON_EVENTS) + len(RARE_EVENTS), feature_dim)).astype(np.float32)


def generate_videos(
    num_videos,
    num_frames,
    feature_dim=64,
    questions_per_video=1,
    noise=1.0,
    event_frames=(8, 24),
    kinds=QUESTION_KINDS,
    seed=0,
):
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
        raise ValueError(
            f"`num_frames` must be at least 8 x the longest event ({8 * high}), and `event_frames` "
            f"a (min, max) with 1 <= min <= max. Received: `num_frames` = {num_frames}, "
            f"`event_frames` = {event_frames}"
        )
    if not kinds or set(kinds) - set(QUESTION_KINDS):
        raise ValueError(f"`kinds` must be a non-empty subset of {QUESTION_KINDS}. Received: {kinds!r}")
    if set(kinds) == {"first"} and questions_per_video > 1:
        raise ValueError(
            f"Only `first` questions: one per video. Received: `questions_per_video` = {questions_per_video}"
        )
    if not 1 <= questions_per_video <= len(RARE_EVENTS) - 2:
        raise ValueError(
            f"`questions_per_video` must be in [1, {len(RARE_EVENTS) - 2}]. Received: {questions_per_video}"
        )
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
                raise ValueError(
                    f"A video of {num_frames} frames has no room for {questions_per_video} "
                    "questions: raise `num_frames` or lower `questions_per_video`."
                )
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
        candidates = [i for i in range(max(lo, 1), hi) if not rare_at[i - 1 : i + 2].any()]
        if candidates:
            return int(rng.choice(candidates))
    return None
