"""Long user-behaviour CTR: the MovieLens reader, the built-in users, examples without leakage, the models."""

import keras
import numpy as np
import pytest

import keras_rm
from keras_rm.pipelines.behaviour import (
    ctr_dataset,
    generate_lifelong_users,
    make_examples,
    read_movielens,
    split_users,
)
from tests.testing import run_model_test


def write_movielens_dat(folder, extra_rating_lines=""):
    (folder / "movies.dat").write_text(
        "1::Toy Story (1995)::Animation|Children's\n2::Heat (1995)::Action|Crime\n3::Casino (1995)::Drama\n"
        "4::Jumanji (1995)::Adventure\n",
        encoding="latin-1",
    )
    (folder / "ratings.dat").write_text(
        "7::2::5::300\n7::1::3::100\n7::3::4::200\n7::1::4::200\n"  # user 7: out of order, two at t=200
        "8::4::5::50\n" + extra_rating_lines  # user 8: one behaviour only
    )


def test_reader_dat_sorts_by_time_and_maps_categories(tmp_path):
    write_movielens_dat(tmp_path)
    behaviours = read_movielens(str(tmp_path))
    items, times = behaviours.histories["7"]
    assert times.tolist() == [100, 200, 200, 300]
    assert [behaviours.item_names[i] for i in items] == ["1", "3", "1", "2"], "time order, ties in file order"
    categories = {behaviours.item_names[i]: behaviours.item_categories[i] for i in range(1, behaviours.num_items)}
    assert categories["1"] != categories["2"] != categories["3"] and min(categories.values()) >= 1
    assert behaviours.num_items == 5 and behaviours.item_categories[0] == 0


def test_reader_csv_format_with_quoted_titles(tmp_path):
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n10,"American President, The (1995)",Comedy|Drama|Romance\n20,Heat (1995),Action\n'
    )
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,20,4.0,20\n1,10,3.5,10\n1,99,1.0,30\n")
    behaviours = read_movielens(str(tmp_path))
    items, times = behaviours.histories["1"]
    assert [behaviours.item_names[i] for i in items] == ["10", "20", "99"] and times.tolist() == [10, 20, 30]
    assert behaviours.num_categories == 4  # padding, Action, Comedy, unknown (movie 99 has no movies.csv line)


@pytest.mark.parametrize(
    "bad,match", [("7::2::oops::x\n", "ratings.dat, line 6"), ("9::1::5\n", "ratings.dat, line 6")]
)
def test_reader_errors_name_file_and_line(tmp_path, bad, match):
    write_movielens_dat(tmp_path, bad)
    with pytest.raises(ValueError, match=match):
        read_movielens(str(tmp_path))
    with pytest.raises(ValueError, match="No ratings.dat or ratings.csv"):
        read_movielens(str(tmp_path / "missing"))


def test_examples_never_see_the_future_and_negatives_are_unseen(tmp_path):
    write_movielens_dat(tmp_path)
    examples = make_examples(read_movielens(str(tmp_path)), history_length=4, candidates_per_user=3, negatives=2)
    # User 7: candidates at t=200 (twice: history = the t=100 behaviour only) and t=300; user 8 (one behaviour): none.
    assert examples["label"].tolist() == [1, 0, 0] * 3
    assert set(examples["query"][[7, 8], 0].tolist()) == {4}, "at t=300 user 7 had touched all but item 4"
    real = examples["history_time"] >= 0
    assert (examples["history_time"] < examples["candidate_time"][:, None])[real].all(), "only earlier behaviours"
    assert real.sum(axis=1).tolist() == [1] * 6 + [3] * 3
    assert (examples["items"][~real] == 0).all() and (examples["items"][real] > 0).all(), "left-padded with 0"

    behaviours = generate_lifelong_users(30, 60, seed=1)
    examples = make_examples(behaviours, history_length=40, candidates_per_user=5, negatives=3, seed=2)
    histories = list(behaviours.histories.values())
    for query, label, user, when in zip(
        examples["query"], examples["label"], examples["user"], examples["candidate_time"]
    ):
        items, times = histories[user]
        if label == 0:
            assert query[0] not in items[times <= when], "a negative is never an item the user had touched"
        assert query[1] == behaviours.item_categories[query[0]]
    real = examples["history_time"] >= 0
    assert (examples["history_time"] < examples["candidate_time"][:, None])[real].all()


def test_generator_puts_long_term_interests_early():
    behaviours = generate_lifelong_users(50, 400, seed=0)
    early_share, late_share = [], []
    for items, _ in behaviours.histories.values():
        favourites = set(items[-1:].tolist()) | {i for i in items[:80].tolist() if (items[:80] == i).sum() >= 3}
        early_share.append(np.isin(items[:80], list(favourites)).mean())
        late_share.append(np.isin(items[80:-1], list(favourites)).mean())
    assert np.mean(early_share) > 0.4 and np.mean(late_share) < 0.05
    again = generate_lifelong_users(50, 400, seed=0)
    assert all((a[0] == b[0]).all() for a, b in zip(behaviours.histories.values(), again.histories.values()))


