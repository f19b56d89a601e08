"""The released bAbI archive (tasks 1-20, v1.2), downloaded once into the Keras cache and extracted."""

import os

BABI_URL = "https://s3.amazonaws.com/text-datasets/babi_tasks_1-20_v1-2.tar.gz"
BABI_SETS = ("en", "en-10k", "en-valid", "en-valid-10k", "hn", "hn-10k", "shuffled", "shuffled-10k")


def download_babi(babi_set="en-10k", origin=BABI_URL, cache_dir=None, file_hash=None):
    """The folder of one set of the released bAbI tasks, downloaded and extracted on first use.

    The archive (facebookarchive/bAbI-tasks, v1.2, 15 MB) goes through
    `keras.utils.get_file`, as Keras' own bAbI example did: it is fetched once
    into `~/.keras/datasets` (or `cache_dir`) and read from there afterwards,
    offline. Pass the folder to `read_babi_task` or as `--data_dir` to
    `examples/babi_long.py` (or `experiments/babi_long.py`, the job the benchmarks run).

    Args:
        babi_set: str. The archive's folder: `"en-10k"` (10,000 training
            questions a task), `"en"` (1,000), or another of `BABI_SETS`.
        origin: str. Where the archive comes from (a URL or a `file://` path
            of a local copy).
        cache_dir: str. Defaults to Keras' cache, `~/.keras`.
        file_hash: str. Optional sha256 or md5 of the archive, checked.

    Returns:
        The path of the folder holding the set's `qa*_train.txt` and
        `qa*_test.txt` files.

    Example:

    ```python
    data_dir = download_babi("en-10k")
    train = read_babi_task(data_dir, task=2, split="train")
    ```
    """
    import keras

    if babi_set not in BABI_SETS:
        raise ValueError(f"`babi_set` must be one of {list(BABI_SETS)}. Received: `babi_set` = {babi_set!r}")
    root = keras.utils.get_file(
        "babi_tasks_1-20_v1-2.tar.gz", origin=origin, extract=True, cache_dir=cache_dir, file_hash=file_hash
    )
    for folder, subfolders, _ in os.walk(root):
        if babi_set in subfolders:
            return os.path.join(folder, babi_set)
    raise ValueError(f"The archive from {origin} has no folder {babi_set!r} (extracted to {root}).")
