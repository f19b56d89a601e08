"""Export to a TensorFlow SavedModel: whole-sequence serving and streaming (`write` / `answer`) endpoints.

TensorFlow is needed to export, not to import `keras_rm`: it is imported by
Keras' `ExportArchive` when `export_saved_model` runs.
"""

import inspect
import os
import subprocess
import sys
import tempfile

import keras

from keras_rm.layers.item_encoder import ItemEncoder

# Endpoints serve, nobody differentiates them: JAX's converter then saves no custom gradients (whose absence
# TensorFlow warns about, three times, when the SavedModel is loaded).
SERVING = {"jax2tf_kwargs": {"with_gradient": False}} if keras.config.backend() == "jax" else {}


def export_saved_model(model, path, verbose=False, chunk_segments=0):
    """Exports a trained model to a TensorFlow SavedModel with serving and streaming signatures.

    The SavedModel needs neither Keras nor `keras_rm` to run: load it with
    `tf.saved_model.load(path)` (or serve it with TF Serving). Every signature
    takes a dynamic batch size; `items` and `query` have the shapes the model
    was built with (integer ids as `int32`, features as `float32`).

    - `serve(items, item_mask, query)` -> `{"logits"}`: the whole sequence
      (of the built length) and a query, as `model.predict`.
    - `initial_memory(batch_size)` -> `{"memory"}`: `(batch_size, num_slots,
      slot_dim)`.
    - `write(memory, items, item_mask)` -> `{"memory"}`: writes one segment of
      `segment_length` items; chain it over a sequence of any length.
    - with `chunk_segments`, `write_chunk(memory, items, item_mask)` ->
      `{"memory"}`: writes `chunk_segments` segments in one call, looping over
      them inside the compiled graph, so a stream written in chunks pays the
      fixed cost of a call (about 0.5 ms from Python on a CPU) once a chunk,
      not once a segment. Pad the last chunk with `item_mask` False: masked
      items are not written.
    - `answer(memory, query)` -> `{"logits"}`: answers from the memory alone.
    - with a `text_vectorizer` (a model of sentences: `SentenceItemEncoder`),
      the same on raw text: `write_text(memory, sentences)` -> `{"memory"}`
      (string `(batch, segment_length)`; an empty string is a padded
      sentence) and `answer_text(memory, question)` -> `{"logits",
      "answer"}` (string `(batch,)`; `answer` is the answer word).
      Tokenisation and lookup run inside the graph.

    The model names the endpoints it has (`serving_endpoints`): a
    `RehearsalMemoryModel` gets all four; the rehearsal decoder, sampler and
    teacher (training only) are not exported. A `FullAttentionModel` gets
    `serve` only. Under TensorFlow and JAX the model is exported in this
    process; under torch it is saved as `.keras` and exported by a
    TensorFlow-backend subprocess (so custom layers must be registered in an
    importable module).

    Args:
        model: a built (trained, or with loaded weights) `RehearsalMemoryModel`
            or `FullAttentionModel`.
        path: str. Folder of the SavedModel (created or overwritten).
        verbose: bool. Print the exported signatures. Defaults to False.
        chunk_segments: int. Segments `write_chunk` writes per call (0: no
            `write_chunk`). Defaults to 0.

    Returns:
        `path`.

    Example:

    ```python
    keras_rm.export.export_saved_model(model, "exported")
    served = tf.saved_model.load("exported")
    memory = served.initial_memory(tf.constant(2))["memory"]
    for segment in segments:  # (2, segment_length) ids each
        memory = served.write(memory, segment, segment > 0)["memory"]
    logits = served.answer(memory, query)["logits"]

    # A long stream: 16 segments a call.
    keras_rm.export.export_saved_model(model, "exported", chunk_segments=16)
    served = tf.saved_model.load("exported")
    for chunk in chunks:  # (2, 16 * segment_length) ids each, the last padded with 0
        memory = served.write_chunk(memory, chunk, chunk > 0)["memory"]
    ```
    """
    if not getattr(model, "serving_endpoints", ()):
        raise TypeError(
            "`model` must be a keras_rm model that serves, such as keras_rm.RehearsalMemoryModel or "
            f"keras_rm.FullAttentionModel. Received: {type(model).__name__}"
        )
    if not isinstance(chunk_segments, int) or chunk_segments < 0:
        raise ValueError(f"`chunk_segments` must be an int, 0 or more. Received: `chunk_segments` = {chunk_segments!r}")
    if chunk_segments and "write" not in model.serving_endpoints:
        raise ValueError(
            f"`chunk_segments` adds a `write_chunk` endpoint, and a {type(model).__name__} does not stream (it has "
            f"no `write`). Received: `chunk_segments` = {chunk_segments}"
        )
    if not model.built:
        raise ValueError(
            f"The {type(model).__name__} was never built or trained, so it has no weights and no input "
            "shapes to export: train it (`fit`), call it on a batch or `build()` it and load weights first."
        )
    path = os.fspath(path)
    if keras.config.backend() == "torch":
        return _export_in_tensorflow_process(model, path, verbose, chunk_segments)
    archive = keras.export.ExportArchive()
    for layer in model.inference_layers():
        archive.track(layer)
    items, query = input_specs(model)
    mask = keras.InputSpec(shape=items.shape[:2], dtype="bool")

    def serve(items, item_mask, query):
        return {"logits": model({"items": items, "item_mask": item_mask, "query": query}, training=False)}

    archive.add_endpoint("serve", serve, [items, mask, query], **SERVING)
    if "write" in model.serving_endpoints:
        _add_streaming_endpoints(archive, model, items, query, chunk_segments)
    if not id_encoders(model):
        archive.write_out(path, verbose=verbose)
        return path
    with tempfile.TemporaryDirectory() as folder:
        archive.write_out(folder, verbose=verbose)
        _save_checking_ids(model, folder, path)
    return path


