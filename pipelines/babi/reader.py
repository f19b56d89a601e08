"""The official bAbI text format: one task file into `BabiExample`s, one per question."""

import dataclasses
import os
import re


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
