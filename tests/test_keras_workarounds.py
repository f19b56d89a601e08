"""`KerasWorkarounds`: the private Keras it reaches is still there (a Keras upgrade that moves it fails here)."""

import keras

from keras_rm.models.keras_workarounds import KerasWorkarounds
from tests.testing import BACKEND, recall_data, tiny_model


def test_every_private_keras_attribute_the_workarounds_use_exists():
    x, y, _ = recall_data(16, seed=0)
    model = tiny_model(rehearsal=None)  # a plain memory's step: the attributes are the trainer's and the layers'
    model.compile(optimizer="sgd")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    owners = {"keras.Model": model, "keras.Variable": model.weights[0], "keras.layers.Layer": model.item_encoder}
    for owner, name in KerasWorkarounds.PRIVATE_KERAS:
        if name == "_jax_state" and BACKEND != "jax":
            continue  # the JAX trainer's
        assert hasattr(owners[owner], name), f"Keras {keras.__version__} has no `{owner}.{name}`"
