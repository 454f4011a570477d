"""`make lab`'s kernel: `make kernel` registers the venv's Python as the Jupyter kernel `slotless`,
and a chapter executes at quick scale on it through nbclient.

`make kernel` needs only ipykernel (one of the book's pins), not JupyterLab, so this runs in
`make test` without the lab packages. It registers the kernel in a temporary prefix here
(KERNEL_PREFIX), found through JUPYTER_PATH, so the test leaves the venv as it was.
"""

import json
import os
import re
import shutil
import subprocess

import jupytext
import pytest
from chapters import ROOT, chapter_paths, figure_cells, has_image

VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
STAMP = ROOT / ".venv" / ".slotless-installed"


@pytest.fixture(scope="module")
def slotless_kernel(tmp_path_factory):
    if shutil.which("make") is None or not STAMP.exists():
        pytest.skip("needs GNU make and the venv that `make test` sets up")
    prefix = tmp_path_factory.mktemp("kernel-prefix")
    # -o: take the venv as it is (never reinstall it from inside a test).
    command = ["make", "--no-print-directory", "-C", str(ROOT), "-o", str(STAMP), "kernel", f"KERNEL_PREFIX={prefix}"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return prefix / "share" / "jupyter"


def test_make_kernel_registers_slotless_running_the_venv_python(slotless_kernel, monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager

    spec_file = slotless_kernel / "kernels" / "slotless" / "kernel.json"
    assert json.loads(spec_file.read_text())["display_name"] == "Python 3 (slotless)"
    monkeypatch.setenv("JUPYTER_PATH", str(slotless_kernel))
    spec = KernelSpecManager().get_kernel_spec("slotless")
    assert spec.language == "python"
    assert spec.argv[0] == str(VENV_PYTHON), spec.argv


def test_a_chapter_executes_at_quick_scale_on_the_slotless_kernel(slotless_kernel, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", str(slotless_kernel))
    monkeypatch.setenv("BOOK_QUICK", "1")  # the kernel inherits the environment: quick scale
    monkeypatch.delenv("MPLBACKEND", raising=False)
    chapter = min(chapter_paths(), key=lambda p: p.stat().st_size)
    notebook = jupytext.read(chapter)
    notebook.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    client = NotebookClient(notebook, kernel_name="slotless", timeout=900,
                            resources={"metadata": {"path": str(chapter.parent)}})
    client.execute()
    assert notebook.cells[-1].outputs[0]["text"].strip() == str(VENV_PYTHON)
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    assert all(has_image(notebook.cells[i]) for i in figure_cells(notebook)), f"{chapter.name}: a figure is missing"


def test_lab_settings_make_markdown_open_as_a_jupytext_notebook():
    overrides = json.loads((ROOT / ".binder" / "lab-overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}


def test_lab_requirements_are_exact_pins_of_jupyterlab_and_jupyterlab_myst():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements-lab.txt").read_text().splitlines()]
    pins = dict(line.split("==") for line in lines if line)
    assert set(pins) == {"jupyterlab", "jupyterlab_myst"}
    book = (ROOT / "requirements.txt").read_text()
    assert "jupytext==" in book and "ipykernel==" in book, "the lab relies on the book's jupytext and ipykernel"


def test_lab_opens_a_chapter_that_exists():
    makefile = (ROOT / "Makefile").read_text()
    first = re.search(r"^FIRST_CHAPTER := (\S+)$", makefile, re.M).group(1)
    assert (ROOT / first).exists() and "```{code-cell}" in (ROOT / first).read_text()
