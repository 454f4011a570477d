"""The golden notebooks (nbval regression, tests/golden) match the chapter list."""

from chapters import GOLDEN, chapter_paths, golden_name


def test_each_chapter_has_a_golden_notebook_and_no_stale_ones():
    expected = {golden_name(p) for p in chapter_paths()}
    present = {p.name for p in GOLDEN.glob("*.ipynb")}
    assert expected - present == set(), f"missing golden notebooks (run `make golden`): {sorted(expected - present)}"
    assert present - expected == set(), f"stale golden notebooks: {sorted(present - expected)}"


def test_golden_notebooks_hold_the_current_chapter_code():
    """nbval re-runs the golden notebook's own cells, so they must be the chapter's cells: after
    changing a chapter's code, run `make golden`."""
    import jupytext
    import nbformat
    from chapters import chapter_paths

    for path in chapter_paths():
        chapter = [c.source for c in jupytext.read(path).cells if c.cell_type == "code"]
        golden = nbformat.read(GOLDEN / golden_name(path), 4)
        stored = [c.source for c in golden.cells
                  if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
        assert stored == chapter, f"{golden_name(path)} is stale: run `make golden`"
