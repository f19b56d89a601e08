"""Text helpers shared by the pipelines: word tokenisation and the vocabularies every text data set keeps."""

import json
import re

_WORD = re.compile(r"[a-z0-9]+")


def tokenize(sentence):
    """Lower-cased words of a sentence, punctuation dropped."""
    return _WORD.findall(sentence.lower())


class Vocabularies:
    """Base of the data sets' vectorisers: word and answer vocabularies, the layer over them, JSON save and load.

    `set_vocabulary` builds `layer`, a `keras_rm.layers.SentenceVectorizer`:
    the same layer vectorises the `tf.data` pipeline, can travel inside the
    model (`text_vectorizer=`) and runs in its SavedModel. Word id 0 is
    padding, 1 out-of-vocabulary. A subclass adds its constructor arguments
    to `get_config` (what `save` writes and `load` passes back).

    Args:
        max_words: int. Words kept per sentence (longer sentences are cut).
    """

    def __init__(self, max_words):
        self.max_words = max_words
        self.words, self.answers, self.layer = None, None, None

    def set_vocabulary(self, words, answers):
        """Sets the word and answer vocabularies (in id order) and builds `layer` over them."""
        from keras_rm.layers import SentenceVectorizer

        self.words, self.answers = list(words), list(answers)
        self.layer = SentenceVectorizer(max_words=self.max_words, vocabulary=self.words, answers=self.answers)
        self._vectorised = {"sentences": {}, "words": {}, "answers": {}}

    def sentence_ids(self, sentences):
        """Word ids of `sentences` as `layer` gives them: int32 numpy `(len(sentences), max_words)`.

        Each distinct sentence is vectorised once and kept, so a data set read
        again (every epoch draws its batches anew) costs no text processing.
        """
        return self._lookup("sentences", sentences, self.layer).reshape(len(sentences), self.max_words)

    def word_ids(self, words):
        """Ids of single `words` (int32 numpy `(len(words),)`), kept as `sentence_ids` keeps sentences'."""
        return self._lookup("words", words, self.layer.words)

    def answer_ids(self, answers):
        """Answer classes of `answers` (int32 numpy `(len(answers),)`), kept as `sentence_ids` keeps sentences'."""
        return self._lookup("answers", answers, self.layer.answer_classes)

    def vectorise_once(self, sentences=(), words=(), answers=()):
        """Vectorises every distinct sentence, word and answer given in one call each and keeps them: a data set
        built from many examples then only looks them up (one call per story costs a hundred times more)."""
        for ids, values in ((self.sentence_ids, sentences), (self.word_ids, words), (self.answer_ids, answers)):
            ids(list(set(values)))

    def _lookup(self, kind, values, vectorise):
        import keras
        import numpy as np

        known = self._vectorised[kind]
        new = [value for value in dict.fromkeys(values) if value not in known]
        if new:
            known.update(zip(new, keras.ops.convert_to_numpy(vectorise(new)).astype("int32")))
        return np.asarray([known[value] for value in values], "int32")

    @property
    def vocabulary_size(self):
        """Word ids, padding and out-of-vocabulary included."""
        return len(self.words) + 2

    def get_config(self):
        """The constructor arguments."""
        return {"max_words": self.max_words}

    def save(self, path):
        """Writes the constructor arguments and the vocabularies as JSON."""
        with open(path, "w") as f:
            json.dump({**self.get_config(), "words": self.words, "answers": self.answers}, f)

    @classmethod
    def from_layer(cls, layer, **config):
        """The vectoriser whose `layer` is `layer` (e.g. a loaded model's `text_vectorizer`: its vocabularies
        travel in the `.keras` file as the lookups' assets); `config`: the other constructor arguments."""
        words = layer.words.get_vocabulary()[2:]  # after the padding ("") and out-of-vocabulary tokens
        vectorizer = cls(max_words=layer.max_words, **config)
        vectorizer.set_vocabulary(words, layer.answers.get_vocabulary())
        return vectorizer

    @classmethod
    def load(cls, path):
        """The vectoriser `save` wrote to `path`."""
        with open(path) as f:
            saved = json.load(f)
        words, answers = saved.pop("words"), saved.pop("answers")
        vectorizer = cls(**saved)
        vectorizer.set_vocabulary(words, answers)
        return vectorizer
