"""`keras_rm.legacy`: what files of older versions mean by the arguments they do not name."""

import numpy as np
import pytest

import keras_rm
from keras_rm.legacy import ADDED, NESTED, RENAMED, upgrade_config


def test_a_missing_argument_takes_the_value_of_the_version_that_lacked_it():
    config = upgrade_config(keras_rm.RehearsalMemoryModel, {"num_slots": 4, "slot_dim": 8, "sampler": "teacher"})
    assert config["head_activation"] == "relu"  # a TaskModel row reaches its subclasses
    # The memory machine's flat arguments of files before 0.7 nest under `memory`, by the machine's names and with
    # its own old defaults; the rehearsal's of files before 0.6 under `rehearsal`.
    assert config["memory"] == {
        "num_slots": 4,
        "hidden_dim": 8,
        "keep_bias": 0.0,
        "slot_identity": False,
        "null_item": False,
    }
    assert config["rehearsal"] == {"sampler": "teacher", "teacher_hops": 1, "teacher_positions": False}
    assert not set(config) & {"num_slots", "slot_dim", "keep_bias", "slot_identity", "sampler"}
    assert upgrade_config(keras_rm.RehearsalMemoryModel, {"rehearsal": None}) == {
        "rehearsal": None,
        "head_activation": "relu",
    }


def test_a_named_argument_keeps_its_value():
    config = upgrade_config(keras_rm.layers.TokenItemEncoder, {"vocabulary_size": 5, "norm_epsilon": 1e-6})
    assert config["norm_epsilon"] == 1e-6


def test_old_names_are_renamed_and_other_classes_untouched():
    decoder = upgrade_config(keras_rm.layers.RehearsalDecoder, {"recollection": True, "familiarity": False})
    assert decoder == {"use_recollection": True, "use_familiarity": False}  # renamed in 0.4, then in 0.7
    assert upgrade_config(keras_rm.layers.SegmentEncoder, {"hidden_dim": 8}) == {"hidden_dim": 8}


def test_every_row_names_a_class_and_an_argument_it_takes():
    import inspect

    classes = {
        name: getattr(module, name)
        for module in (keras_rm, keras_rm.models, keras_rm.layers, keras_rm.samplers)
        for name in dir(module)
        if isinstance(getattr(module, name), type)
    }
    for _, owner, argument, _ in ADDED:
        assert argument in inspect.signature(classes[owner].__init__).parameters, (owner, argument)
    renamed_again = {(owner, old) for _, owner, old, _ in RENAMED}
    for _, owner, _, new in RENAMED:  # today's name, or one a later row renames
        assert new in inspect.signature(classes[owner].__init__).parameters or (owner, new) in renamed_again
    for _, owner, argument, nested, flat in NESTED:
        assert argument in inspect.signature(classes[owner].__init__).parameters, (owner, argument)
        assert set(flat.values()) <= set(inspect.signature(classes[nested].__init__).parameters), nested


def test_renamed_methods_warn_and_answer_as_the_new_names():
    from keras import ops

    encoder = keras_rm.layers.TokenItemEncoder(vocabulary_size=10, hidden_dim=8)
    model = keras_rm.RehearsalMemoryModel(
        encoder, num_classes=3, memory=dict(num_slots=2, segment_length=4, num_heads=2)
    )
    x = {"items": np.ones((2, 8), "int32"), "query": np.ones((2, 1), "int32")}
    model(x)
    memory = model.write(model.initial_memory(2), x["items"])
    query = model.encode_query(x["query"])
    with pytest.warns(DeprecationWarning, match="renamed `answer_encoded`"):
        old = model.read_out(memory, query)
    np.testing.assert_allclose(ops.convert_to_numpy(old), ops.convert_to_numpy(model.answer_encoded(memory, query)))
    with pytest.warns(DeprecationWarning, match="renamed `with_slot_identity`"):
        model.memory_machine.addressable(memory)


def test_an_item_encoder_subclass_saying_has_ids_warns_and_is_read_as_items_are_ids():
    with pytest.warns(DeprecationWarning, match="renamed `items_are_ids`"):

        class OldEncoder(keras_rm.layers.TokenItemEncoder):
            has_ids = False

    assert OldEncoder.items_are_ids is False and keras_rm.layers.TokenItemEncoder.items_are_ids is True


def test_a_click_baseline_without_a_task_warns_and_stays_a_click_model_until_it_is_given_classes():
    import warnings

    encoder = keras_rm.layers.TokenItemEncoder(vocabulary_size=10, hidden_dim=8)
    with pytest.warns(DeprecationWarning, match="pass `task='click'`"):
        assert keras_rm.RecurrentModel(encoder).task == "click"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert keras_rm.TargetAttentionModel(encoder, num_classes=3).task == "classification"
        assert keras_rm.RecurrentModel(encoder, task="click").task == "click"


@pytest.mark.parametrize("version", ["0.1", "0.2"])
def test_an_old_files_memory_weights_keep_their_paths(version, tmp_path):
    # Its flat arguments nest under `memory`: the machine is still `memory_machine`, and saved again, each of its
    # weights is at the path the old file has it at, with the value it has there.
    import zipfile

    import h5py
    import keras

    from tests.testing import ROOT

    old = ROOT / "tests" / "data" / f"memory_model_v{version}.keras"
    model = keras.saving.load_model(old)
    assert model.get_config()["memory"]["class_name"] == "MemoryMachine"
    model.save(tmp_path / "again.keras")
    arrays = []
    for path in (old, tmp_path / "again.keras"):
        with zipfile.ZipFile(path) as archive, h5py.File(archive.open("model.weights.h5"), "r") as weights:
            found = {}
            weights["layers/memory_machine"].visititems(
                lambda name, item: found.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None
            )
            arrays.append(found)
    assert arrays[0] and set(arrays[0]) == set(arrays[1])
    for name, value in arrays[0].items():
        np.testing.assert_array_equal(arrays[1][name], value, err_msg=name)
