"""The guides' code runs as written: every ```python block of a page, in order, in one namespace per page."""

import re

import pytest

from tests.testing import ROOT, only_torch_unless_slow

# docs/data.md (your own data) and the README's quick start; tiny sizes, seconds each. docs/serving.md exports a
# SavedModel (under torch through a TF process): `make test-all` only.
PAGES = ["docs/data.md", "README.md", pytest.param("docs/serving.md", marks=pytest.mark.slow)]


def python_blocks(page):
    return re.findall(r"^```python\n(.*?)^```$", (ROOT / page).read_text(), re.S | re.M)


# Backend-independent usage: under torch in `make test` (JAX compiles each of the page's steps: 90 s), every backend
# under `make test-all`.
@only_torch_unless_slow
@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_of_the_page_runs(page, tmp_path, monkeypatch):
    blocks = python_blocks(page)
    assert blocks, f"{page} has no ```python block"
    monkeypatch.chdir(tmp_path)  # whatever a block writes stays out of the checkout
    namespace = {"__name__": "__main__"}
    for number, block in enumerate(blocks, 1):
        # Compiled under the page's name, so a failure's traceback names the page and the block.
        exec(compile(block, f"{page}, python block {number}", "exec"), namespace)


# What a results file records as a run's outcome (not its curves, costs or settings), and what a page may quote.
OUTCOMES = {"accuracy", "auc", "mean_error", "accuracy_mean"}
NOT_OUTCOMES = {"learning_curve", "train_logs", "config", "settings", "cost"}


def recorded_figures(results_file):
    """The outcomes a results file holds (`OUTCOMES`), and for outcomes recorded per seed (a dict keyed "0", "1",
    ...) their mean over the seeds."""
    import json

    def outcomes(value):
        """(key, number) of every outcome in `value`."""
        if isinstance(value, list):
            for item in value:
                yield from outcomes(item)
        if not isinstance(value, dict):
            return
        for key, item in value.items():
            if key in OUTCOMES and isinstance(item, (int, float)):
                yield key, float(item)
            elif key not in NOT_OUTCOMES:
                yield from outcomes(item)
        if value and all(key.isdigit() for key in value):  # one entry per seed: the means over the seeds
            per_seed = [dict(outcomes(item)) for item in value.values()]
            for key in set.intersection(*(set(seed) for seed in per_seed)):
                yield key, sum(seed[key] for seed in per_seed) / len(per_seed)

    return [number for _, number in outcomes(json.loads((ROOT / results_file).read_text()))]


def test_every_figure_of_the_readme_status_is_in_the_results_it_links():
    # One source for every figure: each line of the README's status links the benchmarks/results/*.json it quotes,
    # and each figure with a decimal point (99.3%, 0.873) is one those files hold, to the digits shown.
    status = (ROOT / "README.md").read_text().split("\n## Status\n")[1].split("\n## ")[0]
    bullets = re.split(r"\n(?=- )", status.split("\n- ", 1)[1])
    assert len(bullets) >= 3, status
    for bullet in bullets:
        figures = re.findall(r"(?<![\w.])(\d+)\.(\d+)(%?)", bullet)
        files = re.findall(r"\((benchmarks/results/\w+\.json)\)", bullet)
        if not figures:
            continue
        assert files, f"a status line quotes figures without linking the results that hold them: {bullet!r}"
        held = [number for results_file in files for number in recorded_figures(results_file)]
        for whole, decimals, percent in figures:
            quoted = float(f"{whole}.{decimals}")
            scales = (100.0,) if percent else (1.0,)
            assert any(round(number * scale, len(decimals)) == quoted for number in held for scale in scales), (
                f"the README quotes {whole}.{decimals}{percent}, which {files} do not hold: {bullet!r}"
            )
