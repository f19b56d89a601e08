"""The example programs run end to end on a tiny configuration, under every backend."""

import json
import os
import sys

import keras
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))

import babi_long  # noqa: E402


TINY = dict(task=1, train_examples=16, test_examples=16, batch_size=8, verbose=0)


def test_babi_long_writes_model_metrics_logs_and_plot(tmp_path):
    metrics = babi_long.run(
        length=32, num_slots=2, segment_length=8, hidden_dim=8, epochs=2, max_words=6, output_dir=str(tmp_path), **TINY
    )
    files = set(os.listdir(tmp_path))
    assert {"model.keras", "metrics.json", "vocabulary.json", "accuracy_by_depth.png", "logs"} <= files
    with open(tmp_path / "metrics.json") as f:
        saved = json.load(f)
    assert saved == metrics and 0 <= saved["accuracy"] <= 1 and len(saved["accuracy_by_depth"]) == 4
    assert keras.saving.load_model(str(tmp_path / "model.keras")).num_slots == 2


def test_babi_long_goes_on_from_an_earlier_run_at_another_length(tmp_path):
    short, long = tmp_path / "short", tmp_path / "long"
    babi_long.run(length=32, num_slots=2, segment_length=8, hidden_dim=8, sampler="teacher",
                  mask_selection="important", epochs=1, output_dir=str(short), **TINY)
    metrics = babi_long.run(length=64, epochs=1, init_from=str(short), output_dir=str(long), **TINY)
    assert metrics["config"]["init_from"] == str(short) and metrics["config"]["length"] == 64
    before = keras.saving.load_model(str(short / "model.keras"))
    after = keras.saving.load_model(str(long / "model.keras"))
    assert after.num_slots == 2 and after.mask_selection == "important", "the earlier run's model, not the flags'"
    assert (long / "vocabulary.json").read_text() == (short / "vocabulary.json").read_text()
    assert any(
        not np.allclose(a, b) for a, b in zip(before.get_weights(), after.get_weights())
    ), "training went on"
