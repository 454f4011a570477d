"""The golden notebooks (nbval regression, tests/golden) match the chapter list."""

from chapters import GOLDEN, chapter_paths, golden_name


def test_each_chapter_has_a_golden_notebook_and_no_stale_ones():
    expected = {golden_name(p) for p in chapter_paths()}
    present = {p.name for p in GOLDEN.glob("*.ipynb")}
    assert expected - present == set(), f"missing golden notebooks (run `make golden`): {sorted(expected - present)}"
    assert present - expected == set(), f"stale golden notebooks: {sorted(present - expected)}"
