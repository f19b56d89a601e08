"""bAbI: official-format reader, built-in generator, lengthening (plain Python: backend-independent)."""

import dataclasses
import os
import re

import numpy as np
import pytest

from keras_rm.pipelines.babi import TASKS, BabiExample, generate_babi, generate_long_babi, lengthen, read_babi

OFFICIAL = """1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary? \tbathroom\t1
4 Daniel went back to the hallway.
5 Sandra moved to the garden.
6 Where is Daniel? \thallway\t4
1 Sandra travelled to the office.
2 Where is Sandra? \toffice\t1
"""


def test_reader_splits_stories_and_maps_supporting_line_numbers(tmp_path):
    path = tmp_path / "qa1_single-supporting-fact_train.txt"
    path.write_text(OFFICIAL)
    examples = read_babi(str(path))
    assert len(examples) == 3
    first, second, third = examples
    assert first.story == ["Mary moved to the bathroom.", "John went to the hallway."]
    assert (first.question, first.answer, first.supporting) == ("Where is Mary?", "bathroom", [0])
    assert len(second.story) == 4 and second.story[second.supporting[0]] == "Daniel went back to the hallway."
    assert third.story == ["Sandra travelled to the office."]


@pytest.mark.parametrize(
    "bad,match",
    [
        ("1 Mary moved to the bathroom.\nMary went home.\n", "line 2: expected 'N sentence'"),
        ("1 Mary moved.\n2 Where is Mary?\tbathroom\n", "line 2: a question line needs"),
        ("1 Mary moved.\n2 Where is Mary?\tkitchen\t7\n", "line 2: supporting ids '7'"),
    ],
)
def test_reader_errors_name_file_and_line(tmp_path, bad, match):
    path = tmp_path / "qa1_test.txt"
    path.write_text(bad)
    with pytest.raises(ValueError, match="qa1_test.txt, " + re.escape(match)):
        read_babi(str(path))


def last_mention(story, word, before=None):
    hits = [i for i, s in enumerate(story[:before]) if word in s]
    return hits[-1] if hits else None


@pytest.mark.parametrize("questions_per_story", [1, 3])
@pytest.mark.parametrize("task", sorted(TASKS))
def test_generator_is_reproducible_and_answers_are_supported(task, questions_per_story):
    examples = generate_babi(task, 40, seed=3, questions_per_story=questions_per_story)
    again = generate_babi(task, 40, seed=3, questions_per_story=questions_per_story)
    assert len(examples) == 40 and [e.answer for e in examples] == [e.answer for e in again]
    stories = {}
    for e in examples:
        stories.setdefault(tuple(e.story), []).append(e.question)
    assert all(len(set(questions)) == len(questions) <= questions_per_story for questions in stories.values())
    assert max(map(len, stories.values())) == questions_per_story, "stories are shared by several questions"
    for e in examples:
        assert e.supporting and all(0 <= i < len(e.story) for i in e.supporting)
        facts = " ".join(e.story[i] for i in e.supporting)
        if task == 1:  # the actor's last move names the answer
            actor = e.question.split()[-1].rstrip("?")
            assert e.supporting == [last_mention(e.story, actor + " ")] and e.answer in facts
        elif task == 6:
            actor, place = re.match(r"Is (\w+) in the (\w+)\?", e.question).groups()
            assert e.answer == ("yes" if place in e.story[last_mention(e.story, actor + " ")] else "no")
        elif task in (2, 3):
            obj = re.search(r"the (\w+)(?: before|\?)", e.question).group(1)
            assert obj in facts and e.answer in facts
        elif task == 7:
            actor = e.question.split()[-2]
            held = sum(1 if "picked up" in e.story[i] else -1 for i in e.supporting)
            assert e.answer == ["none", "one", "two", "three"][held]


def test_generator_rejects_unknown_task():
    with pytest.raises(ValueError, match="`task` must be one of"):
        generate_babi(4, 1)


@pytest.mark.parametrize("depth,low,high", [("early", 0.0, 0.25), ("late", 0.75, 1.0), ("uniform", 0.0, 1.0)])
def test_lengthen_keeps_order_and_places_facts_at_depth(depth, low, high):
    rng = np.random.default_rng(0)
    for example in generate_babi(2, 20, seed=1):
        long = lengthen(example, 200, depth, rng=rng)
        assert len(long.story) == 200
        kept = [s for s in long.story if s in example.story]
        assert kept == example.story  # story sentences stay in order
        assert [long.story[i] for i in long.supporting] == [example.story[i] for i in example.supporting]
        assert low <= long.depth < high
        assert long.answer == example.answer


