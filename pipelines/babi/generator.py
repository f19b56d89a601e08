"""The built-in generator of bAbI-style tasks 1, 2, 3, 6 and 7: a small simulated world."""

import numpy as np

from keras_rm.pipelines.babi.reader import BabiExample

ACTORS = ["Mary", "John", "Sandra", "Daniel"]
PLACES = ["kitchen", "garden", "hallway", "bathroom", "office", "bedroom"]
OBJECTS = ["football", "apple", "milk"]
MOVES = ["moved to", "went to", "journeyed to", "travelled to"]
NUMBERS = ["none", "one", "two", "three"]
TASKS = {
    1: "single supporting fact",
    2: "two supporting facts",
    3: "three supporting facts",
    6: "yes/no",
    7: "counting",
}


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


def generate_babi(task, num_examples, story_length=10, seed=0, questions_per_story=1, ask_every=None):
    """Generates `num_examples` bAbI-style examples of a built-in task.

    Args:
        task: int. 1, 2, 3, 6 or 7 (see `TASKS`).
        num_examples: int. Examples to generate.
        story_length: int. Sentences per story before the question.
        seed: int. Seed of the generator; the same seed gives the same examples.
        questions_per_story: int. Distinct questions asked about each story
            (consecutive examples share the story; fewer when the story
            allows fewer). Defaults to 1.
        ask_every: int. Ask one question after every `ask_every` sentences
            instead, along the story, as the official files do: each asks
            about the story so far, and the questions of one story share a
            `story_id` (`group_by_story`). Defaults to None: questions after
            the whole story.

    Returns:
        A list of `BabiExample`; answers are correct by construction.
    """
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {sorted(TASKS)} for the built-in generator. Received: `task` = {task}")
    rng = np.random.default_rng(seed)
    examples = []
    if ask_every:
        while len(examples) < num_examples:
            world, story_id = _World(rng), len(examples)
            while len(world.story) < story_length and len(examples) < num_examples:
                world.run(ask_every, with_objects=task in (2, 3, 7))
                question = _question(world, task, rng)
                if question is not None:
                    examples.append(BabiExample(list(world.story), *question, task=task, story_id=story_id))
        return examples
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
            examples.append(BabiExample(list(world.story), question, answer, supporting, task=task))
    return examples
