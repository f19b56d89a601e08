"""Lengthening: a story placed among distractor sentences, with the depth of its facts recorded."""

import dataclasses

import numpy as np

from keras_rm.pipelines.babi.generator import generate_babi

DISTRACTOR_SUBJECTS = ["The cat", "A neighbour", "The old clock", "The radio", "A stranger", "The dog", "The rain"]
DISTRACTOR_VERBS = ["hummed a tune", "looked tired", "was quiet", "smelled of pine", "made a noise", "seemed happy"]
DEPTHS = ("uniform", "early", "late")


def builtin_distractors(count, rng):
    """`count` distractor sentences whose words never occur in the tasks (they cannot change an answer)."""
    subjects = rng.choice(DISTRACTOR_SUBJECTS, count)
    verbs = rng.choice(DISTRACTOR_VERBS, count)
    return [f"{s} {v}." for s, v in zip(subjects, verbs)]


def lengthen(example, length, depth="uniform", distractors=None, rng=None):
    """Places the story's sentences, in order, among distractors up to `length` sentences.

    Args:
        example: a `BabiExample`.
        length: int. Sentences of the lengthened story.
        depth: str. Where the story goes: `"uniform"` (anywhere), `"early"`
            (first quarter) or `"late"` (last quarter).
        distractors: list of sentences to draw from (e.g. lines of a text file
            of the user's). Defaults to `builtin_distractors`.
        rng: a `numpy.random.Generator`. Defaults to a fresh one.

    Returns:
        A new `BabiExample` whose `supporting` indices point into the
        lengthened story and whose `depth` is the position of the last
        supporting fact divided by `length`.
    """
    if depth not in DEPTHS:
        raise ValueError(f"`depth` must be one of {list(DEPTHS)}. Received: `depth` = {depth!r}")
    rng = rng or np.random.default_rng()
    story = example.story
    window = {"uniform": (0, length), "early": (0, length // 4), "late": (length - length // 4, length)}[depth]
    if len(story) > window[1] - window[0]:
        raise ValueError(
            f"A story of {len(story)} sentences does not fit the {depth} part ({window[1] - window[0]} "
            f"sentences) of a {length}-sentence sequence. Received: `length` = {length}"
        )
    positions = np.sort(rng.choice(np.arange(*window), len(story), replace=False))
    if distractors is None:
        filler = builtin_distractors(length - len(story), rng)
    else:
        if not distractors:
            raise ValueError("`distractors` is empty.")
        filler = [distractors[i] for i in rng.integers(0, len(distractors), length - len(story))]
    lengthened, fill = [], iter(filler)
    placed = dict(zip(positions.tolist(), story))
    for i in range(length):
        lengthened.append(placed[i] if i in placed else next(fill))
    supporting = [int(positions[i]) for i in example.supporting]
    return dataclasses.replace(example, story=lengthened, supporting=supporting, depth=max(supporting) / length)


def generate_long_babi(task, num_examples, length, depth="uniform", story_length=10, distractors=None, seed=0):
    """Built-in stories of `task` (`generate_babi`), each lengthened (`lengthen`) to `length` sentences.

    One seed drives both the stories and their placement among distractors.
    """
    rng = np.random.default_rng(seed)
    examples = generate_babi(task, num_examples, story_length=story_length, seed=seed)
    return [lengthen(example, length, depth, distractors, rng) for example in examples]
