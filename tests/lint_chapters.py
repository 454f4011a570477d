"""Lint the code cells of the book's chapters with ruff, using the project's configuration.

Each chapter (a jupytext MyST notebook) is converted to an .ipynb in a temporary directory, which
ruff checks cell by cell; a finding is reported against the chapter's own path. Exit status is
ruff's: 0 clean, 1 findings. Usage: python tests/lint_chapters.py [chapter.md ...] (default: every
chapter of the book).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]


def lint(paths: list[Path]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        names = {}
        for path in paths:
            resolved = path.resolve()
            parts = resolved.relative_to(ROOT).parts if resolved.is_relative_to(ROOT) else (resolved.name,)
            target = Path(tmp) / "__".join(Path(*parts).with_suffix(".ipynb").parts)
            jupytext.write(jupytext.read(path), target)
            names[target.name] = str(path)
        proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml"),
                               "--no-cache", "--output-format", "concise", *sorted(str(Path(tmp) / n) for n in names)],
                              capture_output=True, text=True, cwd=tmp)
    out = proc.stdout + proc.stderr
    for name, original in names.items():
        out = out.replace(str(Path(tmp) / name), original).replace(name, original)
    sys.stdout.write(out)
    return proc.returncode


def main(argv: list[str]) -> int:
    if argv:
        paths = [Path(a) for a in argv]
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from chapters import chapter_paths

        paths = chapter_paths()
    return lint(paths)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
