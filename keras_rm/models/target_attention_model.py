import keras
from keras import ops

from keras_rm.fragments import NEG_INF
from keras_rm.models.task_model import TaskModel
from keras_rm.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_rm")
class TargetAttentionModel(TaskModel):
    """Target attention over a user's most recent behaviours (DIN-style): the usual production click model.

    Only the last `recent` items of the sequence are read (all of them with
    `recent=None`): each item `h` is scored against the encoded query
    (candidate) `q` by a small MLP on `[h, q, h * q, h - q]`, the scores are
    softmax-normalised over the real items (padding masked; no real item
    gives a zero read), and the weighted sum of items goes through the same
    `TaskHead` as the memory model. Sequences are expected with their most
    recent item last (left-padded), as `pipelines.behaviour` makes them.

    Args:
        item_encoder: an item encoder layer, as for `RehearsalMemoryModel`.
        task: str. `"click"` or `"classification"`. Defaults to
            `"classification"`; given no `num_classes`, to `"click"` with a
            `DeprecationWarning` (the default before 0.7) until 0.8.
        num_classes: int. Answer classes (classification).
        query_encoder: item encoder of the query. Defaults to `item_encoder`.
        recent: int. How many of the latest items are read; None reads all.
            Defaults to 50.
        attention_dim: int. Hidden width of the scoring MLP. Defaults to the
            item encoder's `hidden_dim`.
        head_dim: int. Hidden width of the task head. Defaults to `hidden_dim`.
        dropout: float. Defaults to 0.

    Example:

    ```python
    encoder = keras_rm.layers.CategoricalItemEncoder(1001, 16, side_vocabulary_sizes=[21])
    model = keras_rm.TargetAttentionModel(encoder, task="click", recent=50)
    model.compile()
    x = {"items": np.random.randint(1, 21, (8, 200, 2)), "query": np.random.randint(1, 21, (8, 2))}
    model.fit(x, np.random.randint(0, 2, (8, 1)), epochs=1)
    ```

    Reference:
        Zhou et al., "Deep Interest Network for Click-Through Rate
        Prediction", KDD 2018. https://arxiv.org/abs/1706.06978
    """

    def __init__(
        self,
        item_encoder,
        task=None,
        num_classes=None,
        query_encoder=None,
        recent=50,
        attention_dim=None,
        head_dim=None,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(
            item_encoder=item_encoder,
            task=task,
            num_classes=num_classes,
            query_encoder=query_encoder,
            head_dim=head_dim,
            dropout=dropout,
            **kwargs,
        )
        self.recent = None if recent is None else check_positive_int("recent", recent)
        self.attention_dim = check_positive_int("attention_dim", attention_dim or self.hidden_dim)
        self.score_hidden = keras.layers.Dense(self.attention_dim, activation="relu", name="score_hidden")
        self.score = keras.layers.Dense(1, name="score")

    def build(self, input_shape):
        items_shape = self.build_encoders(input_shape)
        length = items_shape[1] if self.recent is None else min(self.recent, items_shape[1])
        self.score_hidden.build((None, length, 4 * self.hidden_dim))
        self.score.build((None, length, self.attention_dim))

    def call(self, inputs, training=None):
        inputs = self.check_inputs(inputs)
        if self.recent is not None:
            inputs = {
                key: value[:, -self.recent :] if key in ("items", "item_mask") else value
                for key, value in inputs.items()
            }
        items, mask = self.encode_items(inputs)
        query = self.encode_query(inputs["query"])
        q = ops.broadcast_to(ops.expand_dims(query, 1), ops.shape(items))
        scores = self.score(self.score_hidden(ops.concatenate([items, q, items * q, items - q], axis=-1)))[..., 0]
        weights = ops.softmax(ops.where(mask, scores, NEG_INF), axis=-1) * ops.cast(mask, scores.dtype)
        read = ops.einsum("bl,bld->bd", weights, items)
        return self.head(read, query, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"recent": self.recent, "attention_dim": self.attention_dim})
        return config
