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
