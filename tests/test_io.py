"""Atomic writes and the keyed result cache (slotless.io)."""

import json

import numpy as np
import pytest

from slotless import io


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


def test_cache_key_depends_on_config_and_on_package_source(monkeypatch):
    key = io.cache_key({"n": 1})
    assert io.cache_key({"n": 1}) == key
    assert io.cache_key({"n": 2}) != key
    monkeypatch.setattr(io, "source_hash", lambda: "edited source")
    assert io.cache_key({"n": 1}) != key, "a code change must change every key"


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


def test_a_run_killed_midway_leaves_no_cache_entry(tmp_path):
    def killed():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        io.cached_arrays({"k": 2}, killed, tmp_path)
    assert list(tmp_path.glob("*")) == []
    arrays, hit = io.cached_arrays({"k": 2}, lambda: {"y": np.ones(2)}, tmp_path)
    assert not hit and arrays["y"].sum() == 2


def test_no_cache_directory_means_always_compute(monkeypatch):
    monkeypatch.delenv("SLOTLESS_CACHE", raising=False)
    _, hit = io.cached_arrays({"k": 3}, lambda: {"z": np.zeros(1)})
    assert hit is False
