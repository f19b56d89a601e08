"""Long bAbI: the official bAbI text format, a built-in generator of bAbI-style tasks, and lengthening.

Everything here is plain Python and numpy (no TensorFlow), so stories can be
made anywhere; vectorisation and `tf.data` come on top.

- `read_babi(path)`: one official task file (`qa1_single-supporting-fact_train.txt`,
  ...) into `BabiExample`s, one per question.
- `generate_babi(task, num_examples, seed)`: built-in tasks 1 (single
  supporting fact), 2 (two), 3 (three supporting facts), 6 (yes/no) and
  7 (counting), from a small simulated world of actors, places and objects.
- `lengthen(example, length, depth, distractors, rng)`: places a story's
  sentences, in order, among distractor sentences up to `length` sentences,
  with the story (and so its supporting facts) early, late or anywhere, and
  records the depth of the supporting facts.
"""

import dataclasses
import os
import re

import numpy as np


@dataclasses.dataclass
class BabiExample:
    """One question about a story.

    Attributes:
        story: the sentences before the question, in order.
        question: the question sentence.
        answer: the answer (comma-separated words for multi-word answers).
        supporting: indices into `story` of the facts the answer needs.
        depth: where the last supporting fact sits, as a fraction of the
            story length (0 = first sentence); set by `lengthen`.
    """

    story: list
    question: str
    answer: str
    supporting: list
    depth: float = None


_LINE = re.compile(r"^(\d+) (.*)$")


def read_babi(path):
    """Reads one bAbI task file in the official format into a list of `BabiExample`.

    Lines are `N sentence` or `N question<TAB>answer<TAB>supporting line
    numbers`; a story restarts when `N` is 1. Questions are not part of the
    story they ask about.

    Raises:
        ValueError: naming the file and line number of a malformed line.
    """
    examples = []
    story, line_to_index = [], {}
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            raw = raw.rstrip("\n")
            if not raw.strip():
                continue
            where = f"{os.path.basename(path)}, line {lineno}"
            match = _LINE.match(raw)
            if not match:
                raise ValueError(f"{where}: expected 'N sentence' with N a line number. Received: {raw!r}")
            number, text = int(match.group(1)), match.group(2)
            if number == 1:
                story, line_to_index = [], {}
            if "\t" not in text:
                line_to_index[number] = len(story)
                story.append(text.strip())
                continue
            fields = text.split("\t")
            if len(fields) != 3 or not fields[1].strip():
                raise ValueError(
                    f"{where}: a question line needs 'question<TAB>answer<TAB>supporting ids'. Received: {raw!r}"
                )
            question, answer, ids = (field.strip() for field in fields)
            try:
                supporting = [line_to_index[int(i)] for i in ids.split()]
            except (KeyError, ValueError):
                raise ValueError(
                    f"{where}: supporting ids {ids!r} must be line numbers of earlier sentences of the story."
                ) from None
            examples.append(BabiExample(list(story), question, answer, supporting))
    return examples


# --- built-in generator ---------------------------------------------------

ACTORS = ["Mary", "John", "Sandra", "Daniel"]
PLACES = ["kitchen", "garden", "hallway", "bathroom", "office", "bedroom"]
OBJECTS = ["football", "apple", "milk"]
MOVES = ["moved to", "went to", "journeyed to", "travelled to"]
NUMBERS = ["none", "one", "two", "three"]
TASKS = {1: "single supporting fact", 2: "two supporting facts", 3: "three supporting facts", 6: "yes/no", 7: "counting"}


class _World:
    """Actors moving between places and carrying objects; every event is a story sentence."""

    def __init__(self, rng):
        self.rng = rng
        self.story = []
        self.location = {}  # actor -> (place, sentence index)
        self.holder = {}  # object -> (actor, sentence index of the pick-up)
        self.events = {actor: [] for actor in ACTORS}  # actor -> indices of get/drop sentences
        self.trail = {obj: [] for obj in OBJECTS}  # object -> [(place, [supporting indices])]

    def say(self, sentence):
        self.story.append(sentence)
        return len(self.story) - 1

    def move(self):
        actor = self.rng.choice(ACTORS)
        place = self.rng.choice([p for p in PLACES if self.location.get(actor, (None,))[0] != p])
        index = self.say(f"{actor} {self.rng.choice(MOVES)} the {place}.")
        self.location[actor] = (place, index)
        for obj, (holder, got) in self.holder.items():
            if holder == actor:
                self.trail[obj].append((place, [got, index]))

    def take_or_drop(self):
        located = [a for a in ACTORS if a in self.location]
        if not located:
            return self.move()
        actor = self.rng.choice(located)
        held = [o for o, (h, _) in self.holder.items() if h == actor]
        free = [o for o in OBJECTS if o not in self.holder]
        if not held and not free:
            return self.move()
        if held and (not free or self.rng.random() < 0.4):
            obj = self.rng.choice(held)
            index = self.say(f"{actor} dropped the {obj}.")
            del self.holder[obj]
        else:
            obj = self.rng.choice(free)
            index = self.say(f"{actor} picked up the {obj}.")
            self.holder[obj] = (actor, index)
            place, moved = self.location[actor]
            self.trail[obj].append((place, [index, moved]))
        self.events[actor].append(index)

    def run(self, steps, with_objects):
        for _ in range(steps):
            if with_objects and self.rng.random() < 0.35:
                self.take_or_drop()
            else:
                self.move()


