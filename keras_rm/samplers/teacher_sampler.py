import keras
from keras import ops

from keras_rm.fragments import NEG_INF
from keras_rm.layers.task_head import TaskHead
from keras_rm.legacy import upgrade_config
from keras_rm.samplers.importance_sampler import ImportanceSampler
from keras_rm.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_rm")
class TeacherSampler(ImportanceSampler):
    """Learns what to rehearse: a full-access, query-aware teacher whose attention drives sampling.

    During training only, the teacher sees the whole encoded sequence and the
    query (both with stop-gradient, so it never reshapes the shared item
    encoder), attends from the query over every item in `hops` rounds (each
    round's query adds what the round before read, so a second supporting
    fact can be found from the first), and answers the task from what it
    read; the model adds its task loss (weight `teacher_weight`). With
    `positions`, every item's key also carries where it sits in the sequence
    (a learned direction scaled by its relative position), so the teacher can
    prefer the latest mention of a person. Its item attention, averaged over
    the rounds and stop-gradient, is the importance of `ImportanceSampler`:
    fragments holding the items a good answer needs are rehearsed most (with
    temperature and uniform mixing for exploration).

    Args:
        num_fragments: int. Fragments drawn per sequence.
        fragment_length: int. Items per fragment.
        hidden_dim: int. Width of the items and of the query.
        task: str. `"classification"` or `"click"`, as the model's head.
        num_classes: int. Answer classes for `"classification"`.
        hops: int. Attention rounds. Defaults to 2.
        positions: bool. Keys carry the items' relative positions. Defaults to True.
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
        hops=2,
        positions=True,
        temperature=1.0,
        uniform_mix=0.1,
        seed=None,
        **kwargs,
    ):
        super().__init__(num_fragments, fragment_length, temperature, uniform_mix, seed=seed, **kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.task = task
        self.num_classes = num_classes
        self.hops = check_positive_int("hops", hops)
        self.positions = bool(positions)
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
        if self.positions:
            self.position_direction = self.add_weight(
                shape=(self.hidden_dim,), initializer="zeros", name="position_direction"
            )

    def teach(self, items, item_mask, query, training=None):
        """Runs the teacher: returns `(item_attention (batch, length), task_logits)`."""
        if not self.built:
            self.build()
        items = ops.stop_gradient(ops.convert_to_tensor(items, dtype=self.compute_dtype))
        query = self.query_projection(ops.stop_gradient(ops.convert_to_tensor(query, dtype=self.compute_dtype)))
        keys, values = self.key_projection(items), self.value_projection(items)
        if self.positions:
            length = items.shape[1]
            where = ops.arange(length, dtype=keys.dtype) / max(length - 1, 1)  # 0 for the first item, 1 the last
            keys = keys + where[None, :, None] * ops.cast(self.position_direction, keys.dtype)
        attention_sum, hop_query = 0.0, query
        for _ in range(self.hops):
            # Scores in float32: the -1e9 of masked items overflows float16.
            scores = ops.cast(ops.einsum("bnd,bd->bn", keys, hop_query), "float32") / float(self.hidden_dim) ** 0.5
            attention = ops.softmax(ops.where(item_mask, scores, NEG_INF), axis=-1)
            read = ops.einsum("bn,bnd->bd", ops.cast(attention, values.dtype), values)
            attention_sum = attention_sum + attention
            hop_query = hop_query + read
        return attention_sum / self.hops, self.head(read, query, training=training)

    def call(self, item_mask, importance=None):
        return super().call(item_mask, ops.stop_gradient(ops.convert_to_tensor(importance, dtype="float32")))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "task": self.task,
                "num_classes": self.num_classes,
                "hops": self.hops,
                "positions": self.positions,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**upgrade_config(cls, config))  # files of older versions: keras_rm.legacy
