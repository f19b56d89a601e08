"""Serving cost of the exported memory against full attention, as the sequence grows (1k to 1M items).

    python -m benchmarks.serving_cost
    python -m benchmarks.serving_cost --lengths=1024,4096 --answer_repeats=50   # quick

What a deployed model costs per query once a sequence has arrived, measured
on the TensorFlow SavedModels of `keras_rm.export.export_saved_model` (what
is served), one sequence at a time (batch 1), all in this one process:

- memory model: `write` latency per segment (median over every segment of the
  stream) and items written per second, called as a Python user calls the
  loaded SavedModel (`served.write(...)`) and as a server calls its signature
  (`served.signatures["write"]`, which skips Python's argument matching);
  `write_chunk` latency per chunk of 16 segments (1,024 items: one call, the
  loop over its segments inside the compiled graph) and its items per second;
  `answer` latency per query given the memory (median of `--answer_repeats`),
  and the state kept (the memory);
- the same at batch 64 (`--batch_sizes`: 64 streams written at once), at the
  shortest length;
- full attention: `serve` latency per query, which must read the whole raw
  sequence (median of `--full_repeats`), and the state it must keep (the raw
  item ids). Its attention matrix grows as length squared: lengths whose
  attention would exceed `--full_attention_max_gb` are not run.

Token items (ids), hidden 64, 8 slots, segments of 64, 2 Transformer blocks
for full attention. Weights are untrained: cost does not depend on them.
Writes benchmarks/results/serving_cost.json and serving_cost.png.
"""

import os
import tempfile
import time

os.environ["KERAS_BACKEND"] = "tensorflow"  # builds and exports; the SavedModel is plain TensorFlow either way
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags, logging

from benchmarks.common import RESULTS, machine_description, write_results
from keras_rm.pipelines.metrics import format_table
from keras_rm.pipelines.plotting import figure

FLAGS = flags.FLAGS
flags.DEFINE_list("lengths", [str(2**k) for k in range(10, 21)], "Sequence lengths, in items (1k to 1M).")
flags.DEFINE_list("batch_sizes", ["1", "64"], "Streams served at once; batches above 1 run the shortest length only.")
flags.DEFINE_integer("answer_repeats", 200, "Timed `answer` calls per length.")
flags.DEFINE_integer("full_repeats", 5, "Timed full-attention `serve` calls per length.")
flags.DEFINE_float("full_attention_max_gb", 6.0, "Largest attention matrix (GB) full attention is run with.")

CONFIG = dict(
    vocabulary_size=1000, hidden_dim=64, num_slots=8, segment_length=64, num_heads=4, full_layers=2, chunk_segments=16
)
QUERY_LENGTH = 4


def median_seconds(fn, repeats):
    """Median wall time of `fn()` over `repeats` calls, after one untimed call."""
    import numpy as np

    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def export(model, length, folder, chunk_segments=0):
    """Builds `model` for `length` items, exports it and loads the SavedModel back."""
    import tensorflow as tf

    import keras_rm

    model.build({"items": (None, length), "query": (None, QUERY_LENGTH)})
    path = os.path.join(folder, f"{model.name}_{length}")
    path = keras_rm.export.export_saved_model(model, path, chunk_segments=chunk_segments)
    return tf.saved_model.load(path)


def attention_gb(length):
    """Bytes of one layer's float32 attention scores, all heads, batch 1 (query position included)."""
    return CONFIG["num_heads"] * (length + 1) ** 2 * 4 / 1e9


def measure(folder):
    import numpy as np

    import keras_rm

    def encoder():
        return keras_rm.layers.TokenItemEncoder(CONFIG["vocabulary_size"], CONFIG["hidden_dim"])

    rng = np.random.default_rng(0)
    lengths = [int(n) for n in FLAGS.lengths]
    segment = CONFIG["segment_length"]
    memory_model = keras_rm.RehearsalMemoryModel(
        encoder(),
        num_classes=10,
        memory=dict(num_slots=CONFIG["num_slots"], segment_length=segment, num_heads=CONFIG["num_heads"]),
        rehearsal=None,
        name="memory",
    )
    served = export(memory_model, segment, folder, CONFIG["chunk_segments"])
    rows = []
    for batch in [int(b) for b in FLAGS.batch_sizes]:
        query = rng.integers(1, CONFIG["vocabulary_size"], (batch, QUERY_LENGTH)).astype("int32")
        for length in lengths if batch == 1 else lengths[:1]:
            items = rng.integers(1, CONFIG["vocabulary_size"], (batch, length)).astype("int32")
            rows.append(stream(served, items, query))
            if batch == 1:
                rows[-1].update(full_attention(folder, encoder, items, query))
            print(f"batch {batch}, {length} items: {rows[-1]}", flush=True)
    return rows


