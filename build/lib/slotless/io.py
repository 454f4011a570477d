"""Atomic result files and a keyed on-disk cache for expensive runs.

A write goes to a temporary file in the target directory and is renamed over the
target only when complete, so a killed run never leaves a half-written file.

The cache key is a hash of the full configuration *and* of the source of the
``slotless`` package, so changing any code invalidates every entry: the cache
cannot serve a stale result.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from .checks import ConfigError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "check_writable",
    "source_hash",
    "cache_key",
    "cache_dir",
    "cached_arrays",
]

PACKAGE_DIR = Path(__file__).resolve().parent


def check_writable(path: str | os.PathLike, name: str = "out") -> Path:
    """Raise a :class:`ConfigError` unless ``path`` can be created or replaced."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigError(f"{name}={str(path)!r} is a directory; give a file path")
    if not parent.is_dir():
        raise ConfigError(f"{name}={str(path)!r}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"{name}={str(path)!r}: directory {str(parent)!r} is not writable")
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically. Numpy scalars/arrays become lists."""
    atomic_write_bytes(path, json.dumps(obj, default=_json_default, indent=1).encode("utf-8"))


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def source_hash() -> str:
    """SHA-256 over every ``.py`` file of the package (path and content)."""
    digest = hashlib.sha256()
    for file in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(file.relative_to(PACKAGE_DIR)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def cache_key(config: dict) -> str:
    """Hash of the JSON-normalised ``config`` together with :func:`source_hash`."""
    blob = json.dumps(config, sort_keys=True, default=_json_default).encode()
    return hashlib.sha256(blob + source_hash().encode()).hexdigest()[:32]


def cache_dir() -> Path | None:
    """The cache directory from ``SLOTLESS_CACHE`` (unset or empty: caching off)."""
    value = os.environ.get("SLOTLESS_CACHE", "")
    return Path(value) if value else None


def cached_arrays(config: dict, compute: Callable[[], dict], directory: Path | None = None):
    """Return ``(arrays, from_cache)`` for ``config``.

    ``compute()`` must return a dict of numpy arrays. With no cache directory
    (``directory`` is None and ``SLOTLESS_CACHE`` unset) it simply computes. A cache hit
    prints one line naming the entry, so a chapter built from the cache says so.
    """
    directory = directory if directory is not None else cache_dir()
    if directory is None:
        return compute(), False
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{cache_key(config)}.npz"
    if target.exists():
        with np.load(target, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        # Say so where the result is used: a page built from the cache states it.
        print(f"(loaded from the result cache: {target.name}, keyed by this configuration and the slotless source)")
        return arrays, True
    arrays = compute()
    import io as _io

    buffer = _io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(target, buffer.getvalue())
    return arrays, False
