import keras
import numpy as np
from keras import ops

from keras_rm.fragments import NEG_INF
from keras_rm.samplers.fragment_sampler import FragmentSampler, valid_fraction, window_sums
from keras_rm.validation import check_fraction


@keras.saving.register_keras_serializable(package="keras_rm")
class ImportanceSampler(FragmentSampler):
    """Draws fragments in proportion to an importance score per item.

    Candidates are windows of `fragment_length` items every
    `fragment_length // 2` items (overlapping by half), and the last whole
    window of the sequence. A window's importance is the sum of its items' importance; the drawing
    distribution is

        p = (1 - uniform_mix) * softmax(log(importance) / temperature)
            + uniform_mix * uniform,

    both over the windows holding at least one real item, so it sums to 1
    for every sequence with a real item. `temperature` < 1 sharpens,
    > 1 flattens; `uniform_mix` keeps exploring fragments the scores
    undervalue. Used with importance supplied in the data (`inputs["importance"]`)
    and, through `TeacherSampler`, with a teacher's attention.

    Args:
        num_fragments: int. Fragments drawn per sequence.
        fragment_length: int. Items per fragment (twice the window stride).
        temperature: float. Defaults to 1.0.
        uniform_mix: float in [0, 1]. Share of uniform exploration. Defaults to 0.1.
        seed: int. Defaults to None.

    Call arguments:
        item_mask: bool `(batch, length)`.
        importance: non-negative float `(batch, length)`.

    Returns:
        int32 fragment starts `(batch, num_fragments)`: multiples of half of
        `fragment_length`, or the last whole window.

    Example:

    ```python
    sampler = keras_rm.samplers.ImportanceSampler(num_fragments=1, fragment_length=4, seed=1)
    importance = np.zeros((1, 16)); importance[0, 9] = 1.0
    starts = sampler(np.ones((1, 16), bool), importance)  # most often [[8]]
    ```
    """

    def __init__(self, num_fragments, fragment_length, temperature=1.0, uniform_mix=0.1, seed=None, **kwargs):
        super().__init__(num_fragments, fragment_length, seed=seed, **kwargs)
        if not temperature > 0:
            raise ValueError(f"`temperature` must be > 0. Received: `temperature` = {temperature!r}")
        self.temperature = float(temperature)
        self.uniform_mix = check_fraction("uniform_mix", uniform_mix, allow_zero=True)

    def candidate_starts(self, length):
        # Windows overlapping by half, and the last whole window, so an item near a window's border or past the
        # last multiple of `fragment_length` can be rehearsed with its neighbours.
        last = length - self.fragment_length
        starts = np.arange(0, last + 1, max(1, self.fragment_length // 2))
        return starts if starts[-1] == last else np.append(starts, last)

    def distribution(self, item_mask, importance=None):
        if importance is None:
            raise ValueError(
                f"{self.__class__.__name__} needs an importance score per item: pass "
                "`importance` of shape (batch, length)."
            )
        mask = ops.cast(item_mask, "float32")
        starts = self.candidate_starts(item_mask.shape[1])
        valid = window_sums(mask, starts, self.fragment_length) > 0
        scores = window_sums(ops.cast(importance, "float32") * mask, starts, self.fragment_length)
        logits = ops.log(scores + 1e-9) / self.temperature
        logits = ops.where(valid, logits, NEG_INF)
        scored = ops.softmax(logits, axis=-1) * ops.cast(valid, "float32")
        return (1.0 - self.uniform_mix) * scored + self.uniform_mix * valid_fraction(valid)

    def get_config(self):
        config = super().get_config()
        config.update({"temperature": self.temperature, "uniform_mix": self.uniform_mix})
        return config
