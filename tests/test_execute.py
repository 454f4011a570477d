"""slotless.execute: the chapters executed ahead of jupyter-book, several at once, and the guard
(_ext/executed_ahead.py) that never lets jupyter-book render outputs of other code."""

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from jupyter_cache import get_cache

from slotless import execute

ROOT = Path(__file__).resolve().parents[1]


def fake_run(monkeypatch, seconds=None, fail=()):
    """Replace the kernel execution by a short sleep; record (chapter, start, end) of each execution."""
    import nbformat

    seconds = seconds or {}
    log = []
    lock = threading.Lock()

    def run(path, timeout):
        name = Path(path).relative_to(ROOT).with_suffix("").as_posix()
        start = time.perf_counter()
        time.sleep(seconds.get(name, 0.02))
        with lock:
            log.append((name, start, time.perf_counter()))
        if name in fail:
            return "", 0.0, "AssertionError: a claim failed"
        return nbformat.writes(execute.read_chapter(Path(path))), 0.0, None

    monkeypatch.setattr(execute, "_execute", run)
    return log


def run_all(tmp_path, lanes=2):
    lines = []
    pools = (ThreadPoolExecutor(1), ThreadPoolExecutor(len(execute.lane_cpus(lanes))))
    outcome = execute.execute_chapters(ROOT, tmp_path / "cache", lanes, quick=True, log=lines.append, pools=pools)
    return outcome, lines


def test_every_chapter_of_the_toc_that_is_a_notebook_is_executed_and_cached(tmp_path, monkeypatch):
    fake_run(monkeypatch)
    outcome, _ = run_all(tmp_path)
    names = execute.chapters(ROOT)
    assert set(outcome) == set(names) and "book/attention/training" in names and "book/appendix/cite" not in names
    cache = get_cache(str(tmp_path / "cache"))
    for name in names:  # jupyter-book looks each chapter up by the hash of its code cells, as myst-nb reads it
        assert cache.match_cache_notebook(execute.read_chapter(ROOT / f"{name}.md")) is not None, name


def test_the_performance_chapter_runs_alone_and_no_more_than_the_lanes_run_at_once(tmp_path, monkeypatch):
    log = fake_run(monkeypatch, seconds={name: 0.05 for name in execute.EXPECTED_SECONDS})
    run_all(tmp_path, lanes=2)
    (alone,) = [entry for entry in log if entry[0] in execute.ALONE]
    for name, start, end in log:
        if name != alone[0]:
            assert start >= alone[2] or end <= alone[1], f"{name} overlapped the performance chapter"
    for _, start, _ in log:
        assert sum(s <= start < e for _, s, e in log) <= len(execute.lane_cpus(2))


def test_a_chapter_that_reads_another_chapters_runs_starts_after_it(tmp_path, monkeypatch):
    log = fake_run(monkeypatch, seconds={"book/memory/retention": 0.3})
    run_all(tmp_path, lanes=3)
    times = {name: (start, end) for name, start, end in log}
    for reader, sources in execute.READS_RUNS_OF.items():
        for source in sources:
            assert times[reader][0] >= times[source][1], f"{reader} started before {source} finished"


@pytest.mark.parametrize("lanes", [1, 2, 3, 64])
def test_lanes_split_the_cores_into_disjoint_groups_at_most_one_lane_per_core(lanes):
    groups = execute.lane_cpus(lanes)
    cpus = sorted(os.sched_getaffinity(0))
    assert sorted(c for g in groups for c in g) == cpus and all(groups)
    assert len(groups) == min(lanes, len(cpus))
    assert max(map(len, groups)) - min(map(len, groups)) <= 1


def test_one_lane_where_processes_cannot_be_confined_to_cores(monkeypatch):
    monkeypatch.delattr(os, "sched_setaffinity")
    assert len(execute.lane_cpus(2)) == 1


