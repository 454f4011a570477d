"""Fault injection: every failure a careful user or a batch scheduler can meet gives one line, the right exit
status and no partial file, and the cache never serves a stale or damaged result.

Real faults where the machine allows them (a tiny tmpfs for a full or read-only disk, an immutable file,
a directory the user may not write, signals sent to a real process); injected faults otherwise, and for
what cannot be produced on demand (a MemoryError, a disk that fills up during the run).
"""

from __future__ import annotations

import errno
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from cli_support import SMALL_MEMORY, SMALL_SWEEP, leftovers, run_cli, stderr_lines, strict_load

import slotless
from slotless import cli
from slotless import io as sio
from slotless.book import parse_quick, resolve_quick, start
from slotless.checks import ConfigError, available_memory, check_memory
from slotless.memory import kernels
from slotless.memory import protocol as memory_protocol

ROOT = Path(__file__).resolve().parents[1]


def _main(args, capsys):
    """Run the CLI in this process: (exit status, stderr lines)."""
    try:
        status = cli.main(args)
    except SystemExit as exit_:
        status = exit_.code
    return status, stderr_lines(capsys.readouterr().err)


def _one_error(lines, status, expected_status=2, fragment=""):
    assert status == expected_status, lines
    assert len(lines) == 1 and " error: " in lines[0], lines
    assert fragment in lines[0], lines


# --------------------------------------------------------------------------- small file systems
def _mount_tmpfs(where: Path, options: str):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    where.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    return where


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs, unmounted afterwards."""
    mount = _mount_tmpfs(tmp_path / "tiny", "size=64k,mode=0755")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture
def read_only_disk(tmp_path):
    """A read-only tmpfs, unmounted afterwards."""
    mount = _mount_tmpfs(tmp_path / "ro", "ro,size=64k")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(directory: Path) -> None:
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while os.write(fd, b"\0" * 512):
            pass
    except OSError as error:
        assert error.errno == errno.ENOSPC
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------- item 1: the cache
STALE_RUN = """
import pathlib, sys
import numpy as np
import slotless._probe as probe
from slotless import io
if sys.argv[1] == "edit":  # an editor saves a new version of a module while this process runs
    pathlib.Path(probe.__file__).write_text("VALUE = 0.7758\\n")
arrays, hit = io.cached_arrays({"probe": 1}, lambda: {"value": np.array(probe.VALUE)})
print(float(arrays["value"]), hit)
"""


def test_stale_cache_reproduction_stores_nothing_and_a_fresh_process_computes_the_new_result(tmp_path):
    """The issue's reproduction: the module is edited after import, then a cached call runs."""
    package = tmp_path / "src" / "slotless"
    shutil.copytree(ROOT / "slotless", package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "_probe.py").write_text("VALUE = 0.7704\n")
    script = tmp_path / "run.py"
    script.write_text(STALE_RUN)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "src"), SLOTLESS_CACHE=str(tmp_path / "cache"),
               NUMBA_CACHE_DIR=str(tmp_path / "numba"))

    def run(mode):
        proc = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()[-1].split(), stderr_lines(proc.stderr)

    out, err = run("edit")
    assert out == ["0.7704", "False"]  # the code that ran: the imported one
    assert len(err) == 1 and "not storing this result in the cache" in err[0] and "_probe.py" in err[0]
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())
    assert run("same") == (["0.7758", "False"], [])  # a fresh process: the new code, computed and stored
    assert run("same") == (["0.7758", "True"], [])   # and served from then on


