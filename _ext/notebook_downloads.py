"""Sphinx extension: offer each executed chapter as a Jupyter notebook (.ipynb).

myst-nb writes the executed notebook of every chapter to ``<build>/jupyter_execute``.
This copies it next to the HTML (``_notebooks/<page>.ipynb``) and puts a download
link at the top of the page, so a reader can open the chapter in Jupyter as built.
"""

from __future__ import annotations

import shutil
from pathlib import Path

LINK = (
    '<p class="slotless-notebook-download"><a class="reference download" href="{href}" download>'
    "Download this chapter as a Jupyter notebook (.ipynb)</a>, with the outputs of this build.</p>\n"
)


def _add_link(app, pagename, templatename, context, doctree):
    if doctree is None or "body" not in context:
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.exists():
        return
    target = Path(app.outdir) / "_notebooks" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(executed, target)
    depth = pagename.count("/")
    href = "../" * depth + f"_notebooks/{pagename}.ipynb"
    context["body"] = LINK.format(href=href) + context["body"]


def setup(app):
    app.connect("html-page-context", _add_link)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "0.1"}
