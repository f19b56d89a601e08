"""Learning checks: the memory learns small bAbI tasks; recall (slow: `make test-all`).

`make test` runs each bAbI check on one backend, a different one each, and `make test-all` on all three: that a
training step moves a model the same way on every backend is checked by test_backends.py.
"""

import keras
import numpy as np
import pytest

import keras_rm
from keras_rm.pipelines.babi import BabiVectorizer, as_written, generate_babi, generate_long_babi
from keras_rm.pipelines.recall import make_recall_data, recall_vocabulary_size
from keras_rm.pipelines.text import tokenize
from tests.testing import only_on_unless_slow

# Task 1 (where is Mary?), 6 facts among 40 sentences, 4 slots. Answering with the latest place mentioned
# gives about 40%, and keras-rm 0.1 stayed there (its slots collapsed into one, every segment wore them down).
SMALL_BABI = dict(story_length=6)
LENGTH, WARMUP_LENGTH = 40, 16


def babi_batch(vectorizer, num_examples, seed, length=LENGTH):
    examples = generate_long_babi(1, num_examples, length, seed=seed, **SMALL_BABI)
    x, y, _ = next(iter(vectorizer.dataset(examples, num_examples, length)))
    return {key: np.asarray(value) for key, value in x.items()}, np.asarray(y)


def small_memory(vectorizer, segment_length=8, learning_rate=1e-3, num_slots=4):
    """`num_slots` slots of 32, plain (no rehearsal), compiled with experiments/babi_long.py's optimizer."""
    keras.utils.set_random_seed(0)
    encoder = keras_rm.layers.SentenceItemEncoder(
        vocabulary_size=vectorizer.vocabulary_size, hidden_dim=32, max_words=vectorizer.max_words
    )
    model = keras_rm.RehearsalMemoryModel(
        encoder,
        num_classes=len(vectorizer.answers),
        memory=dict(num_slots=num_slots, segment_length=segment_length, num_heads=2),
        rehearsal=None,
        seed=0,
    )
    warmup = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=1, alpha=1.0, warmup_target=learning_rate, warmup_steps=100
    )
    model.compile(optimizer=keras.optimizers.Adam(warmup, clipnorm=1.0))
    return model


def accuracy(model, x, y):
    return float((model.predict(x, verbose=0).argmax(-1) == y).mean())


@only_on_unless_slow("tensorflow")
def test_memory_learns_a_small_long_babi_task():
    vectorizer = BabiVectorizer(max_words=6)
    vectorizer.adapt(generate_long_babi(1, 100, LENGTH, seed=99, **SMALL_BABI))
    model = small_memory(vectorizer)
    # experiments/babi_long.py's recipe, small: 2 epochs of short stories, then 5 of 40 sentences; 3,000 stories each.
    for epoch in range(7):
        model.fit(
            *babi_batch(vectorizer, 3000, epoch, WARMUP_LENGTH if epoch < 2 else LENGTH), batch_size=32, verbose=0
        )
    x, y = babi_batch(vectorizer, 300, seed=1000)
    # Reached here: JAX 99%, TF 83%, torch 64% (the backends draw different initial weights).
    assert accuracy(model, x, y) > 0.55


def two_fact_stories(vectorizer, num_examples, seed):
    """Task 2 as written: 6 sentences; "Where is the football?" needs who took it and where they went after."""
    examples = [as_written(e) for e in generate_babi(2, num_examples, story_length=6, seed=seed)]
    x, y, _ = next(iter(vectorizer.dataset(examples, num_examples, length=8)))
    return examples, {key: np.asarray(value) for key, value in x.items()}, np.asarray(y)


def last_place_mentioned(example):
    """The best one-fact answer: the place of the story's latest move."""
    places = {"bathroom", "bedroom", "garden", "hallway", "kitchen", "office"}
    return next(word for sentence in reversed(example.story) for word in reversed(tokenize(sentence)) if word in places)