def test_damaged_cache_entry_through_the_cli_is_one_line_and_recomputed(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SLOTLESS_CACHE", str(tmp_path / "cache"))
    first = tmp_path / "first.json"
    assert _main(["memory", *SMALL_MEMORY, "--quiet", "--out", str(first)], capsys) == (0, [])
    (entry,) = (tmp_path / "cache").glob("*.npz")
    damages = (lambda b: b[: len(b) // 3], lambda b: b"", lambda b: b[:100] + b"\xff" * 64 + b[164:])
    for n, damage in enumerate(damages):  # truncated, empty, corrupted
        entry.write_bytes(damage(entry.read_bytes()))
        again = tmp_path / f"again{n}.json"
        status, lines = _main(["memory", *SMALL_MEMORY, "--quiet", "--out", str(again)], capsys)
        assert status == 0 and len(lines) == 1 and "was damaged" in lines[0] and "recomputing" in lines[0], lines
        assert strict_load(again)["results"] == strict_load(first)["results"]
        assert strict_load(again)["provenance"]["from_cache"] is False
    status, lines = _main(["memory", *SMALL_MEMORY, "--quiet", "--out", str(tmp_path / "hit.json")], capsys)
    assert status == 0 and lines == [] and strict_load(tmp_path / "hit.json")["provenance"]["from_cache"] is True


def test_a_cache_that_cannot_be_written_still_gives_the_result_and_one_warning(tmp_path, capsys, monkeypatch):
    not_a_directory = tmp_path / "cache"
    not_a_directory.write_text("")
    monkeypatch.setenv("SLOTLESS_CACHE", str(not_a_directory))
    out = tmp_path / "r.json"
    status, lines = _main(["memory", *SMALL_MEMORY, "--quiet", "--out", str(out)], capsys)
    assert status == 0 and len(lines) == 1 and "could not store the result in the cache" in lines[0]
    assert strict_load(out)["results"]["acc_real"]


def test_a_cache_on_a_read_only_disk_still_gives_the_result(tmp_path, capsys, monkeypatch, read_only_disk):
    monkeypatch.setenv("SLOTLESS_CACHE", str(read_only_disk / "cache"))
    out = tmp_path / "r.json"
    status, lines = _main(["memory", *SMALL_MEMORY, "--quiet", "--out", str(out)], capsys)
    assert status == 0 and len(lines) == 1 and "Read-only file system" in lines[0]
    assert strict_load(out)["results"]["acc_real"]


def test_make_cache_clean_prunes_old_source_versions(tmp_path):
    makefile = (ROOT / "Makefile").read_text()
    assert "cache-clean:" in makefile and "-m slotless cache-clean" in makefile
    cache = tmp_path / "cache" / "paper"
    sio.cached_arrays({"k": 1}, lambda: {"x": np.arange(2)}, cache)
    (cache / ("a" * 32 + ".npz")).write_bytes(b"old and damaged")
    # NUMBA_CACHE_DIR set: the package's own compiled-kernel caches are not this test's business
    proc = run_cli(["cache-clean", str(tmp_path / "cache")], env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)})
    assert proc.returncode == 0
    assert stderr_lines(proc) == [f"python -m slotless cache-clean: {tmp_path / 'cache'}: removed 1 file(s), "
                                  f"kept 1 current entry"]
    assert len(list(cache.iterdir())) == 1


def test_cache_clean_removes_compiled_kernel_caches_of_older_sources(tmp_path):
    current = sio.numba_cache_dir()
    stale = current.parent / ("numba-" + ("0" * 16 if current.name != "numba-" + "0" * 16 else "1" * 16))
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "old_kernel.nbi").write_bytes(b"compiled by an older source")
    (tmp_path / "cache").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    proc = run_cli(["cache-clean", str(tmp_path / "cache")], env=env)
    assert proc.returncode == 0 and not stale.exists()
    assert re.fullmatch(r"python -m slotless cache-clean: removed \d+ compiled-kernel cache\(s\) of older source "
                        r"versions", stderr_lines(proc)[-1])


# ------------------------------------------------------------------------------- item 2: safe writes
def test_dev_null_is_refused_and_stays_a_device(capsys):
    status, lines = _main(["memory", *SMALL_MEMORY, "--force", "--out", "/dev/null"], capsys)
    _one_error(lines, status, fragment="--out='/dev/null' is a character device, not a regular file")
    assert Path("/dev/null").is_char_device()


