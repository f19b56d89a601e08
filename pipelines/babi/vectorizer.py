"""`BabiVectorizer`: the vocabularies and the sentence- and token-level `tf.data` pipeline of long bAbI."""

from keras_rm.pipelines.data import batches_from_rows
from keras_rm.pipelines.text import Vocabularies, tokenize


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
            Defaults to None: the longest sentence or question `adapt` sees.

    Example:

    ```python
    examples = [lengthen(e, 100) for e in generate_babi(1, 64)]
    vectorizer = BabiVectorizer(max_words=8)
    vectorizer.adapt(examples)
    dataset = vectorizer.dataset(examples, batch_size=32)  # ({"items", "query"}, answer, depth)
    ```
    """

    def __init__(self, max_words=None):
        super().__init__(max_words)

    def adapt(self, examples):
        """Builds the vocabularies from `examples` (words of stories and questions, answers; an answer of several
        words, such as task 8's "apple,football", is one class) and, unless given, `max_words`."""
        words, answers, longest = set(), set(), 1
        for example in examples:
            for sentence in example.story + [example.question]:
                tokens = tokenize(sentence)
                words.update(tokens)
                longest = max(longest, len(tokens))
            answers.add(example.answer)
        self.max_words = self.max_words or longest
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

    def dataset(
        self, examples, batch_size, length=None, tokens=False, shuffle=False, seed=0, bucket=None, supporting=False
    ):
        """A `tf.data.Dataset` of `({"items", "query"}, answer_id, depth)` batches with static shapes.

        With `bucket`, batches hold stories of about the same length instead,
        each batch padded to a multiple of `bucket` items (its length axis is
        then None): stories as written, from 2 sentences (task 4) to 90
        (task 3), then cost what they hold rather than what the longest one
        does. The batches are made of the examples in length order and come in
        a random order (`seed`); their number is `len(examples) // batch_size`.
        A model that needs one length per trace (TensorFlow's) cannot take them.

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
            seed: int. Shuffle seed (and with `bucket`, the order of the batches).
            bucket: int. Pad each batch to a multiple of `bucket` items (e.g.
                the memory's segment length). Defaults to None: every story to
                `length`.
            supporting: bool. The inputs also hold `importance`, float
                `(batch, length)`: 1 on the supporting sentences of the
                question, 0 elsewhere (for `sampler="importance"`: rehearsal
                of the facts the answer needs). Sentence items only.
        """
        import numpy as np
        import tensorflow as tf

        if self.words is None:
            raise ValueError("Call `adapt(examples)` or `load(path)` before `dataset()`.")
        if supporting and tokens:
            raise ValueError("`supporting` marks sentences: it needs sentence items (`tokens=False`).")
        if bucket and shuffle:
            raise ValueError("`shuffle` mixes the lengths of `bucket`'s batches: shuffle the examples beforehand.")
        # Items are sentences (vectorised by the layer) or, with `tokens`, words (looked up one by one).
        stories = [self.token_story(e) if tokens else (e.story, e.depth) for e in examples]
        length = length or max(len(story) for story, _ in stories)
        order, padded = np.arange(len(examples)), np.full(len(examples), length)
        if bucket:
            # Batches of consecutive stories in length order, each padded to a multiple of `bucket`, shuffled.
            order = np.argsort([len(story) for story, _ in stories], kind="stable")
            batches = order[: len(order) // batch_size * batch_size].reshape(-1, batch_size)
            batches = batches[np.random.default_rng(seed).permutation(len(batches))]
            order = batches.reshape(-1)
            longest = np.asarray([max(len(stories[i][0]) for i in batch) for batch in batches])
            padded = np.repeat(-(-longest // bucket) * bucket, batch_size)

        def rows():
            for i, target in zip(order, padded):
                e, (story, depth) = examples[i], stories[i]
                if len(story) > length:
                    raise ValueError(f"A story has {len(story)} items, more than `length` = {length}.")
                row = story + [""] * (target - len(story)), e.question, e.answer, -1.0 if depth is None else depth
                if supporting:
                    marks = np.zeros(target, np.float32)
                    marks[list(e.supporting)] = 1.0
                    row += (marks,)
                yield row

        signature = (
            tf.TensorSpec((None if bucket else length,), tf.string),
            tf.TensorSpec((), tf.string),
            tf.TensorSpec((), tf.string),
            tf.TensorSpec((), tf.float32),
        )
        if supporting:
            signature += (tf.TensorSpec((None if bucket else length,), tf.float32),)

        def vectorize(story, question, answer, depth, *marks):
            items = tf.cast(self.layer.words(story), tf.int32) if tokens else self.layer(story)
            inputs = {"items": items, "query": self.layer(question)}
            if supporting:
                inputs["importance"] = marks[0]
            return inputs, self.layer.answer_classes(answer), depth

        return batches_from_rows(rows, signature, len(order), batch_size, vectorize, shuffle, seed)