def test_longest_chain_first_counts_the_chapters_that_wait():
    order = execute.plan_order(execute.chapters(ROOT))
    assert order[0] == "book/attention/training"
    # retention alone is shorter than design_space, but controls and memory_results wait for it
    assert execute.EXPECTED_SECONDS["book/memory/retention"] < execute.EXPECTED_SECONDS["book/memory/design_space"]
    assert order.index("book/memory/retention") < order.index("book/memory/design_space")


def test_a_failing_chapter_is_not_cached_and_the_others_still_are(tmp_path, monkeypatch):
    fake_run(monkeypatch, fail=("book/memory/controls",))
    outcome, lines = run_all(tmp_path)
    assert outcome["book/memory/controls"].startswith("AssertionError")
    assert any("book/memory/controls FAILED" in line and "jupyter-book will execute it" in line for line in lines)
    cache = get_cache(str(tmp_path / "cache"))
    with pytest.raises(KeyError):  # jupyter-cache: no record for this notebook
        cache.match_cache_notebook(execute.read_chapter(ROOT / "book/memory/controls.md"))
    assert cache.match_cache_notebook(execute.read_chapter(ROOT / "book/memory/retention.md")) is not None


@pytest.mark.parametrize("kind", ["file", "symlink to a directory"])
def test_a_cache_path_that_is_not_a_directory_is_refused_with_one_line(tmp_path, monkeypatch, kind):
    # through the command line, which must not resolve a symlink into the directory it would then empty
    monkeypatch.setattr(execute, "chapters", lambda root: [])  # nothing to execute if the path got through
    mine = tmp_path / "mine"
    if kind == "file":
        mine.write_text("mine")
    else:
        mine.mkdir()
        (mine / "keep").write_text("mine")
    (tmp_path / "cache").symlink_to(mine) if kind != "file" else mine.rename(tmp_path / "cache")
    with pytest.raises(SystemExit, match="is not a directory"):
        execute.main(["--root", str(ROOT), "--cache", str(tmp_path / "cache")])
    assert (tmp_path / "cache").read_text() == "mine" if kind == "file" else (mine / "keep").read_text() == "mine"


# ------------------------------------------------------------------ the guard in _ext/executed_ahead.py
def guard(cache_path, mode="cache"):
    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        import executed_ahead
    finally:
        sys.path.remove(str(ROOT / "_ext"))
    app = SimpleNamespace(env=SimpleNamespace(mystnb_config=SimpleNamespace(
        execution_mode=mode, execution_cache_path=str(cache_path))))
    executed_ahead._check(app)


@pytest.mark.parametrize("stamp", ["matching", "other source", "other scale", "missing", "damaged"])
def test_the_book_renders_only_outputs_stamped_with_the_running_source_and_scale(tmp_path, monkeypatch, stamp):
    monkeypatch.setenv("BOOK_QUICK", "1")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "global.db").write_text("")
    expected = execute.cache_stamp(True)
    written = {"matching": expected, "other source": {**expected, "source_hash": "0" * 64},
               "other scale": execute.cache_stamp(False)}.get(stamp)
    if written is not None:
        (cache / execute.STAMP_FILE).write_text(json.dumps(written))
    elif stamp == "damaged":
        (cache / execute.STAMP_FILE).write_text("{")
    guard(cache)
    assert cache.exists() == (stamp == "matching")


