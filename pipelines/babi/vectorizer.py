"""`BabiVectorizer`: the vocabularies and the sentence- and token-level `tf.data` pipeline of long bAbI."""

import itertools

import numpy as np

from keras_rm.pipelines.data import dataset_of_batches
from keras_rm.pipelines.text import Vocabularies, tokenize


def story_layout(questions, segment_length):
    """One story's sentences laid out for a single pass that answers all its questions.

    Args:
        questions: the `BabiExample`s of one story, in order (`group_by_story`).
        segment_length: int. Sentences per memory segment.

    Returns:
        `(sentences, positions)`: the story as written, each stretch of
        sentences before a question padded with `""` to whole segments, and
        every question's position (the sentences before it, padding included:
        a multiple of `segment_length`, so the question sees all of them).
    """
    sentences, positions, told = [], [], 0
    for question in questions:
        new = question.story[told:]
        told = len(question.story)
        sentences += new + [""] * (-len(new) % segment_length)
        positions.append(len(sentences))
    return sentences, positions


def round_up(count):
    """`count` rounded up to 1, 2, ..., 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, ...: the sizes a bucketed batch is
    padded to, one for every 12-25% of growth (each new size costs JAX one more compile)."""
    size = 1
    while size < count:
        step = max(1, 2 ** (size.bit_length() - 3))  # 1 up to 8, then a quarter of the power of two below
        size += step
    return size


