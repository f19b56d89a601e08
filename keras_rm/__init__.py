"""keras-rm: Rehearsal Memory for Keras 3 (TensorFlow, JAX, PyTorch).

Zhang et al., "Learning to Rehearse in Long Sequence Memorization", ICML 2021.
Importing this package never imports TensorFlow.
"""

from keras_rm import distribute, export, layers, samplers, schedules
from keras_rm.fragments import FamiliarityLoss
from keras_rm.models import FullAttentionModel, RecurrentModel, RehearsalMemoryModel, TargetAttentionModel

__version__ = "0.6.0"
