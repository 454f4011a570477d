"""Sphinx extension: render chapters from the outputs ``make book`` executed ahead, never from stale ones.

``make book`` executes the chapters several at a time (``python -m slotless.execute``) into the jupyter-cache
that myst-nb reads (``execute_notebooks: cache``) and stamps it with the package source hash, the
environment and the scale (``slotless.execute.cache_stamp``). jupyter-cache matches a chapter by its own
code cells only, so before any chapter is read this clears a cache whose stamp does not match the code
that is running (or that has no stamp, like one jupyter-book filled itself): every chapter then executes
here, as with ``execute_notebooks: force``.

It also writes each chapter's executed notebook (``<build>/jupyter_execute/<page>.ipynb``, the notebook
download of ``_ext/notebook_downloads.py``) with its outputs: myst-nb 1.4 writes the notebook it read, and
when the outputs come from the cache they are only in the copy it renders.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)


def _cache_path(app) -> Path | None:
    """The jupyter-cache myst-nb reads, or None unless it executes in cache mode."""
    config = getattr(app.env, "mystnb_config", None)
    if config is None or config.execution_mode != "cache" or not config.execution_cache_path:
        return None
    return Path(config.execution_cache_path)


def _check(app):
    path = _cache_path(app)
    if path is None or not path.exists():
        return
    from slotless.book import parse_quick
    from slotless.execute import STAMP_FILE, cache_stamp

    expected = json.loads(json.dumps(cache_stamp(bool(parse_quick(os.environ.get("BOOK_QUICK", "0"))))))
    try:
        fresh = json.loads((path / STAMP_FILE).read_text()) == expected
    except (OSError, ValueError):
        fresh = False
    if fresh:
        LOGGER.info("executed_ahead: rendering the chapters slotless.execute executed for this source and scale")
        return
    LOGGER.info(f"executed_ahead: {path} was not executed by this source at this scale: every chapter executes here")
    shutil.rmtree(path)


def _write_executed(app, doctree):
    path = _cache_path(app)
    if path is None:
        return
    target = Path(app.outdir).parent / "jupyter_execute" / f"{app.env.docname}.ipynb"
    if not target.exists():  # not a notebook
        return
    import nbformat
    from jupyter_cache import get_cache
    from myst_nb.ext.glue import extract_glue_data_cell

    notebook = nbformat.read(target, as_version=4)
    try:
        _, executed = get_cache(str(path)).merge_match_into_notebook(notebook)
    except KeyError:  # not in the cache: its execution failed here, and the build reports it
        return
    for cell in executed.cells:  # as myst-nb does to the notebook it executes: glue records leave the outputs
        if cell.cell_type == "code":
            extract_glue_data_cell(cell)
    target.write_text(nbformat.writes(executed), encoding="utf-8")


def setup(app):
    # After myst-nb has set the cache path (builder-inited, default priority 500), before any chapter is read.
    app.connect("builder-inited", _check, priority=900)
    # After myst-nb has parsed the chapter and written its notebook.
    app.connect("doctree-read", _write_executed)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "0.1"}
