"""Every `Example:` block in a public docstring runs as written."""

import inspect
import re

import keras
import numpy as np
import pytest

import keras_rm
from keras_rm import layers, samplers

ABSTRACT = {layers.ItemEncoder, samplers.FragmentSampler}
PARTS = [
    cls
    for module in (layers, samplers)
    for cls in vars(module).values()
    if inspect.isclass(cls) and cls not in ABSTRACT
]
MODELS = [keras_rm.RehearsalMemoryModel, keras_rm.FullAttentionModel]


def run_example(cls):
    blocks = re.findall(r"```python\n(.*?)```", cls.__doc__ or "", re.S)
    assert blocks, f"{cls.__name__} has no Example"
    code = "\n".join(line[4:] for line in blocks[0].splitlines())
    exec(code, {"np": np, "keras": keras, "keras_rm": keras_rm})


@pytest.mark.parametrize("cls", PARTS, ids=lambda cls: cls.__name__)
def test_layer_and_sampler_examples_run(cls):
    run_example(cls)


@pytest.mark.slow
@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_model_examples_run(cls):
    run_example(cls)