def test_a_fifo_is_refused(tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    status, lines = _main(["memory", *SMALL_MEMORY, "--force", "--out", str(fifo)], capsys)
    _one_error(lines, status, fragment="is a FIFO, not a regular file")
    assert fifo.is_fifo()


def test_a_symlink_is_refused_unless_forced_and_then_its_target_is_written(tmp_path, capsys):
    target = tmp_path / "target.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    status, lines = _main(["memory", *SMALL_MEMORY, "--out", str(link)], capsys)
    _one_error(lines, status, fragment="is a symbolic link; add --force")
    status, lines = _main(["memory", *SMALL_MEMORY, "--quiet", "--force", "--out", str(link)], capsys)
    assert status == 0 and lines == [f"python -m slotless memory: replaced the existing file {link} -> {target}"]
    assert link.is_symlink() and strict_load(target)["results"]


def test_a_missing_directory_given_with_a_slash_is_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, lines = _main(["memory", *SMALL_MEMORY, "--out", "newdir/"], capsys)
    _one_error(lines, status, fragment="--out='newdir/' names a directory that does not exist")
    assert list(tmp_path.iterdir()) == []


def test_a_long_valid_name_is_written_and_a_too_long_one_refused_before_any_work(tmp_path, capsys, monkeypatch):
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    long_name = tmp_path / ("r" * (name_max - 5) + ".json")  # 250 characters where the limit is 255
    status, lines = _main(["memory", *SMALL_MEMORY, "--quiet", "--out", str(long_name)], capsys)
    assert status == 0 and lines == [] and strict_load(long_name)["results"]
    monkeypatch.setattr(memory_protocol, "run_trials_cached", _must_not_run)
    status, lines = _main(["memory", *SMALL_MEMORY, "--out", str(tmp_path / ("r" * (name_max + 1)))], capsys)
    _one_error(lines, status, fragment="this file system allows; choose a shorter --out")
    assert leftovers(tmp_path) == []


def _must_not_run(*args, **kwargs):
    raise AssertionError("the computation ran although the request should have been refused first")


def _refusing(function):
    """A stand-in for ``function`` (same signature, for the help text) that fails the test if called."""
    return functools.wraps(function)(_must_not_run)


def test_a_full_disk_is_refused_before_any_work(tiny_disk, capsys, monkeypatch):
    monkeypatch.setattr(memory_protocol, "run_trials_cached", _must_not_run)
    big = [*SMALL_MEMORY[:-6], "--memories", "2000", "--trials", "3"]  # about 300 KB of JSON for a 64 KiB disk
    status, lines = _main(["memory", *big, "--out", str(tiny_disk / "r.json")], capsys)
    _one_error(lines, status, fragment="is free on")
    assert "free space or choose another --out" in lines[0]
    _fill(tiny_disk)
    status, lines = _main(["memory", *SMALL_MEMORY, "--out", str(tiny_disk / "r.json")], capsys)
    _one_error(lines, status, fragment="free space or choose another --out")
    assert leftovers(tiny_disk) == [] and sorted(p.name for p in tiny_disk.iterdir()) == ["filler"]


def test_a_disk_that_fills_during_the_run_gives_one_line_and_keeps_the_result(tiny_disk, tmp_path, capsys,
                                                                               monkeypatch):
    real = memory_protocol.run_trials_cached

    def run_then_fill(*args, **kwargs):
        result = real(*args, **kwargs)
        _fill(tiny_disk)  # another job fills the disk while this one computes
        return result

    monkeypatch.setattr(memory_protocol, "run_trials_cached", run_then_fill)
    fallback = tmp_path / "fallback"
    fallback.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(fallback))
    status, lines = _main(["memory", *SMALL_MEMORY, "--quiet", "--out", str(tiny_disk / "r.json")], capsys)
    assert status == 1 and len(lines) == 1, lines
    assert "could not write the result" in lines[0] and "no space left on the device" in lines[0]
    (saved,) = fallback.iterdir()
    assert f"the result was saved to {saved} instead" in lines[0] and strict_load(saved)["results"]
    assert leftovers(tiny_disk) == [] and not (tiny_disk / "r.json").exists()


def test_enospc_during_the_write_is_one_line_wherever_it_comes_from(tmp_path, capsys, monkeypatch):
    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(sio, "atomic_write_bytes", full)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    status, lines = _main(["memory", *SMALL_MEMORY, "--quiet", "--out", str(tmp_path / "r.json")], capsys)
    assert status == 1 and len(lines) == 1 and "no space left on the device" in lines[0], lines


def test_a_read_only_disk_is_refused_before_any_work(read_only_disk, capsys, monkeypatch):
    monkeypatch.setattr(memory_protocol, "run_trials_cached", _must_not_run)
    status, lines = _main(["memory", *SMALL_MEMORY, "--out", str(read_only_disk / "r.json")], capsys)
    _one_error(lines, status, fragment="is on a read-only file system; choose another --out")


