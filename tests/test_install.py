"""`pip install .`: one top-level import name, `keras_rm`, that imports from the wheel alone on this backend."""

import subprocess
import sys
import zipfile

from tests.testing import BACKEND, ROOT, only_torch_unless_slow, subprocess_env


@only_torch_unless_slow
def test_the_wheel_adds_only_keras_rm_and_its_subpackages_import_from_it(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("keras_rm-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert {name.split("/")[0] for name in names if ".dist-info" not in name} == {"keras_rm"}
    assert "keras_rm/pipelines/babi/reader.py" in names and "keras_rm/tuning/search.py" in names
    assert not any(name.startswith(("keras_rm/examples", "keras_rm/benchmarks")) for name in names)

    # Installed into a folder of its own, imported from there in a fresh process outside the checkout (its
    # dependencies from this environment): nothing under keras_rm reaches for the checkout's folders.
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import keras, keras_rm, keras_rm.pipelines.babi, "
        "keras_rm.tuning.hypermodel; assert keras_rm.__file__.startswith(sys.argv[1]), keras_rm.__file__; "
        "print(keras.config.backend(), keras_rm.__version__)"
    )
    env = subprocess_env()
    env.pop("PYTHONPATH")
    done = subprocess.run(
        [sys.executable, "-c", code, str(target)], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == f"{BACKEND} 0.5.0"