def _question(world, task, rng):
    """A (question, answer, supporting) about `world`, or None when the story allows none."""
    located = [a for a in ACTORS if a in world.location]
    if task in (1, 6):
        if not located:
            return None
        actor = rng.choice(located)
        place, index = world.location[actor]
        if task == 1:
            return f"Where is {actor}?", place, [index]
        asked = place if rng.random() < 0.5 else rng.choice([p for p in PLACES if p != place])
        return f"Is {actor} in the {asked}?", "yes" if asked == place else "no", [index]
    if task == 2:
        held = [o for o in world.holder]
        if not held:
            return None
        obj = rng.choice(held)
        actor, got = world.holder[obj]
        place, moved = world.location[actor]
        return f"Where is the {obj}?", place, sorted({got, moved})
    if task == 3:
        candidates = [(o, t) for o, t in world.trail.items() if len({p for p, _ in t}) > 1]
        if not candidates:
            return None
        obj, trail = candidates[rng.integers(len(candidates))]
        moves = [(a, b) for a, b in zip(trail, trail[1:]) if a[0] != b[0]]
        before, after = moves[-1]
        return f"Where was the {obj} before the {after[0]}?", before[0], sorted(set(before[1] + after[1]))
    if task == 7:
        active = [a for a in ACTORS if world.events[a]]
        if not active:
            return None
        actor = rng.choice(active)
        count = sum(1 for h, _ in world.holder.values() if h == actor)
        return f"How many objects is {actor} carrying?", NUMBERS[count], list(world.events[actor])
    raise ValueError(f"`task` must be one of {sorted(TASKS)} for the built-in generator. Received: `task` = {task}")


def generate_babi(task, num_examples, story_length=10, seed=0, questions_per_story=1):
    """Generates `num_examples` bAbI-style examples of a built-in task.

    Args:
        task: int. 1, 2, 3, 6 or 7 (see `TASKS`).
        num_examples: int. Examples to generate.
        story_length: int. Sentences per story before the question.
        seed: int. Seed of the generator; the same seed gives the same examples.
        questions_per_story: int. Distinct questions asked about each story
            (consecutive examples share the story; fewer when the story
            allows fewer). Defaults to 1.

    Returns:
        A list of `BabiExample`; answers are correct by construction.
    """
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {sorted(TASKS)} for the built-in generator. Received: `task` = {task}")
    rng = np.random.default_rng(seed)
    examples = []
    while len(examples) < num_examples:
        world = _World(rng)
        world.run(story_length, with_objects=task in (2, 3, 7))
        asked = {}
        for _ in range(10 * questions_per_story):
            question = _question(world, task, rng)
            if question is not None:
                asked.setdefault(question[0], question)
            if len(asked) == questions_per_story:
                break
        for question, answer, supporting in list(asked.values())[: num_examples - len(examples)]:
            examples.append(BabiExample(list(world.story), question, answer, supporting))
    return examples


# --- lengthening ------------------------------------------------------------

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
    return BabiExample(lengthened, example.question, example.answer, supporting, max(supporting) / length)


def generate_long_babi(task, num_examples, length, depth="uniform", story_length=10, distractors=None, seed=0):
    """Built-in stories of `task` (`generate_babi`), each lengthened (`lengthen`) to `length` sentences.

    One seed drives both the stories and their placement among distractors.
    """
    rng = np.random.default_rng(seed)
    examples = generate_babi(task, num_examples, story_length=story_length, seed=seed)
    return [lengthen(example, length, depth, distractors, rng) for example in examples]


# --- vectorisation and tf.data ------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")


def tokenize(sentence):
    """Lower-cased words of a sentence, punctuation dropped."""
    return _WORD.findall(sentence.lower())


