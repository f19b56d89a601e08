"""Long video QA data: the ActivityNet-QA reader, the built-in generator, the vectorizer and the TFDS builder."""

import json

import numpy as np
import pytest

from keras_rm.pipelines.video import (
    COUNT_WORDS,
    VideoQAVectorizer,
    event_prototypes,
    fit_frames,
    generate_videos,
    read_activitynet_qa,
)


def write_activitynet(tmp_path, apart=False):
    """Two videos (one .npy with the `v_` prefix, one .npz) and three questions, in the official layout."""
    features = tmp_path / "features"
    features.mkdir()
    np.save(features / "v_alpha.npy", np.arange(30, dtype=np.float32).reshape(10, 3))
    np.savez(features / "beta.npz", features=np.ones((4, 3), np.float32))
    entries = [
        {
            "video_name": "alpha",
            "question_id": "alpha_0",
            "question": "What is he doing?",
            "answer": "running",
            "type": 2,
        },
        {"video_name": "beta", "question_id": "beta_0", "question": "Is it day?", "answer": "yes", "type": 3},
        {"video_name": "alpha", "question_id": "alpha_1", "question": "Is he outdoors?", "answer": "yes", "type": 3},
    ]
    if not apart:
        (tmp_path / "train.json").write_text(json.dumps(entries))
        return str(features), str(tmp_path / "train.json"), None
    questions = [{k: e[k] for k in ("video_name", "question_id", "question")} for e in entries]
    answers = [{k: e[k] for k in ("question_id", "answer", "type")} for e in reversed(entries)]
    (tmp_path / "train_q.json").write_text(json.dumps(questions))
    (tmp_path / "train_a.json").write_text(json.dumps(answers))
    return str(features), str(tmp_path / "train_q.json"), str(tmp_path / "train_a.json")


@pytest.mark.parametrize("apart", [False, True], ids=["one_file", "questions_and_answers_apart"])
def test_reader_ties_questions_to_feature_files(tmp_path, apart):
    examples = read_activitynet_qa(*write_activitynet(tmp_path, apart))
    assert [e.question_id for e in examples] == ["alpha_0", "beta_0", "alpha_1"]
    assert [e.answer for e in examples] == ["running", "yes", "yes"] and examples[0].kind == "2"
    assert examples[0].frames.endswith("v_alpha.npy") and examples[1].frames.endswith("beta.npz")
    assert examples[0].depth is None  # unknown for real data


def test_reader_names_a_missing_video_and_a_wrong_feature_dimension(tmp_path):
    features, questions, _ = write_activitynet(tmp_path)
    (tmp_path / "features" / "beta.npz").unlink()
    with pytest.raises(FileNotFoundError, match="'beta'.*beta.npy"):
        read_activitynet_qa(features, questions)
    np.save(tmp_path / "features" / "beta.npy", np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"beta.npy: expected 3 features per frame.*\(4, 5\)"):
        read_activitynet_qa(features, questions)
    np.save(tmp_path / "features" / "beta.npy", np.ones((4,), np.float32))
    with pytest.raises(ValueError, match=r"beta.npy: frame features must be \(frames, feature_dim\)"):
        read_activitynet_qa(features, questions)
    with pytest.raises(ValueError, match="alpha.npy: expected 7 features"):
        read_activitynet_qa(features, questions, feature_dim=7)


def test_reader_names_a_malformed_question_file(tmp_path):
    features, questions, _ = write_activitynet(tmp_path)
    (tmp_path / "bad.json").write_text(json.dumps([{"video_name": "alpha", "question": "why?"}]))
    with pytest.raises(ValueError, match=r"bad.json, entry 0: missing \['question_id', 'answer'\]"):
        read_activitynet_qa(features, str(tmp_path / "bad.json"))
    (tmp_path / "answers.json").write_text(json.dumps([{"question_id": "alpha_0", "answer": "x"}]))
    with pytest.raises(ValueError, match="no answer to question_id 'beta_0'"):
        read_activitynet_qa(features, questions, str(tmp_path / "answers.json"))
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(ValueError, match="broken.json is not valid JSON"):
        read_activitynet_qa(features, str(tmp_path / "broken.json"))


def test_fit_frames_subsamples_evenly_or_pads_with_a_mask():
    frames = np.arange(10, dtype=np.float32)[:, None]
    fewer, mask = fit_frames(frames, 4)
    assert fewer[:, 0].tolist() == [0, 3, 6, 9] and mask.all()
    more, mask = fit_frames(frames, 12)
    assert more.shape == (12, 1) and more[10:].sum() == 0 and mask.tolist() == [True] * 10 + [False] * 2


