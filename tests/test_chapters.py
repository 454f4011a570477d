"""Every chapter executes at quick scale; its own asserts are its checks.

A failing assert in a chapter fails its test here, and so does a figure cell that
produced no image.
"""

import pytest
from chapters import chapter_paths, execute_quick, figure_cells, has_image

CHAPTERS = chapter_paths()


@pytest.mark.chapter
@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_executes_and_draws_its_figures(path, tmp_path):
    executed = execute_quick(path, tmp_path / f"{path.stem}.ipynb")
    missing = [i for i in figure_cells(executed) if not has_image(executed.cells[i])]
    assert not missing, f"{path.name}: figure cells {missing} produced no image"


def test_every_chapter_has_a_parameters_cell_defaulting_to_paper_scale():
    import jupytext

    for path in CHAPTERS:
        notebook = jupytext.read(path)
        tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: needs exactly one 'parameters' cell"
        assert "quick = None" in tagged[0].source, f"{path.name}: parameters cell must default quick=None"
