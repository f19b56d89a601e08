"""History samplers S: which fragments of a long sequence to rehearse."""

from keras_rm.samplers.fragment_sampler import FragmentSampler
from keras_rm.samplers.importance_sampler import ImportanceSampler
from keras_rm.samplers.teacher_sampler import TeacherSampler
from keras_rm.samplers.uniform_sampler import UniformSampler
