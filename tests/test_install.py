"""`pip install .`: one top-level import name, `keras_rm`, that imports from the wheel alone on this backend."""

import pathlib
import subprocess
import sys
import zipfile

import keras_rm
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
    assert not any(
        name.startswith(("keras_rm/examples", "keras_rm/experiments", "keras_rm/benchmarks")) for name in names
    )

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
    assert done.stdout.strip().splitlines()[-1] == f"{BACKEND} {keras_rm.__version__}"


def keras_rm_imports():
    """`{module: modules of keras_rm it imports}` for every module of the package, read from the source: imports
    inside functions count too. (`keras_rm.pipelines` and `keras_rm.tuning` have folders of their own.)"""
    import ast
    import importlib.util

    files = {}
    for package in ("keras_rm", "keras_rm.pipelines", "keras_rm.tuning"):
        folder = pathlib.Path(importlib.util.find_spec(package).submodule_search_locations[0])
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package,) + (parts[:-1] if parts[-1] == "__init__" else parts))
            files.setdefault(name, path)
    imports = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package, `level - 1` packages up
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                # `from package import module` imports the module; `from module import name`, the module.
                found.update(
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names
                )
        imports[name] = {module for module in found if module in files and module != name}
    return imports


def test_no_module_of_keras_rm_imports_itself_back():
    """The package is layered (blocks, memory, rehearsal, models, export): no chain of imports comes back."""
    imports = keras_rm_imports()
    assert {"keras_rm.layers.rehearsal", "keras_rm.pipelines.babi.reader"} <= set(imports)
    assert "keras_rm.layers.memory_update" in imports["keras_rm.layers.memory_machine"]
    circles, done = [], set()

    def visit(module, chain):
        for imported in sorted(imports[module]):
            if imported in chain:
                circles.append(" -> ".join(chain[chain.index(imported) :] + [imported]))
            elif imported not in done:
                visit(imported, chain + [imported])
        done.add(module)

    for module in sorted(imports):
        if module not in done:
            visit(module, [module])
    assert not circles, "Import circles:\n" + "\n".join(circles)
