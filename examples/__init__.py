"""Example programs of keras-rm (absl command lines); `fitting`, `flags` and `reports` hold what they share."""

import os
import sys


def _import_tensorflow_quietly():
    """Imports TensorFlow (every example's data pipeline uses it) with stderr closed.

    TensorFlow 2.19 and later print C++ notices (oneDNN, CPU instructions) when imported, whatever
    `TF_CPP_MIN_LOG_LEVEL` says (tensorflow/tensorflow#100442); they are noise in a program's output. An
    import error still raises, with its traceback, once stderr is back.
    """
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()
