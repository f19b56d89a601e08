"""What can a trained memory's rehearsal recall: the supporting facts of a question, or the filler around them?

    python -m benchmarks.recollection_probe --data_dir=<en-10k> --runs=output/babi_long_forms/uniform_seed0,...

For each trained model (an output folder of `experiments/babi_long.py` with
rehearsal), test stories of its tasks are lengthened as it was trained
(`--length` sentences, facts spread uniformly) and written into its memory.
Then, once per story, one item is hidden behind the decoder's [MASK] in a
fragment around it, and the rehearsal decoder, reading only the final memory,
must pick it among `--negatives` other items of the same story (the
recollection task of training, one masked item at a time). The item is a
supporting fact of the question, or a filler sentence (any other item).
Chance is 1 / (1 + negatives). Prints a table per run and task and writes
benchmarks/results/recollection_probe.json.
"""

import os

from absl import app, flags, logging

from benchmarks.common import command_line, machine_description, write_results
from keras_rm.pipelines.metrics import format_table

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Folder of the official bAbI files.")
flags.DEFINE_list("runs", [], "Output folders of trained runs (model.keras with rehearsal; metrics.json).")
flags.DEFINE_integer("length", 200, "Sentences per lengthened test story.")
flags.DEFINE_integer("stories", 200, "Test stories per task.")
flags.DEFINE_integer("negatives", 30, "Other items of the story the masked one is told apart from.")
flags.DEFINE_integer("batch_size", 50, "Stories per batch.")
flags.DEFINE_integer("seed", 0, "Seed of the lengthening and of the draws.")
flags.mark_flag_as_required("data_dir")


def pick(candidates, rng):
    """One position per row among `candidates` (bool `(batch, length)`); -1 where a row has none."""
    import numpy as np

    return np.asarray([rng.choice(np.flatnonzero(row)) if row.any() else -1 for row in candidates])


def recall_hits(net, inputs, positions, seed):
    """Whether the decoder, from the final memory, picks the item at `positions` (one per story) among the
    negatives, with that item behind [MASK] in a fragment around it."""
    import keras
    import numpy as np
    from keras import ops

    from keras_rm import fragments

    rehearsal = net.rehearsal
    forward = net.forward_parts(inputs)
    items, item_mask, memory = forward["items"], forward["item_mask"], forward["memory"]
    length, span = items.shape[1], rehearsal.fragment_length
    starts = np.clip(positions - span // 2, 0, length - span)[:, None].astype("int32")
    fragment_items = fragments.gather_fragments(items, starts, span)
    fragment_mask = fragments.gather_fragments(item_mask, starts, span)
    masked = np.arange(span)[None] == (positions - starts[:, 0])[:, None]
    view = rehearsal.decoder.mask_items(fragment_items, ops.convert_to_tensor(masked))
    reconstructions = rehearsal.decoder(view, fragment_mask, memory, training=False)["reconstructions"]
    where = ops.convert_to_tensor((positions - starts[:, 0])[:, None].astype("int32"))
    guess = fragments.take_rows(reconstructions, where)
    target = fragments.take_rows(fragment_items, where)
    negatives = fragments.draw_items(items, item_mask, FLAGS.negatives, keras.random.SeedGenerator(seed))
    logits = fragments.contrastive_logits(guess, target, negatives, rehearsal.temperature)
    return ops.convert_to_numpy(ops.argmax(logits, axis=-1))[:, 0] == 0


def probe(run):
    import json

    import keras
    import numpy as np

    import keras_rm  # noqa: F401 (registers the model classes)
    from keras_rm.pipelines.babi import BabiVectorizer, lengthen, read_babi_task

    with open(os.path.join(run, "metrics.json")) as f:
        tasks = [int(t) for t in json.load(f)["accuracy_by_task"]]
    net = keras.saving.load_model(os.path.join(run, "model.keras"))
    if not net.rehearsal.active or not net.rehearsal.recollection_weight:
        raise ValueError(f"The model of {run} has no recollection to probe.")
    vectorizer = BabiVectorizer.from_layer(net.text_vectorizer)
    rng = np.random.default_rng(FLAGS.seed)
    rows = {}
    for task in tasks:
        examples = read_babi_task(FLAGS.data_dir, task, "test")[: FLAGS.stories]
        examples = [lengthen(e, FLAGS.length, "uniform", rng=rng) for e in examples]
        data = vectorizer.dataset(examples, FLAGS.batch_size, FLAGS.length, supporting=True)
        hits = {"supporting fact": [], "filler": []}
        for batch, (inputs, _, _) in enumerate(data.as_numpy_iterator()):
            supporting = inputs["importance"] > 0
            real = (inputs["items"] > 0).any(-1)
            for kind, candidates in (("supporting fact", supporting), ("filler", real & ~supporting)):
                positions = pick(candidates, rng)
                hits[kind] += recall_hits(net, inputs, positions, FLAGS.seed + batch).tolist()
        rows[str(task)] = {kind: float(np.mean(h)) for kind, h in hits.items()}
        rows[str(task)]["stories"] = len(hits["filler"])
        print(f"{run}: task {task}: {rows[str(task)]}", flush=True)
    return rows


def main(argv):
    logging.set_verbosity(logging.WARNING)  # absl INFO lines (e.g. JAX looking for a TPU) are noise here
    results = {os.path.basename(os.path.normpath(run)): probe(run) for run in FLAGS.runs}
    table = format_table(
        ["run", "task", "supporting fact recalled", "filler recalled", "stories"],
        [
            [name, task, f"{row['supporting fact']:.1%}", f"{row['filler']:.1%}", row["stories"]]
            for name, by_task in results.items()
            for task, row in by_task.items()
        ],
    )
    print(
        f"\nRecollection from the final memory, one masked item among {FLAGS.negatives} others of its story "
        f"(chance {1 / (1 + FLAGS.negatives):.1%}):"
    )
    print(table)
    names = ["length", "stories", "negatives", "batch_size", "seed"]
    payload = {"command": command_line("recollection_probe.py", names), "machine": machine_description()}
    path = write_results("recollection_probe", {**payload, "results": results, "table": table})
    print(f"Wrote {path}")


if __name__ == "__main__":
    app.run(main)
