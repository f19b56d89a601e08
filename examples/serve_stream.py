"""Serves an exported memory model in plain TensorFlow: stream a long story in, keep only the memory, ask questions.

    python -m examples.babi_long --output_dir=/tmp/babi          # trains and exports saved_model/
    python -m examples.serve_stream --model_dir=/tmp/babi --length=1000 --questions=4

No Keras and no `keras_rm` here: the SavedModel of
`keras_rm.export.export_saved_model` holds everything. One built-in bAbI
story is lengthened to `--length` sentences (any length: the stream is not
limited to the length the model was trained on), written segment by segment
through the `write_text` signature as plain strings, and dropped;
`--questions` questions about it are then answered from the memory alone with
`answer_text`, which returns the answer word. Words become ids inside the
SavedModel (the model's `SentenceVectorizer`), so no vocabulary file is
needed. Prints the answers and the size of the state kept against the story's size,
and writes them to `--model_dir/serve_stream.json`.
"""

import json
import os

from absl import app, flags, logging

FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags (defined on demand, so the module imports beside other absl programs)."""
    flags.DEFINE_string("model_dir", "output/babi_long", "Output folder of examples/babi_long.py.")
    flags.DEFINE_integer("task", 1, "bAbI task of the built-in generator (1, 2, 3, 6, 7).")
    flags.DEFINE_integer("length", 1000, "Sentences streamed.")
    flags.DEFINE_integer("questions", 4, "Questions asked about the story.")
    flags.DEFINE_integer("seed", 0, "Seed of the story.")


def run(model_dir, task=1, length=1000, questions=4, seed=0):
    """Streams one story through the SavedModel in `model_dir/saved_model`; returns the answers and sizes."""
    import numpy as np
    import tensorflow as tf

    from keras_rm.pipelines.babi import generate_babi, lengthen

    served = tf.saved_model.load(os.path.join(model_dir, "saved_model"))
    if not hasattr(served, "write_text"):
        raise ValueError(
            f"{model_dir}/saved_model has no `write_text` signature: export a memory model of "
            "sentences that holds its `text_vectorizer` (examples/babi_long.py does)."
        )
    segment_length = served.write_text.concrete_functions[0].structured_input_signature[0][1].shape[1]

    # Consecutive examples share one story; the same seed places it identically among the distractors.
    asked = generate_babi(task, questions, seed=seed, questions_per_story=questions)
    examples = [lengthen(e, length, rng=np.random.default_rng(seed)) for e in asked]
    story = examples[0].story

    memory = served.initial_memory(tf.constant(1))["memory"]
    for start in range(0, length, segment_length):
        segment = story[start : start + segment_length]
        segment = segment + [""] * (segment_length - len(segment))  # the last one padded with empty sentences
        memory = served.write_text(memory, tf.constant([segment]))["memory"]

    answers = served.answer_text(tf.repeat(memory, len(examples), axis=0), tf.constant([e.question for e in examples]))
    probabilities = tf.nn.softmax(answers["logits"]).numpy()
    return {
        "questions": [
            {
                "question": e.question,
                "answer": answer.decode(),
                "probability": float(p.max()),
                "truth": str(e.answer),
                "depth": e.depth,
            }
            for e, answer, p in zip(examples, answers["answer"].numpy(), probabilities)
        ],
        "segments_written": -(-length // segment_length),
        "state_shape": list(memory.shape),
        "state_bytes": int(memory.numpy().nbytes),
        "story_bytes": len("\n".join(story).encode()),
    }


def main(argv):
    logging.set_verbosity(logging.WARNING)
    result = run(FLAGS.model_dir, FLAGS.task, FLAGS.length, FLAGS.questions, FLAGS.seed)
    print(f"Streamed {FLAGS.length} sentences in {result['segments_written']} writes; kept only the memory.")
    for q in result["questions"]:
        mark = "right" if q["answer"] == q["truth"] else f"wrong, truth: {q['truth']}"
        print(
            f"  {q['question']:<36} -> {q['answer']:<10} p={q['probability']:.2f} "
            f"({mark}; fact at {q['depth']:.0%} of the story)"
        )
    print(
        f"State kept: memory {tuple(result['state_shape'])} float32 = {result['state_bytes']:,} bytes "
        f"(the story as text: {result['story_bytes']:,} bytes, growing with its length)."
    )
    with open(os.path.join(FLAGS.model_dir, "serve_stream.json"), "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    from keras_rm.pipelines.data import import_tensorflow_quietly

    import_tensorflow_quietly()
    define_flags()
    app.run(main)
