"""Trains and evaluates a memory model on long-video QA over dense frame features: accuracy by depth.

    python -m experiments.video_qa --num_frames=512 --epochs=10 --output_dir=/tmp/video
    python -m experiments.video_qa --sampler=uniform --num_negatives=30   # the paper's uniform rehearsal
    python -m experiments.video_qa --data_dir=~/anet/features --train_questions=~/anet/train_q.json \
        --train_answers=~/anet/train_a.json --test_questions=~/anet/test_q.json \
        --test_answers=~/anet/test_a.json --num_frames=256

Videos come from the built-in generator (`keras_rm.pipelines.video.generate_videos`:
long runs of events, each frame a noisy prototype of its event; questions on
which event came first, what happened just before a rare event, and how
many times a rare event happened; fresh videos every epoch) or, with
`--data_dir`, from ActivityNet-QA-format data: one `.npy` / `.npz` array of
frame features per video and the question JSON files (answers in the same
file or in `--*_answers`; the `--num_answers` most frequent training answers
are classes, any other answer counts as wrong). Every video is subsampled or
padded to `--num_frames` frames.

Training begins with `--warmup_epochs` on videos of `--warmup_length` frames
(built-in data; more videos, as many frames an epoch), which the memory learns
much faster (docs/learning.md). `--init_from=DIR` goes on from an earlier
run's model and vocabulary instead (no warm-up then), e.g. from 512 frames to
4,096:

    python -m experiments.video_qa --num_frames=512 --output_dir=/tmp/v512
    python -m experiments.video_qa --num_frames=4096 --epochs=2 --train_videos=1000 --init_from=/tmp/v512

The memory model writes the frames (a `DenseItemEncoder`) segment by
segment; the question (words, a `TokenItemEncoder`) reads the memory.
Rehearsal (by default with the teacher sampler, which draws the fragments
the question is about) recollects masked frames contrastively against
`--num_negatives` frames of the same video. `--model=full_attention` is the
upper bound that attends over every frame. Writes to `--output_dir`:
`model.keras`, `vocabulary.json`, `metrics.json` (`accuracy`,
`accuracy_by_depth` by quarter of the video holding what the answer needs,
earliest first, `accuracy_by_kind` per question type, `prior_accuracy`:
answering every question with its type's most frequent training answer, what
a model that ignores the video can reach), TensorBoard logs under `logs/`,
`accuracy_by_depth.png` and a SavedModel under `saved_model/` (`--noexport`
skips it). An interrupted run goes on after its last finished epoch when run
again (`--noresume` starts over), as in `experiments/babi_long.py`.
"""

import os

from absl import flags, logging

from experiments.fitting import epoch_size, fit_epochs
from experiments.flags import flag_values, main_program, run_config
from experiments.reports import write_run
from keras_rm.pipelines.metrics import accuracy_report, depth_table, predict_classes

FLAGS = flags.FLAGS