def test_lengthen_with_user_distractors_and_bad_arguments():
    example = BabiExample(["Mary went to the kitchen."], "Where is Mary?", "kitchen", [0])
    long = lengthen(example, 10, distractors=["Trees grow."], rng=np.random.default_rng(0))
    assert long.story.count("Trees grow.") == 9
    with pytest.raises(ValueError, match="`depth` must be one of"):
        lengthen(example, 10, depth="middle")
    with pytest.raises(ValueError, match="does not fit the early part"):
        lengthen(BabiExample(["a."] * 5, "q", "a", [0]), 12, depth="early")


def test_vectorizer_dataset_feeds_the_model(tmp_path):
    import keras

    import keras_rm
    from keras_rm.pipelines.babi import BabiVectorizer

    rng = np.random.default_rng(0)
    examples = [lengthen(e, 32, rng=rng) for e in generate_babi(1, 20, seed=0)]
    vectorizer = BabiVectorizer(max_words=6)
    vectorizer.adapt(examples)
    path = str(tmp_path / "vocabulary.json")
    vectorizer.save(path)
    vectorizer = BabiVectorizer.load(path)
    # The same vocabularies come back from the layer alone (a model's `text_vectorizer` carries them).
    from_layer = BabiVectorizer.from_layer(vectorizer.layer)
    assert (from_layer.words, from_layer.answers, from_layer.max_words) == (
        vectorizer.words,
        vectorizer.answers,
        vectorizer.max_words,
    )
    batches = list(vectorizer.dataset(examples, batch_size=8))
    assert len(batches) == 2  # 20 examples, last partial batch dropped
    inputs, answers, depth = batches[0]
    assert tuple(inputs["items"].shape) == (8, 32, 6) and tuple(inputs["query"].shape) == (8, 6)
    first = examples[0]
    words = vectorizer.words
    decoded = [words[i - 2] for i in np.asarray(inputs["query"][0]) if i > 1]
    assert decoded == ["where", "is", first.question.split()[2].rstrip("?").lower()]
    assert vectorizer.answers[int(answers[0])] == first.answer
    np.testing.assert_allclose(np.asarray(depth), [e.depth for e in examples[:8]], rtol=1e-6)
    assert "importance" not in inputs
    # `supporting`: the supporting sentences of each question marked, the rehearsal's importance.
    inputs = next(iter(vectorizer.dataset(examples, batch_size=8, supporting=True)))[0]
    assert [list(np.flatnonzero(row)) for row in np.asarray(inputs["importance"])] == [
        sorted(e.supporting) for e in examples[:8]
    ]
    with pytest.raises(ValueError, match="`supporting` marks sentences"):
        vectorizer.dataset(examples, batch_size=8, tokens=True, supporting=True)

    model = keras_rm.RehearsalMemoryModel(
        keras_rm.layers.SentenceItemEncoder(vectorizer.vocabulary_size, 8, max_words=6),
        num_classes=len(vectorizer.answers),
        memory=dict(num_slots=2, segment_length=8, num_heads=2),
        # Fragments drawn around the supporting facts, the facts masked: rehearsal of what there is to recall.
        rehearsal=dict(
            num_fragments=2,
            fragment_length=4,
            num_negatives=3,
            decoder_layers=1,
            sampler="importance",
            mask_selection="important",
        ),
    )
    model.compile()
    train = vectorizer.dataset(examples, batch_size=8, supporting=True).map(lambda x, y, depth: (x, y))
    history = model.fit(train, epochs=1, shuffle=False, verbose=0).history
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["recollection_loss"]).all()
    assert keras.ops.convert_to_numpy(model.predict(train, verbose=0)).shape == (16, len(vectorizer.answers))


def test_token_level_dataset_flattens_sentences():
    from keras_rm.pipelines.babi import BabiVectorizer, tokenize

    rng = np.random.default_rng(1)
    examples = [lengthen(e, 40, rng=rng) for e in generate_babi(2, 8, seed=0)]
    vectorizer = BabiVectorizer()
    vectorizer.adapt(examples)
    ((inputs, answers, depth),) = list(vectorizer.dataset(examples, batch_size=8, tokens=True))
    words = [w for s in examples[0].story for w in tokenize(s)]
    assert inputs["items"].shape[0] == 8 and inputs["items"].shape[1] == max(
        sum(len(tokenize(s)) for s in e.story) for e in examples
    )
    ids = np.asarray(inputs["items"][0])
    assert [vectorizer.words[i - 2] for i in ids[: len(words)]] == words
    assert (ids[len(words) :] == 0).all()
    assert 0 <= float(depth[0]) < 1


