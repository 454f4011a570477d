"""Compare the printed outputs of two executed versions of a chapter, after the nbval sanitizers.

Used when a chapter's code cells change but its numbers must not: the outputs of all cells are
concatenated in order (cells tagged ``nbval-ignore-output`` are skipped on both sides), each
line is passed through the regexes of tests/sanitize.cfg, and the two line sequences are diffed.
So a cell split in two, or a print moved to the next cell, is no difference; a changed number is.

Usage: python tests/golden_diff.py OLD.ipynb NEW.ipynb     (exit 0: same outputs, 1: they differ)
"""

from __future__ import annotations

import configparser
import difflib
import re
import sys
from pathlib import Path

import nbformat

SANITIZE = Path(__file__).with_name("sanitize.cfg")


def sanitizers() -> list[tuple[re.Pattern, str]]:
    parser = configparser.ConfigParser()
    parser.read(SANITIZE)
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def output_lines(path: Path) -> list[str]:
    notebook = nbformat.read(path, 4)
    subs = sanitizers()
    lines = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or "nbval-ignore-output" in cell.metadata.get("tags", []):
            continue
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            for line in "".join(text).splitlines():
                for pattern, repl in subs:
                    line = pattern.sub(repl, line)
                lines.append(line.rstrip())
    return lines


def main(old: str, new: str) -> int:
    a, b = output_lines(Path(old)), output_lines(Path(new))
    diff = list(difflib.unified_diff(a, b, "old", "new", lineterm="", n=1))
    print("\n".join(diff) if diff else f"same printed outputs ({len(a)} lines)")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
