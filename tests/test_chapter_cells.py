"""Chapters only call the package: short code cells, and no training loop or statistical test defined in a
chapter. The same rules as the project's chapter_cells check: a cell's length counts its non-blank,
non-comment lines after its metadata; at most five cells in the book are over 15 lines and none over 25."""

from __future__ import annotations

import re

from chapters import ROOT, chapter_paths

LOGIC_NAME = re.compile(r"train|fisher|mcnemar|success_ci|binom|mann|wilcoxon|bootstrap|permutation|sweep", re.I)
LOGIC_CALL = re.compile(r"(fisher_exact|mannwhitneyu|mcnemar|binomtest|wilcoxon)\(")


def code_cells(path):
    """(first line, source lines) of every code cell of a jupytext MyST chapter, metadata skipped."""
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^(`{3,})\{code-cell\}", lines[i])
        if fence:
            start, body = i + 1, []
            i += 1
            if i < len(lines) and lines[i].strip() == "---":
                i += 1
                while i < len(lines) and lines[i].strip() != "---":
                    i += 1
                i += 1
            while i < len(lines) and re.match(r"^:[\w-]+:", lines[i]):
                i += 1
            while i < len(lines) and lines[i].strip() != fence.group(1):
                body.append(lines[i])
                i += 1
            yield start, body
        i += 1


def counted(body):
    return [line for line in body if line.strip() and not line.strip().startswith("#")]


def test_code_cells_are_short():
    cells = [(p.relative_to(ROOT), start, len(counted(body))) for p in chapter_paths() for start, body in code_cells(p)]
    over15 = [c for c in cells if c[2] > 15]
    over25 = [c for c in cells if c[2] > 25]
    assert len(over15) <= 5, f"{len(over15)} cells over 15 lines (at most 5): {over15}"
    assert not over25, f"cells over 25 lines: {over25}"


def test_no_chapter_defines_training_or_a_statistical_test():
    found = []
    for path in chapter_paths():
        for start, body in code_cells(path):
            source = "\n".join(body)
            found += [f"{path.name}:{start} defines {m}" for m in re.findall(r"^\s*def (\w+)", source, re.M)
                      if LOGIC_NAME.search(m)]
            found += [f"{path.name}:{start} calls {m}" for m in LOGIC_CALL.findall(source)]
    assert not found, f"logic that belongs in the package: {found}"