def test_dataset_has_static_shapes_and_split_is_disjoint():
    behaviours = generate_lifelong_users(20, 30, seed=0)
    train, test = split_users(behaviours, test_share=0.25)
    assert len(train.histories) == 15 and not set(train.histories) & set(test.histories)
    ((x, y),) = list(ctr_dataset(make_examples(test, 32), batch_size=10).take(1))
    assert x["items"].shape == (10, 32, 2) and x["query"].shape == (10, 2) and y.shape == (10,)


def test_tfds_builder_builds_offline(tmp_path):
    from keras_rm.pipelines.behaviour.tfds import LifelongBehaviour, make_config

    builder = LifelongBehaviour(config=make_config(24, train_users=6, test_users=3), data_dir=str(tmp_path))
    builder.download_and_prepare()
    test = list(builder.as_dataset(split="test").as_numpy_iterator())
    assert len(test) == 6 and builder.info.splits["train"].num_examples == 12
    assert test[0]["items"].shape == (24, 2) and sorted({float(e["label"]) for e in test}) == [0.0, 1.0]


# --- models ---------------------------------------------------------------------------------------


def click_data(users=8, length=32, seed=0):
    behaviours = generate_lifelong_users(users, length, num_categories=6, items_per_category=5, seed=seed)
    examples = make_examples(behaviours, length, seed=seed)
    return {"items": examples["items"], "query": examples["query"]}, examples["label"], behaviours


def encoder():
    return keras_rm.layers.CategoricalItemEncoder(31, 8, side_vocabulary_sizes=[7])


def test_memory_ctr_model_incremental_write_per_user_equals_whole_history():
    x, _, _ = click_data()  # untrained: writing is the same arithmetic whatever the weights
    model = keras_rm.RehearsalMemoryModel(
        encoder(),
        task="click",
        memory=dict(num_slots=2, segment_length=8, num_heads=2),
        rehearsal=dict(num_fragments=2, fragment_length=4, num_negatives=3),
        seed=0,
    )
    whole = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    for user in (0, 5):  # one user at a time: its memory follows its behaviours as they arrive
        memory = model.initial_memory(1)
        for start in range(0, 32, 8):
            memory = model.write(memory, x["items"][user : user + 1, start : start + 8])
        score = keras.ops.convert_to_numpy(model.answer(memory, x["query"][user : user + 1]))
        np.testing.assert_allclose(score, whole[user : user + 1], atol=1e-5)


def check_reads_only_the_last(model, x, recent):
    """Behaviours before the last `recent` change no prediction; the last one does."""
    changed = dict(x, items=x["items"].copy())
    changed["items"][:, : x["items"].shape[1] - recent] = [3, 1]  # every behaviour but the last `recent`
    np.testing.assert_allclose(model.predict(changed, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    changed["items"][:, -1] = [3, 1]
    assert not np.allclose(model.predict(changed, verbose=0), model.predict(x, verbose=0))


def check_ignores_padding(model, x, y):
    """A model of the whole history, trained: padding reads as nothing, and the behaviours padded over mattered."""
    before = np.asarray(model.predict(x, verbose=0))
    assert before.shape == (len(y), 1) and np.isfinite(before).all()
    assert (x["items"][..., 0] != 0).all(), "every behaviour is a real one"
    # The last 4 behaviours alone, left-padded (id 0) back to 32 or not padded. (Only a few behaviours: a GRU
    # forgets most of what it read 8 steps before the end, so it would hardly feel padding read that early.)
    padded = dict(x, items=np.concatenate([np.zeros_like(x["items"][:, :-4]), x["items"][:, -4:]], axis=1))
    last_4 = np.asarray(model.predict(dict(x, items=x["items"][:, -4:]), verbose=0))
    np.testing.assert_allclose(model.predict(padded, verbose=0), last_4, atol=1e-5)
    assert not np.allclose(last_4, before, atol=1e-2), "the 28 behaviours replaced by padding mattered"


def test_whole_history_target_attention_ignores_padding():
    x, y, _ = click_data()
    model = keras_rm.TargetAttentionModel(encoder(), task="click", recent=None)
    model.compile()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    check_ignores_padding(model, x, y)


@pytest.mark.parametrize("kind", ["target_attention", "gru"])
def test_click_baselines_model_contract_and_what_they_read(kind):
    # Config round trip, a compiled fit, save/load with equal predictions, mixed precision (run_model_test); then,
    # on the model it trained (one compiled model a kind), what the model reads: target attention of the last 10
    # behaviours only those; the GRU, after a second epoch, the whole history but no padding.
    x, y, _ = click_data()
    if kind == "target_attention":
        model = run_model_test(lambda: keras_rm.TargetAttentionModel(encoder(), task="click", recent=10), x, y)
        check_reads_only_the_last(model, x, recent=10)
    else:
        model = run_model_test(lambda: keras_rm.RecurrentModel(encoder(), task="click"), x, y)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        check_ignores_padding(model, x, y)
