"""The notebooks: committed with outputs, in step with notebooks/build.py, and each one runs
top to bottom."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

FOLDER = Path(__file__).resolve().parent.parent / "notebooks"
spec = importlib.util.spec_from_file_location("notebook_build", FOLDER / "build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)
NAMES = list(build.NOTEBOOKS)


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_matches_its_source_and_has_outputs(name):
    committed = nbformat.read(FOLDER / f"{name}.ipynb", as_version=4)
    expected = build.build(name)
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in expected.cells], \
        f"notebooks/{name}.ipynb is stale: run python notebooks/build.py --execute {name}"
    code = [cell for cell in committed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code), f"{name}: committed without running"
    assert not [o for cell in code for o in cell.outputs if o.output_type == "error"]
    images = [o for cell in code for o in cell.outputs if "image/png" in o.get("data", {})]
    assert images, f"{name}: no figure in the outputs"


#: the sliced-array study runs for minutes (dozens of 64-slice ResNet-18 points): thorough tier only
_MARKS = {"cgnet_headline": pytest.mark.slow, "sweep": pytest.mark.heavy}


@pytest.mark.parametrize("name", [pytest.param(name, marks=_MARKS[name]) if name in _MARKS else name
                                  for name in NAMES])
def test_notebook_executes_top_to_bottom(name):
    notebook = build.execute(build.build(name), timeout=600)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code)
