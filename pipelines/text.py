"""Text helpers shared by the pipelines: word tokenisation."""

import re


_WORD = re.compile(r"[a-z0-9]+")


def tokenize(sentence):
    """Lower-cased words of a sentence, punctuation dropped."""
    return _WORD.findall(sentence.lower())
