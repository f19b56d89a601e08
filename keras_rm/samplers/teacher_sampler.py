import keras
from keras import ops

from keras_rm.layers.task_head import TaskHead
from keras_rm.fragments import NEG_INF
from keras_rm.samplers.importance_sampler import ImportanceSampler
from keras_rm.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_rm")
class TeacherSampler(ImportanceSampler):
    """Learns what to rehearse: a full-access, query-aware teacher whose attention drives sampling.

    During training only, the teacher sees the whole encoded sequence and the
    query (both with stop-gradient, so it never reshapes the shared item
    encoder), attends from the query over every item, and answers the task
    from what it read; the model adds its task loss (weight
    `teacher_weight`). Its item attention, stop-gradient, is the importance
    of `ImportanceSampler`: fragments holding the items a good answer needs
    are rehearsed most (with temperature and uniform mixing for exploration).

    Args:
        num_fragments: int. Fragments drawn per sequence.
        fragment_length: int. Items per fragment.
        hidden_dim: int. Width of the items and of the query.
        task: str. `"classification"` or `"click"`, as the model's head.
        num_classes: int. Answer classes for `"classification"`.
        temperature: float. Defaults to 1.0.
        uniform_mix: float in [0, 1]. Defaults to 0.1.
        seed: int. Defaults to None.

    Call arguments:
        item_mask: bool `(batch, length)`.
        importance: the teacher's item attention `(batch, length)`, from
            `teach()`.

    Returns:
        int32 fragment starts `(batch, num_fragments)`.

    Example:

    ```python
    sampler = keras_rm.samplers.TeacherSampler(2, 4, hidden_dim=16, task="classification", num_classes=3)
    attention, logits = sampler.teach(np.random.rand(2, 16, 16), np.ones((2, 16), bool), np.random.rand(2, 16))
    starts = sampler(np.ones((2, 16), bool), attention)
    ```
    """

    def __init__(
        self,
        num_fragments,
        fragment_length,
        hidden_dim,
        task,
        num_classes=None,
        temperature=1.0,
        uniform_mix=0.1,
        seed=None,
        **kwargs,
    ):
        super().__init__(num_fragments, fragment_length, temperature, uniform_mix, seed=seed, **kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.task = task
        self.num_classes = num_classes
        policy = self.dtype_policy
        self.query_projection = keras.layers.Dense(hidden_dim, dtype=policy, name="query_projection")
        self.key_projection = keras.layers.Dense(hidden_dim, dtype=policy, name="key_projection")
        self.value_projection = keras.layers.Dense(hidden_dim, dtype=policy, name="value_projection")
        self.head = TaskHead(task=task, num_classes=num_classes, hidden_dim=hidden_dim, dtype=policy, name="head")

    def build(self, item_mask_shape=None, importance_shape=None):
        items_shape = (None, None, self.hidden_dim)
        vector_shape = (None, self.hidden_dim)
        self.query_projection.build(vector_shape)
        self.key_projection.build(items_shape)
        self.value_projection.build(items_shape)
        self.head.build(vector_shape, vector_shape)

    def teach(self, items, item_mask, query, training=None):
        """Runs the teacher: returns `(item_attention (batch, length), task_logits)`."""
        if not self.built:
            self.build()
        items = ops.stop_gradient(ops.convert_to_tensor(items, dtype=self.compute_dtype))
        query = ops.stop_gradient(ops.convert_to_tensor(query, dtype=self.compute_dtype))
        query = self.query_projection(query)
        scores = ops.einsum("bnd,bd->bn", self.key_projection(items), query)
        scores = scores / ops.sqrt(ops.cast(self.hidden_dim, scores.dtype))
        scores = ops.where(item_mask, scores, NEG_INF)
        attention = ops.softmax(ops.cast(scores, "float32"), axis=-1)
        read = ops.einsum("bn,bnd->bd", ops.cast(attention, items.dtype), self.value_projection(items))
        return attention, self.head(read, query, training=training)

    def call(self, item_mask, importance=None):
        return super().call(item_mask, ops.stop_gradient(ops.convert_to_tensor(importance, dtype="float32")))

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim, "task": self.task, "num_classes": self.num_classes})
        return config
