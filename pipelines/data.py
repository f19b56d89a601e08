"""The `tf.data` plumbing shared by the pipelines: Python rows or whole numpy batches in, `tf.data` batches out."""

import atexit
import gc


def collect_finished_iterators():
    """Finalizes the iterators a finished `fit` or `predict` left over a `from_generator` dataset, now.

    Keras's epoch iterators stay in reference cycles after the call, suspended inside the generator. Left to the
    garbage collection at interpreter exit, finalizing one can deadlock with TF's threads (it hung a JAX
    data-parallel run in about 1 exit of 20). The pipelines run it when the interpreter begins to exit (`atexit`,
    while TF's threads still run), so a user who calls `model.fit` on their datasets needs nothing; the experiments
    also run it after each `fit`.
    """
    gc.collect()


atexit.register(collect_finished_iterators)


def import_tensorflow_quietly():
    """Imports TensorFlow with stderr (file descriptor 2) pointed at `os.devnull` meanwhile, then restored.

    TensorFlow 2.19 and later print C++ notices (oneDNN, CPU instructions) when imported, whatever
    `TF_CPP_MIN_LOG_LEVEL` says (tensorflow/tensorflow#100442). A command line calls this first, before anything
    imports TensorFlow, so that its output starts with its own lines; a library import never calls it. Under the
    TensorFlow backend `import keras` (and so `import keras_rm`) imports TensorFlow first, with its notices. An
    import error still raises, with its traceback, once stderr is back.
    """
    import os
    import sys

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


def batches_from_rows(rows, signature, count, batch_size, vectorize, shuffle=False, seed=0, shuffle_buffer=None):
    """A `tf.data.Dataset` of `vectorize(*row)` over batches of the rows `rows()` yields.

    Args:
        rows: a generator function yielding tuples matching `signature`.
        signature: tuple of `tf.TensorSpec`, one per element of a row.
        count: int. Number of rows (the dataset's cardinality).
        batch_size: int. The last partial batch is dropped (static shapes).
        vectorize: function of the batched row elements, run in the graph.
        shuffle: bool. Shuffle the rows every epoch.
        seed: int. Shuffle seed.
        shuffle_buffer: int. Defaults to `count` (a full shuffle).
    """
    import tensorflow as tf

    data = tf.data.Dataset.from_generator(rows, output_signature=signature)
    data = data.apply(tf.data.experimental.assert_cardinality(count))
    if shuffle:
        data = data.shuffle(shuffle_buffer or count, seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size, drop_remainder=True)
    return data.map(vectorize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def dataset_of_batches(batches, signature, count):
    """A `tf.data.Dataset` of the batches the generator function `batches` yields: nested numpy arrays matching
    `signature` (`tf.TensorSpec`s), `count` of them. Each is built while the model trains on the ones before
    (prefetched); a new iteration (epoch) calls `batches` again."""
    import tensorflow as tf

    data = tf.data.Dataset.from_generator(batches, output_signature=signature)
    return data.apply(tf.data.experimental.assert_cardinality(count)).prefetch(tf.data.AUTOTUNE)