@only_on_unless_slow("jax")
def test_memory_chains_two_facts():
    vectorizer = BabiVectorizer(max_words=6)
    vectorizer.adapt([as_written(e) for e in generate_babi(2, 200, story_length=6, seed=99)])
    model = small_memory(vectorizer)
    for epoch in range(8):  # 3,000 stories each
        model.fit(*two_fact_stories(vectorizer, 3000, epoch)[1:], batch_size=32, verbose=0)
    examples, x, y = two_fact_stories(vectorizer, 500, seed=1000)
    one_fact = np.mean([last_place_mentioned(e) == e.answer for e in examples])
    # A model that cannot combine the holder's fact with the holder's move stays near the best one-fact answer
    # (43%; 18% when the sentence naming the holder is blanked out). Reached here: JAX 86%, TF 91%, torch 85%.
    assert one_fact < 0.5
    assert accuracy(model, x, y) > one_fact + 0.2


# The slow tests' pair recall: three key-value pairs among 32 distractors, 64 items.
TASK = dict(length=64, num_pairs=3, num_keys=16, num_values=8, num_distractors=32, as_pairs=True)


def train_and_test(model, epochs):
    model.compile()
    for epoch in range(epochs):
        x, y, _ = make_recall_data(4000, seed=epoch, **TASK)
        model.fit(x, y, batch_size=32, verbose=0)
    x, y, _ = make_recall_data(500, seed=999, **TASK)
    return accuracy(model, x, y)


def encoder():
    size = recall_vocabulary_size(TASK["num_keys"], TASK["num_values"], TASK["num_distractors"])
    return keras_rm.layers.SentenceItemEncoder(size, 32, max_words=2)


@pytest.mark.slow
def test_plain_memory_learns_recall_above_chance():
    keras.utils.set_random_seed(0)
    model = keras_rm.RehearsalMemoryModel(
        encoder(), num_classes=8, memory=dict(num_slots=8, segment_length=8), rehearsal=None
    )
    assert train_and_test(model, epochs=8) > 2 / 8  # chance is 1/8


@pytest.mark.slow
def test_full_attention_solves_recall():
    keras.utils.set_random_seed(0)
    assert train_and_test(keras_rm.FullAttentionModel(encoder(), num_classes=8), epochs=8) > 0.9


def questions_along(vectorizer, num_questions, seed):
    """Task 1 stories of 12 sentences asking "Where is ...?" after every 3: `(stories, x, y, weights)`."""
    from keras_rm.pipelines.babi import group_by_story

    examples = [as_written(e) for e in generate_babi(1, num_questions, story_length=12, seed=seed, ask_every=3)]
    stories = group_by_story(examples)
    x, y, weights, _ = next(iter(vectorizer.story_dataset(stories, len(stories), segment_length=3, bucket=False)))
    return stories, {key: np.asarray(value) for key, value in x.items()}, np.asarray(y), np.asarray(weights)


def place_at_the_end(stories):
    """For each question, whether its answer is still right at the end of its story (the actor has not moved)."""
    end = []
    for story in stories:
        for e in story:
            actor = e.question.split()[-1].rstrip("?")
            moves = [s for s in story[-1].story if s.startswith(actor + " ")]
            end.append(moves[-1].endswith(f" {e.answer}."))
    return np.asarray(end)


@only_on_unless_slow("torch")
def test_memory_answers_each_question_from_its_place_in_the_story():
    vectorizer = BabiVectorizer(max_words=6)
    vectorizer.adapt(generate_babi(1, 200, story_length=12, seed=99, ask_every=3))
    model = small_memory(vectorizer, segment_length=3, learning_rate=3e-3, num_slots=8)
    for epoch in range(10):  # 3,000 questions (750 stories, one pass each) an epoch
        _, x, y, weights = questions_along(vectorizer, 3000, seed=epoch)
        model.fit(x, y, sample_weight=weights, batch_size=32, verbose=0)
    stories, x, y, weights = questions_along(vectorizer, 600, seed=1000)
    correct = (model.predict(x, verbose=0).argmax(-1) == y)[weights > 0]
    # Answered from the memory at the story's end, a question is surely right only where its actor has not moved
    # since (47%), and at best one time in five elsewhere (another of the six places): 57%. Reached here: JAX 99.8%,
    # TF 99.8%, torch 93%.
    still_right = place_at_the_end(stories).mean()
    from_the_end = still_right + (1 - still_right) / 5
    assert from_the_end < 0.6
    assert correct.mean() > from_the_end + 0.1