# One flag per argument of `run`, its default taken from there.
FLAG_HELP = {
    "data_dir": (str, "Folder of frame features, one .npy/.npz per video (default: built-in)."),
    "train_questions": (str, "ActivityNet-QA train questions JSON (with --data_dir)."),
    "train_answers": (str, "ActivityNet-QA train answers JSON, if apart."),
    "test_questions": (str, "ActivityNet-QA test questions JSON (with --data_dir)."),
    "test_answers": (str, "ActivityNet-QA test answers JSON, if apart."),
    "num_frames": "Frames per video (subsampled or padded).",
    "feature_dim": "Features per frame of the built-in videos.",
    "model": (["memory", "full_attention"], "Memory model or full-attention upper bound."),
    "num_slots": "Memory slots.",
    "segment_length": "Frames written per segment.",
    "hidden_dim": "Width of frames, words and slots.",
    "recollection_weight": "Weight of the recollection loss (0 with familiarity 0: none).",
    "familiarity_weight": "Weight of the familiarity loss.",
    "rehearsal_warmup": (
        "Training steps over which the rehearsal weights rise from 0, so the task and the teacher are "
        "learned before rehearsal weighs in (0: the paper; 500, the warm-up epochs, was the best "
        "measured over 5 seeds, by a little)."
    ),
    "sampler": (
        ["uniform", "teacher"],
        "History sampler of the rehearsal (on built-in videos teacher rehearsal "
        "was the best measured, uniform 9-14 points below no rehearsal).",
    ),
    "num_negatives": "Frames of the same video each recollected frame is contrasted with.",
    "train_videos": "Training videos per epoch (built-in data).",
    "test_videos": "Test videos (built-in data).",
    "num_answers": "Answer classes kept (the most frequent training answers).",
    "max_words": "Words kept per question.",
    "epochs": "Epochs.",
    "warmup_epochs": (
        "First epochs on videos of `--warmup_length` frames (built-in data; as many frames an epoch as a full one)."
    ),
    "warmup_length": "Frames per video in the warm-up epochs (the built-in generator needs 192 or more).",
    "init_from": (
        str,
        "Output directory of an earlier run: start from its model.keras and vocabulary.json (e.g. "
        "trained on shorter videos); model flags are then ignored and there are no warm-up epochs.",
    ),
    "batch_size": "Batch size.",
    "seed": "Seed of data, initialisation and rehearsal draws.",
    "output_dir": "Where the model, metrics, logs and plot go.",
    "export": "Export a SavedModel (serve, and for the memory: initial_memory, write, answer).",
    "resume": "Go on from the backup an interrupted run left in output_dir/backup.",
}


def build_model(model, vectorizer, feature_dim, hidden_dim, **memory_kwargs):
    """The memory model (`memory_kwargs`: `RehearsalMemoryModel` arguments) or the full-attention baseline."""
    import keras_rm

    frames = keras_rm.layers.DenseItemEncoder(hidden_dim, feature_dim, name="frame_encoder")
    words = keras_rm.layers.TokenItemEncoder(vectorizer.vocabulary_size, hidden_dim, name="question_encoder")
    if model == "full_attention":
        return keras_rm.FullAttentionModel(frames, num_classes=vectorizer.num_classes, query_encoder=words)
    return keras_rm.RehearsalMemoryModel(
        frames, num_classes=vectorizer.num_classes, query_encoder=words, **memory_kwargs
    )


def prior_accuracy(train, test, vectorizer):
    """The accuracy on `test` of answering every question with its type's most frequent answer in `train`.

    What a model that ignores the video reaches (questions of one type share
    their first words); the chance level the benchmarks quote. Answers that are
    not a class of `vectorizer` count as wrong, as for the models.
    """
    import collections

    counts = collections.defaultdict(collections.Counter)
    for e in train:
        counts[e.kind][e.answer] += 1
    prior = {kind: answers.most_common(1)[0][0] for kind, answers in counts.items()}
    return float(sum(e.answer == prior.get(e.kind) and vectorizer.answer_id(e.answer) != 0 for e in test) / len(test))