def id_encoders(model):
    """`{"items": encoder, "query": encoder}` of the inputs the model reads as ids of its own encoders."""
    encoders = {"items": model.item_encoder, "query": model.query_encoder or model.item_encoder}
    return {
        name: encoder
        for name, encoder in encoders.items()
        if isinstance(encoder, ItemEncoder) and encoder.integer_items
    }


def _save_checking_ids(model, source, path):
    """Saves the SavedModel at `source` to `path` with its id endpoints asserting, in the graph, that every id
    lies in its vocabulary.

    A traced model cannot raise on an id outside its embedding table, and a JAX-converted lookup returns NaN
    for one: the served model fails instead, with an error that names the input and the vocabulary size.
    """
    import tensorflow as tf

    served = tf.saved_model.load(source)
    encoders = id_encoders(model)

    def checked(function, names):
        """`function` behind assertions on its arguments called `names` (`items`, `query` or None)."""
        specs = function.concrete_functions[0].structured_input_signature[0]

        @tf.function(input_signature=specs)
        def endpoint(*args):
            assertions = []
            for name, value in zip(names, args):
                for label, ids, size in encoders[name].id_ranges(value, name) if name in encoders else []:
                    message = f"`{label}` holds ids outside the vocabulary [0, {size}) of the served model"
                    assertions += [
                        tf.debugging.assert_non_negative(ids, message=message),
                        tf.debugging.assert_less(ids, tf.cast(size, ids.dtype), message=message),
                    ]
            with tf.control_dependencies(assertions):
                return function(*args)

        return endpoint

    # An AutoTrackable, as Keras' archive: it keeps `served` (its variables, lookup tables and the endpoints that
    # need no check) and the variable lists a user reads from the SavedModel.
    module = tf.train.Checkpoint(served=served)
    for name in ("variables", "trainable_variables", "non_trainable_variables"):
        setattr(module, name, list(getattr(served, name)))
    arguments = {
        "serve": ("items", None, "query"),
        "write": (None, "items", None),
        "write_chunk": (None, "items", None),
        "answer": (None, "query"),
    }
    signatures = {}
    for name in served.signatures:
        if name == "serving_default":
            continue
        function = getattr(served, name)
        if name in arguments:
            function = checked(function, arguments[name])
        setattr(module, name, function)
        signatures[name] = function.get_concrete_function()
    signatures["serving_default"] = signatures["serve"]
    tf.saved_model.save(module, path, signatures=signatures)


def takes_ids(encoder):
    """Whether `encoder` reads integer ids: a keras_rm encoder says so; a plain Keras query encoder does when it
    holds an `Embedding`."""
    if hasattr(encoder, "integer_items"):
        return encoder.integer_items
    return any(isinstance(layer, keras.layers.Embedding) for layer in encoder._flatten_layers())


def input_specs(model):
    """`keras.InputSpec`s of `items` and `query` (dynamic batch) from the shapes the model was built with."""
    shapes = model.get_build_config()["input_shape"]
    encoders = {"items": model.item_encoder, "query": model.query_encoder or model.item_encoder}
    specs = []
    for key in ("items", "query"):
        dtype = "int32" if takes_ids(encoders[key]) else model.compute_dtype
        specs.append(keras.InputSpec(shape=(None,) + tuple(shapes[key])[1:], dtype=dtype))
    return specs


