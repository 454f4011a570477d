"""Every chapter executes at quick scale; its own asserts are its checks.

A failing assert in a chapter fails its test here, and so does a figure cell that
produced no image.
"""

import re

import pytest
from chapters import chapter_paths, execute_quick, figure_cells, has_image

CHAPTERS = chapter_paths()


@pytest.mark.chapter
@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_executes_and_draws_its_figures(path, tmp_path):
    executed = execute_quick(path, tmp_path / f"{path.stem}.ipynb")
    missing = [i for i in figure_cells(executed) if not has_image(executed.cells[i])]
    assert not missing, f"{path.name}: figure cells {missing} produced no image"
    unglued = glue_keys(path.read_text()) - glued_names(executed)
    assert not unglued, f"{path.name}: the prose cites glue keys no cell glued: {sorted(unglued)}"


def glue_keys(text: str) -> set[str]:
    """The keys of the {glue:...} roles and directives of a chapter's prose (the part before any ``:format``)."""
    roles = re.findall(r"\{glue(?::\w+)?\}`([^`]+)`", text)
    directives = re.findall(r"^```\{glue(?::\w+)?\}\s+(\S+)", text, re.M)
    return {key.split(":")[0] for key in roles + directives}


def glued_names(notebook) -> set[str]:
    """The names glued by an executed notebook (myst-nb's scrapbook metadata on the outputs)."""
    return {out.get("metadata", {}).get("scrapbook", {}).get("name") for cell in notebook.cells
            for out in cell.get("outputs", [])} - {None}


def test_glue_keys_are_read_with_their_format():
    text = "a {glue:text}`t0:.3f` b {glue}`fig` c {glue:md}`m`\n```{glue:figure} fig2\n```"
    assert glue_keys(text) == {"t0", "fig", "m", "fig2"}


def test_every_chapter_has_a_parameters_cell_defaulting_to_paper_scale():
    import jupytext

    for path in CHAPTERS:
        notebook = jupytext.read(path)
        tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: needs exactly one 'parameters' cell"
        assert "quick = None" in tagged[0].source, f"{path.name}: parameters cell must default quick=None"
