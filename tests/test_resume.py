"""Crash recovery: a run killed with SIGKILL and started again ends where an uninterrupted run ends.

`keras.callbacks.BackupAndRestore` writes the weights, the optimizer state
and (through `TaskModel.save_own_variables`) the seed-generator states of the
rehearsal after every epoch. The same training run three times here: once
through (in the test's process), once killed in the middle of an epoch, and
the same command once more to finish.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from testing import BACKEND, ROOT, subprocess_env  # noqa: E402

EPOCHS = 4
KILLED_IN = 2  # the epoch (0-based) in whose middle the second run is killed
STALL = "KERAS_RM_TEST_STALL_IN_EPOCH"  # only the run to kill stalls there, so the command stays the same

# Measured: all three backends repeat the run bit for bit on CPU (JAX with
# the shared compile cache runs the same executable in every process).
TOLERANCE = 1e-6


def start(output_dir, stall=False):
    env = subprocess_env()
    env.pop(STALL, None)
    if stall:
        env[STALL] = str(KILLED_IN)
    return subprocess.Popen(
        [sys.executable, __file__, str(output_dir)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process):
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr[-3000:]


def epochs_recorded(output_dir):
    with open(output_dir / "epochs.jsonl") as f:
        return [json.loads(line) for line in f]


def test_a_run_killed_mid_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    through, crashed = tmp_path / "through", tmp_path / "crashed"
    doomed = start(crashed, stall=True)
    worker(through)  # the uninterrupted run, here while the doomed one starts (a process fewer to start)
    deadline = time.time() + 180
    while not (crashed / "stalled").exists():
        assert doomed.poll() is None, doomed.communicate()[1][-3000:]
        assert time.time() < deadline, "the run to kill never reached its epoch"
        time.sleep(0.1)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.communicate()
    assert doomed.returncode == -signal.SIGKILL
    assert [r["epoch"] for r in epochs_recorded(crashed)] == list(range(KILLED_IN))
    assert (crashed / "backup").exists() and not (crashed / "final.npz").exists()

    finish(start(crashed))  # the same command again

    reference, resumed = epochs_recorded(through), epochs_recorded(crashed)
    assert [r["epoch"] for r in reference] == list(range(EPOCHS))
    assert [r["epoch"] for r in resumed] == list(range(EPOCHS)), "no epoch lost or repeated"
    for a, b in zip(reference, resumed):
        assert a.keys() == b.keys()
        for name in a["logs"]:
            np.testing.assert_allclose(
                b["logs"][name], a["logs"][name], rtol=TOLERANCE, atol=TOLERANCE, err_msg=f"epoch {a['epoch']} {name}"
            )
    expected, actual = np.load(through / "final.npz"), np.load(crashed / "final.npz")
    assert expected.files == actual.files
    diff = max(float(np.abs(expected[k] - actual[k]).max()) for k in expected.files)
    print(f"{BACKEND}: max abs weight difference after resume {diff:.2e}")
    assert diff <= TOLERANCE
    for key in expected.files:  # the seed-generator states and optimizer step count match exactly
        if "seed" in key or "iteration" in key:
            np.testing.assert_array_equal(actual[key], expected[key], err_msg=key)


def worker(output_dir):
    """Trains the tiny teacher-sampler model for EPOCHS epochs with a backup in `output_dir/backup`."""
    from testing import recall_data, tiny_model

    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    stall_in = int(os.environ.get(STALL, -1))

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            with open(output_dir / "epochs.jsonl", "a") as f:
                f.write(json.dumps({"epoch": epoch, "logs": {k: float(v) for k, v in logs.items()}}) + "\n")

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == stall_in and batch == 1:  # two steps of the epoch done, not backed up
                (output_dir / "stalled").touch()
                time.sleep(600)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    x, y, _ = recall_data(32, seed=1)
    keras.backend.clear_session()  # the layer names a fresh process gives, whatever this process built before
    keras.utils.set_random_seed(3)
    model = tiny_model(sampler="teacher")
    model.build({"items": (None, 16), "query": (None, 1)})
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    backup = keras.callbacks.BackupAndRestore(str(output_dir / "backup"))
    model.fit(x, y, batch_size=8, epochs=EPOCHS, shuffle=False, verbose=0, callbacks=[backup, Record()])
    arrays = {v.path: keras.ops.convert_to_numpy(v.value) for v in model.variables}
    arrays.update({v.path: keras.ops.convert_to_numpy(v.value) for v in model.optimizer.variables})
    np.savez(output_dir / "final.npz", **arrays)


if __name__ == "__main__":
    import conftest  # noqa: F401  (the test process's settings: without TF's graph optimiser, as there)

    worker(sys.argv[1])
