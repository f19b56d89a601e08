import keras
import numpy as np
from keras import ops

from keras_rm.fragments import NEG_INF
from keras_rm.validation import check_positive_int


def gumbel_top_k(log_probs, k, seed):
    """Draws `k` distinct indices per row of `log_probs` `(batch, n)` without replacement.

    Adding Gumbel noise to log-probabilities and keeping the top k is
    sampling without replacement in proportion to the probabilities
    (Kool et al., 2019).
    """
    uniform = keras.random.uniform(ops.shape(log_probs), minval=1e-6, maxval=1.0 - 1e-6, seed=seed)
    gumbel = -ops.log(-ops.log(uniform))
    _, indices = ops.top_k(ops.cast(log_probs, "float32") + gumbel, k)
    return indices


class FragmentSampler(keras.layers.Layer):
    """Base of the history samplers S: choose which fragments of a sequence to rehearse.

    A subclass defines the candidate fragment starts (`candidate_starts`) and
    a distribution over them (`distribution`); this class draws
    `num_fragments` distinct candidates per sequence from it (in a sequence
    with fewer candidates, each may be drawn more than once) with the Gumbel
    top-k trick, using its own `SeedGenerator` (so draws are part of the
    traced training step and of checkpoints).

    Args:
        num_fragments: int. Fragments drawn per sequence.
        fragment_length: int. Items per fragment.
        seed: int. Seed of the sampler's `SeedGenerator`. Defaults to None.
    """

    def __init__(self, num_fragments, fragment_length, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_fragments = check_positive_int("num_fragments", num_fragments)
        self.fragment_length = check_positive_int("fragment_length", fragment_length)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def check_length(self, length):
        """Raises when a fragment cannot fit in `length` items."""
        if length is None or self.fragment_length > length:
            raise ValueError(
                "`fragment_length` must not exceed the sequence length. Received: "
                f"`fragment_length` = {self.fragment_length} for sequences of {length} items"
            )

    def candidate_starts(self, length):
        """Static numpy array of the candidate start positions."""
        raise NotImplementedError

    def distribution(self, item_mask, importance=None):
        """Probabilities `(batch, num_candidates)` of drawing each candidate."""
        raise NotImplementedError

    def call(self, item_mask, importance=None):
        length = item_mask.shape[1]
        self.check_length(length)
        probs = self.distribution(item_mask, importance)
        starts = self.candidate_starts(length).astype("int32")
        copies = -(-self.num_fragments // len(starts))
        if copies > 1:  # fewer candidates than fragments (a short sequence): a candidate may be drawn twice
            probs, starts = ops.concatenate([probs] * copies, axis=1), np.tile(starts, copies)
        log_probs = ops.where(probs > 0, ops.log(ops.maximum(probs, 1e-30)), NEG_INF)
        chosen = gumbel_top_k(log_probs, self.num_fragments, self.seed_generator)
        return ops.take(ops.convert_to_tensor(starts), chosen)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_fragments": self.num_fragments,
                "fragment_length": self.fragment_length,
                "seed": self.seed,
            }
        )
        return config


def window_sums(values, starts, window):
    """Sums `values` `(batch, length)` over the windows of `window` items at `starts` (static, may overlap).

    Returns:
        `(batch, len(starts))`, from one cumulative sum: every window costs two lookups.
    """
    values = ops.cast(values, "float32")
    totals = ops.concatenate([ops.zeros_like(values[:, :1]), ops.cumsum(values, axis=1)], axis=1)
    starts = np.asarray(starts, "int32")
    return ops.take(totals, starts + window, axis=1) - ops.take(totals, starts, axis=1)


def valid_fraction(valid):
    """Uniform distribution over the True entries of `valid` `(batch, n)`."""
    valid = ops.cast(valid, "float32")
    return valid / ops.maximum(ops.sum(valid, axis=-1, keepdims=True), 1.0)
