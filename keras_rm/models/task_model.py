import keras

from keras_rm.layers.item_encoder import ItemEncoder
from keras_rm.layers.sentence_vectorizer import SentenceVectorizer
from keras_rm.layers.task_head import TaskHead, task_loss
from keras_rm.legacy import default_task, upgrade_config
from keras_rm.models.keras_workarounds import KerasWorkarounds
from keras_rm.validation import check_choice

INPUT_KEYS = ("items", "item_mask", "query", "importance")


def task_metrics(task):
    if task == "click":
        return [
            keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy"),
            keras.metrics.AUC(from_logits=True, name="auc"),
        ]
    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


class TaskModel(KerasWorkarounds):
    """Shared front and back of the keras-rm models: item and query encoding, the task head, `compile` defaults.

    Inputs are a dict: `items` (raw items, shape set by the item encoder),
    optional `item_mask` (bool `(batch, length)`), `query` (one item or a
    sequence of items for the query encoder) and, for
    `sampler="importance"`, `importance` (`(batch, length)`).

    Args:
        item_encoder: an `ItemEncoder` layer for the sequence items.
        task: str. `"classification"` (answer logits) or `"click"` (click logit).
        num_classes: int. Answer classes for `"classification"`.
        query_encoder: an `ItemEncoder` for the query, or any Keras layer
            that maps the raw query to `(batch, hidden_dim)` (e.g. an
            `Embedding` and a `GRU`, which keep a question's word order).
            Defaults to `item_encoder` (shared weights), right when queries
            are made of the same kind of items (words, item ids).
        head_dim: int. Hidden width of the task head. Defaults to the item
            encoder's `hidden_dim`.
        head_activation: str. Activation of the task head's hidden layer.
            Defaults to `"gelu"` (a ReLU head can die: see `TaskHead`).
        dropout: float. Defaults to 0.
        text_vectorizer: optional `keras_rm.layers.SentenceVectorizer` that
            made the word ids of the items and the query from raw text. The
            model never calls it (it takes ids), but saves it, vocabularies
            included, and a SavedModel export adds endpoints that take raw
            text (`write_text`, `answer_text`).
    """

    def __init__(
        self,
        item_encoder,
        task="classification",
        num_classes=None,
        query_encoder=None,
        head_dim=None,
        dropout=0.0,
        head_activation="gelu",
        text_vectorizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(item_encoder, ItemEncoder):
            raise TypeError(
                "`item_encoder` must be a keras_rm item encoder (e.g. `keras_rm.layers.TokenItemEncoder`). "
                f"Received: `item_encoder` = {item_encoder!r}"
            )
        if query_encoder is not None and not isinstance(query_encoder, keras.layers.Layer):
            raise TypeError(
                "`query_encoder` must be a keras_rm item encoder or a Keras layer giving (batch, hidden_dim). "
                f"Received: `query_encoder` = {query_encoder!r}"
            )
        if isinstance(query_encoder, ItemEncoder) and query_encoder.hidden_dim != item_encoder.hidden_dim:
            raise ValueError(
                "`query_encoder.hidden_dim` must equal `item_encoder.hidden_dim`. Received: "
                f"{query_encoder.hidden_dim} and {item_encoder.hidden_dim}"
            )
        self.item_encoder = item_encoder
        self.query_encoder = query_encoder
        self.hidden_dim = item_encoder.hidden_dim
        if task is None:
            task = default_task(type(self).__name__, num_classes)
        self.task = check_choice("task", task, ("classification", "click"))
        self.head_dim = head_dim or self.hidden_dim
        self.dropout = float(dropout)
        self.head = TaskHead(
            task=self.task,
            num_classes=num_classes,
            hidden_dim=self.head_dim,
            dropout=dropout,
            activation=head_activation,
            name="head",
        )
        self.num_classes = self.head.num_classes
        if text_vectorizer is not None and not isinstance(text_vectorizer, SentenceVectorizer):
            raise TypeError(
                "`text_vectorizer` must be a `keras_rm.layers.SentenceVectorizer`. "
                f"Received: `text_vectorizer` = {text_vectorizer!r}"
            )
        self.text_vectorizer = text_vectorizer

    # Inputs --------------------------------------------------------------

    input_keys = INPUT_KEYS  # the keys the input dict may hold
    # The SavedModel endpoints `export` writes: "serve" (the whole sequence), and for a model that streams,
    # "initial_memory", "write" and "answer" too. None: the model is not exported.
    serving_endpoints = ()

    def check_inputs(self, inputs):
        """Validates the input dict; returns it."""
        if not isinstance(inputs, dict):
            raise TypeError(
                f"{self.__class__.__name__} takes a dict with keys `items`, `query` and optionally "
                f"`item_mask`, `importance`. Received: {type(inputs).__name__}"
            )
        unknown = sorted(set(inputs) - set(self.input_keys))
        if unknown:
            raise ValueError(f"Unknown input keys {unknown}; expected some of {list(self.input_keys)}.")
        for key in ("items", "query"):
            if inputs.get(key) is None:
                raise ValueError(f"The inputs must contain `{key}`. Received keys: {sorted(inputs)}")
        batch = inputs["items"].shape[0]
        for key in ("item_mask", "query", "importance"):
            value = inputs.get(key)
            if value is not None and None not in (batch, value.shape[0]) and value.shape[0] != batch:
                raise ValueError(
                    f"`{key}` and `items` must have the same batch size. Received: `items` with shape "
                    f"{tuple(inputs['items'].shape)} and `{key}` with shape {tuple(value.shape)}"
                )
        if inputs.get("importance") is not None:
            importance, items = inputs["importance"], inputs["items"]
            if tuple(importance.shape[1:]) != tuple(items.shape[1:2]):
                raise ValueError(
                    "`importance` must have shape (batch, length). Received: `importance` with shape "
                    f"{tuple(importance.shape)} for `items` with shape {tuple(items.shape)}"
                )
        return inputs

    def encode_items(self, inputs):
        """Encodes `inputs["items"]`: returns `((batch, length, hidden_dim), bool (batch, length))`."""
        return self.item_encoder(inputs["items"], inputs.get("item_mask"))

    def encode_query(self, query):
        """Encodes a raw query into `(batch, hidden_dim)`."""
        encoder = self.query_encoder or self.item_encoder
        if isinstance(encoder, ItemEncoder):
            return encoder.encode_query(query)
        encoded = encoder(query)
        if len(encoded.shape) != 2 or encoded.shape[-1] != self.hidden_dim:
            raise ValueError(
                f"`query_encoder` must give (batch, {self.hidden_dim}) vectors (the items' `hidden_dim`). "
                f"Received: {encoder.name} gave shape {tuple(encoded.shape)} for `query` with shape "
                f"{tuple(query.shape)}"
            )
        return encoded

    # Building ------------------------------------------------------------

    def check_input_shape(self, input_shape):
        if not isinstance(input_shape, dict) or "items" not in input_shape or "query" not in input_shape:
            raise ValueError(
                f"{self.__class__.__name__}.build() takes a dict of shapes with keys `items` and `query`. "
                f"Received: {input_shape!r}"
            )
        items_shape = tuple(input_shape["items"])
        self.item_encoder.check_items("items", items_shape)
        if items_shape[1] is None:
            raise ValueError(
                "The sequence length must be static: models loop over a fixed number of segments. "
                f"Received: `items` with shape {items_shape}"
            )
        return items_shape

    def build_encoders(self, input_shape):
        items_shape = self.check_input_shape(input_shape)
        # Encoders deserialized from a `.keras` file arrive already built.
        if not self.item_encoder.built:
            self.item_encoder.build(items_shape)
        if self.query_encoder is not None and not self.query_encoder.built:
            query_shape = tuple(input_shape["query"])
            if isinstance(self.query_encoder, ItemEncoder):
                rank = self.query_encoder.item_rank
                query_shape = query_shape if len(query_shape) == rank + 2 else (query_shape[0], 1) + query_shape[1:]
            self.query_encoder.build(query_shape)
        vector_shape = (None, self.hidden_dim)
        self.head.build(vector_shape, vector_shape)
        return items_shape

    # Ids out of the vocabulary ----------------------------------------------

    # Inside a compiled step the values are symbolic and an id check cannot raise; JAX's embedding lookup then
    # reads NaN for an id out of range (a silent `loss: nan`). So the id inputs are checked on the host first:
    # a dict of arrays at once, a `tf.data.Dataset` batch by batch as it is read.

    def check_data(self, x):
        """`x` (a dict of arrays, a `(inputs, ...)` tuple or a `tf.data.Dataset` of them), raising a
        `ValueError` that names the input, the vocabulary size and the id when an id input (`items`, `query`)
        holds an id outside its encoder's vocabulary; a dataset comes back checking each batch as it is read."""
        query_encoder = self.query_encoder or self.item_encoder
        if not any(getattr(encoder, "integer_items", False) for encoder in (self.item_encoder, query_encoder)):
            return x  # nothing reads ids: no check in the input pipeline
        if hasattr(x, "element_spec"):
            return self._dataset_checking_ids(x)
        inputs = x[0] if isinstance(x, (tuple, list)) and x else x
        if isinstance(inputs, dict):
            self._check_input_ids(inputs)
        return x

    def _check_input_ids(self, inputs):
        for name, encoder in (("items", self.item_encoder), ("query", self.query_encoder or self.item_encoder)):
            if inputs.get(name) is not None and isinstance(encoder, ItemEncoder):
                encoder.check_ids(inputs[name], name)

    def _dataset_checking_ids(self, data):
        import numpy as np
        import tensorflow as tf

        def check(*element):
            inputs = element[0]
            if not isinstance(inputs, dict) or not any(key in inputs for key in ("items", "query")):
                return element if len(element) > 1 else inputs
            names = [key for key in ("items", "query") if key in inputs]

            def check_on_host(*values):
                self._check_input_ids(dict(zip(names, values)))
                return np.int32(0)

            checked = tf.numpy_function(check_on_host, [inputs[key] for key in names], tf.int32)
            with tf.control_dependencies([checked]):
                inputs = {key: tf.identity(value) for key, value in inputs.items()}
            return (inputs, *element[1:]) if len(element) > 1 else inputs

        return data.map(check)

    # Training defaults -----------------------------------------------------

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """Configures training; `"auto"` picks Adam(1e-3) with gradients clipped to norm 1, the task's logits loss
        and its metrics. (The clipping guards the recurrence over many segments against exploding gradients.)

        The `"auto"` metrics are weighted by `sample_weight` (Keras' `weighted_metrics`), as the loss is: padded
        questions (weight 0) do not count. Keras' plain `metrics` ignore sample weights."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3, clipnorm=1.0)
        if loss == "auto":
            loss = task_loss(self.task)
        if metrics == "auto":
            metrics = None
            kwargs.setdefault("weighted_metrics", task_metrics(self.task))
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, chunk_segments=0, **kwargs):
        """Exports a SavedModel for inference: `keras_rm.export.export_saved_model` (`serve`, and for the memory
        the streaming endpoints `initial_memory`, `write`, `answer`, with raw text where the model holds a text
        vectorizer, and `write_chunk` of `chunk_segments` segments a call where given), on every backend. Another
        `format`, or an `input_signature`, goes to Keras' own `export`."""
        if format != "tf_saved_model" or input_signature is not None or kwargs:
            return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)
        from keras_rm.export import export_saved_model

        export_saved_model(self, str(filepath), verbose=bool(verbose), chunk_segments=chunk_segments)

    def inference_layers(self):
        """The layers inference runs, what `export` keeps: the whole model, unless a subclass leaves some out."""
        return [self]

    # Serialization ---------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "item_encoder": keras.saving.serialize_keras_object(self.item_encoder),
                "task": self.task,
                "num_classes": self.num_classes if self.task == "classification" else None,
                "query_encoder": keras.saving.serialize_keras_object(self.query_encoder)
                if self.query_encoder is not None
                else None,
                "head_dim": self.head_dim,
                "dropout": self.dropout,
                "head_activation": self.head.activation,
                "text_vectorizer": keras.saving.serialize_keras_object(self.text_vectorizer)
                if self.text_vectorizer is not None
                else None,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = upgrade_config(cls, config)  # files of older versions: keras_rm.legacy
        for key in ("item_encoder", "query_encoder", "text_vectorizer"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