class BabiVectorizer:
    """Word and answer vocabularies and the `tf.data` pipeline of long bAbI.

    The vectorising is a `keras_rm.layers.SentenceVectorizer` (`layer`): the
    same layer turns raw sentences into word ids in the `tf.data` pipeline,
    travels inside the model (`text_vectorizer=vectorizer.layer`) and runs in
    its SavedModel's `write_text` and `answer_text`. Word id 0 is padding
    (inside a sentence and for padded sentences), id 1 is out-of-vocabulary;
    answers are classes `0 .. num_answers - 1`.

    Args:
        max_words: int. Words kept per sentence (longer sentences are cut).

    Example:

    ```python
    examples = [lengthen(e, 100) for e in generate_babi(1, 64)]
    vectorizer = BabiVectorizer(max_words=8)
    vectorizer.adapt(examples)
    dataset = vectorizer.dataset(examples, batch_size=32)  # ({"items", "query"}, answer, depth)
    ```
    """

    def __init__(self, max_words=8):
        self.max_words = max_words
        self.words, self.answers = None, None

    def adapt(self, examples):
        """Builds the vocabularies from `examples` (words of stories and questions, answers)."""
        words, answers = set(), set()
        for example in examples:
            for sentence in example.story + [example.question]:
                words.update(tokenize(sentence))
            answers.add(example.answer)
        self.set_vocabulary(sorted(words), sorted(answers))

    def set_vocabulary(self, words, answers):
        from keras_rm.layers import SentenceVectorizer

        self.words, self.answers = list(words), list(answers)
        self.layer = SentenceVectorizer(max_words=self.max_words, vocabulary=self.words, answers=self.answers)

    @property
    def vocabulary_size(self):
        """Word ids, padding and out-of-vocabulary included."""
        return len(self.words) + 2

    def save(self, path):
        """Writes the vocabularies as JSON."""
        import json

        with open(path, "w") as f:
            json.dump({"max_words": self.max_words, "words": self.words, "answers": self.answers}, f)

    @classmethod
    def load(cls, path):
        import json

        with open(path) as f:
            saved = json.load(f)
        vectorizer = cls(saved["max_words"])
        vectorizer.set_vocabulary(saved["words"], saved["answers"])
        return vectorizer

    def token_story(self, example):
        """The story as one list of words (sentence boundaries dropped) and the depth of its last supporting fact.

        The depth is the offset of the last supporting sentence's first word
        divided by the number of words, the token-level twin of `lengthen`'s depth.
        """
        words, offsets = [], []
        for sentence in example.story:
            offsets.append(len(words))
            words.extend(tokenize(sentence))
        depth = offsets[max(example.supporting)] / max(len(words), 1) if example.supporting else -1.0
        return words, depth

    def dataset(self, examples, batch_size, length=None, tokens=False, shuffle=False, seed=0):
        """A `tf.data.Dataset` of `({"items", "query"}, answer_id, depth)` batches with static shapes.

        Args:
            examples: `BabiExample`s (lengthened or not).
            batch_size: int. The last partial batch is dropped (static shapes).
            length: int. Items per sequence: sentences, or words with
                `tokens=True`; shorter stories are padded with id 0.
                Defaults to the longest story.
            tokens: bool. Items are the story's words, sentences flattened
                (the long-text QA setting: `items` `(batch, length)` for a
                `TokenItemEncoder`); otherwise items are sentences
                (`(batch, length, max_words)` for a `SentenceItemEncoder`).
            shuffle: bool. Shuffle the examples every epoch.
            seed: int. Shuffle seed.
        """
        import tensorflow as tf

        if self.words is None:
            raise ValueError("Call `adapt(examples)` or `load(path)` before `dataset()`.")
        # Items are sentences (vectorised by the layer) or, with `tokens`, words (looked up one by one).
        stories = [self.token_story(e) if tokens else (e.story, e.depth) for e in examples]
        length = length or max(len(story) for story, _ in stories)

        def rows():
            for e, (story, depth) in zip(examples, stories):
                if len(story) > length:
                    raise ValueError(f"A story has {len(story)} items, more than `length` = {length}.")
                yield story + [""] * (length - len(story)), e.question, e.answer, -1.0 if depth is None else depth

        signature = (
            tf.TensorSpec((length,), tf.string),
            tf.TensorSpec((), tf.string),
            tf.TensorSpec((), tf.string),
            tf.TensorSpec((), tf.float32),
        )
        data = tf.data.Dataset.from_generator(rows, output_signature=signature)
        data = data.apply(tf.data.experimental.assert_cardinality(len(examples)))
        if shuffle:
            data = data.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)

        def vectorize(story, question, answer, depth):
            items = tf.cast(self.layer.words(story), tf.int32) if tokens else self.layer(story)
            inputs = {"items": items, "query": self.layer(question)}
            return inputs, self.layer.answer_classes(answer), depth

        data = data.batch(batch_size, drop_remainder=True)
        return data.map(vectorize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
