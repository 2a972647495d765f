"""notebooks/walkthrough.ipynb runs top to bottom in a fresh kernel (nbclient, from the test extra), in well under
a minute, and is committed without outputs."""

import os
import time
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "walkthrough.ipynb"


def test_the_committed_notebook_has_no_outputs():
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert len(code) >= 8
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_the_notebook_runs_top_to_bottom(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # the kernel is a child process: it must import this very numpyvae, and find the data where the tests do
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    started = time.perf_counter()
    with warnings.catch_warnings():  # the Jupyter machinery's own deprecation notices are not this project's
        warnings.simplefilter("ignore", DeprecationWarning)
        client.execute()
    seconds = time.perf_counter() - started
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    text = "".join(output.get("text", "") for output in outputs)
    assert "every gradient agrees with its numerical check" in text
    assert "it equals g sigmoid(-a)" in text and "pass: every row of softplus agrees" in text
    assert any("image/png" in output.get("data", {}) for output in outputs)  # the training curves
    assert seconds < 120, f"the notebook took {seconds:.0f} s"
