import keras
import numpy as np

from keras_rm.samplers.fragment_sampler import FragmentSampler, valid_fraction


@keras.saving.register_keras_serializable(package="keras_rm")
class UniformSampler(FragmentSampler):
    """Draws fragment starts uniformly over the real (unpadded) positions of each sequence.

    A fragment may start at any position `p <= length - fragment_length`
    whose item is real; `num_fragments` distinct starts are drawn per
    sequence (fragments may overlap). Items of a fragment that run into
    padding are masked downstream.

    Args:
        num_fragments: int. Fragments drawn per sequence.
        fragment_length: int. Items per fragment.
        seed: int. Defaults to None.

    Call arguments:
        item_mask: bool `(batch, length)`.
        importance: ignored.

    Returns:
        int32 fragment starts `(batch, num_fragments)`.

    Example:

    ```python
    sampler = keras_rm.samplers.UniformSampler(num_fragments=2, fragment_length=4, seed=1)
    starts = sampler(np.arange(20)[None] < 12)  # two distinct starts in [0, 11]
    ```
    """

    def candidate_starts(self, length):
        return np.arange(length - self.fragment_length + 1)

    def distribution(self, item_mask, importance=None):
        count = item_mask.shape[1] - self.fragment_length + 1
        return valid_fraction(item_mask[:, :count])