def test_the_guard_leaves_other_execution_modes_alone(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    guard(cache, mode="force")
    assert cache.exists()


def test_cells_get_the_timeout_of_the_book_config():
    import yaml

    assert execute.cell_timeout(ROOT) == yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"]


def test_a_failing_cell_is_reported_by_its_exception(tmp_path):
    """The real execution path, on a two-cell MyST notebook whose second cell fails."""
    chapter = tmp_path / "bad.md"
    chapter.write_text("---\njupytext:\n  text_representation:\n    format_name: myst\nkernelspec:\n  name: python3\n"
                       "  display_name: Python 3\n---\n\n# Bad\n\n```{code-cell} ipython3\nx = 1\n```\n\n"
                       "```{code-cell} ipython3\nassert x == 2, 'x is not 2'\n```\n")
    text, _, error = execute._execute(str(chapter), 120)
    assert text == "" and error == "AssertionError: x is not 2"


def _fake_executions(monkeypatch, outcomes):
    """Replace jupyter-cache's notebook execution by one whose n-th call has ``outcomes[n]`` (the last one
    repeats): ``("raise", exception)`` raises it (as a kernel that does not start raises), anything else is
    the returned error (as a failing cell comes back). Returns the list of calls."""
    from types import SimpleNamespace

    from jupyter_cache.executors import utils

    calls = []

    def single_nb_execution(nb, **kwargs):
        calls.append(kwargs["cwd"])
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, tuple):
            raise outcome[1]
        return SimpleNamespace(nb=nb, err=outcome, time=0.5)

    monkeypatch.setattr(utils, "single_nb_execution", single_nb_execution)
    return calls


def _chapter(tmp_path):
    chapter = tmp_path / "ok.md"
    chapter.write_text("# OK\n")
    return chapter


def test_a_chapter_whose_kernel_did_not_start_is_started_again(tmp_path, monkeypatch):
    # A kernel that dies before its first reply (e.g. a port taken by another process) ran no cell: the
    # chapter runs again instead of failing the build or the tests.
    died = ("raise", RuntimeError("Kernel died before replying to kernel_info"))
    calls = _fake_executions(monkeypatch, [died, died, None])
    text, _, error = execute._execute(str(_chapter(tmp_path)), 120)
    assert error is None and text and len(calls) == 3


def test_a_kernel_that_never_starts_is_raised_after_the_last_attempt(tmp_path, monkeypatch):
    calls = _fake_executions(monkeypatch, [("raise", RuntimeError("Kernel didn't respond to heartbeats in 60 s"))])
    with pytest.raises(RuntimeError, match="heartbeats"):
        execute._execute(str(_chapter(tmp_path)), 120)
    assert len(calls) == execute.KERNEL_START_ATTEMPTS


def test_other_errors_are_not_run_again(tmp_path, monkeypatch):
    calls = _fake_executions(monkeypatch, [("raise", RuntimeError("something else")), None])
    with pytest.raises(RuntimeError, match="something else"):
        execute._execute(str(_chapter(tmp_path)), 120)
    calls = _fake_executions(monkeypatch, [ValueError("a cell failed"), None])  # a failing cell: returned
    _, _, error = execute._execute(str(_chapter(tmp_path)), 120)
    assert len(calls) == 1 and error == "ValueError: a cell failed"


def test_golden_notebook_kernels_that_never_started_are_started_again(monkeypatch):
    # nbval starts one kernel per golden notebook in `make test`; conftest.py makes that start follow the
    # chapters' rule: again when the kernel never started, never for another error.
    import nbval.kernel
    import nbval.plugin

    attempts = []

    def start_new_kernel(**kwargs):
        attempts.append(kwargs)
        if len(attempts) < execute.KERNEL_START_ATTEMPTS:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return "km", "kc"

    monkeypatch.setattr(nbval.kernel, "start_new_kernel", start_new_kernel)
    monkeypatch.setattr(nbval.kernel.RunningKernel, "_ensure_iopub_up", lambda self: None)
    kernel = nbval.plugin.RunningKernel("python3", cwd=".")
    assert (kernel.km, kernel.kc) == ("km", "kc") and len(attempts) == execute.KERNEL_START_ATTEMPTS

    def broken(**kwargs):
        attempts.append(kwargs)
        raise RuntimeError("something else")

    attempts.clear()
    monkeypatch.setattr(nbval.kernel, "start_new_kernel", broken)
    with pytest.raises(RuntimeError, match="something else"):
        nbval.plugin.RunningKernel("python3", cwd=".")
    assert len(attempts) == 1
