import keras

from keras_rm.models import train_steps


class KerasWorkarounds(keras.Model):
    """A `keras.Model` with the Keras behaviours the keras-rm models must work around, one method per reason.

    Nothing here is part of the models' task. Each method names the Keras
    behaviour it works around; when Keras changes, this is the one file to
    read again. Subclasses check their data by overriding `check_data`,
    which `fit`, `evaluate` and `predict` apply to what they are given.

    Checked against Keras 3.15.1. What it reaches of Keras' private API
    (`PRIVATE_KERAS`) is listed, and `tests/test_keras_workarounds.py` fails
    on a Keras that no longer has it.
    """

    # (owner, private attribute): each use is in this file, with its reason.
    PRIVATE_KERAS = (
        ("keras.Model", "_loss_tracker"),  # `track_loss`
        ("keras.Model", "_jax_state"),  # `_keeping_weights`
        ("keras.Variable", "_value"),  # `_keeping_weights`
        ("keras.Model", "_maybe_symbolic_build"),  # overridden below
        ("keras.Model", "_symbolic_build"),  # `_maybe_symbolic_build`
        ("keras.layers.Layer", "_seed_generators"),  # `_seed_states`
        ("keras.layers.Layer", "_flatten_layers"),  # `_seed_states`, and the models' `inference_layers`
    )

    def track_loss(self, value, batch_size):
        """Adds a training step's task loss to the `loss` Keras reports. Keras keeps that metric private
        (`_loss_tracker`) and updates it in its own steps only: a custom `train_step` must do it."""
        self._loss_tracker.update_state(value, sample_weight=batch_size)

    def check_data(self, x):
        """The data `fit`, `evaluate` and `predict` were given, checked (and possibly wrapped); `x` unchanged here."""
        return x

    def fit(self, x=None, *args, validation_data=None, **kwargs):  # (validation goes through `evaluate`)
        self._new_step_for_new_length(x, "train_function")
        if validation_data is not None:
            validation_data = self.check_data(validation_data)
        return self._keeping_weights(super().fit, self.check_data(x), *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        self._new_step_for_new_length(x, "test_function")
        return self._keeping_weights(super().evaluate, self.check_data(x), *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._new_step_for_new_length(x, "predict_function")
        return self._keeping_weights(super().predict, self.check_data(x), *args, **kwargs)

    def _new_step_for_new_length(self, x, attribute):
        # The models loop over a static number of segments. Keras' TensorFlow trainer traces its steps with
        # `reduce_retracing=True`: a second sequence length relaxes the length to None and the trace fails.
        # A new length therefore gets a new step (JAX and torch trace per shape anyway).
        if keras.config.backend() != "tensorflow":
            return
        if hasattr(x, "element_spec"):  # a tf.data.Dataset of (inputs, ...) or of inputs
            spec = x.element_spec
            x = spec[0] if isinstance(spec, tuple) else spec
        items = x.get("items") if isinstance(x, dict) else None
        length = None if items is None or len(items.shape) < 2 else items.shape[1]
        lengths = self.__dict__.setdefault("_traced_lengths", {})
        if length is not None and lengths.get(attribute, length) != length:
            setattr(self, attribute, None)
        lengths[attribute] = length

    def _keeping_weights(self, call, *args, **kwargs):
        # Keras' JAX trainer takes the values out of the model's variables while a `fit`, `evaluate` or
        # `predict` runs and puts them back at its end; an error on the way (a bad batch of data) would leave
        # the model without weights. Put back the latest state, or the values from before the call.
        if keras.config.backend() != "jax":
            return call(*args, **kwargs)
        before = [(variable, variable.value) for variable in self.variables]
        try:
            return call(*args, **kwargs)
        except BaseException:
            self.jax_state_sync()
            self._jax_state = None
            for variable, value in before:
                if variable._value is None:
                    variable._value = value
            raise

    # Keras saves no `SeedGenerator` state (`model.weights` leaves it out), so a model restored from a checkpoint
    # would replay the random draws of the rehearsal (and of dropout) from the start. The model saves the state of
    # every seed generator of its layers among its own variables; files written without it load as before.

    def _seed_states(self):
        return [g.state for layer in self._flatten_layers() for g in layer._seed_generators]

    def save_own_variables(self, store):
        super().save_own_variables(store)
        for i, state in enumerate(self._seed_states()):
            store[f"seed_state_{i}"] = state

    def load_own_variables(self, store):
        keys = list(store.keys())
        super().load_own_variables({key: store[key] for key in keys if not key.startswith("seed_state_")})
        for i, state in enumerate(self._seed_states()):
            if f"seed_state_{i}" in keys:
                state.assign(store[f"seed_state_{i}"])

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15's TensorFlow trainer (the only one that calls this) builds an unbuilt model and optimizer
        # inside the first traced step unless a `tf.distribute` strategy is set. Variables created during a trace
        # make TensorFlow trace the whole step a second time, which doubled the start of every `fit`. Build them
        # first, from the first batch, as Keras does under a strategy.
        # Under a strategy Keras averages the replicas' first batch to learn its shapes, which turns integer item
        # ids into floats that the id encoders rightly refuse. One replica's batch has the same shapes and the true
        # dtypes.
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = train_steps.first_replica(next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        if keras.config.backend() == "tensorflow" and isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            self._check_sparse_gradients_densely(self.optimizer)

    @staticmethod
    def _check_sparse_gradients_densely(optimizer):
        # Keras 3.15's `LossScaleOptimizer.check_finite` (TF, mixed_float16) reads an embedding's `IndexedSlices`
        # gradient as finite when its values hold inf, and applies it: the table turns NaN. Dense, the check holds;
        # the optimizer still applies the sparse gradient.
        import tensorflow as tf

        check_finite = optimizer.check_finite

        def check_densely(grads):
            return check_finite([tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads])

        optimizer.check_finite = check_densely

    def compile_from_config(self, config):
        # Keras skips this for models that override `compile`; ours only fill defaults, so restoring the saved
        # arguments is safe (and keeps the optimizer state of a saved `.keras` file). `jit_compile` is how the
        # saving backend ran, not a property of the model: a file written under JAX (True) must not switch on
        # `torch.compile` when loaded under torch, so the loading backend picks again ("auto").
        config = keras.saving.deserialize_keras_object(self._public_optimizer_classes(config))
        config.pop("jit_compile", None)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @classmethod
    def _public_optimizer_classes(cls, config):
        """`config` with every optimizer saved as a backend's own class (Keras 3.15 under torch saves Adam as
        `keras.src.backend.torch.optimizers.torch_adam.Adam`) named as the public `keras.optimizers` class, which
        builds the loading backend's own. Loaded as saved, a torch optimizer fails to apply TF gradients."""
        if isinstance(config, dict):
            config = {key: cls._public_optimizer_classes(value) for key, value in config.items()}
            if str(config.get("module", "")).startswith("keras.src.backend."):
                config["module"] = "keras.optimizers"
        return config
