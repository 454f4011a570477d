"""The package mirrors the book: every label a docstring names exists in the book, every public
function and class of the two parts names one, and no source file cites anything outside the repository."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "slotless"
LABEL = re.compile(r"\b(?:ch|eq|thm|prop|rem|lem|cor|fig|tbl|sec|alg)-[a-z0-9]+(?:-[a-z0-9]+)*\b")
# Where the book defines labels: (label)= targets, :label: options, $$ ... $$ (eq-...), figure and table names.
DEFINED = (re.compile(r"^\(([a-z0-9-]+)\)=\s*$", re.M), re.compile(r":label:\s*([a-z0-9-]+)"),
           re.compile(r"\$\$\s*\(([a-z0-9-]+)\)"), re.compile(r"^\s*name:\s*((?:fig|tbl)-[a-z0-9-]+)", re.M))


def book_labels() -> set[str]:
    labels = set()
    for page in (ROOT / "book").rglob("*.md"):
        text = page.read_text()
        for pattern in DEFINED:
            labels.update(pattern.findall(text))
    return labels


def docstrings(path: Path):
    """(name, docstring) of the module and of every function and class in ``path``."""
    tree = ast.parse(path.read_text())
    yield path.stem, ast.get_docstring(tree) or ""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            yield node.name, ast.get_docstring(node) or ""


def test_every_label_a_docstring_names_exists_in_the_book():
    defined = book_labels()
    missing = {}
    for path in PACKAGE.rglob("*.py"):
        for name, doc in docstrings(path):
            for label in set(LABEL.findall(doc)) - defined:
                missing.setdefault(label, []).append(f"{path.relative_to(ROOT)}:{name}")
    assert not missing, f"docstrings name labels the book does not define: {missing}"


def public_functions(path: Path):
    """Public top-level functions and classes of a module (its ``__all__`` if it has one)."""
    tree = ast.parse(path.read_text())
    exported = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            exported = set(ast.literal_eval(node.value))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            if exported is None or node.name in exported:
                yield node


def test_every_public_function_of_the_two_parts_names_its_book_label():
    unnamed = []
    for part in ("memory", "attention"):
        for path in sorted((PACKAGE / part).glob("*.py")):
            for node in public_functions(path):
                if not LABEL.search(ast.get_docstring(node) or ""):
                    unnamed.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert not unnamed, f"public functions whose docstring names no book label: {unnamed}"


def test_no_source_file_or_chapter_cites_the_spec_by_section():
    needle = "spec " + "\N{SECTION SIGN}"  # spelled out so that this file does not match itself
    offenders = [str(p.relative_to(ROOT)) for base in ("slotless", "book", "tests")
                 for p in (ROOT / base).rglob("*") if p.suffix in (".py", ".md") and needle in p.read_text()]
    assert not offenders, f"'{needle}' references (the spec is not part of the repository): {offenders}"


def test_parts_are_separate():
    """Part I never imports Part II, and neither imports the book helper or the benchmark."""
    for path in (PACKAGE / "memory").glob("*.py"):
        text = path.read_text()
        assert "attention" not in re.findall(r"^\s*from\s+\.\.(\w+)", text, re.M), path
    for part in ("memory", "attention"):
        for path in (PACKAGE / part).glob("*.py"):
            imported = set(re.findall(r"^\s*from\s+\.\.(\w+)", path.read_text(), re.M))
            assert not imported & {"book", "perf", "cli"}, f"{path}: imports {imported & {'book', 'perf', 'cli'}}"


def test_the_chapter_linter_fails_on_an_unused_import(tmp_path):
    """The lint step of `make test` runs tests/lint_chapters.py; a stray import in a chapter must fail it."""
    import shutil
    import subprocess
    import sys

    chapter = ROOT / "book" / "appendix" / "methods.md"
    copy = tmp_path / "methods.md"
    shutil.copy(chapter, copy)
    copy.write_text(copy.read_text() + "\n```{code-cell} ipython3\nimport os\n```\n")
    lint = [sys.executable, str(ROOT / "tests" / "lint_chapters.py")]
    clean = subprocess.run(lint + [str(chapter)], capture_output=True, text=True)
    broken = subprocess.run(lint + [str(copy)], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout
    assert broken.returncode == 1 and "F401" in broken.stdout and "`os` imported but unused" in broken.stdout