def stream(served, items, query):
    """Writes `items` `(batch, length)` segment by segment into a new memory, then answers `query`: a row of
    latencies (medians), items written per second and the state kept per sequence."""
    import numpy as np
    import tensorflow as tf

    batch, length = items.shape
    segment = CONFIG["segment_length"]
    mask = np.ones_like(items, bool)
    memory = served.initial_memory(tf.constant(batch))["memory"]
    served.write(memory, items[:, :segment], mask[:, :segment])  # warm-up (XLA compiles per batch size), not kept
    write_times = []
    for start in range(0, length, segment):
        began = time.perf_counter()
        memory = served.write(memory, items[:, start : start + segment], mask[:, start : start + segment])["memory"]
        write_times.append(time.perf_counter() - began)
    # What a server pays that calls the `write` signature (TF Serving does; so can Python): no argument matching.
    signature = served.signatures["write"]
    segment_items, segment_mask = tf.constant(items[:, :segment]), tf.constant(mask[:, :segment])
    write_signature_s = median_seconds(
        lambda: signature(memory=memory, items=segment_items, item_mask=segment_mask), FLAGS.answer_repeats
    )
    write_s = float(np.median(write_times))
    # A chunk of segments a call: the fixed cost of a call paid once a chunk.
    chunk = segment * CONFIG["chunk_segments"]
    chunk_times, chunked = [], served.initial_memory(tf.constant(batch))["memory"]
    served.write_chunk(chunked, items[:, :chunk], mask[:, :chunk])  # warm-up, not kept
    for start in range(0, length - chunk + 1, chunk):
        began = time.perf_counter()
        window = slice(start, start + chunk)
        chunked = served.write_chunk(chunked, items[:, window], mask[:, window])["memory"]
        chunk_times.append(time.perf_counter() - began)
    chunk_s = float(np.median(chunk_times)) if chunk_times else None
    return {
        "batch": batch,
        "length": length,
        "write_ms": 1e3 * write_s,
        "write_items_per_s": batch * segment / write_s,
        "write_signature_ms": 1e3 * write_signature_s,
        "write_signature_items_per_s": batch * segment / write_signature_s,
        "ingest_s": float(np.sum(write_times)),
        "chunk_ms": None if chunk_s is None else 1e3 * chunk_s,
        "chunk_items_per_s": None if chunk_s is None else batch * chunk / chunk_s,
        "answer_ms": 1e3 * median_seconds(lambda: served.answer(memory, query), FLAGS.answer_repeats),
        "memory_bytes": int(memory.numpy().nbytes) // batch,
        "full_bytes": int(items.nbytes) // batch,
        "full_ms": None,
    }


def full_attention(folder, encoder, items, query):
    """`{"full_ms": ...}`: full attention's `serve` latency on `items` and `query` (None where too large)."""
    import numpy as np

    import keras_rm

    length = items.shape[1]
    mask = np.ones_like(items, bool)
    if attention_gb(length) > FLAGS.full_attention_max_gb:
        return {"full_ms": None}
    full = keras_rm.FullAttentionModel(
        encoder(),
        num_classes=10,
        num_layers=CONFIG["full_layers"],
        num_heads=CONFIG["num_heads"],
        name="full_attention",
    )
    full_served = export(full, length, folder)
    return {"full_ms": 1e3 * median_seconds(lambda: full_served.serve(items, mask, query), FLAGS.full_repeats)}


def summarise(rows):
    for row in rows:
        first = next(r for r in rows if r["batch"] == row["batch"])  # the shortest sequence at this batch size
        row["answer_vs_first"] = row["answer_ms"] / first["answer_ms"]
        row["full_vs_answer"] = row["full_ms"] / row["answer_ms"] if row["full_ms"] else None
        row["full_bytes_vs_memory"] = row["full_bytes"] / row["memory_bytes"]
    return rows


