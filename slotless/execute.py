"""Execute the book's chapters ahead of ``jupyter-book build``, several at once.

``make book`` (and ``make book-quick``) run ``python -m slotless.execute`` before jupyter-book. It executes
every chapter of ``_toc.yml`` and stores each executed notebook in the jupyter-cache that jupyter-book
reads (``execute_notebooks: cache`` in ``_config.yml``), so that jupyter-book only renders.

Chapters run in ``lanes`` at once (default: 2 when there are 2 cores or more). The cores are split
between the lanes and each lane's kernel is confined to its own (CPU affinity), so a chapter sizes its
threads and Dask workers to its lane (``slotless.sweeps.default_workers``, Numba and torch all read the
affinity). Two chapters never compete for one core: on 2 cores, letting both use both cores made every
chapter 2-3x slower and the build no faster (measured: 11:07 against 11:02 one chapter after another).
Three rules:

- A chapter that measures its own speed (:data:`ALONE`, the performance appendix) runs first, alone and
  on every core, so that its ratios are measured as ``make bench`` measures them. Its reference trials run
  on one core, but the other core cannot run a chapter meanwhile: beside a K-winner engine on the other
  core a reference trial took about a third longer, beside a Part II training sweep 5-10% longer (measured
  on a 2-core AMD EPYC), which would inflate the ratios.
- A chapter that reads the cached runs of another chapter (:data:`READS_RUNS_OF`) starts after it, so
  that those runs are computed once (``slotless.book.memory_runs``).
- Otherwise the chapter with the longest remaining chain (its :data:`EXPECTED_SECONDS` plus those of the
  chapters waiting for it) starts first, so that the lanes finish together.

Every result is the same on any number of cores (each trial and seed has its own generator). A chapter
that fails is not stored: jupyter-book then executes it itself and reports its error as always. The
cache is marked with the source hash, the environment and the scale it was executed under
(:func:`cache_stamp`); the book's ``_ext/executed_ahead.py`` clears a cache whose stamp does not match
the running code, so a chapter is never rendered from outputs of other code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

__all__ = ["ALONE", "READS_RUNS_OF", "EXPECTED_SECONDS", "STAMP_FILE", "toc_pages", "chapters", "plan_order",
           "cache_stamp", "read_chapter", "lane_cpus", "cell_timeout", "kernel_failed_to_start", "with_kernel_retries",
           "execute_chapters", "main", "KERNEL_START_FAILURES", "KERNEL_START_ATTEMPTS"]

#: Chapters that time themselves: executed first, with nothing else running.
ALONE = ("book/appendix/performance",)
#: Chapter -> the chapters whose cached runs it reads: it starts when they have finished.
READS_RUNS_OF = {
    "book/memory/controls": ("book/memory/retention",),
    "book/theory/memory_results": ("book/memory/retention",),
}
#: Seconds each chapter took alone at paper scale on 2 cores (make book at commit 26ac38e): only the order
#: of starts depends on them. A chapter not listed counts as 10 s.
EXPECTED_SECONDS = {
    "book/attention/training": 202, "book/memory/structured": 94, "book/memory/design_space": 82,
    "book/appendix/performance": 77, "book/memory/controls": 47, "book/memory/retention": 46,
    "book/theory/attention_results": 28, "book/memory/kwinner_mhn": 11, "book/theory/memory_results": 8,
    "book/attention/case_sequence": 6, "book/attention/mhn_transformer": 5, "book/appendix/methods": 4,
}
#: The stamp file inside the jupyter-cache directory (see :func:`cache_stamp`).
STAMP_FILE = "slotless-stamp.json"
#: How jupyter_client reports a kernel that never started: for example, another process took one of its
#: ports between the client choosing it and the kernel binding it ("Address already in use"). No cell has
#: run then, so the chapter is started again, up to :data:`KERNEL_START_ATTEMPTS` times in all.
KERNEL_START_FAILURES = ("Kernel died before replying to kernel_info", "Kernel didn't respond")
KERNEL_START_ATTEMPTS = 3


def toc_pages(root: Path) -> list[str]:
    """Every page of ``root/_toc.yml`` (the root first, then the parts' chapters and their sections, in
    order), as paths without suffix relative to ``root``."""
    import yaml

    def files(entries):
        for entry in entries or []:
            if "file" in entry:
                yield entry["file"]
            yield from files(entry.get("chapters"))
            yield from files(entry.get("sections"))

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages.extend(files(part.get("chapters")))
    pages.extend(files(toc.get("chapters")))
    return pages


def chapters(root: Path) -> list[str]:
    """The executable chapters of ``root/_toc.yml`` (MyST notebooks), as paths without suffix, in toc order."""
    from myst_nb.core.read import is_myst_markdown_notebook

    return [n for n in toc_pages(root) if is_myst_markdown_notebook((root / f"{n}.md").read_text())]


def cell_timeout(root: Path) -> int | None:
    """The seconds a cell may take: ``execute.timeout`` of ``root/_config.yml``, as jupyter-book applies it."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text()) or {}
    return (config.get("execute") or {}).get("timeout")


