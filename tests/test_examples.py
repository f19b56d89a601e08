"""The example programs run end to end on a tiny configuration, under every backend."""

import json
import os
import sys

import keras

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))

import babi_long  # noqa: E402


def test_babi_long_writes_model_metrics_logs_and_plot(tmp_path):
    metrics = babi_long.run(
        task=1, length=32, num_slots=2, segment_length=8, hidden_dim=8, train_examples=16, test_examples=16,
        epochs=2, batch_size=8, max_words=6, output_dir=str(tmp_path), verbose=0,
    )
    files = set(os.listdir(tmp_path))
    assert {"model.keras", "metrics.json", "vocabulary.json", "accuracy_by_depth.png", "logs"} <= files
    with open(tmp_path / "metrics.json") as f:
        saved = json.load(f)
    assert saved == metrics and 0 <= saved["accuracy"] <= 1 and len(saved["accuracy_by_depth"]) == 4
    assert keras.saving.load_model(str(tmp_path / "model.keras")).num_slots == 2