def test_vectorizer_keeps_the_top_answers_and_counts_unknown_as_wrong(tmp_path):
    features, questions, _ = write_activitynet(tmp_path)
    examples = read_activitynet_qa(features, questions)
    vectorizer = VideoQAVectorizer(max_words=4, num_answers=1)
    vectorizer.adapt(examples)
    assert vectorizer.answers == ["<unk>", "yes"] and vectorizer.answer_id("running") == 0
    assert vectorizer.correct([0, 1, 1], [0, 1, 0]).tolist() == [False, True, False]
    x, y, depth = next(iter(vectorizer.dataset(examples, batch_size=3, num_frames=6)))
    assert x["items"].shape == (3, 6, 3) and x["item_mask"].shape == (3, 6) and x["query"].shape == (3, 4)
    assert x["item_mask"].numpy()[1].tolist() == [True] * 4 + [False] * 2  # beta has 4 frames
    assert y.numpy().tolist() == [0, 1, 1] and depth.numpy().tolist() == [-1.0] * 3
    assert (x["query"].numpy()[1] > 1).sum() == 3  # "is it day": three known words, then padding
    path = tmp_path / "vocabulary.json"
    vectorizer.save(path)
    loaded = VideoQAVectorizer.load(path)
    assert (loaded.answers, loaded.words, loaded.max_words, loaded.num_answers) == (
        vectorizer.answers,
        vectorizer.words,
        vectorizer.max_words,
        vectorizer.num_answers,
    )
    assert loaded.answer_id("yes") == 1


def decode_events(frames, num_events):
    """The runs `(event, start)` of noiseless frames, by the nearest prototype."""
    prototypes = event_prototypes(frames.shape[1])[:num_events]
    labels = np.argmin(((frames[:, None] - prototypes[None]) ** 2).sum(-1), axis=1)
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    return [(int(labels[s]), int(s)) for s in starts]


def test_generator_answers_are_right_by_construction():
    from keras_rm.pipelines.video import COMMON_EVENTS, RARE_EVENTS

    names = COMMON_EVENTS + RARE_EVENTS
    examples = generate_videos(60, 512, feature_dim=16, questions_per_video=3, noise=0.0, seed=5)
    assert len(examples) == 180 and {e.kind for e in examples} == {"first", "before", "count"}
    for e in examples:
        runs = decode_events(e.frames, len(names))
        if e.kind == "first":
            assert e.question == "what happened first" and names[runs[0][0]] == e.answer and e.depth == 0
            continue
        rare = names.index(e.question.split()[-1] if e.kind == "before" else e.question.split()[-2])
        at = [i for i, (event, _) in enumerate(runs) if event == rare]
        assert at and at[0] > 0, "the rare event is in the video and not first"
        assert e.depth == runs[at[-1]][1] / 512
        if e.kind == "before":
            assert len(at) == 1 and names[runs[at[0] - 1][0]] == e.answer
        else:
            assert COUNT_WORDS[len(at) - 1] == e.answer
    depths = [e.depth for e in examples if e.kind != "first"]
    assert min(depths) < 0.25 and max(depths) > 0.75, "questions ask about every part of the video"


def test_generator_frames_are_noisy_prototypes_and_bad_arguments_are_named():
    (example,) = generate_videos(1, 512, feature_dim=8, noise=0.5, seed=0)
    assert example.frames.shape == (512, 8) and example.frames.dtype == np.float32
    prototypes = event_prototypes(8)
    nearest = np.argmin(((example.frames[:, None] - prototypes[None]) ** 2).sum(-1), axis=1)
    residual = example.frames - prototypes[nearest]
    assert 0.45 < residual.std() < 0.55 and abs(residual.mean()) < 0.05, "the noise: std 0.5 around a prototype"
    assert example.frames.std() > 2 * residual.std(), "the prototypes, not the noise, make most of the spread"
    assert len(set(nearest.tolist())) > 3, "several events"
    with pytest.raises(ValueError, match="`num_frames` must be at least 8 x the longest event"):
        generate_videos(1, 100)
    with pytest.raises(ValueError, match="`kinds`"):
        generate_videos(1, 512, kinds=("why",))


def test_tfds_builder_builds_offline(tmp_path):
    from keras_rm.pipelines.video.tfds import LongVideoQA, make_config

    builder = LongVideoQA(config=make_config(192, feature_dim=4, train_videos=3, test_videos=2), data_dir=str(tmp_path))
    builder.download_and_prepare()
    test = list(builder.as_dataset(split="test").as_numpy_iterator())
    assert len(test) == 2 and builder.info.splits["train"].num_examples == 3
    assert test[0]["frames"].shape == (192, 4) and test[0]["kind"].decode() in ("first", "before", "count")
