"""The book's chapters, read from _toc.yml, and helpers shared by the chapter tests."""

from __future__ import annotations

import os
from pathlib import Path

import jupytext

from slotless.execute import toc_pages, with_kernel_retries

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"


def toc_files() -> list[str]:
    """Every page in _toc.yml (root first), as paths without suffix relative to ROOT."""
    return toc_pages(ROOT)


def chapter_paths() -> list[Path]:
    """The executable chapters (pages that hold code cells)."""
    paths = [ROOT / f"{name}.md" for name in toc_files()]
    return [p for p in paths if "```{code-cell}" in p.read_text()]


def golden_name(path: Path) -> str:
    """tests/golden file name of a chapter: its path below book/ with '__' for '/'."""
    return "__".join(path.relative_to(ROOT / "book").with_suffix(".ipynb").parts)


def figure_cells(notebook) -> list[int]:
    """Indices of code cells that declare a figure (mystnb.figure metadata)."""
    return [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and "figure" in cell.metadata.get("mystnb", {})
    ]


def execute_quick(path: Path, output: Path):
    """Run one chapter at quick scale through papermill; return the executed notebook."""
    import papermill

    env_backup = os.environ.pop("MPLBACKEND", None)
    try:
        return with_kernel_retries(lambda: papermill.execute_notebook(  # again if the kernel never started
            jupytext.read(path),
            str(output),
            parameters={"quick": True},
            kernel_name="python3",
            cwd=str(path.parent),
            progress_bar=False,
            execution_timeout=900,
        ))
    finally:
        if env_backup is not None:
            os.environ["MPLBACKEND"] = env_backup


def has_image(cell) -> bool:
    return any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
