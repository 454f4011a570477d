"""Sphinx extension: the front page says which version and which source it was built from, and the
launch buttons appear once the repository has a public address.

The MyST substitutions it sets (used on ``book/index.md``):

- ``slotless_version``: the version of the ``slotless`` package (and of the book, ``CITATION.cff``);
- ``slotless_commit``: the git commit the book was built from, marked when the work tree has
  uncommitted changes, or "no git checkout" for a source archive;
- ``slotless_source_hash``: the hash of the package source, the same one that keys the simulation
  cache, so a built book can be matched with cached results even without git.

Launch buttons (Binder) need the repository's address to build their links, and sphinx-book-theme
fails on notebook pages when they are configured without one. So while ``repository.url`` in
``_config.yml`` is empty this drops them; once it is set, they and the repository button appear.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

NO_GIT = "no git checkout"


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_commit(root: Path) -> str:
    """Short commit of ``root``'s checkout, "+ uncommitted changes" when tracked files differ from it."""
    commit = _git(root, "rev-parse", "--short=12", "HEAD")
    if not commit:
        return NO_GIT
    changed = _git(root, "status", "--porcelain", "--untracked-files=no")
    return f"{commit} + uncommitted changes" if changed else commit


def build_info(root: Path) -> dict[str, str]:
    """The substitutions of the front page, for the source tree at ``root``."""
    import slotless
    from slotless.io import source_hash

    return {
        "slotless_version": slotless.__version__,
        "slotless_commit": git_commit(root),
        "slotless_source_hash": source_hash()[:16],
    }


def _configure(app, config):
    substitutions = dict(config.myst_substitutions or {})
    substitutions.update(build_info(Path(app.srcdir)))
    config.myst_substitutions = substitutions
    theme = config.html_theme_options
    if theme.get("repository_url"):
        theme["use_repository_button"] = True  # Jupyter Book's defaults set it to False
    else:
        theme.pop("launch_buttons", None)


def setup(app):
    # Before myst-parser and the theme read the configuration (default priority 500).
    app.connect("config-inited", _configure, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "0.1"}
