"""The layers of Rehearsal Memory, one per paper component (the README maps each to the paper)."""

from keras_rm.layers.categorical_item_encoder import CategoricalItemEncoder
from keras_rm.layers.dense_item_encoder import DenseItemEncoder
from keras_rm.layers.item_encoder import ItemEncoder
from keras_rm.layers.memory_machine import MemoryMachine
from keras_rm.layers.memory_reader import MemoryReader
from keras_rm.layers.memory_update import MemoryUpdate
from keras_rm.layers.rehearsal import Rehearsal
from keras_rm.layers.rehearsal_decoder import RehearsalDecoder
from keras_rm.layers.segment_encoder import SegmentEncoder
from keras_rm.layers.sentence_item_encoder import SentenceItemEncoder
from keras_rm.layers.sentence_vectorizer import SentenceVectorizer
from keras_rm.layers.task_head import TaskHead
from keras_rm.layers.token_item_encoder import TokenItemEncoder
from keras_rm.layers.transformer_block import TransformerBlock