def _add_streaming_endpoints(archive, model, items, query, chunk_segments):
    import tensorflow as tf

    memory = keras.InputSpec(shape=(None, model.num_slots, model.slot_dim), dtype=model.compute_dtype)

    def segments(count):
        """The specs of `items` and `item_mask` of `count` whole segments."""
        length = count * model.segment_length
        return [
            keras.InputSpec(shape=(None, length) + tuple(items.shape[2:]), dtype=items.dtype),
            keras.InputSpec(shape=(None, length), dtype="bool"),
        ]

    # The initial memory is a constant of the trained model; a plain TF
    # function broadcasts it, so its batch size can be a tensor on every backend.
    slots = tf.constant(keras.ops.convert_to_numpy(model.memory_machine.initial_slots), dtype=model.compute_dtype)

    @tf.function(input_signature=[tf.TensorSpec((), tf.int32, name="batch_size")])
    def initial_memory(batch_size):
        shape = tf.stack([batch_size, model.num_slots, model.slot_dim])
        return {"memory": tf.broadcast_to(slots[None], shape)}

    def write(memory, items, item_mask):
        return {"memory": model.write(memory, items, item_mask)}

    def answer(memory, query):
        return {"logits": model.answer(memory, query)}

    initial_memory.get_concrete_function()
    archive.add_endpoint("initial_memory", initial_memory)
    compiled_write = _add_compiled_endpoint(archive, "write", write, [memory, *segments(1)])
    if chunk_segments:  # the memory machine loops over the chunk's segments inside the one compiled call
        _add_compiled_endpoint(archive, "write_chunk", write, [memory, *segments(chunk_segments)])
    answer = _add_compiled_endpoint(archive, "answer", answer, [memory, query])
    if model.text_vectorizer is not None:
        _add_text_endpoints(archive, model, compiled_write, answer, memory)


def _add_compiled_endpoint(archive, name, fn, specs):
    """Adds `fn` as an endpoint compiled whole by XLA, and returns it.

    A streaming call is small (one segment, one query), so a graph of a few hundred small operations costs
    more in their dispatch than in their arithmetic; XLA fuses them (a `write` of one 64-item segment at batch
    1: 1.7 ms as a TensorFlow graph, 0.66 ms compiled). JAX's converter already emits one XLA computation; under
    TensorFlow the endpoint is a `tf.function(jit_compile=True)`, compiled at its first call for each batch size.
    """
    import tensorflow as tf

    if keras.config.backend() != "tensorflow":
        return archive.add_endpoint(name, fn, specs, **SERVING)
    names = inspect.signature(fn).parameters
    signature = [tf.TensorSpec(spec.shape, spec.dtype, name=name) for spec, name in zip(specs, names)]
    compiled = tf.function(fn, input_signature=signature, jit_compile=True, autograph=False)
    compiled.get_concrete_function()
    return archive.add_endpoint(name, compiled)


def _add_text_endpoints(archive, model, write, answer, memory):
    """`write_text` and `answer_text`: the id endpoints behind the model's `SentenceVectorizer`, in one graph."""
    import tensorflow as tf

    vectorizer = model.text_vectorizer
    for lookup in (vectorizer.words, vectorizer.answer_words):
        archive.track(lookup.lookup_table)  # (the layers are TF-trackable only under the TF backend)
    memory = tf.TensorSpec(memory.shape, memory.dtype, name="memory")

    # (autograph off: it would rewrite Keras' preprocessing layers into code that fails outside TF's backend)
    @tf.function(
        input_signature=[memory, tf.TensorSpec((None, model.segment_length), tf.string, name="sentences")],
        autograph=False,
    )
    def write_text(memory, sentences):
        items = vectorizer(sentences)
        return write(memory, items, tf.reduce_any(items > 0, axis=-1))

    @tf.function(input_signature=[memory, tf.TensorSpec((None,), tf.string, name="question")], autograph=False)
    def answer_text(memory, question):
        logits = answer(memory, vectorizer(question))["logits"]
        return {"logits": logits, "answer": vectorizer.answer_of(tf.argmax(logits, axis=-1))}

    archive.add_endpoint("write_text", write_text)
    archive.add_endpoint("answer_text", answer_text)


def _export_in_tensorflow_process(model, path, verbose, chunk_segments):
    """torch cannot export to TensorFlow: save `.keras`, export it from a TensorFlow-backend process."""
    with tempfile.TemporaryDirectory() as folder:
        keras_path = os.path.join(folder, "model.keras")
        model.save(keras_path)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "keras_rm.export", keras_path, path, f"--chunk_segments={chunk_segments}"]
        command += ["--verbose"] if verbose else []
        done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(
            "Exporting the torch-trained model from a TensorFlow-backend process failed (custom layers must be "
            f"registered in a module that process can import). Its error output:\n{done.stderr[-3000:]}"
        )
    if verbose:
        print(done.stdout)
    return path


def _main(argv):
    paths = [arg for arg in argv if not arg.startswith("--")]
    chunks = [int(arg.split("=")[1]) for arg in argv if arg.startswith("--chunk_segments=")]
    if keras.config.backend() != "tensorflow" or len(paths) != 2:
        raise SystemExit(
            "usage: KERAS_BACKEND=tensorflow python -m keras_rm.export MODEL.keras SAVED_MODEL_DIR "
            "[--chunk_segments=N] [--verbose]"
        )
    model = keras.saving.load_model(paths[0])
    export_saved_model(model, paths[1], verbose="--verbose" in argv, chunk_segments=(chunks or [0])[0])


if __name__ == "__main__":
    _main(sys.argv[1:])