def bucketed_length(count, bucket, shortest=1):
    """What `BabiVectorizer.dataset` pads a batch whose longest story has `count` items to: `round_up(count)` below
    `bucket` (a memory then writes one partial segment, as it does for a stream's last one), whole multiples of
    `bucket` above, and never fewer than `shortest` items."""
    count = max(count, shortest)
    return round_up(count) if count < bucket else -(-count // bucket) * bucket


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
        self,
        examples,
        batch_size,
        length=None,
        tokens=False,
        shuffle=False,
        seed=0,
        bucket=None,
        shortest=1,
        supporting=False,
    ):
        """A `tf.data.Dataset` of `({"items", "query"}, answer_id, depth)` batches with static shapes.

        With `bucket`, batches hold stories of about the same length instead,
        each batch padded to a multiple of `bucket` items, or, when its
        longest story is shorter than `bucket`, to `round_up` of that story's
        length (its length axis is then None): stories as written, from 2
        sentences (task 4) to 90 (task 3), then cost what they hold rather
        than what the longest one does. The batches are made of the examples
        in length order and come in a random order (`seed`); their number is
        `len(examples) // batch_size`.
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
                the memory's segment length), or below `bucket` items to
                `round_up` of its longest story (one partial segment). Defaults
                to None: every story to `length`.
            shortest: int. With `bucket`, no batch is padded to fewer items
                (e.g. a rehearsal's `fragment_length`).
            supporting: bool. The inputs also hold `importance`, float
                `(batch, length)`: 1 on the supporting sentences of the
                question, 0 elsewhere (for `sampler="importance"`: rehearsal
                of the facts the answer needs). Sentence items only.
        """
        import tensorflow as tf

        if self.words is None:
            raise ValueError("Call `adapt(examples)` or `load(path)` before `dataset()`.")
        if supporting and tokens:
            raise ValueError("`supporting` marks sentences: it needs sentence items (`tokens=False`).")
        if bucket and shuffle:
            raise ValueError("`shuffle` mixes the lengths of `bucket`'s batches: shuffle the examples beforehand.")
        # Items are sentences or, with `tokens`, words; each distinct one is vectorised once (`sentence_ids`).
        stories = [self.token_story(e) if tokens else (e.story, e.depth) for e in examples]
        longest = max(len(story) for story, _ in stories)
        length = length or longest
        if longest > length:
            raise ValueError(f"A story has {longest} items, more than `length` = {length}.")
        self.vectorise_once(
            sentences=[e.question for e in examples] + ([] if tokens else [s for story, _ in stories for s in story]),
            words=[w for story, _ in stories for w in story] if tokens else (),
            answers=[e.answer for e in examples],
        )
        whole = len(examples) // batch_size * batch_size
        if bucket:
            # Batches of consecutive stories in length order, each padded to its `bucketed_length`, shuffled.
            order = np.argsort([len(story) for story, _ in stories], kind="stable")[:whole].reshape(-1, batch_size)
            bucketed = order[np.random.default_rng(seed).permutation(len(order))]
        epochs = itertools.count()

        def batches():
            if bucket:
                return bucketed
            order = np.arange(len(examples))
            if shuffle:  # a new order every epoch (every iteration of the dataset)
                order = np.random.default_rng([seed, next(epochs)]).permutation(len(examples))
            return order[:whole].reshape(-1, batch_size)

        item_shape = () if tokens else (self.max_words,)

        def make(batch):
            target = bucketed_length(max(len(stories[i][0]) for i in batch), bucket, shortest) if bucket else length
            items = np.zeros((batch_size, target) + item_shape, np.int32)
            importance = np.zeros((batch_size, target), np.float32)
            for row, i in enumerate(batch):
                story = stories[i][0]
                items[row, : len(story)] = self.word_ids(story) if tokens else self.sentence_ids(story)
                if supporting:
                    importance[row, list(examples[i].supporting)] = 1.0
            inputs = {"items": items, "query": self.sentence_ids([examples[i].question for i in batch])}
            if supporting:
                inputs["importance"] = importance
            depths = np.asarray([-1.0 if stories[i][1] is None else stories[i][1] for i in batch], np.float32)
            return inputs, self.answer_ids([examples[i].answer for i in batch]), depths

        steps = None if bucket else length
        inputs = {
            "items": tf.TensorSpec((batch_size, steps) + item_shape, tf.int32),
            "query": tf.TensorSpec((batch_size, self.max_words), tf.int32),
        }
        if supporting:
            inputs["importance"] = tf.TensorSpec((batch_size, steps), tf.float32)
        signature = (inputs, tf.TensorSpec((batch_size,), tf.int32), tf.TensorSpec((batch_size,), tf.float32))
        return dataset_of_batches(lambda: (make(batch) for batch in batches()), signature, whole // batch_size)

    def story_dataset(
        self, stories, batch_size, segment_length, bucket=True, seed=0, complete=False, length=None, questions=None
    ):
        """A `tf.data.Dataset` that asks every question of a story along one pass over it.

        Each element is `(inputs, answers, weights, meta)`: `inputs` holds
        `items` (the story's sentences laid out by `story_layout`), `query`
        `(batch, questions, max_words)` and `query_position` `(batch,
        questions)`, as `RehearsalMemoryModel` takes them; `answers` are the
        answer classes `(batch, questions)`; `weights` are 1 for a question
        and 0 for padding (the `sample_weight` of `fit`); `meta` is a dict of
        each question's `depth` and `task`. Every story is written once
        however many questions it asks, where `dataset` writes a story once
        per question.

        Args:
            stories: lists of the `BabiExample`s of a story (`group_by_story`).
            batch_size: int.
            segment_length: int. The memory's segment length.
            bucket: bool. Batches hold stories of about the same number of
                segments and questions, each batch padded to a size of
                `round_up` (its length and question axes are then None);
                otherwise every batch is padded to the longest story and the
                most questions (the static shapes TensorFlow's trainer needs).
            seed: int. The order of the stories (with `bucket`: of the batches).
            complete: bool. Keep every story: the last batch is filled up
                with empty stories of weight 0 (for testing). Otherwise the
                stories of a last partial batch are left out.
            length: int. Without `bucket`: sentences every story is padded to
                (a multiple of `segment_length`). Defaults to the longest.
            questions: int. Without `bucket`: questions every story is padded
                to. Defaults to the most a story asks.
        """
        import tensorflow as tf

        if self.words is None:
            raise ValueError("Call `adapt(examples)` or `load(path)` before `story_dataset()`.")
        layouts = [story_layout(questions, segment_length) for questions in stories]
        asked = [e for questions in stories for e in questions]
        self.vectorise_once(
            sentences=[e.question for e in asked] + [s for sentences, _ in layouts for s in sentences],
            answers=[e.answer for e in asked],
        )
        segments = np.asarray([len(sentences) // segment_length for sentences, _ in layouts])
        counts = np.asarray([len(questions) for questions in stories])
        order = np.random.default_rng(seed).permutation(len(stories))
        if bucket:
            order = order[np.argsort(segments[order] * (counts.max() + 1) + counts[order], kind="stable")]
        whole = len(order) // batch_size * batch_size
        batches = (
            np.concatenate([order, np.full(-len(order) % batch_size, -1)]) if complete else order[:whole]
        ).reshape(-1, batch_size)
        if bucket:
            batches = batches[np.random.default_rng(seed).permutation(len(batches))]

        def padded(batch):
            if not bucket:
                return length or segments.max() * segment_length, questions or counts.max()
            real = batch[batch >= 0]
            return round_up(segments[real].max()) * segment_length, round_up(counts[real].max())

        target, asks = padded(batches[0])
        if not bucket and (segments.max() * segment_length > target or counts.max() > asks):
            raise ValueError(
                f"A story has {segments.max() * segment_length} sentences laid out or {counts.max()} questions, more "
                f"than `length` = {target} or `questions` = {asks}."
            )

        filler = self.answer_ids(self.answers[:1])[0]

        def make(batch):
            target, asks = padded(batch)
            items = np.zeros((batch_size, target, self.max_words), np.int32)
            query = np.zeros((batch_size, asks, self.max_words), np.int32)
            answers, positions, tasks = (np.full((batch_size, asks), value, np.int32) for value in (filler, 0, 0))
            weights, depths = (np.full((batch_size, asks), value, np.float32) for value in (0.0, -1.0))
            for row, i in enumerate(batch[batch >= 0]):
                (sentences, at), asked = layouts[i], stories[i]
                n = len(asked)
                items[row, : len(sentences)] = self.sentence_ids(sentences)
                query[row, :n] = self.sentence_ids([e.question for e in asked])
                answers[row, :n] = self.answer_ids([e.answer for e in asked])
                positions[row, :n], weights[row, :n] = at, 1.0
                depths[row, :n] = [-1.0 if e.depth is None else e.depth for e in asked]
                tasks[row, :n] = [e.task or 0 for e in asked]
            inputs = {"items": items, "query": query, "query_position": positions}
            return inputs, answers, weights, {"depth": depths, "task": tasks}

        steps, asks = (None, None) if bucket else (target, asks)  # without `bucket`: static shapes
        questions_spec = tf.TensorSpec((batch_size, asks), tf.int32)
        signature = (
            {
                "items": tf.TensorSpec((batch_size, steps, self.max_words), tf.int32),
                "query": tf.TensorSpec((batch_size, asks, self.max_words), tf.int32),
                "query_position": questions_spec,
            },
            questions_spec,
            tf.TensorSpec((batch_size, asks), tf.float32),
            {"depth": tf.TensorSpec((batch_size, asks), tf.float32), "task": questions_spec},
        )
        return dataset_of_batches(lambda: (make(batch) for batch in batches), signature, len(batches))
