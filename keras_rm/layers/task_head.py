import keras
from keras import ops

from keras_rm.legacy import upgrade_config
from keras_rm.validation import check_choice, check_positive_int

TASKS = ("classification", "click")


def task_loss(task):
    """The default loss of a task: its head outputs logits."""
    if task == "click":
        return keras.losses.BinaryCrossentropy(from_logits=True)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def task_accuracy(task, y, logits):
    """Per-example accuracy of task logits (a click logit is right on its side of 0)."""
    if task == "click":
        return keras.metrics.binary_accuracy(ops.reshape(y, ops.shape(logits)), logits, threshold=0.0)
    return keras.metrics.sparse_categorical_accuracy(y, logits)


@keras.saving.register_keras_serializable(package="keras_rm")
class TaskHead(keras.layers.Layer):
    """Turns what was read from the memory into the task's output: answer logits or a click logit.

    The read vector `r` and the query `q` are combined as `[r, q, r * q]`
    (the interaction features of DIN-style click models and of QA readers),
    passed through a hidden layer (GELU by default) and projected to `num_classes` answer logits
    (`task="classification"`) or to one click logit (`task="click"`). The
    outputs are logits: pair them with `from_logits=True` losses.

    Args:
        task: str. `"classification"` or `"click"`.
        num_classes: int. Answer classes; ignored (1) for `"click"`.
        hidden_dim: int. Width of the hidden layer.
        dropout: float. Defaults to 0.
        activation: str. Activation of the hidden layer. Defaults to
            `"gelu"`: with `"relu"` every unit can die early in training
            (all pre-activations negative for every input), which leaves
            constant logits and no gradient to recover from.

    Call arguments:
        read: `(batch, hidden_dim)`.
        query: `(batch, hidden_dim)`.
        training: bool.

    Returns:
        `(batch, num_classes)` logits, or `(batch, 1)` for `"click"`.

    Example:

    ```python
    head = keras_rm.layers.TaskHead("classification", num_classes=6, hidden_dim=16)
    logits = head(np.random.rand(2, 16), np.random.rand(2, 16))  # (2, 6)
    ```
    """

    def __init__(self, task, num_classes=None, hidden_dim=64, dropout=0.0, activation="gelu", **kwargs):
        super().__init__(**kwargs)
        self.task = check_choice("task", task, TASKS)
        if task == "classification":
            self.num_classes = check_positive_int("num_classes", num_classes)
        else:
            self.num_classes = 1
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.dropout = float(dropout)
        self.activation = keras.activations.serialize(keras.activations.get(activation))
        self.hidden = keras.layers.Dense(hidden_dim, activation=activation, dtype=self.dtype_policy, name="hidden")
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)
        self.output_layer = keras.layers.Dense(self.num_classes, dtype=self.dtype_policy, name="logits")

    def build(self, read_shape, query_shape):
        self.hidden.build(tuple(read_shape[:-1]) + (3 * read_shape[-1],))
        self.output_layer.build(tuple(read_shape[:-1]) + (self.hidden_dim,))

    def call(self, read, query, training=None):
        features = ops.concatenate([read, query, read * query], axis=-1)
        return self.output_layer(self.dropout_layer(self.hidden(features), training=training))

    def compute_output_shape(self, read_shape, query_shape):
        return tuple(read_shape[:-1]) + (self.num_classes,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "task": self.task,
                "num_classes": self.num_classes,
                "hidden_dim": self.hidden_dim,
                "dropout": self.dropout,
                "activation": self.activation,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**upgrade_config(cls, config))  # files of older versions: keras_rm.legacy