def table(rows):
    def ms(value):
        return "n/a (too large)" if value is None else f"{value:.2f}"

    return format_table(
        [
            "batch",
            "items",
            "write ms/segment",
            "write items/s",
            "signature items/s",
            "write_chunk items/s",
            "answer ms",
            "answer vs shortest",
            "full attention ms",
            "full / answer",
            "memory bytes",
            "full-attention bytes",
        ],
        [
            [
                r["batch"],
                r["length"],
                f"{r['write_ms']:.2f}",
                f"{r['write_items_per_s']:,.0f}",
                f"{r['write_signature_items_per_s']:,.0f}",
                "-" if r.get("chunk_items_per_s") is None else f"{r['chunk_items_per_s']:,.0f}",
                f"{r['answer_ms']:.3f}",
                f"{r['answer_vs_first']:.2f}x",
                ms(r["full_ms"]) if r["batch"] == 1 else "not run",
                "n/a" if r["full_vs_answer"] is None else f"{r['full_vs_answer']:.0f}x",
                f"{r['memory_bytes']:,}",
                f"{r['full_bytes']:,}",
            ]
            for r in rows
        ],
    )


def plot(rows, path):
    """Latency (left) and bytes kept per sequence (right) against the sequence length at batch 1, saved to `path`."""
    rows = [r for r in rows if r["batch"] == 1]
    lengths = [r["length"] for r in rows]
    title = "Serving cost of the exported SavedModels, batch 1 (CPU)"
    with figure(path, ncols=2, size=(5, 3.8), title=title) as (left, right):
        left.plot(lengths, [r["answer_ms"] for r in rows], "o-", label="memory: answer (per query)")
        left.plot(lengths, [r["write_ms"] for r in rows], "s-", label="memory: write (per segment)")
        chunks = [(r["length"], r["chunk_ms"]) for r in rows if r.get("chunk_ms")]
        chunk = CONFIG["segment_length"] * CONFIG["chunk_segments"]
        left.plot(*zip(*chunks), "d-", label=f"memory: write_chunk (per {chunk:,} items)")
        full = [(r["length"], r["full_ms"]) for r in rows if r["full_ms"]]
        left.plot(*zip(*full), "^-", label="full attention: serve (per query)")
        left.set(xscale="log", yscale="log", xlabel="sequence length (items)", ylabel="latency (ms, median)")
        left.legend(fontsize=8)
        right.plot(lengths, [r["memory_bytes"] for r in rows], "o-", label="memory state")
        right.plot(lengths, [r["full_bytes"] for r in rows], "^-", label="full attention: raw ids kept")
        right.set(xscale="log", yscale="log", xlabel="sequence length (items)", ylabel="bytes kept per sequence")
        right.legend(fontsize=8)


def main(argv):
    import numpy as np

    logging.set_verbosity(logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        rows = summarise(measure(folder))
    print(table(rows))
    single = [r for r in rows if r["batch"] == 1]
    first, last = single[0], single[-1]
    constant = "constant" if len({r["memory_bytes"] for r in rows}) == 1 else "NOT constant"
    write, signature, chunked = (
        np.median([r[key] for r in single if r.get(key)])
        for key in ("write_items_per_s", "write_signature_items_per_s", "chunk_items_per_s")
    )
    chunk = CONFIG["segment_length"] * CONFIG["chunk_segments"]
    print(
        f"answer latency at {last['length']} items vs {first['length']}: {last['answer_vs_first']:.2f}x "
        f"(target <= 1.1x); write at batch 1: {write:,.0f} items/s (the signature: {signature:,.0f}; "
        f"write_chunk of {chunk:,} items: {chunked:,.0f}, target >= 100,000); "
        f"memory state {constant} at {first['memory_bytes']:,} bytes"
    )
    at_16k = next((r for r in rows if r["length"] == 16384 and r["full_vs_answer"]), None)
    if at_16k:
        print(f"full attention / answer at 16384 items: {at_16k['full_vs_answer']:.0f}x (target >= 20x)")
    write_results("serving_cost", {"machine": machine_description(), "config": CONFIG, "rows": rows})
    plot(rows, os.path.join(RESULTS, "serving_cost.png"))
    print(f"Wrote {RESULTS}/serving_cost.json and serving_cost.png")


if __name__ == "__main__":
    app.run(main)
