"""Safe result files and the keyed result cache (slotless.io)."""

import json
import os
import time
import zipfile

import numpy as np
import pytest

from slotless import io
from slotless.checks import ConfigError


# ------------------------------------------------------------------------------ writing
def test_atomic_write_leaves_no_partial_file_when_serialisation_fails(tmp_path):
    target = tmp_path / "result.json"
    with pytest.raises(TypeError):
        io.atomic_write_json(target, {"ok": [1, 2], "bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_an_existing_file_whole(tmp_path):
    target = tmp_path / "result.json"
    io.atomic_write_json(target, {"a": np.arange(3)})
    io.atomic_write_json(target, {"b": np.float32(0.5)})
    assert json.loads(target.read_text()) == {"b": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_json_is_strict_non_finite_numbers_become_null():
    data = io.strict_json_bytes({"x": np.array([1.0, np.nan, np.inf]), "y": float("-inf"), "z": np.float32(2)})
    assert b"NaN" not in data and b"Infinity" not in data
    assert json.loads(data) == {"x": [1.0, None, None], "y": None, "z": 2.0}


def test_an_interrupted_write_removes_its_temporary_file(tmp_path, monkeypatch):
    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(io.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.atomic_write_bytes(tmp_path / "r.json", b"{}")
    assert list(tmp_path.iterdir()) == []


def test_temporary_names_are_short_so_any_valid_name_can_be_written(tmp_path):
    name = "x" * (os.pathconf(tmp_path, "PC_NAME_MAX") - 5) + ".json"
    target = io.check_output(tmp_path / name)
    io.write_output(target, b"{}")
    assert (tmp_path / name).read_bytes() == b"{}"


# ------------------------------------------------------------------------- result paths
def test_check_output_accepts_a_new_file_and_reports_no_replacement(tmp_path):
    target = io.check_output(tmp_path / "new.json", expected_bytes=100)
    assert target.path == tmp_path / "new.json" and not target.replaces
    assert list(tmp_path.iterdir()) == []  # the writability probe leaves nothing


@pytest.mark.parametrize("make,fragment", [
    (lambda p: p.mkdir(), "is a directory, not a regular file"),
    (lambda p: os.mkfifo(p), "is a FIFO, not a regular file"),
    (lambda p: p.write_text("old"), "exists; add --force to replace it"),
    (lambda p: p.symlink_to(p.with_name("elsewhere.json")), "is a symbolic link; add --force"),
])
def test_check_output_refuses_what_it_must_not_replace(tmp_path, make, fragment):
    path = tmp_path / "r.json"
    make(path)
    with pytest.raises(ConfigError, match=fragment):
        io.check_output(path)


def test_devices_are_refused_even_with_force():
    with pytest.raises(ConfigError, match=r"^--out='/dev/null' is a character device, not a regular file"):
        io.check_output("/dev/null", force=True)


def test_force_follows_a_symlink_to_its_target_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    target = io.check_output(link, force=True)
    assert target.path == real and target.replaces
    lines = []
    io.write_output(target, b"new", force=True, log=lines.append)
    assert link.is_symlink() and real.read_bytes() == b"new"
    assert lines == [f"replaced the existing file {link} -> {real}"]


def test_a_path_ending_in_a_separator_names_a_directory(tmp_path):
    with pytest.raises(ConfigError, match="names a directory that does not exist; give a file path"):
        io.check_output(f"{tmp_path}/newdir/")
    assert not (tmp_path / "newdir").exists()
    with pytest.raises(ConfigError, match=r"is a directory; give a file path"):
        io.check_output(f"{tmp_path}/")


def test_a_name_longer_than_the_file_system_allows_is_refused_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"longer than .*this file system allows; choose a shorter --out"):
        io.check_output(tmp_path / ("y" * 300 + ".json"))


def test_too_little_free_space_is_refused_before_any_work(tmp_path):
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    with pytest.raises(ConfigError, match=r"the result needs about .* but only .* is free on"):
        io.check_output(tmp_path / "r.json", expected_bytes=free * 10 + 10**15)


def test_check_writable_keeps_replacing_for_the_benchmark(tmp_path):
    existing = tmp_path / "results.json"
    existing.write_text("{}")
    assert io.check_writable(existing, "--out") == existing


# ------------------------------------------------------------------------------ the cache
def test_cache_key_depends_on_config_source_and_environment(monkeypatch):
    key = io.cache_key({"n": 1})
    assert io.cache_key({"n": 1}) == key
    assert io.cache_key({"n": 2}) != key
    monkeypatch.setattr(io, "source_hash", lambda: "edited source")
    assert io.cache_key({"n": 1}) != key, "a code change must change every key"
    monkeypatch.undo()
    monkeypatch.setitem(io.ENVIRONMENT, "numpy", "0.0.1")
    assert io.cache_key({"n": 1}) != key, "another numpy must change every key"


def test_source_changes_sees_edits_touches_additions_and_removals_after_import(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("A = 1\n")
    (package / "sub" / "b.py").write_text("B = 2\n")
    monkeypatch.setattr(io, "PACKAGE_DIR", package)
    imported_hash, imported_stamps = io._read_source()
    monkeypatch.setattr(io, "_IMPORTED_HASH", imported_hash)
    monkeypatch.setattr(io, "_IMPORTED_STAMPS", imported_stamps)
    assert io.source_changes() == []
    (package / "a.py").write_text("A = 3\n")  # an edit after import
    assert io.source_changes() == ["a.py"]
    assert io.source_hash() == imported_hash, "the key stays the one of the code that was imported"
    (package / "a.py").write_text("A = 1\n")
    os.utime(package / "a.py", ns=(0, imported_stamps["a.py"][1] + 10**9))  # reverted, but touched in between
    assert io.source_changes() == ["a.py"]
    os.utime(package / "a.py", ns=(0, imported_stamps["a.py"][1]))
    assert io.source_changes() == []
    (package / "c.py").write_text("")
    (package / "sub" / "b.py").unlink()
    assert io.source_changes() == ["c.py", "sub/b.py"]


def test_cache_hit_returns_stored_arrays_and_says_so(tmp_path, capsys):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(4.0)}

    first, hit1 = io.cached_arrays({"k": 1}, compute, tmp_path)
    second, hit2 = io.cached_arrays({"k": 1}, compute, tmp_path)
    assert (hit1, hit2, len(calls)) == (False, True, 1)
    np.testing.assert_array_equal(first["x"], second["x"])
    assert "loaded from the result cache" in capsys.readouterr().out


def test_an_entry_records_its_source_version_environment_and_checksum(tmp_path):
    io.cached_arrays({"k": 7}, lambda: {"x": np.arange(3)}, tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    with np.load(entry) as stored:
        record = json.loads(str(stored["__slotless_entry__"]))
    assert record["source_hash"] == io.source_hash() and record["environment"] == io.ENVIRONMENT
    assert record["key"] == entry.stem and record["config"] == {"k": 7} and len(record["checksum"]) == 64


def _corrupt_payload(entry):
    """Rewrite a valid entry with one array changed but its record kept (a zip that reads cleanly)."""
    with np.load(entry) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["x"] = arrays["x"] + 1
    np.savez(entry, **arrays)


@pytest.mark.parametrize("damage", ["truncated", "empty", "flipped byte", "garbage", "wrong checksum", "no record"])
def test_a_damaged_entry_is_reported_deleted_and_recomputed(tmp_path, capsys, damage):
    io.cached_arrays({"k": 1}, lambda: {"x": np.arange(100.0)}, tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    data = entry.read_bytes()
    if damage == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "flipped byte":
        entry.write_bytes(data[:200] + bytes([data[200] ^ 0xFF]) + data[201:])
    elif damage == "garbage":
        entry.write_bytes(b"not an archive")
    elif damage == "wrong checksum":
        _corrupt_payload(entry)
    else:
        np.savez(entry, x=np.arange(100.0))
    capsys.readouterr()
    arrays, hit = io.cached_arrays({"k": 1}, lambda: {"x": np.arange(100.0)}, tmp_path)
    assert not hit and np.array_equal(arrays["x"], np.arange(100.0))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was damaged" in err[0] and "deleted it, recomputing" in err[0]
    again, hit = io.cached_arrays({"k": 1}, lambda: {"x": np.zeros(1)}, tmp_path)
    assert hit and np.array_equal(again["x"], np.arange(100.0)), "the recomputed entry is stored and served"


def test_a_run_killed_midway_leaves_no_cache_entry(tmp_path):
    def killed():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        io.cached_arrays({"k": 2}, killed, tmp_path)
    assert list(tmp_path.glob("*")) == []
    arrays, hit = io.cached_arrays({"k": 2}, lambda: {"y": np.ones(2)}, tmp_path)
    assert not hit and arrays["y"].sum() == 2


def test_a_cache_that_cannot_be_written_still_returns_the_result_with_one_warning(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    arrays, hit = io.cached_arrays({"k": 4}, lambda: {"z": np.arange(2)}, blocker / "cache")
    assert not hit and arrays["z"].tolist() == [0, 1]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not store the result in the cache" in err[0]


def test_nothing_is_stored_when_the_source_changed_since_import(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(io, "source_changes", lambda: ["memory/metrics.py"])
    arrays, hit = io.cached_arrays({"k": 5}, lambda: {"z": np.arange(2)}, tmp_path)
    assert not hit and arrays["z"].tolist() == [0, 1]
    assert list(tmp_path.iterdir()) == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "source changed on disk since it was imported (memory/metrics.py)" in err[0]


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664)])
def test_cache_entries_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        io.cached_arrays({"k": umask}, lambda: {"z": np.arange(2)}, tmp_path / "shared")
    finally:
        os.umask(old)
    (entry,) = (tmp_path / "shared").glob("*.npz")
    assert entry.stat().st_mode & 0o777 == mode


def test_no_cache_directory_means_always_compute(monkeypatch):
    monkeypatch.delenv("SLOTLESS_CACHE", raising=False)
    _, hit = io.cached_arrays({"k": 3}, lambda: {"z": np.zeros(1)})
    assert hit is False


def test_prune_removes_entries_of_other_source_versions_and_leaves_the_rest(tmp_path, monkeypatch):
    io.cached_arrays({"k": "current"}, lambda: {"x": np.arange(2)}, tmp_path)
    (current,) = tmp_path.glob("*.npz")
    monkeypatch.setattr(io, "source_hash", lambda: "0" * 64)  # an entry made by an older source
    io.cached_arrays({"k": "old"}, lambda: {"x": np.arange(3)}, tmp_path)
    monkeypatch.undo()
    monkeypatch.setitem(io.ENVIRONMENT, "torch", "0.1")  # and one made under another torch
    io.cached_arrays({"k": "other torch"}, lambda: {"x": np.arange(3)}, tmp_path)
    monkeypatch.undo()
    (tmp_path / ("f" * 32 + ".npz")).write_bytes(b"damaged")
    (tmp_path / "mine.npz").write_bytes(b"a user's own file")
    stale = tmp_path / ".slotless-abcdefgh.tmp"
    stale.write_bytes(b"left by a killed writer")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = tmp_path / ".slotless-ijklmnop.tmp"
    fresh.write_bytes(b"being written right now")
    dry = io.prune_cache(tmp_path, dry_run=True)
    assert len(dry.removed) == 4 and len(list(tmp_path.iterdir())) == 7
    report = io.prune_cache(tmp_path)
    reasons = dict(report.removed)
    assert report.kept == 1 and len(reasons) == 4
    assert reasons["f" * 32 + ".npz"].startswith("damaged") and reasons[stale.name].startswith("temporary")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([current.name, "mine.npz", fresh.name])


def test_entries_are_zip_archives_numpy_reads_without_pickle(tmp_path):
    io.cached_arrays({"k": 6}, lambda: {"x": np.arange(2)}, tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    assert zipfile.is_zipfile(entry)
    with np.load(entry, allow_pickle=False) as stored:
        assert stored["x"].tolist() == [0, 1]


def test_prune_numba_caches_removes_only_other_source_versions(tmp_path):
    current = io.numba_cache_dir(tmp_path)
    old = tmp_path / ("numba-" + "0" * 16)
    if old.name == current.name:  # pragma: no cover - a source hash of sixteen zeros
        old = tmp_path / ("numba-" + "1" * 16)
    for folder in (current, old):
        folder.mkdir()
        (folder / "kernel.nbi").write_bytes(b"index")
    (tmp_path / "numba-notahash").mkdir()  # not a cache of ours: left alone
    (tmp_path / "module.cpython-311.pyc").write_bytes(b"bytecode")
    assert io.prune_numba_caches(tmp_path, dry_run=True) == [old.name] and old.is_dir()
    assert io.prune_numba_caches(tmp_path) == [old.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([current.name, "numba-notahash",
                                                                 "module.cpython-311.pyc"])
    assert (current / "kernel.nbi").read_bytes() == b"index"
    assert io.prune_numba_caches(tmp_path / "missing") == []