def test_tfds_builder_builds_offline(tmp_path):
    from keras_rm.pipelines.babi.tfds import BabiLong, make_config

    builder = BabiLong(
        config=make_config(6, 40, depth="late", train_examples=12, test_examples=4), data_dir=str(tmp_path)
    )
    builder.download_and_prepare()
    test = list(builder.as_dataset(split="test").as_numpy_iterator())
    assert len(test) == 4 and builder.info.splits["train"].num_examples == 12
    example = test[0]
    assert len(example["story"]) == 40 and example["answer"] in (b"yes", b"no")
    assert example["depth"] >= 0.75


def test_generate_long_babi_is_seeded_and_lengthened():
    first = generate_long_babi(2, 5, 60, depth="late", seed=3)
    again = generate_long_babi(2, 5, 60, depth="late", seed=3)
    assert [e.story for e in first] == [e.story for e in again]
    assert all(len(e.story) == 60 and 0.75 <= e.depth < 1 for e in first)
    assert [e.story for e in generate_long_babi(2, 5, 60, seed=4)] != [e.story for e in first]


OFFICIAL_DIR = os.path.join(os.path.dirname(__file__), "data", "babi")  # a few stories of official tasks 2, 5, 8, 19


def test_read_babi_task_finds_the_file_and_records_the_task():
    from keras_rm.pipelines.babi import read_babi_task

    examples = read_babi_task(OFFICIAL_DIR, 8, "train")
    assert {e.task for e in examples} == {8}
    assert "apple,milk" in {e.answer for e in examples}  # an answer of several words is one answer
    assert max(len(e.story) for e in read_babi_task(OFFICIAL_DIR, 2, "train")) == 50  # a long story, as written
    with pytest.raises(ValueError, match="No qa3_\\*_train.txt"):
        read_babi_task(OFFICIAL_DIR, 3, "train")
    with pytest.raises(ValueError, match="1 to 20. Received: `task` = 21"):
        read_babi_task(OFFICIAL_DIR, 21, "train")


def test_as_written_and_lengthened_examples_keep_the_task_and_record_depth():
    from keras_rm.pipelines.babi import as_written, read_babi_task

    example = read_babi_task(OFFICIAL_DIR, 2, "test")[0]
    written = as_written(example)
    assert written.story == example.story and written.task == 2
    assert written.depth == max(example.supporting) / len(example.story)
    assert lengthen(example, 100, rng=np.random.default_rng(0)).task == 2


def test_vectorizer_keeps_the_longest_sentence_and_multi_word_answers_as_classes():
    from keras_rm.pipelines.babi import BabiVectorizer, read_babi_task, tokenize

    examples = read_babi_task(OFFICIAL_DIR, 19, "train") + read_babi_task(OFFICIAL_DIR, 5, "train")
    vectorizer = BabiVectorizer()
    vectorizer.adapt(examples)
    longest = max(len(tokenize(s)) for e in examples for s in e.story + [e.question])
    assert vectorizer.max_words == longest == 8  # "Who did Mary give the football to last?": no word is cut
    assert {"n,w", "Mary"} <= set(vectorizer.answers)
    _, answers, _ = next(iter(vectorizer.dataset(examples[:4], batch_size=4)))
    assert [vectorizer.answers[int(a)] for a in answers] == [e.answer for e in examples[:4]]


