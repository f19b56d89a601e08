"""Long bAbI: the official bAbI text format, a built-in generator of bAbI-style tasks, and lengthening.

Everything here is plain Python and numpy (no TensorFlow), so stories can be
made anywhere; vectorisation and `tf.data` come on top.

- `read_babi(path)`: one official task file (`qa1_single-supporting-fact_train.txt`,
  ...) into `BabiExample`s, one per question; `read_babi_task(data_dir, task,
  split)` finds the file of a task; `download_babi()` fetches the released
  archive of all twenty tasks once (`keras.utils.get_file`).
- `generate_babi(task, num_examples, seed)`: built-in tasks 1 (single
  supporting fact), 2 (two), 3 (three supporting facts), 6 (yes/no) and
  7 (counting), from a small simulated world of actors, places and objects.
- `lengthen(example, length, depth, distractors, rng)`: places a story's
  sentences, in order, among distractor sentences up to `length` sentences,
  with the story (and so its supporting facts) early, late or anywhere, and
  records the depth of the supporting facts.

Modules: `reader` (`read_babi`, `read_babi_task`, `as_written`, `group_by_story`, `BabiExample`),
`download` (`download_babi`), `generator` (`generate_babi`,
`TASKS`), `lengthening` (`lengthen`, `generate_long_babi`), `vectorizer`
(`BabiVectorizer`, `story_layout`; `tokenize` lives in `pipelines.text`) and `tfds` (the
offline TFDS builder `babi_long`, imported on its own: it needs
`tensorflow_datasets`).
"""

from keras_rm.pipelines.babi.download import BABI_SETS, BABI_URL, download_babi
from keras_rm.pipelines.babi.generator import ACTORS, MOVES, NUMBERS, OBJECTS, PLACES, TASKS, generate_babi
from keras_rm.pipelines.babi.lengthening import (
    DEPTHS,
    DISTRACTOR_SUBJECTS,
    DISTRACTOR_VERBS,
    builtin_distractors,
    generate_long_babi,
    lengthen,
)
from keras_rm.pipelines.babi.reader import (
    TASK_NUMBERS,
    BabiExample,
    as_written,
    group_by_story,
    read_babi,
    read_babi_task,
)
from keras_rm.pipelines.babi.vectorizer import BabiVectorizer, round_up, story_layout
from keras_rm.pipelines.text import tokenize

__all__ = [
    "ACTORS",
    "BABI_SETS",
    "BABI_URL",
    "DEPTHS",
    "DISTRACTOR_SUBJECTS",
    "DISTRACTOR_VERBS",
    "MOVES",
    "NUMBERS",
    "OBJECTS",
    "PLACES",
    "TASKS",
    "TASK_NUMBERS",
    "BabiExample",
    "BabiVectorizer",
    "as_written",
    "builtin_distractors",
    "download_babi",
    "generate_babi",
    "generate_long_babi",
    "group_by_story",
    "lengthen",
    "read_babi",
    "read_babi_task",
    "round_up",
    "story_layout",
    "tokenize",
]
