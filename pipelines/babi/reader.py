"""The official bAbI text format: one task file into `BabiExample`s, one per question."""

import dataclasses
import glob
import os
import re

TASK_NUMBERS = tuple(range(1, 21))


@dataclasses.dataclass
class BabiExample:
    """One question about a story.

    Attributes:
        story: the sentences before the question, in order.
        question: the question sentence.
        answer: the answer (comma-separated words for multi-word answers).
        supporting: indices into `story` of the facts the answer needs.
        depth: where the last supporting fact sits, as a fraction of the
            story length (0 = first sentence); set by `lengthen` and
            `as_written`.
        task: the bAbI task number (1-20) the question belongs to, where known.
        story_id: which story of its file the question asks about (0, 1,
            ...; the questions of one story share it), where known.
    """

    story: list
    question: str
    answer: str
    supporting: list
    depth: float = None
    task: int = None
    story_id: int = None


_LINE = re.compile(r"^(\d+) (.*)$")


def read_babi(path, task=None):
    """Reads one bAbI task file in the official format into a list of `BabiExample`.

    Args:
        path: str. A task file, e.g. `qa2_two-supporting-facts_train.txt`.
        task: int. Recorded in every example's `task`. Defaults to the number
            of a file named `qa<N>_...`, else None.

    Lines are `N sentence` or `N question<TAB>answer<TAB>supporting line
    numbers`; a story restarts when `N` is 1. Questions are not part of the
    story they ask about.

    Raises:
        ValueError: naming the file and line number of a malformed line.
    """
    if task is None:
        match = re.match(r"qa(\d+)_", os.path.basename(path))
        task = int(match.group(1)) if match else None
    examples = []
    story, line_to_index, story_id = [], {}, -1
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
                story, line_to_index, story_id = [], {}, story_id + 1
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
            examples.append(BabiExample(list(story), question, answer, supporting, task=task, story_id=story_id))
    return examples


def group_by_story(examples):
    """The questions of `examples` grouped by the story they ask about: a list of lists, each a story's questions
    in order (the official files ask up to 12 along one story; `story_id` and `task` tell stories apart).

    Consecutive examples of one task with one `story_id` form a group; an example without a `story_id` (a
    generated or lengthened one) is a story of its own.
    """
    groups = []
    for example in examples:
        last = groups[-1][-1] if groups else None
        same = (
            last is not None
            and example.story_id is not None
            and (last.task, last.story_id) == (example.task, example.story_id)
        )
        if same:
            groups[-1].append(example)
        else:
            groups.append([example])
    return groups


def read_babi_task(data_dir, task, split):
    """The examples of official task `task` (1-20), split `"train"` or `"test"`: file `qa{task}_*_{split}.txt` in
    `data_dir` (e.g. the `en-10k` folder of the released archive, `download_babi`)."""
    if task not in TASK_NUMBERS:
        raise ValueError(f"`task` must be a bAbI task number, 1 to 20. Received: `task` = {task!r}")
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test'. Received: `split` = {split!r}")
    paths = glob.glob(os.path.join(os.path.expanduser(data_dir), f"qa{task}_*_{split}.txt"))
    if not paths:
        raise ValueError(f"No qa{task}_*_{split}.txt in `data_dir` = {data_dir!r}.")
    return read_babi(paths[0], task)


def as_written(example):
    """The example unlengthened, with the `depth` of its last supporting fact in its own story (a new example)."""
    depth = max(example.supporting) / len(example.story) if example.supporting and example.story else -1.0
    return dataclasses.replace(example, depth=depth)