def test_a_directory_the_user_may_not_write_is_refused_before_any_work(capsys, monkeypatch):
    monkeypatch.setattr(memory_protocol, "run_trials_cached", _must_not_run)
    base = Path(tempfile.mkdtemp())
    try:
        base.chmod(0o755)
        locked = base / "locked"
        locked.mkdir()
        if os.geteuid() == 0:  # root may write anywhere: act as 'nobody' while the CLI checks
            os.seteuid(65534)
        else:
            locked.chmod(0o555)
        try:
            status, lines = _main(["memory", *SMALL_MEMORY, "--out", str(locked / "r.json")], capsys)
        finally:
            if os.getuid() == 0:
                os.seteuid(0)
        _one_error(lines, status, fragment="no permission to write in")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_an_immutable_existing_result_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("making a file immutable needs root and chattr")
    out = tmp_path / "r.json"
    out.write_text("{}")
    if subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode:
        pytest.skip("this file system has no immutable flag")
    monkeypatch.setattr(memory_protocol, "run_trials_cached", _must_not_run)
    try:
        status, lines = _main(["memory", *SMALL_MEMORY, "--force", "--out", str(out)], capsys)
    finally:
        subprocess.run(["chattr", "-i", str(out)], capture_output=True)
    _one_error(lines, status, fragment="is an immutable or append-only file")


