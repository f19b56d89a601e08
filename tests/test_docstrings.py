"""Every `Example:` block in a public docstring runs as written.

The examples are usage, the same on every backend: under torch in `make test` (under JAX each eager op of an
example compiles on its first call: 22 s for the layers' examples, against 1 s under TF), every backend under
`make test-all`. What the layers compute is tested on every backend by test_layers.py and test_memory_machine.py.
"""

import inspect
import re

import keras
import numpy as np
import pytest

import keras_rm
from keras_rm import layers, samplers
from tests.testing import only_torch_unless_slow

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


@only_torch_unless_slow
@pytest.mark.parametrize("cls", PARTS, ids=lambda cls: cls.__name__)
def test_layer_and_sampler_examples_run(cls):
    run_example(cls)


@pytest.mark.slow
@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_model_examples_run(cls):
    run_example(cls)
