"""`BabiVectorizer`: the vocabularies and the sentence- and token-level `tf.data` pipeline of long bAbI."""

from pipelines.data import batches_from_rows
from pipelines.text import Vocabularies, tokenize


class BabiVectorizer(Vocabularies):
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
        super().__init__(max_words)

    def adapt(self, examples):
        """Builds the vocabularies from `examples` (words of stories and questions, answers)."""
        words, answers = set(), set()
        for example in examples:
            for sentence in example.story + [example.question]:
                words.update(tokenize(sentence))
            answers.add(example.answer)
        self.set_vocabulary(sorted(words), sorted(answers))

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

        def vectorize(story, question, answer, depth):
            items = tf.cast(self.layer.words(story), tf.int32) if tokens else self.layer(story)
            inputs = {"items": items, "query": self.layer(question)}
            return inputs, self.layer.answer_classes(answer), depth

        return batches_from_rows(rows, signature, len(examples), batch_size, vectorize, shuffle, seed)
