import keras

from keras_rm.models.task_model import TaskModel


@keras.saving.register_keras_serializable(package="keras_rm")
class RecurrentModel(TaskModel):
    """A GRU over the whole sequence: its last state and the query go through the task head.

    The classic compressing baseline (GRU4Rec-style for behaviours): like the
    memory it keeps a fixed-size state, one `hidden_dim` vector written item
    by item, with no rehearsal. Padded items are skipped (the state carries
    over them).

    Args:
        item_encoder: an item encoder layer, as for `RehearsalMemoryModel`.
        task: str. `"click"` or `"classification"`. Defaults to
            `"classification"`; given no `num_classes`, to `"click"` with a
            `DeprecationWarning` (the default before 0.7) until 0.8.
        num_classes: int. Answer classes (classification).
        query_encoder: item encoder of the query. Defaults to `item_encoder`.
        head_dim: int. Hidden width of the task head. Defaults to `hidden_dim`.
        dropout: float. Defaults to 0.

    Example:

    ```python
    encoder = keras_rm.layers.CategoricalItemEncoder(1001, 16, side_vocabulary_sizes=[21])
    model = keras_rm.RecurrentModel(encoder, task="click")
    model.compile()
    x = {"items": np.random.randint(1, 21, (8, 100, 2)), "query": np.random.randint(1, 21, (8, 2))}
    model.fit(x, np.random.randint(0, 2, (8, 1)), epochs=1)
    ```

    Reference:
        Hidasi et al., "Session-based Recommendations with Recurrent Neural
        Networks", ICLR 2016. https://arxiv.org/abs/1511.06939
    """

    def __init__(
        self, item_encoder, task=None, num_classes=None, query_encoder=None, head_dim=None, dropout=0.0, **kwargs
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
        self.gru = keras.layers.GRU(self.hidden_dim, name="gru")

    def build(self, input_shape):
        items_shape = self.build_encoders(input_shape)
        self.gru.build((None, items_shape[1], self.hidden_dim))

    def call(self, inputs, training=None):
        inputs = self.check_inputs(inputs)
        items, mask = self.encode_items(inputs)
        read = self.gru(items, mask=mask, training=training)
        return self.head(read, self.encode_query(inputs["query"]), training=training)
