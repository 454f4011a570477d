"""Sphinx extension: render chapters from the outputs ``make book`` executed ahead, never from stale ones.

``make book`` executes the chapters several at a time (``python -m slotless.execute``) into the jupyter-cache
that myst-nb reads (``execute_notebooks: cache``) and stamps it with the package source hash, the
environment and the scale (``slotless.execute.cache_stamp``). jupyter-cache matches a chapter by its own
code cells only, so before any chapter is read this clears a cache whose stamp does not match the code
that is running (or that has no stamp, like one jupyter-book filled itself): every chapter then executes
here, as with ``execute_notebooks: force``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)


def _check(app):
    config = getattr(app.env, "mystnb_config", None)
    if config is None or config.execution_mode != "cache" or not config.execution_cache_path:
        return
    from slotless.book import parse_quick
    from slotless.execute import STAMP_FILE, cache_stamp

    path = Path(config.execution_cache_path)
    if not path.exists():
        return
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


def setup(app):
    # After myst-nb has set the cache path (builder-inited, default priority 500), before any chapter is read.
    app.connect("builder-inited", _check, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "0.1"}