def plan_order(names: list[str]) -> list[str]:
    """``names`` by start priority: the longest chain of :data:`EXPECTED_SECONDS` through the chapters that
    wait for it first (ties in toc order)."""
    waiting = {n: [m for m in names if n in READS_RUNS_OF.get(m, ())] for n in names}

    def chain(name):
        return EXPECTED_SECONDS.get(name, 10) + max((chain(m) for m in waiting[name]), default=0)

    return sorted(names, key=lambda n: -chain(n))


def cache_stamp(quick: bool) -> dict:
    """What the executed chapters depend on beyond their own code (which jupyter-cache hashes): the
    package source (:func:`slotless.io.source_hash`), :data:`slotless.io.ENVIRONMENT` and the scale."""
    from .io import ENVIRONMENT, source_hash

    return {"source_hash": source_hash(), "environment": ENVIRONMENT, "quick": bool(quick)}


def lane_cpus(lanes: int) -> list[tuple[int, ...]]:
    """The cores this process may use, split into ``lanes`` disjoint groups as even as possible (fewer groups
    when there are fewer cores); each lane's kernels are confined to its group. Where a process cannot be
    confined to cores (no ``os.sched_setaffinity``, e.g. macOS), one lane: chapters sharing cores gain nothing."""
    if not hasattr(os, "sched_setaffinity"):
        return [tuple(range(os.cpu_count() or 1))]
    cpus = sorted(os.sched_getaffinity(0))
    lanes = max(1, min(lanes, len(cpus)))
    return [tuple(cpus[i * len(cpus) // lanes:(i + 1) * len(cpus) // lanes]) for i in range(lanes)]


def _confine(groups) -> None:
    """Worker initializer: confine this worker process (and so its kernels) to the next free group."""
    os.sched_setaffinity(0, groups.get())


def read_chapter(path: Path):
    """The notebook of a MyST chapter exactly as myst-nb reads it (so that jupyter-cache's hash of its code
    cells matches the one jupyter-book looks up)."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    return read_myst_markdown_notebook(path.read_text(), config=MdParserConfig(), add_source_map=True,
                                       path=str(path))


def kernel_failed_to_start(error) -> bool:
    """Whether ``error`` says that a notebook's kernel never started (:data:`KERNEL_START_FAILURES`), so that
    no cell ran and executing the notebook again is safe."""
    return isinstance(error, RuntimeError) and str(error).startswith(KERNEL_START_FAILURES)


def with_kernel_retries(run):
    """``run()`` (an execution of a notebook), called again while it raises because its kernel never started
    (:func:`kernel_failed_to_start`), up to :data:`KERNEL_START_ATTEMPTS` calls in all; other errors, and the
    last attempt's, are raised."""
    for attempt in range(KERNEL_START_ATTEMPTS):
        try:
            return run()
        except RuntimeError as error:
            if not kernel_failed_to_start(error) or attempt == KERNEL_START_ATTEMPTS - 1:
                raise


def _execute(path: str, timeout: int) -> tuple[str, float, str | None]:
    """Execute one chapter in its own directory (in a worker process), started again if its kernel did not
    start (:func:`kernel_failed_to_start`). Returns (notebook JSON, seconds, None) or ("", seconds, the
    error's first line)."""
    import nbformat
    from jupyter_cache.executors import utils

    def execute_once():  # a kernel that does not start raises; a failing cell comes back in result.err
        nb = read_chapter(Path(path))
        return utils.single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False,
                                         meta_override=True)

    result = with_kernel_retries(execute_once)
    nb = result.nb
    if result.err is not None:  # nbclient's CellExecutionError names the cell's exception
        error = result.err
        name = getattr(error, "ename", None) or type(error).__name__
        value = getattr(error, "evalue", None) or (str(error).strip().splitlines() or [""])[0]
        return "", result.time, f"{name}: {value}"[:300]
    return nbformat.writes(nb), result.time, None


def execute_chapters(root: Path, cache_path: Path, lanes: int, quick: bool, timeout: int | None = None,
                     log=print, pools=None) -> dict:
    """Execute every chapter of ``root`` into the jupyter-cache at ``cache_path`` (emptied first), in
    ``lanes`` lanes under the rules of the module note. Returns ``{chapter: seconds or the error line}``.
    ``timeout``: seconds per cell (default: :func:`cell_timeout`). ``pools``: (executor for the chapters that
    run alone, executor of the lanes); default: spawned processes, the lanes' confined to :func:`lane_cpus`
    (tests pass threads)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    from .io import atomic_write_json

    if cache_path.is_symlink() or (cache_path.exists() and not cache_path.is_dir()):
        raise SystemExit(f"slotless.execute: {cache_path} is not a directory: remove it or pass another --cache")
    shutil.rmtree(cache_path, ignore_errors=True)
    cache_path.mkdir(parents=True)
    cache = get_cache(str(cache_path))
    atomic_write_json(cache_path / STAMP_FILE, cache_stamp(quick))
    names = chapters(root)
    alone = [n for n in names if n in ALONE]
    pending = [n for n in plan_order(names) if n not in ALONE]
    done, outcome = set(), {}
    start = time.perf_counter()

    def finish(name, future):
        try:
            text, seconds, error = future.result()
        except Exception as exc:  # the worker died (out of memory, killed): jupyter-book executes the chapter
            text, seconds, error = "", 0.0, f"{type(exc).__name__}: {exc}"[:300]
        done.add(name)
        if error is None:
            nb = nbformat.reads(text, as_version=4)
            bundle = CacheBundleIn(nb, str(root / f"{name}.md"), data={"execution_seconds": seconds})
            cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
            outcome[name] = seconds
            log(f"slotless.execute: {name} executed in {seconds:.1f} s ({time.perf_counter() - start:.0f} s in)")
        else:
            outcome[name] = error
            log(f"slotless.execute: {name} FAILED ({error}); jupyter-book will execute it and report the error")

    timeout = cell_timeout(root) if timeout is None else timeout
    groups = lane_cpus(lanes)
    if pools is None:
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        for group in groups:
            queue.put(group)
        confine = dict(initializer=_confine, initargs=(queue,)) if hasattr(os, "sched_setaffinity") else {}
        pools = (ProcessPoolExecutor(1, mp_context=context),
                 ProcessPoolExecutor(len(groups), mp_context=context, **confine))
    first, pool = pools
    with first:
        for name in alone:
            log(f"slotless.execute: {name} runs alone on every core (it measures its own speed)")
            future = first.submit(_execute, str(root / f"{name}.md"), timeout)
            wait([future])
            finish(name, future)
    log(f"slotless.execute: {len(pending)} chapters in {len(groups)} lane(s), on cores "
        + " | ".join(",".join(map(str, g)) for g in groups))
    with pool:
        running = {}
        while pending or running:
            ready = [n for n in pending if all(d in done or d not in names for d in READS_RUNS_OF.get(n, ()))]
            if not ready and not running:  # only a cycle of READS_RUNS_OF could leave nothing to start
                ready = pending[:1]
            while ready and len(running) < len(groups):
                name = ready.pop(0)
                pending.remove(name)
                running[pool.submit(_execute, str(root / f"{name}.md"), timeout)] = name
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                finish(running.pop(future), future)
    return outcome


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slotless.execute", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the book's root (with _toc.yml)")
    parser.add_argument("--cache", type=Path, required=True,
                        help="jupyter-book's jupyter-cache directory (its path-output/_build/.jupyter_cache)")
    parser.add_argument("--lanes", type=int, default=2,
                        help="chapters executed at once, each on its share of the cores (at most one per core)")
    args = parser.parse_args(argv)
    from .book import parse_quick

    quick = bool(parse_quick(os.environ.get("BOOK_QUICK", "0")))
    try:
        # the cache path as given (absolute, not resolved): a symlink there is refused, never followed and emptied
        outcome = execute_chapters(args.root.resolve(), args.cache.absolute(), args.lanes, quick)
    except (OSError, RuntimeError) as exc:  # e.g. no process could start: the book still builds, one by one
        print(f"slotless.execute: could not execute the chapters ahead ({type(exc).__name__}: {exc}); "
              "jupyter-book executes them one by one", file=sys.stderr)
        return 0
    failed = [n for n, v in outcome.items() if isinstance(v, str)]
    if failed:
        print(f"slotless.execute: {len(failed)} chapter(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
