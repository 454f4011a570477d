"""Regenerate tests/golden/*.ipynb: each chapter executed at quick scale.

Images are stripped (nbval does not compare them; the chapter tests check that
figures exist), and so is volatile metadata. nbval re-executes these notebooks in
`make test` and compares every text output after tests/sanitize.cfg rounds numbers.

Usage: .venv/bin/python tests/make_golden.py [substring of the path below book/ ...]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chapters import GOLDEN, ROOT, chapter_paths, execute_quick, golden_name  # noqa: E402


def strip(notebook):
    notebook.metadata.pop("papermill", None)
    for cell in notebook.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for key in [k for k in data if k.startswith("image/")]:
                del data[key]
            output.get("metadata", {}).clear()
    return notebook


def main(filters: list[str]) -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for path in chapter_paths():
        if filters and not any(f in path.relative_to(ROOT / "book").as_posix() for f in filters):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            executed = execute_quick(path, Path(tmp) / "out.ipynb")
        target = GOLDEN / golden_name(path)
        nbformat.write(strip(executed), target)
        print(f"wrote {target.relative_to(GOLDEN.parents[1])}")


if __name__ == "__main__":
    main(sys.argv[1:])