def run(
    data_dir=None,
    train_questions=None,
    train_answers=None,
    test_questions=None,
    test_answers=None,
    num_frames=512,
    feature_dim=64,
    model="memory",
    num_slots=8,
    segment_length=32,
    hidden_dim=64,
    recollection_weight=1.0,
    familiarity_weight=0.5,
    rehearsal_warmup=500,
    sampler="teacher",
    num_negatives=30,
    train_videos=2000,
    test_videos=500,
    num_answers=1000,
    max_words=12,
    epochs=10,
    warmup_epochs=3,
    warmup_length=192,
    init_from=None,
    batch_size=32,
    seed=0,
    output_dir="output/video_qa",
    export=True,
    resume=True,
    verbose=1,
):
    """Trains, evaluates and writes everything; returns the metrics dict."""
    import keras
    import numpy as np

    from keras_rm.pipelines.video import VideoQAVectorizer, generate_videos, load_frames, read_activitynet_qa

    os.makedirs(output_dir, exist_ok=True)
    keras.utils.set_random_seed(seed)
    if data_dir:
        if not (train_questions and test_questions):
            raise ValueError("With `data_dir`, give `train_questions` and `test_questions` (ActivityNet-QA JSON).")
        train = read_activitynet_qa(data_dir, train_questions, train_answers)
        test = read_activitynet_qa(data_dir, test_questions, test_answers)
    else:
        train = generate_videos(train_videos, num_frames, feature_dim, seed=seed)
        test = generate_videos(test_videos, num_frames, feature_dim, seed=seed + 10_000)
    frame_features = load_frames(train[0].frames).shape[1] if data_dir else feature_dim
    if init_from:
        vectorizer = VideoQAVectorizer.load(os.path.join(init_from, "vocabulary.json"))
        net = keras.saving.load_model(os.path.join(init_from, "model.keras"))
    else:
        vectorizer = VideoQAVectorizer(max_words, num_answers)
        vectorizer.adapt(train if data_dir else train + test)  # built-in answers are a closed set: all of it
        net = build_model(
            model,
            vectorizer,
            feature_dim=frame_features,
            hidden_dim=hidden_dim,
            memory=dict(num_slots=num_slots, segment_length=segment_length),
            rehearsal=dict(
                recollection_weight=recollection_weight,
                familiarity_weight=familiarity_weight,
                rehearsal_warmup=rehearsal_warmup,
                sampler=sampler,
                num_negatives=num_negatives,
            ),
            seed=seed,
        )
        net.compile()
        # Built for the trained length (what `serve` is exported for), whatever the warm-up epochs' length.
        net.build(
            {"items": (None, num_frames, frame_features), "item_mask": (None, num_frames), "query": (None, max_words)}
        )
    vectorizer.save(os.path.join(output_dir, "vocabulary.json"))
    if data_dir or init_from:
        warmup_epochs = 0  # real videos are not shortened; a model that goes on has learned from short ones

    def epoch_data(epoch):
        # Built-in: fresh videos every epoch. Real data: the training questions whose answer is a class, in an
        # order that depends on the epoch alone (so a resumed run sees what an uninterrupted one does).
        length, count = epoch_size(epoch, num_frames, train_videos, warmup_epochs, warmup_length)
        if data_dir or (epoch == 0 and length == num_frames):
            examples = train
        else:
            examples = generate_videos(count, length, feature_dim, seed=seed + epoch)
        examples = [e for e in examples if vectorizer.answer_id(e.answer)]
        order = np.random.default_rng(seed + epoch).permutation(len(examples))
        data = vectorizer.dataset([examples[i] for i in order], batch_size, length)
        return data.map(lambda x, y, d: (x, y))

    history, start = fit_epochs(net, epoch_data, epochs, output_dir, resume, verbose, shape_changes=[warmup_epochs])

    predictions, labels, depths = predict_classes(net, vectorizer.dataset(test, batch_size, num_frames))
    correct = vectorizer.correct(predictions, labels)
    kinds = np.asarray([e.kind for e in test[: len(correct)]], object)
    metrics = {
        **accuracy_report(correct, depths),
        "accuracy_by_kind": {str(kind): float(correct[kinds == kind].mean()) for kind in sorted(set(kinds) - {None})},
        "prior_accuracy": prior_accuracy(train, test[: len(correct)], vectorizer),
        "answer_classes": vectorizer.num_classes,
        "train_logs": {name: float(v[-1]) for name, v in history.history.items()} if history else {},  # last epoch
        "backend": keras.config.backend(),
        "config": run_config(run, locals()),
        "resumed_after_epochs": start,
    }
    write_run(net, metrics, output_dir, export, f"Video QA, {num_frames} frames, {model}")
    return metrics


def main(argv):
    logging.set_verbosity(logging.WARNING)
    metrics = run(**flag_values(run), verbose=2)
    print(
        f"\nTest accuracy, video QA, {FLAGS.num_frames} frames, {FLAGS.model}, by the quarter of the video "
        f"holding what the answer needs:"
    )
    print(depth_table(metrics))
    print("By question type: " + ", ".join(f"{k} {v:.1%}" for k, v in metrics["accuracy_by_kind"].items()))
    exported = ", saved_model/" if FLAGS.export else ""
    print(f"\nWrote model.keras{exported}, metrics.json, logs/ and accuracy_by_depth.png to {FLAGS.output_dir}")


if __name__ == "__main__":
    main_program(run, FLAG_HELP, main)
