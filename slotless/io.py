"""Safe result files and a keyed on-disk cache that cannot serve a stale result.

**Result files.** :func:`check_output` checks a result path before any work is done (a regular file or a
new name in an existing directory; never a device, FIFO, socket or directory; a symlink or an existing
file only when forced; the name's length, the directory's writability and its free space), and
:func:`write_output` writes it atomically: a short-named temporary file in the target directory, renamed
over the target only when complete, removed on any exception (the CLI turns SIGTERM and SIGHUP into
one). Files get the permissions the umask allows (0644 under 022), like any other file the user makes.
Numbers that JSON cannot hold (NaN, infinities) are written as ``null``: a result file is strict JSON.

**The cache.** An entry is keyed by the configuration, by the hash of the package source *as imported*
(:func:`source_hash`, taken once when this module is imported) and by the versions of Python, NumPy,
Numba and PyTorch (:data:`ENVIRONMENT`). A result is stored only if the package files on disk are still
the ones that were imported (:func:`source_changes`), so code edited during a run never files its result
under the new code's key. Each entry is one ``.npz`` file written atomically together with a SHA-256
checksum of its arrays and a record of the source version and environment that made it; a damaged
entry (truncated, empty, corrupted) is reported in one line, deleted and recomputed. When the cache
cannot be written the result is still returned, with one warning line. :func:`prune_cache`
(``make cache-clean``) removes entries that this source and environment can never use again.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import io as _io
import json
import math
import os
import platform
import re
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .checks import ConfigError, format_bytes

__all__ = [
    "PACKAGE_DIR",
    "ENVIRONMENT",
    "TEMP_PREFIX",
    "OutputTarget",
    "PruneReport",
    "numba_cache_dir",
    "prune_numba_caches",
    "check_output",
    "check_writable",
    "write_output",
    "atomic_write_bytes",
    "atomic_write_json",
    "strict_json_bytes",
    "save_fallback",
    "os_error_message",
    "source_hash",
    "source_changes",
    "cache_key",
    "cache_dir",
    "cached_arrays",
    "prune_cache",
]

PACKAGE_DIR = Path(__file__).resolve().parent
#: Temporary files are named ``.slotless-XXXXXXXX.tmp`` (22 characters), so that any valid result name
#: can be written however long it is, and a stray one is recognisable.
TEMP_PREFIX = ".slotless-"
_TEMP_SUFFIX = ".tmp"
#: The name of the member of a cache entry that holds its record (source version, checksum, config).
_ENTRY_RECORD = "__slotless_entry__"
_ENTRY_FORMAT = 1
#: The file name of an entry: its key (32 hexadecimal digits) and .npz. Nothing else in a cache directory
#: is ever deleted by :func:`prune_cache`.
_ENTRY_NAME = re.compile(r"[0-9a-f]{32}\.npz")
_NUMBA_DIR = re.compile(r"numba-[0-9a-f]{16}")


# ------------------------------------------------------------------------------ the source
def _source_files() -> list[Path]:
    return sorted(p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def _read_source() -> tuple[str, dict]:
    """(SHA-256 over every module file's path and bytes, {relative path: (size, mtime_ns)})."""
    digest = hashlib.sha256()
    stamps = {}
    for file in _source_files():
        relative = file.relative_to(PACKAGE_DIR).as_posix()
        info = file.stat()
        data = file.read_bytes()
        digest.update(relative.encode() + b"\0" + len(data).to_bytes(8, "little"))
        digest.update(data)
        stamps[relative] = (info.st_size, info.st_mtime_ns)
    return digest.hexdigest(), stamps


# Taken once, when the package is imported: the code that runs is the code that was imported, whatever
# happens to the files later.
_IMPORTED_HASH, _IMPORTED_STAMPS = _read_source()


def source_hash() -> str:
    """SHA-256 of the package's module files as they were when the package was imported.

    The cache keys use it, result files record it as ``provenance.source_hash``, and each version of the
    source gets its own Numba cache directory."""
    return _IMPORTED_HASH


def source_changes() -> list[str]:
    """The package files that changed on disk since the package was imported (edited, touched, added or
    removed), as relative paths; empty when the files are exactly those that were imported."""
    current_hash, current_stamps = _read_source()
    if current_hash == _IMPORTED_HASH and current_stamps == _IMPORTED_STAMPS:
        return []
    names = set(current_stamps) | set(_IMPORTED_STAMPS)
    changed = sorted(n for n in names if current_stamps.get(n) != _IMPORTED_STAMPS.get(n))
    return changed or ["(file contents)"]


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


#: The versions a cached result depends on besides the source: a result computed under other versions
#: of these is never served.
ENVIRONMENT = {
    "python": platform.python_version(),
    "numpy": _version("numpy"),
    "numba": _version("numba"),
    "torch": _version("torch"),
}


# ------------------------------------------------------------------------------- writing
def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read it the classic way (set, then restore)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same directory, renamed over ``path``
    when complete. The file gets the mode the umask allows (0644 under 022); the temporary file is removed
    if anything (an error, Ctrl-C, or a signal the caller turns into an exception) interrupts the write."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=_TEMP_SUFFIX)
    try:
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a result file is an ordinary file
            with os.fdopen(fd, "wb") as handle:
                fd = -1
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            if fd >= 0:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(path.parent)


def _strict(value):
    """``value`` with numpy types as Python types and every non-finite float as None."""
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    if isinstance(value, np.ndarray):
        return _strict(value.tolist())
    if isinstance(value, np.generic):
        return _strict(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def strict_json_bytes(obj) -> bytes:
    """``obj`` as strict JSON (UTF-8): numpy arrays and scalars become lists and numbers, NaN and
    infinities become ``null`` (JSON has no such numbers), anything else unserialisable raises TypeError."""
    return json.dumps(_strict(obj), indent=1, allow_nan=False).encode("utf-8")


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` to ``path`` atomically as strict JSON (:func:`strict_json_bytes`)."""
    atomic_write_bytes(path, strict_json_bytes(obj))


# --------------------------------------------------------------------------- result paths
@dataclass(frozen=True)
class OutputTarget:
    """A checked result path: ``given`` as the user wrote it, ``path`` the file actually written (a
    symlink's target when ``--force`` follows one), ``replaces`` whether a file exists there now."""

    given: str
    path: Path
    replaces: bool


_KIND = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
         (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))
_FS_IOC_GETFLAGS = 0x80086601
_FS_IMMUTABLE_FL, _FS_APPEND_FL = 0x10, 0x20


def _file_flags(path: Path) -> int:
    """Linux inode flags of a regular file (immutable, append-only), 0 where they cannot be read."""
    try:
        import fcntl

        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except (ImportError, OSError):
        return 0
    try:
        buffer = bytearray(8)
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, buffer, True)
        return int.from_bytes(buffer[:4], sys.byteorder)
    except OSError:
        return 0
    finally:
        os.close(fd)


def os_error_message(error: OSError, directory: Path, name: str, given: str) -> str:
    """One line for an OSError met while checking or writing ``name=given`` in ``directory``, naming what
    to change."""
    where = f"{name}={given!r}"
    code = error.errno
    if code == errno.EROFS:
        return f"{where}: {str(directory)!r} is on a read-only file system; choose another {name}"
    if code in (errno.EACCES, errno.EPERM):
        return f"{where}: no permission to write in {str(directory)!r}; choose another {name}"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"{where}: no space left on the device of {str(directory)!r}; free space or choose another {name}"
    if code == errno.ENAMETOOLONG:
        return f"{where}: the name is too long for this file system; choose a shorter {name}"
    return f"{where}: {error.strerror or error} ({errno.errorcode.get(code, code)}); choose another {name}"


def check_output(path: str | os.PathLike, name: str = "--out", *, force: bool = False, expected_bytes: int = 0,
                 replace_existing: bool | None = None) -> OutputTarget:
    """Check, before any work, that a result can be written to ``path``; raise a one-line
    :class:`ConfigError` naming ``name`` and what to change if not.

    Allowed: a new name in an existing, writable directory, or an existing regular file when replacing is
    allowed (``replace_existing``, by default ``force``). A symlink is followed to its target only with
    ``force``. Refused always: a directory (also a path ending in ``/``), a device, a FIFO, a socket, an
    immutable or append-only file, a name longer than the file system allows, a directory that is
    read-only or not writable, and less free space than ``expected_bytes``.
    """
    given = os.fspath(path)
    replace_existing = force if replace_existing is None else replace_existing
    where = f"{name}={given!r}"
    if not given:
        raise ConfigError(f"{name}='' is empty; give a file path")
    if given.endswith(os.sep) or (os.altsep and given.endswith(os.altsep)):
        kind = "is a directory" if os.path.isdir(given) else "names a directory that does not exist"
        raise ConfigError(f"{where} {kind}; give a file path")
    target = Path(given)
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    except OSError as error:
        if error.errno == errno.ENAMETOOLONG:
            raise ConfigError(f"{where}: the name ({len(os.fsencode(target.name))} bytes) or the path is longer than "
                              f"this file system allows; choose a shorter {name}") from None
        if error.errno == errno.ENOTDIR:
            raise ConfigError(f"{where}: a component of the path is not a directory; give a file path") from None
        raise ConfigError(os_error_message(error, target.parent, name, given)) from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        if not force:
            raise ConfigError(f"{where} is a symbolic link; add --force to write to its target "
                              f"({os.path.realpath(target)!r})")
        target = Path(os.path.realpath(target))
        try:
            info = os.stat(target)
        except FileNotFoundError:
            info = None
    if info is not None:
        for test, kind in _KIND:
            if test(info.st_mode):
                raise ConfigError(f"{where} is {kind}, not a regular file; give a file path")
        if _file_flags(target) & (_FS_IMMUTABLE_FL | _FS_APPEND_FL):
            raise ConfigError(f"{where} is an immutable or append-only file; choose another {name}")
        if not replace_existing:
            raise ConfigError(f"{where} exists; add --force to replace it, or choose another {name}")
    directory = target.parent
    if not directory.is_dir():
        if directory.exists():
            raise ConfigError(f"{where}: {str(directory)!r} is not a directory; give a file path")
        raise ConfigError(f"{where}: directory {str(directory)!r} does not exist")
    try:
        name_max = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.fsencode(target.name)) > name_max:
        raise ConfigError(f"{where}: the file name is {len(os.fsencode(target.name))} bytes, longer than the "
                          f"{name_max} this file system allows; choose a shorter {name}")
    try:  # create (and remove) a file where the result will go: the surest test of permission and space
        fd, probe = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=_TEMP_SUFFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise ConfigError(os_error_message(error, directory, name, given)) from None
    if expected_bytes > 0:
        try:
            fs = os.statvfs(directory)
            free = (fs.f_bfree if os.geteuid() == 0 else fs.f_bavail) * fs.f_frsize
        except (OSError, AttributeError):
            free = None
        if free is not None and free < expected_bytes + 8192:  # and a little for the file system's own blocks
            raise ConfigError(f"{where}: the result needs about {format_bytes(expected_bytes)} but only {format_bytes(free)} "
                              f"is free on {str(directory)!r}; free space or choose another {name}")
    return OutputTarget(given, target, info is not None)


def check_writable(path: str | os.PathLike, name: str = "out") -> Path:
    """The result path of a tool that always replaces its file (the benchmark): :func:`check_output` with
    replacing allowed; returns the path to write."""
    return check_output(path, name, replace_existing=True).path


def write_output(target: OutputTarget, data: bytes, name: str = "--out", *, force: bool = False,
                 log: Callable[[str], None] | None = None) -> None:
    """Write ``data`` to a path checked by :func:`check_output`, after checking it again (the file system may
    have changed during the run). Says in one line (through ``log``) when an existing file is replaced.
    Raises :class:`ConfigError` or :class:`OSError` if it cannot be written."""
    again = check_output(target.given, name, force=force)
    atomic_write_bytes(again.path, data)
    if again.replaces and log is not None:
        shown = target.given if again.path == Path(target.given) else f"{target.given} -> {again.path}"
        log(f"replaced the existing file {shown}")


def save_fallback(data: bytes, suffix: str) -> Path | None:
    """Save a result that could not be written where asked into the temporary directory; its path, or None."""
    try:
        fd, path = tempfile.mkstemp(prefix="slotless-result-", suffix=suffix)
    except OSError:
        return None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return Path(path)
    except OSError:
        try:
            os.unlink(path)
        except OSError:
            pass
        return None


# ---------------------------------------------------------------------------------- the cache
def cache_key(config: dict) -> str:
    """Key of ``config``'s entry: a hash of the JSON-normalised ``config``, of :func:`source_hash` and of
    :data:`ENVIRONMENT`."""
    blob = json.dumps(_strict(config), sort_keys=True).encode()
    tail = json.dumps(ENVIRONMENT, sort_keys=True).encode()
    return hashlib.sha256(blob + b"\0" + source_hash().encode() + b"\0" + tail).hexdigest()[:32]


def cache_dir() -> Path | None:
    """The cache directory from ``SLOTLESS_CACHE`` (unset or empty: caching off)."""
    value = os.environ.get("SLOTLESS_CACHE", "")
    return Path(value) if value else None


def _checksum(arrays: dict) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}\0{value.dtype.str}\0{value.shape}\0".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _warn(message: str) -> None:
    print(f"slotless: {message}", file=sys.stderr, flush=True)


class _Damaged(Exception):
    """A cache entry that cannot be trusted; the message says why."""


def _read_entry(target: Path) -> tuple[dict, dict]:
    """(arrays, record) of an entry, or raise :class:`_Damaged`. An OSError (missing, unreadable) passes
    through."""
    try:
        with np.load(target, allow_pickle=False) as stored:
            if _ENTRY_RECORD not in stored.files:
                raise _Damaged("it has no checksum record")
            record = json.loads(str(stored[_ENTRY_RECORD]))
            arrays = {name: stored[name] for name in stored.files if name != _ENTRY_RECORD}
    except (OSError, _Damaged):  # a missing or unreadable file is not a damaged entry
        raise
    except Exception as error:  # np.load/zipfile/json raise many kinds for truncated or corrupted bytes
        raise _Damaged(f"unreadable: {type(error).__name__}") from None
    if not isinstance(record, dict) or record.get("checksum") != _checksum(arrays):
        raise _Damaged("its checksum does not match")
    return arrays, record


def cached_arrays(config: dict, compute: Callable[[], dict], directory: Path | None = None):
    """Return ``(arrays, from_cache)`` for ``config``.

    ``compute()`` must return a dict of numpy arrays. With no cache directory (``directory`` is None and
    ``SLOTLESS_CACHE`` unset) it simply computes. A cache hit prints one line naming the entry, so a chapter
    built from the cache says so. A damaged entry is reported in one line, deleted and recomputed. The
    result is stored only if the package source on disk is still the one imported; if it cannot be
    stored, one warning line says why and the result is returned all the same.
    """
    directory = directory if directory is not None else cache_dir()
    if directory is None:
        return compute(), False
    directory = Path(directory)
    key = cache_key(config)
    target = directory / f"{key}.npz"
    try:
        arrays, _ = _read_entry(target)
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as error:
        _warn(f"cannot read the result-cache entry {target} ({error.strerror or error}); computing the result")
    except _Damaged as damage:
        try:
            target.unlink()
            _warn(f"the result-cache entry {target} was damaged ({damage}); deleted it, recomputing")
        except OSError as error:
            _warn(f"the result-cache entry {target} is damaged ({damage}) and could not be deleted "
                  f"({error.strerror}); recomputing")
    else:
        # Say so where the result is used: a page built from the cache states it.
        print(f"(loaded from the result cache: {target.name}, keyed by this configuration and the slotless source)")
        return arrays, True
    arrays = compute()
    _store(target, key, config, arrays)
    return arrays, False


def _store(target: Path, key: str, config: dict, arrays: dict) -> None:
    changed = source_changes()
    if changed:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        _warn(f"not storing this result in the cache: the slotless source changed on disk since it was "
              f"imported ({shown}), so the result belongs to neither version; a fresh process will compute "
              f"and store it")
        return
    if _ENTRY_RECORD in arrays:
        raise ValueError(f"{_ENTRY_RECORD!r} is reserved for the cache entry's record")
    record = {"format": _ENTRY_FORMAT, "key": key, "source_hash": source_hash(), "environment": ENVIRONMENT,
              "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "checksum": _checksum(arrays), "config": _strict(config)}
    buffer = _io.BytesIO()
    np.savez(buffer, **arrays, **{_ENTRY_RECORD: np.array(json.dumps(record))})
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, buffer.getvalue())
    except OSError as error:
        _warn(f"could not store the result in the cache at {target.parent} ({error.strerror or error}); "
              f"the result is used all the same (set SLOTLESS_CACHE to a writable directory, or unset it)")


@dataclass
class PruneReport:
    """What :func:`prune_cache` did: entries ``kept``, and ``removed`` as (file name, reason) pairs."""

    kept: int = 0
    removed: list = field(default_factory=list)


def numba_cache_dir(root: Path | None = None) -> Path:
    """The Numba cache directory of this version of the package source: ``__pycache__/numba-<hash>`` of the
    package (``slotless/__init__.py`` points Numba at it unless ``NUMBA_CACHE_DIR`` is set)."""
    return (PACKAGE_DIR / "__pycache__" if root is None else Path(root)) / f"numba-{source_hash()[:16]}"


def prune_numba_caches(root: str | os.PathLike | None = None, *, dry_run: bool = False) -> list:
    """Remove the Numba cache directories of other versions of the package source (``numba-<hash>`` beside
    :func:`numba_cache_dir`, one per source version, so they pile up while the source is edited). Other
    directories are left alone. Returns the removed (or, with ``dry_run``, removable) directory names."""
    import shutil

    root = PACKAGE_DIR / "__pycache__" if root is None else Path(root)
    current = numba_cache_dir(root).name
    if not root.is_dir():
        return []
    stale = sorted(p for p in root.iterdir() if _NUMBA_DIR.fullmatch(p.name) and p.name != current
                   and p.is_dir() and not p.is_symlink())
    removed = []
    for path in stale:
        if not dry_run:
            shutil.rmtree(path, ignore_errors=True)
            if path.exists():
                continue
        removed.append(path.name)
    return removed


def prune_cache(directory: str | os.PathLike, *, dry_run: bool = False, stale_temp_seconds: float = 3600.0,
                now: float | None = None) -> PruneReport:
    """Remove the entries of ``directory`` that this source and environment can never use again: those made
    by another version of the slotless source or under other versions of Python, NumPy, Numba or PyTorch,
    damaged or unreadable entries, and temporary files older than ``stale_temp_seconds`` (left by a killed
    writer). Files not named like an entry are left alone. With ``dry_run`` nothing is deleted."""
    import time

    directory = Path(directory)
    report = PruneReport()
    if not directory.is_dir():
        return report
    now = time.time() if now is None else now
    for path in sorted(directory.iterdir()):
        reason = None
        if path.name.startswith(TEMP_PREFIX) and path.name.endswith(_TEMP_SUFFIX):
            try:
                if now - path.stat().st_mtime > stale_temp_seconds:
                    reason = "temporary file of an interrupted write"
            except OSError:
                continue
        elif _ENTRY_NAME.fullmatch(path.name) and path.is_file():
            try:
                _, record = _read_entry(path)
            except OSError:
                continue
            except _Damaged as damage:
                reason = f"damaged ({damage})"
            else:
                if record.get("source_hash") != source_hash():
                    reason = f"made by another source version ({str(record.get('source_hash'))[:12]})"
                elif record.get("environment") != ENVIRONMENT:
                    reason = "made under other package versions"
        if reason is None:
            report.kept += bool(_ENTRY_NAME.fullmatch(path.name))
            continue
        if not dry_run:
            try:
                path.unlink()
            except OSError:
                continue
        report.removed.append((path.name, reason))
    return report