SIGNAL_RUN = """
import os, signal, sys
from slotless import cli
from slotless.memory import kernels
signum = getattr(signal, sys.argv[1])
if sys.argv[2] == "write":  # the signal arrives while the result file is being written
    real = os.fsync
    def fsync(fd):
        os.kill(os.getpid(), signum)
        return real(fd)
    os.fsync = fsync
else:  # the signal arrives during the computation
    real = kernels.run_trial_batch
    def batch(*args):
        os.kill(os.getpid(), signum)
        return real(*args)
    kernels.run_trial_batch = batch
sys.exit(cli.main(sys.argv[3:]))
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("when", ["write", "run"])
def test_sigterm_and_sighup_leave_no_result_and_no_temporary_file(tmp_path, name, when):
    script = tmp_path / "run.py"
    script.write_text(SIGNAL_RUN)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.run([sys.executable, str(script), name, when, "memory", *SMALL_MEMORY, "--quiet",
                           "--out", str(out_dir / "r.json")], capture_output=True, text=True, timeout=300)
    signum = getattr(signal, name)
    assert proc.returncode == 128 + signum, proc.stderr
    assert stderr_lines(proc.stderr) == [f"python -m slotless memory: stopped by {name}; no result written"]
    assert list(out_dir.iterdir()) == []


def test_a_run_started_under_nohup_keeps_ignoring_sighup(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SIGNAL_RUN)
    out = tmp_path / "r.json"
    ignore_hangup = lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)  # noqa: E731 - what nohup does
    proc = subprocess.run([sys.executable, str(script), "SIGHUP", "write", "memory", *SMALL_MEMORY, "--quiet",
                           "--out", str(out)], capture_output=True, text=True, timeout=300, preexec_fn=ignore_hangup)
    assert proc.returncode == 0 and proc.stderr == "" and strict_load(out)["results"]


def test_ctrl_c_is_checked_after_every_trial_per_thread(tmp_path, capsys, monkeypatch):
    import numba

    sizes = []
    real = kernels.run_trial_batch

    def batch(seeds, *rest):
        sizes.append(len(seeds))
        if len(sizes) == 2:
            raise KeyboardInterrupt  # Python delivers Ctrl-C when the compiled call returns
        return real(seeds, *rest)

    monkeypatch.setattr(kernels, "run_trial_batch", batch)
    args = [*SMALL_MEMORY[:-4], "--trials", "9", "--quiet", "--out", str(tmp_path / "r.json")]
    status, lines = _main(["memory", *args], capsys)
    assert status == 130 and lines == ["python -m slotless memory: interrupted; no result written"]
    assert sizes == [numba.get_num_threads()] * 2  # one trial per thread per call: Ctrl-C waits one trial
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- item 3: typed quick
@pytest.mark.parametrize("value,expected", [(True, True), (False, False), (None, None), ("true", True),
                                            ("FALSE", False), ("False", False), (" 1 ", True), ("0", False),
                                            (1, True), (0, False), (np.bool_(True), True)])
def test_quick_accepts_booleans_and_their_spellings(value, expected):
    assert parse_quick(value) is expected


@pytest.mark.parametrize("value", ["maybe", "yes", "", "2", 2, -1, 0.0, 1.0, [], "None"])
def test_quick_refuses_anything_else(value):
    with pytest.raises(ConfigError, match=r"^quick=.* is not allowed: give True or False"):
        parse_quick(value)


def test_resolve_quick_false_is_paper_scale_and_book_quick_parses_the_same_way(monkeypatch):
    monkeypatch.delenv("BOOK_QUICK", raising=False)
    assert resolve_quick("false") is False and resolve_quick(None) is False
    for value, expected in (("1", True), ("true", True), ("0", False), ("false", False), ("", False)):
        monkeypatch.setenv("BOOK_QUICK", value)
        assert resolve_quick(None) is expected
    monkeypatch.setenv("BOOK_QUICK", "true")
    assert resolve_quick("false") is False  # the parameter wins
    monkeypatch.setenv("BOOK_QUICK", "yes")
    with pytest.raises(ConfigError, match=r"^BOOK_QUICK='yes' is not allowed"):
        resolve_quick(None)
    with pytest.raises(ConfigError, match=r"^quick='maybe' is not allowed"):
        start("maybe")


TINY_CHAPTER_START = "from slotless import book\nSCALE = book.start(quick)\nprint('quick scale:', SCALE.quick)"


@pytest.fixture(scope="module")
def tiny_chapter(tmp_path_factory):
    """A chapter's parameters cell (taken from a real chapter) and the call every chapter makes next."""
    import jupytext
    import nbformat
    from chapters import chapter_paths

    source = jupytext.read(chapter_paths()[0])
    (parameters,) = [c for c in source.cells if "parameters" in c.metadata.get("tags", [])]
    notebook = nbformat.v4.new_notebook(cells=[parameters, nbformat.v4.new_code_cell(TINY_CHAPTER_START)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path_factory.mktemp("chapter") / "tiny.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.parametrize("value,expected", [("false", "False"), ("true", "True"), ("1", "True"), ("maybe", None)])
def test_papermill_p_quick_reaches_the_chapter_typed(tiny_chapter, tmp_path, value, expected):
    import nbformat

    papermill = Path(sys.executable).with_name("papermill")
    out = tmp_path / "out.ipynb"
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "BOOK_QUICK")}
    proc = subprocess.run([str(papermill), str(tiny_chapter), str(out), "-p", "quick", value, "-k", "python3",
                           "--cwd", str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    executed = nbformat.read(out, 4)
    text = "".join(o.get("text", "") + "".join(o.get("traceback", [])) + o.get("evalue", "")
                   for c in executed.cells for o in c.get("outputs", []))
    if expected is None:
        assert proc.returncode != 0
        assert "ConfigError" in text and "quick='maybe' is not allowed" in text
    else:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"quick scale: {expected}" in text
        assert ("Built at paper scale." in text) == (expected == "False")


# ------------------------------------------------------------------------------- item 4: divergence
def test_lr_1e30_gives_strict_json_with_diverged_per_seed_and_one_warning(tmp_path):
    out = tmp_path / "d.json"
    proc = run_cli(["case-sequence", "--model", "qk-mhn", "--lr", "1e30", *SMALL_SWEEP, "--quiet", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    results = strict_load(out)["results"]
    assert results["diverged"] == [True, True] and all(b >= 1 for b in results["diverged_at"])
    lines = stderr_lines(proc)
    assert len(lines) == 1 and "warning: 2 of 2 seed(s) diverged" in lines[0]


def test_a_diverged_seed_stops_and_the_others_are_unaffected():
    from slotless.attention.training import resolve_config, run_sweep

    calm = run_sweep(resolve_config("transformer", lr=1e-3), [0, 1], 40, 8)
    wild = run_sweep(resolve_config("transformer", lr=1e30), [0, 1], 40, 8)
    assert calm.diverged_at == [None, None]
    assert all(isinstance(b, int) for b in wild.diverged_at)
    for s, first in enumerate(wild.diverged_at):
        assert np.isnan(wild.accuracy[s, first - 1:]).all() and np.isfinite(wild.accuracy[s, :first - 1]).all()
        assert np.isnan(wild.final_accuracy[s]) and np.isnan(wild.loss[s, first - 1:]).all()
        assert np.all(wild.weights["W_Q"][s] == 0)  # stopped: held at zero, so the stack stays finite


# --------------------------------------------------------------------------- item 5: one line each
@pytest.mark.parametrize("command,fragment", [
    (["memory", "--trials", str(10**9)], "reduce --trials, --memories"),
    (["memory", "--memories", str(10**7)], "reduce --memories, --burn-in, --pseudo"),
    (["memory", "--n-hidden", str(10**8), "--winners", "1"], "reduce --n-hidden, --fan-in, --n-input"),
    (["case-sequence", "--model", "qk-mhn", "--batches", str(10**12)], "reduce --batches, --seeds"),
    (["case-sequence", "--model", "qk-mhn", "--key-dim", str(10**7)], "--key-dim"),
    (["case-sequence", "--model", "qk-mhn", "--batch-size", str(10**8)], "reduce --batch-size"),
    (["case-sequence", "--model", "transformer", "--seeds", str(10**9)], "--seeds"),
])
def test_requests_too_large_for_memory_are_refused_before_any_work(tmp_path, capsys, monkeypatch, command, fragment):
    from slotless.attention import training

    monkeypatch.setattr(memory_protocol, "run_trials_cached", _must_not_run)
    monkeypatch.setattr(training, "run_sweep", _refusing(training.run_sweep))
    status, lines = _main([*command, "--out", str(tmp_path / "r.json")], capsys)
    _one_error(lines, status, fragment="of memory, more than the")
    assert fragment in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_check_memory_names_the_largest_part():
    check_memory([(10, "--a"), (20, "--b")], available=100)
    with pytest.raises(ConfigError, match=r"^this run needs about 3.0 KB of memory, more than the 100 B available; "
                                          r"reduce --b$"):
        check_memory([(1000, "--a"), (2000, "--b")], available=100)
    assert available_memory() is None or available_memory() > 0


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate "
                                                                "memory: you tried to allocate 10 bytes")])
def test_running_out_of_memory_during_the_run_is_one_line_exit_1(tmp_path, capsys, monkeypatch, error):
    def oom(*args, **kwargs):
        raise error

    monkeypatch.setattr(memory_protocol, "run_trials_cached", oom)
    status, lines = _main(["memory", *SMALL_MEMORY, "--out", str(tmp_path / "r.json")], capsys)
    _one_error(lines, status, expected_status=1, fragment="ran out of memory during the run; reduce --")
    assert list(tmp_path.iterdir()) == []


def test_a_non_utf8_stream_name_is_one_line(tmp_path):
    proc = run_cli([b"memory", *SMALL_MEMORY, b"--stream", b"\xff\xfe", b"--out", str(tmp_path / "r.json")])
    assert proc.returncode == 2
    lines = stderr_lines(proc)
    assert lines == ["python -m slotless memory: error: argument --stream: b'\\xff\\xfe' is not valid UTF-8 text; "
                     "use a UTF-8 name"]


def test_the_source_hash_seen_by_provenance_is_the_one_of_the_cache(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert _main(["memory", *SMALL_MEMORY, "--quiet", "--out", str(out)], capsys) == (0, [])
    provenance = strict_load(out)["provenance"]
    assert provenance["source_hash"] == sio.source_hash() and provenance["slotless_version"] == slotless.__version__
    assert provenance["command"].startswith("python -m slotless memory --model kwinner")
    assert {k: provenance[k] for k in sio.ENVIRONMENT} == sio.ENVIRONMENT


def test_no_traceback_for_any_of_the_probes_through_the_real_entry_point(tmp_path):
    """A few of the probes once more, as a user types them: one line each, never a traceback."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    probes = [["memory", "--trials", str(10**9), "--out", str(tmp_path / "a.json")], ["memory", "--out", str(fifo)]]
    for probe in probes:
        proc = run_cli(probe)
        text = proc.stderr.decode()
        assert proc.returncode == 2 and "Traceback" not in text and len(stderr_lines(proc)) == 1, text