def test_bucketed_dataset_pads_each_batch_to_whole_segments_and_keeps_every_batch():
    from keras_rm.pipelines.babi import BabiVectorizer, as_written, read_babi_task, round_up

    examples = [as_written(e) for task in (2, 19) for e in read_babi_task(OFFICIAL_DIR, task, "train")]
    vectorizer = BabiVectorizer()
    vectorizer.adapt(examples)
    data = vectorizer.dataset(examples, batch_size=4, bucket=8, seed=1)
    assert data.element_spec[0]["items"].shape.as_list() == [4, None, vectorizer.max_words]
    batches = list(data)
    assert len(batches) == len(examples) // 4
    lengths = [batch[0]["items"].shape[1] for batch in batches]
    assert min(lengths) == 4 and max(lengths) == 56  # 4 to 50 sentences
    for inputs, _, _ in batches:  # each batch only as long as its longest story, rounded up to whole segments
        real = np.asarray(inputs["items"]).any(-1).sum(1).max()  # or, below one segment, to the `round_up` grid
        assert inputs["items"].shape[1] == (round_up(real) if real < 8 else -(-real // 8) * 8)
    assert sorted(lengths) != lengths  # batches in a random order, not by length
    shortest = [batch[0]["items"].shape[1] for batch in vectorizer.dataset(examples, 4, bucket=8, shortest=6)]
    assert min(shortest) == 6 and all(n == 6 or n % 8 == 0 for n in shortest)
    with pytest.raises(ValueError, match="`shuffle` mixes the lengths"):
        vectorizer.dataset(examples, batch_size=4, bucket=8, shuffle=True)


def test_download_babi_reads_the_released_archive_layout_from_a_local_copy(tmp_path):
    import tarfile

    from keras_rm.pipelines.babi import download_babi, read_babi_task

    archive = tmp_path / "babi.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(OFFICIAL_DIR, arcname="tasks_1-20_v1-2/en-10k")
    folder = download_babi("en-10k", origin=archive.as_uri(), cache_dir=str(tmp_path / "cache"))
    assert folder.endswith(os.path.join("tasks_1-20_v1-2", "en-10k"))
    assert len(read_babi_task(folder, 8, "test")) == len(read_babi_task(OFFICIAL_DIR, 8, "test"))
    with pytest.raises(ValueError, match="`babi_set` must be one of"):
        download_babi("en-20k", origin=archive.as_uri(), cache_dir=str(tmp_path / "cache"))


def test_stories_are_grouped_and_laid_out_with_each_question_at_a_segment_boundary(tmp_path):
    from keras_rm.pipelines.babi import group_by_story, story_layout

    path = tmp_path / "qa1_single-supporting-fact_train.txt"
    path.write_text(OFFICIAL)
    stories = group_by_story(read_babi(str(path)))
    assert [[e.question for e in story] for story in stories] == [
        ["Where is Mary?", "Where is Daniel?"],
        ["Where is Sandra?"],
    ]
    sentences, positions = story_layout(stories[0], segment_length=3)
    assert sentences == [
        "Mary moved to the bathroom.",
        "John went to the hallway.",
        "",
        "Daniel went back to the hallway.",
        "Sandra moved to the garden.",
        "",
    ]
    assert positions == [3, 6]
    # Questions asked one after the other (tasks 15, 17, 18) share a position; generated examples stand alone.
    again = [stories[0][1], dataclasses.replace(stories[0][1], question="Where is Sandra?")]
    assert story_layout(again, segment_length=2)[1] == [4, 4]
    assert len(group_by_story(generate_babi(1, 5))) == 5


def test_generator_asks_along_the_story_about_the_story_so_far():
    from keras_rm.pipelines.babi import group_by_story

    examples = generate_babi(1, 40, story_length=12, seed=2, ask_every=3)
    stories = group_by_story(examples)
    assert [len(story) for story in stories] == [4] * 10
    for story in stories:
        assert [len(e.story) for e in story] == [3, 6, 9, 12]
        assert all(e.story == story[-1].story[: len(e.story)] for e in story)
        for e in story:  # the answer is the actor's latest place at the question, not at the story's end
            actor = e.question.split()[-1].rstrip("?")
            assert [s for s in e.story if s.startswith(actor + " ")][-1].endswith(f" {e.answer}.")


@pytest.mark.parametrize("bucket", [True, False])
def test_story_dataset_asks_every_question_once_and_weighs_out_padding(bucket):
    from keras_rm.pipelines.babi import BabiVectorizer, as_written, group_by_story, read_babi_task

    stories = [group_by_story([as_written(e) for e in read_babi_task(OFFICIAL_DIR, t, "train")]) for t in (2, 19)]
    stories = stories[0] + stories[1]
    vectorizer = BabiVectorizer()
    vectorizer.adapt([e for story in stories for e in story])
    data = vectorizer.story_dataset(stories, batch_size=3, segment_length=4, bucket=bucket, seed=1, complete=True)
    asked, answered = [], 0
    for inputs, answers, weights, meta in data:
        items, query, positions = (np.asarray(inputs[key]) for key in ("items", "query", "query_position"))
        weights = np.asarray(weights)
        assert items.shape[1] % 4 == 0 and query.shape[:2] == positions.shape == weights.shape
        assert ((positions % 4 == 0) | (weights == 0)).all() and (positions <= items.shape[1]).all()
        real = weights > 0
        assert (np.asarray(meta["task"])[real] > 0).all() and not query[~real].any()
        answered += int(real.sum())
        asked += [word.decode() for word in vectorizer.layer.answer_of(np.asarray(answers)[real])]
    assert answered == sum(len(story) for story in stories)  # `complete`: every question, none twice
    assert sorted(asked) == sorted(e.answer for story in stories for e in story)
