"""One engine for parallel work: sweeps on ``dask.distributed``.

Book: {ref}`ch-design-space` runs its grids through this module; the command line runs
``python -m slotless sweep GRID --out TABLE``.

**Where tasks run** (:class:`Engine`), by the same code path everywhere:

- an embedded ``LocalCluster`` sized to the machine (the default; ``workers=N`` sets its size): one
  process per worker, one thread each, no dashboard, nothing to start by hand;
- an existing Dask cluster: ``scheduler="tcp://HOST:PORT"``, or the ``SLOTLESS_SCHEDULER`` environment
  variable (its workers must run the same slotless source; the engine checks);
- a Slurm or PBS cluster through dask-jobqueue: ``Engine(cluster=batch_cluster("slurm", jobs=..., ...))``
  (:func:`job_script` shows the job script it submits);
- ``workers=1``: in this process, one task after another (no Dask at all).

**A memory sweep** (:func:`run_memory_sweep`) is a list of :class:`MemoryRun` (a configuration and its
trials, what :func:`slotless.memory.protocol.run_trials` computes), cut into tasks of stacked trials
(:class:`TrialChunk`). Trial ``t`` draws from ``slotless.rng.trial_generator(seed, t, stream)`` whatever
chunk it lands in, so the assembled result of a run is bit for bit the in-process ``run_trials`` result,
whatever the chunking and the number of workers. Each task's arrays go into the keyed result cache
(:func:`slotless.io.cached_arrays`: keyed by the configuration, the trial range and the source hash), so a
killed sweep resumes where it stopped and a re-run recomputes nothing; :class:`SweepInfo` counts both.

**The Part II sweeps** (:func:`slotless.attention.training.cached_sweeps`) run their trainings through
:func:`map_tasks` on the same engine.

**Grids** (:func:`load_grid`, :func:`sweep_table`): a small TOML file whose keys are the ``memory``
subcommand's options (underscores for dashes); a list is an axis, a scalar is fixed. The table has one
row per configuration and cue, the K-winner compared with its parameter-matched 1-winner MHN.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io as _stdio
import itertools
import logging
import os
import sys
import time
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .checks import ConfigError, check_choice, check_float, check_int

__all__ = [
    "SCHEDULER_ENV",
    "BATCH_SYSTEMS",
    "Engine",
    "map_tasks",
    "default_workers",
    "batch_cluster",
    "job_script",
    "TrialChunk",
    "MemoryRun",
    "run_chunk",
    "SweepInfo",
    "SweepOutcome",
    "default_chunk",
    "run_memory_sweep",
    "GRID_KEYS",
    "GridPoint",
    "load_grid",
    "parse_grid",
    "grid_points",
    "sweep_table",
    "write_table",
    "design_space_runs",
    "design_space_sweep",
    "trial_work",
    "running_at_scale",
]

#: The environment variable that names an existing Dask scheduler (``tcp://HOST:PORT``).
SCHEDULER_ENV = "SLOTLESS_SCHEDULER"
#: The batch systems :func:`batch_cluster` supports, and their dask-jobqueue cluster classes.
BATCH_SYSTEMS = {"slurm": "SLURMCluster", "pbs": "PBSCluster"}
#: Environment of every worker process: one thread per process for BLAS and torch (parallelism comes
#: from processes). Numba's pool is limited per task instead (:func:`numba.set_num_threads`): numba
#: refuses a changed ``NUMBA_NUM_THREADS`` once its threads exist.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


# ------------------------------------------------------------------------------------ the engine
def default_workers() -> int:
    """The number of cores this process may use (the size of the default embedded cluster)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@lru_cache(maxsize=1)
def _source() -> str:
    from .io import source_hash

    return source_hash()


def _in_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


def _call(function, args, source):
    """Run one task: check the worker's slotless source against the client's, run with one thread."""
    if source is not None and source != _source():
        raise ConfigError(f"a worker runs a different slotless source ({_source()[:12]} vs the client's "
                          f"{source[:12]}): install the same slotless on every worker")
    if not _in_worker():
        return function(*args)
    import numba

    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # a task uses one core; the workers are the parallelism
    try:
        return function(*args)
    finally:
        numba.set_num_threads(threads)


class Engine:
    """Where tasks run: an embedded LocalCluster, an existing scheduler, a batch cluster, or this process.

    ``workers``: size of the embedded cluster (default: the cores this process may use); 1 (also by default,
    on one core) runs every task in this process. ``scheduler``: address of an existing scheduler (default:
    ``$SLOTLESS_SCHEDULER`` when ``workers`` is not given). ``cluster``: any Dask cluster object (e.g. from
    :func:`batch_cluster`). ``embedded``: use an embedded LocalCluster even for one worker (to compare worker
    counts like for like). Use it as a context manager; it closes what it started (never a cluster or
    scheduler it was given).
    Book: {ref}`ch-design-space`.
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None, cluster=None, *,
                 embedded: bool = False):
        if workers is not None:
            workers = check_int("workers", workers, 1)
        if scheduler is None and workers is None and cluster is None:
            scheduler = os.environ.get(SCHEDULER_ENV) or None
        if scheduler is not None and not (isinstance(scheduler, str) and "://" in scheduler):
            raise ConfigError(f"scheduler={scheduler!r} must be an address like tcp://HOST:PORT")
        if sum(x is not None for x in (scheduler, cluster)) > 1:
            raise ConfigError("give at most one of scheduler= and cluster=")
        self.workers, self.scheduler, self.cluster = workers, scheduler, cluster
        self.embedded = bool(embedded)
        self.client = None
        self._own_cluster = None

    @property
    def in_process(self) -> bool:
        """True if tasks run in this process: one worker (``workers=1``, or by default on one core) and no
        scheduler, cluster or ``embedded``. A cluster of one worker would only add its start and the copies."""
        return ((self.workers or default_workers()) == 1 and self.scheduler is None and self.cluster is None
                and not self.embedded)

    def describe(self) -> str:
        """One line: where the tasks run."""
        if self.in_process:
            return "in this process"
        if self.cluster is not None:
            return f"{type(self.cluster).__name__}"
        if self.scheduler is not None:
            return f"the Dask scheduler at {self.scheduler}"
        n = self.workers or default_workers()
        return f"an embedded LocalCluster of {n} worker process{'' if n == 1 else 'es'}"

    def start(self) -> "Engine":
        """Start the embedded cluster or connect to the scheduler (idempotent)."""
        if self.in_process or self.client is not None:
            return self
        from distributed import Client

        if self.scheduler is not None:
            self.client = Client(self.scheduler, set_as_default=False)
        elif self.cluster is not None:
            self.client = Client(self.cluster, set_as_default=False)
        else:
            from distributed import LocalCluster

            # dashboard_address=None still starts the scheduler's HTTP server on port 8787 (and warns on stderr
            # if that is taken); a random port and no dashboard keep a book build quiet
            self._own_cluster = LocalCluster(
                n_workers=self.workers or default_workers(), threads_per_worker=1, processes=True,
                dashboard_address=None, scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"},
                silence_logs=logging.ERROR, env=dict(WORKER_ENV))
            self.client = Client(self._own_cluster, set_as_default=False)
        return self

    def close(self) -> None:
        """Close the client, and the embedded cluster if this engine started it."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._own_cluster is not None:
            self._own_cluster.close()
            self._own_cluster = None

    def __enter__(self) -> "Engine":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def worker_pids(self) -> dict:
        """``{worker address: process id}`` of the current workers (empty in process)."""
        if self.in_process:
            return {}
        self.start()
        return self.client.run(os.getpid)

    def as_completed(self, function: Callable, arguments: Sequence[tuple], priorities: Sequence[float] | None = None,
                     progress: bool = False, desc: str = "tasks") -> Iterator[tuple[int, object]]:
        """Run ``function(*arguments[i])`` for every i; yield ``(i, result)`` as tasks finish.

        Tasks with a higher priority start first. A task that raises stops the whole map (the remaining
        tasks are cancelled) and its exception is raised here. ``progress`` shows a tqdm bar on stderr.
        """
        arguments = list(arguments)
        n = len(arguments)
        priorities = [0.0] * n if priorities is None else list(priorities)
        if len(priorities) != n:
            raise ConfigError(f"priorities has {len(priorities)} entries for {n} tasks: give one per task")
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=desc, unit="task", file=sys.stderr)
        source = _source()
        try:
            if self.in_process:
                for i in sorted(range(n), key=lambda j: -priorities[j]):
                    result = _call(function, arguments[i], source)
                    if bar is not None:
                        bar.update(1)
                    yield i, result
                return
            from distributed import as_completed

            self.start()
            name = getattr(function, "__name__", "task")
            token = os.urandom(4).hex()
            futures = {}
            for i in range(n):
                future = self.client.submit(_call, function, arguments[i], source, key=f"slotless-{name}-{token}-{i}",
                                            priority=priorities[i], pure=False)
                futures[future.key] = (i, future)
            try:
                for future in as_completed([f for _, f in futures.values()], loop=self.client.loop):
                    i, _ = futures.pop(future.key)
                    result = future.result()
                    future.release()
                    if bar is not None:
                        bar.update(1)
                    yield i, result
            finally:
                if futures and self.client is not None:
                    self.client.cancel([f for _, f in futures.values()])
        finally:
            if bar is not None:
                bar.close()


def map_tasks(function: Callable, arguments: Sequence[tuple], *, engine: Engine | None = None,
              workers: int | None = None, scheduler: str | None = None, priorities=None, progress: bool = False,
              desc: str = "tasks") -> list:
    """``[function(*args) for args in arguments]`` on an :class:`Engine`, results in input order.

    ``engine``: an engine to use (left open); otherwise one is made from ``workers`` and ``scheduler``
    for this call and closed after it. ``function`` must be importable by the workers (a module-level
    function of an installed package).
    """
    arguments = list(arguments)
    results = [None] * len(arguments)
    own = engine is None
    engine = Engine(workers, scheduler) if own else engine
    try:
        for i, result in engine.as_completed(function, arguments, priorities, progress, desc):
            results[i] = result
    finally:
        if own:
            engine.close()
    return results


def _jobqueue_class(kind: str):
    check_choice("cluster", kind, tuple(BATCH_SYSTEMS))
    import dask_jobqueue

    return getattr(dask_jobqueue, BATCH_SYSTEMS[kind])


def _batch_options(cores, memory, walltime, queue, account, cache, python) -> dict:
    """dask-jobqueue options: one single-threaded worker process per core, the BLAS/OpenMP pools limited to
    one thread, the shared result cache exported."""
    cores = check_int("cores", cores, 1)
    if not isinstance(memory, str) or not memory.strip():
        raise ConfigError(f"memory={memory!r} must be a size such as '32GB'")
    if not isinstance(walltime, str) or walltime.count(":") != 2:
        raise ConfigError(f"walltime={walltime!r} must be HH:MM:SS")
    prologue = [f"export {k}={v}" for k, v in WORKER_ENV.items()]
    if cache is not None:
        prologue.append(f"export SLOTLESS_CACHE={cache}")
    return dict(cores=cores, processes=cores, memory=memory, walltime=walltime, queue=queue, account=account,
                job_script_prologue=prologue, python=python or sys.executable)


def batch_cluster(kind: str, jobs: int = 1, *, cores: int, memory: str, walltime: str, queue: str | None = None,
                  account: str | None = None, cache: str | None = None, python: str | None = None):
    """A Slurm (``kind="slurm"``) or PBS (``"pbs"``) cluster through dask-jobqueue, with ``jobs`` jobs.

    Each job runs ``cores`` single-threaded worker processes (one per core) with ``memory`` in all, for
    ``walltime`` (``HH:MM:SS``), on ``queue`` under ``account``. ``cache``: the result cache directory on a
    filesystem every node shares (exported as ``SLOTLESS_CACHE``), so a killed sweep resumes. ``python``:
    the interpreter of the environment that has slotless (default: this one). Pass the cluster to
    :class:`Engine`; ``cluster.job_script()`` shows what is submitted (:func:`job_script`). Book:
    {ref}`ch-design-space`.
    """
    jobs = check_int("jobs", jobs, 0)
    cls = _jobqueue_class(kind)
    cluster = cls(**_batch_options(cores, memory, walltime, queue, account, cache, python),
                  scheduler_options={"dashboard": False, "dashboard_address": ":0"})
    if jobs:
        cluster.scale(jobs=jobs)
    return cluster


def job_script(kind: str, *, cores: int, memory: str, walltime: str, queue: str | None = None,
               account: str | None = None, cache: str | None = None, python: str | None = None,
               scheduler: str = "tcp://SCHEDULER:8786") -> str:
    """The job script :func:`batch_cluster` would submit, for a scheduler at ``scheduler`` (no batch system
    needed: nothing is submitted or started)."""
    cls = _jobqueue_class(kind)
    job = cls.job_cls(scheduler=scheduler, name="slotless-worker",
                      **_batch_options(cores, memory, walltime, queue, account, cache, python))
    return job.job_script()


# ------------------------------------------------------------------------------- memory sweeps
@dataclass(frozen=True)
class TrialChunk:
    """One task: trials ``first_trial .. first_trial + trials - 1`` of one configuration.

    Its result is :func:`slotless.memory.protocol.run_trials` ``(network, protocol, trials, seed, stream,
    first_trial=first_trial)`` as arrays; :meth:`cache_config` is its cache key.
    """

    network: object
    protocol: object
    seed: int
    stream: str
    first_trial: int
    trials: int
    dtype: str = "float32"

    def cache_config(self) -> dict:
        """The configuration that keys this chunk in the result cache (with the source hash)."""
        return {"kind": "slotless.sweeps.TrialChunk", "network": self.network.as_dict(),
                "protocol": self.protocol.as_dict(), "seed": self.seed, "stream": self.stream,
                "first_trial": self.first_trial, "trials": self.trials, "dtype": self.dtype}


@dataclass(frozen=True)
class MemoryRun:
    """One configuration and its trials: what ``run_trials(network, protocol, trials, seed, stream)``
    computes. ``network``: a :class:`~slotless.memory.network.NetworkConfig`; ``protocol``: a
    :class:`~slotless.memory.protocol.ProtocolConfig`. Runs that share ``seed``, ``stream`` and the data
    sizes see the same patterns and cues trial by trial (paired)."""

    network: object
    protocol: object
    trials: int
    seed: int
    stream: str = ""
    dtype: str = "float32"

    def __post_init__(self):
        from .memory.network import DTYPES, NetworkConfig
        from .memory.protocol import ProtocolConfig, check_fits

        if not isinstance(self.network, NetworkConfig):
            raise ConfigError(f"network={self.network!r} must be a NetworkConfig")
        if not isinstance(self.protocol, ProtocolConfig):
            raise ConfigError(f"protocol={self.protocol!r} must be a ProtocolConfig")
        object.__setattr__(self, "trials", check_int("trials", self.trials, 1))
        object.__setattr__(self, "seed", check_int("seed", self.seed, 0))
        if not isinstance(self.stream, str):
            raise ConfigError(f"stream={self.stream!r} must be a string")
        check_choice("dtype", self.dtype, DTYPES)
        check_fits(self.network, self.protocol)

    def chunks(self, size: int) -> list[TrialChunk]:
        """The run cut into tasks of at most ``size`` consecutive trials."""
        size = check_int("chunk", size, 1)
        return [TrialChunk(self.network, self.protocol, self.seed, self.stream, lo, min(size, self.trials - lo),
                           self.dtype) for lo in range(0, self.trials, size)]

    def result_config(self) -> dict:
        """The ``config`` of the :class:`~slotless.memory.protocol.TrialResult` that ``run_trials`` returns."""
        return {"network": self.network.as_dict(), "protocol": self.protocol.as_dict(), "trials": self.trials,
                "seed": self.seed, "stream": self.stream, "first_trial": 0, "dtype": self.dtype, "engine": "fast"}


def run_chunk(chunk: TrialChunk, directory: str | None) -> tuple[dict, bool]:
    """Compute one chunk through the result cache in ``directory`` (None: no cache).

    Returns ``(arrays, from_cache)``: the arrays of :meth:`TrialResult.to_arrays
    <slotless.memory.protocol.TrialResult.to_arrays>`. The cache's one-line notice is not printed (a
    sweep counts its cache hits instead).
    """
    from .io import cached_arrays
    from .memory.protocol import run_trials

    def compute():
        return run_trials(chunk.network, chunk.protocol, chunk.trials, chunk.seed, chunk.stream,
                          first_trial=chunk.first_trial, dtype=chunk.dtype).to_arrays()

    if directory is None:
        return compute(), False
    with contextlib.redirect_stdout(_stdio.StringIO()):
        return cached_arrays(chunk.cache_config(), compute, Path(directory))


@dataclass
class SweepInfo:
    """What a sweep did: ``tasks`` in all, ``computed`` here, ``from_cache``; ``runs``; ``seconds`` (wall);
    ``engine`` (where it ran)."""

    tasks: int
    computed: int
    from_cache: int
    runs: int
    seconds: float
    engine: str

    def __str__(self) -> str:
        return (f"{self.runs} runs in {self.tasks} tasks: {self.computed} computed, {self.from_cache} from the "
                f"cache ({self.engine})")


class SweepOutcome(tuple):
    """``(results, info)``: one result per run, in the order of the runs, and a :class:`SweepInfo`."""

    def __new__(cls, results, info):
        return super().__new__(cls, (results, info))

    @property
    def results(self) -> list:
        return self[0]

    @property
    def info(self) -> SweepInfo:
        return self[1]


_USE_ENV = object()


def default_chunk(trials: int) -> int:
    """Trials per task: 20 (one sample of the authors' design), fewer for a short run."""
    return max(1, min(20, trials))


def run_memory_sweep(runs: Sequence[MemoryRun], *, chunk: int | None = None, reduce: Callable | None = None,
                     engine: Engine | None = None, workers: int | None = None, scheduler: str | None = None,
                     directory=_USE_ENV, progress: bool = False) -> SweepOutcome:
    """Run every :class:`MemoryRun` of ``runs`` on an :class:`Engine`, in tasks of ``chunk`` trials.

    Returns ``(results, info)``: per run, its :class:`~slotless.memory.protocol.TrialResult` (bit for bit
    ``run_trials`` of the run in this process), or ``reduce(run, result)`` if ``reduce`` is given (applied here,
    as soon as a run's last task is in, so a large sweep never holds all its trials); and a
    :class:`SweepInfo`. Identical runs are computed once. ``directory``: the result cache (default
    ``$SLOTLESS_CACHE``; None: no cache, so nothing to resume from). Book: {ref}`ch-design-space`.
    """
    from .io import cache_dir
    from .memory.protocol import TrialResult

    start = time.perf_counter()
    runs = list(runs)
    for run in runs:
        if not isinstance(run, MemoryRun):
            raise ConfigError(f"runs must hold MemoryRun objects; got {type(run).__name__}")
    if chunk is not None:
        chunk = check_int("chunk", chunk, 1)
    directory = cache_dir() if directory is _USE_ENV else directory
    directory = None if directory is None else str(Path(directory).resolve())
    distinct = list(dict.fromkeys(runs))
    tasks = [(r, c) for r, run in enumerate(distinct) for c in run.chunks(chunk or default_chunk(run.trials))]
    remaining = [0] * len(distinct)
    for r, _ in tasks:
        remaining[r] += 1
    parts: dict[int, dict] = {}
    done: dict[int, object] = {}
    hits = 0
    own = engine is None
    engine = Engine(workers, scheduler) if own else engine
    # earlier runs first, so that runs complete (and are reduced) roughly in order
    priorities = [-float(r) for r, _ in tasks]
    stream = engine.as_completed(run_chunk, [(c, directory) for _, c in tasks], priorities, progress,
                                 desc="memory sweep")
    try:
        for i, (arrays, from_cache) in stream:
            r, c = tasks[i]
            hits += bool(from_cache)
            parts.setdefault(r, {})[c.first_trial] = arrays
            remaining[r] -= 1
            if remaining[r] == 0:
                got = parts.pop(r)
                pieces = [got[k] for k in sorted(got)]
                joined = {name: np.concatenate([p[name] for p in pieces]) for name in pieces[0]}
                result = TrialResult.from_arrays(joined, distinct[r].result_config())
                done[r] = reduce(distinct[r], result) if reduce is not None else result
    finally:
        stream.close()  # cancels what is still pending if we stop early
        description = engine.describe()
        if own:
            engine.close()
    index = {run: r for r, run in enumerate(distinct)}
    info = SweepInfo(len(tasks), len(tasks) - hits, hits, len(distinct), time.perf_counter() - start, description)
    return SweepOutcome([done[index[run]] for run in runs], info)


# ------------------------------------------------------------------------------------- grids
#: The keys a grid file may set: the ``memory`` subcommand's options (underscores for dashes), plus
#: ``samples`` (the d' design splits the trials into this many samples). Value types are checked.
GRID_KEYS = {
    "model": str, "n_input": int, "n_hidden": int, "active": int, "fan_in": float, "winners": int, "epsilon": float,
    "winner_rule": str, "tie_break": str, "data": str, "flips": int, "protocol": str, "burn_in": int,
    "memories": int, "pseudo": int, "cue": float, "trials": int, "samples": int, "seed": int, "dtype": str,
}
#: What a grid runs when it does not say: the memory subcommand's defaults, except a d' design of 10
#: samples x 20 runs and both cue levels.
#: Parameter names of the package that a grid calls by the memory subcommand's option names.
_GRID_NAMES = {"n_burn_in": "burn_in", "n_eval": "memories", "n_pseudo": "pseudo", "cue_fraction": "cue"}
GRID_DEFAULTS = {"model": "kwinner", "protocol": "paper", "data": "random", "cue": [1.0, 0.5], "trials": 200,
                 "samples": 10, "seed": 0, "dtype": "float32"}


@dataclass(frozen=True)
class GridPoint:
    """One row of a sweep table: a network, its parameter-matched 1-winner MHN, a protocol (with its
    cue), the d' design (``trials`` split into ``samples``), the seed, and the grid values that made it."""

    network: object
    mhn: object
    protocol: object
    trials: int
    samples: int
    seed: int
    dtype: str
    values: tuple

    @property
    def stream(self) -> str:
        """Shared by every configuration of a cue: all see the same patterns and cues, trial by trial."""
        return f"sweep/cue={self.protocol.cue_fraction}"

    def runs(self) -> tuple[MemoryRun, MemoryRun]:
        """The two runs of this row: the network and its matched MHN (same trials and stream: paired)."""
        return (MemoryRun(self.network, self.protocol, self.trials, self.seed, self.stream, self.dtype),
                MemoryRun(self.mhn, self.protocol, self.trials, self.seed, self.stream, self.dtype))


def load_grid(path) -> dict:
    """Read and check a TOML grid file: ``{key: [values]}`` with every value list non-empty."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"grid={str(path)!r}: cannot read it ({error.strerror or error})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"grid={str(path)!r} is not valid TOML: {error}") from None
    return parse_grid(raw)


def parse_grid(raw: dict) -> dict:
    """Check a grid (a dict as read from TOML): known keys, values of the right type, no empty axis.

    Returns ``{key: [values]}`` (a scalar becomes a one-value list), the defaults filled in.
    """
    axes = {}
    for key, value in raw.items():
        if key not in GRID_KEYS:
            raise ConfigError(f"grid: unknown axis {key!r}: allowed keys are {', '.join(GRID_KEYS)}")
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ConfigError(f"grid: axis {key!r} is empty: give at least one value")
        kind = GRID_KEYS[key]
        checked = []
        for v in values:
            if kind is float and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if isinstance(v, bool) or not isinstance(v, kind):
                raise ConfigError(f"grid: axis {key!r} has {v!r}: expected {'a number' if kind is float else kind.__name__}")
            checked.append(v)
        if len(set(checked)) != len(checked):
            raise ConfigError(f"grid: axis {key!r} repeats a value: {checked}")
        axes[key] = checked
    for key, value in GRID_DEFAULTS.items():
        axes.setdefault(key, value if isinstance(value, list) else [value])
    return axes


def _matched_hidden(base, fan_in: float) -> int:
    """n_h with n_h f = the preset's n_h f (the connections of the matched 1-winner MHN)."""
    target = base.n_hidden * base.fan_in / fan_in
    n_hidden = round(target)
    if n_hidden < 1 or abs(target - n_hidden) > 1e-9 * max(1.0, target):
        raise ConfigError(f"grid: axis 'fan_in' has {fan_in}: the matched n_hidden = {base.n_hidden * base.fan_in:g}/"
                          f"{fan_in} is not a whole number; give n_hidden")
    return n_hidden


def grid_points(axes: dict) -> list[GridPoint]:
    """Every combination of the axes (in file order), as :class:`GridPoint` rows.

    Connections are matched to the 1-winner MHN: without an ``n_hidden`` key, n_h = (n_h f of the
    preset)/f. The comparison MHN has n_h f units, full fan-in, k = 1 and eps = 1. An impossible point
    (k > n_h, a cue of no bits, ...) raises a one-line error naming the axis.
    """
    from .memory.network import DTYPES, NetworkConfig, preset
    from .memory.protocol import protocol_preset

    axes = parse_grid(axes)
    keys = list(axes)
    points = []
    for combo in itertools.product(*(axes[k] for k in keys)):
        v = dict(zip(keys, combo))
        here = ", ".join(f"{k}={v[k]}" for k in keys if len(axes[k]) > 1)
        try:
            base = preset(v["model"])
            overrides = {k: v[k] for k in ("n_input", "active", "fan_in", "epsilon", "winner_rule", "tie_break")
                         if k in v}
            n_hidden = v.get("n_hidden")
            if n_hidden is None and "fan_in" in v:
                n_hidden = _matched_hidden(base, v["fan_in"])
            n_hidden = base.n_hidden if n_hidden is None else n_hidden
            winners = v.get("winners", base.winners)
            if winners > n_hidden:
                raise ConfigError(f"grid: axis 'winners' has {winners} > n_hidden = {n_hidden}: "
                                  "k cannot exceed the number of hidden units")
            network = base.replace(n_hidden=n_hidden, winners=winners, **overrides)
            mhn_units = network.n_hidden * network.fan_in
            if abs(mhn_units - round(mhn_units)) > 1e-9 * max(1.0, mhn_units) or round(mhn_units) < 1:
                raise ConfigError(f"grid: n_hidden*fan_in = {mhn_units:g} is not a whole number: the matched "
                                  "1-winner MHN needs whole units (change 'n_hidden' or 'fan_in')")
            mhn = NetworkConfig(network.n_input, round(mhn_units), network.active, 1.0, 1, 1.0,
                                tie_break=network.tie_break)
            protocol = protocol_preset(v["protocol"], n_burn_in=v.get("burn_in"), n_eval=v.get("memories"),
                                       n_pseudo=v.get("pseudo"), cue_fraction=v["cue"], data=v["data"],
                                       flips=v.get("flips"))
            trials = check_int("trials", v["trials"], 2)
            samples = check_int("samples", v["samples"], 1, trials)
            if trials % samples or trials // samples < 2:
                raise ConfigError(f"grid: axis 'trials' has {trials}: it must be a multiple of samples={samples} "
                                  "with at least 2 runs per sample")
            check_float("cue", v["cue"], 0.0, 1.0, lo_open=True)
            point = GridPoint(network, mhn, protocol, trials, samples, check_int("seed", v["seed"], 0),
                              check_choice("dtype", v["dtype"], DTYPES), tuple(v.items()))
            point.runs()  # validates cue size and flips against the network
        except ConfigError as error:
            message = str(error)
            if not message.startswith("grid"):
                name = _GRID_NAMES.get(message.split("=", 1)[0], message.split("=", 1)[0])
                if name in v:
                    message = f"grid: axis {name!r} has {v[name]!r}: {message}"
                else:
                    message = f"grid point ({here or 'the only one'}): {message}"
            raise ConfigError(message) from None
        points.append(point)
    return points


def sweep_table(axes: dict, *, engine: Engine | None = None, workers: int | None = None,
                scheduler: str | None = None, chunk: int | None = None, directory=_USE_ENV,
                progress: bool = False):
    """Run a grid and return ``(table, info)``: a pandas DataFrame with one row per configuration and cue
    (:func:`slotless.memory.design_space.comparison_row`), and the :class:`SweepInfo`."""
    import pandas as pd

    from .memory.design_space import comparison_row, summarise

    points = grid_points(axes)
    runs = [run for point in points for run in point.runs()]
    samples = {run: point.samples for point in points for run in point.runs()}

    def reduce(run, result):
        return summarise(result.acc_real, result.acc_pseudo, result.trace, samples[run])

    summaries, info = run_memory_sweep(runs, chunk=chunk, reduce=reduce, engine=engine, workers=workers,
                                       scheduler=scheduler, directory=directory, progress=progress)
    rows = []
    for p, point in enumerate(points):
        net, proto = point.network, point.protocol
        row = dict(point.values)
        row.update(n_input=net.n_input, active=net.active, n_hidden=net.n_hidden, fan_in=net.fan_in,
                   winners=net.winners, epsilon=net.epsilon, connections=net.connections, mhn_hidden=point.mhn.n_hidden,
                   burn_in=proto.n_burn_in, memories=proto.n_eval)
        row.update(comparison_row(summaries[2 * p], summaries[2 * p + 1], net))
        rows.append(row)
    return pd.DataFrame(rows), info


def design_space_runs(point, grid) -> tuple[MemoryRun, MemoryRun]:
    """The two runs of one design of {ref}`ch-design-space`: the K-winner
    (:class:`slotless.memory.design_space.DesignPoint`) and its matched 1-winner MHN, with B = E = n_mem,
    P = E + 1, the grid's trials and seed, and one stream per cue (every design of a cue sees the same
    patterns and cues: paired)."""
    from .memory.protocol import ProtocolConfig

    kwinner, mhn, n_mem = point.setting()
    protocol = ProtocolConfig(n_mem, n_mem, n_mem + 1, cue_fraction=point.cue)
    stream = f"design-space/cue={point.cue}"
    return (MemoryRun(kwinner, protocol, grid.trials, grid.seed, stream),
            MemoryRun(mhn, protocol, grid.trials, grid.seed, stream))


def design_space_sweep(grid, *, engine: Engine | None = None, workers: int | None = None,
                       scheduler: str | None = None, chunk: int | None = None, directory=_USE_ENV,
                       progress: bool = False):
    """Run every design of a :class:`slotless.memory.design_space.DesignGrid` and its matched MHN on an
    :class:`Engine` ({ref}`ch-design-space`). Returns ``(results, info)``: ``{point: (kwinner, mhn)}``
    :class:`~slotless.memory.design_space.RunSummary` pairs in the grid's order, and the :class:`SweepInfo`.
    The MHN runs that several designs share are computed once."""
    from .memory.design_space import summarise

    points = grid.points()
    runs = [run for point in points for run in design_space_runs(point, grid)]

    def reduce(run, result):
        return summarise(result.acc_real, result.acc_pseudo, result.trace, grid.samples)

    summaries, info = run_memory_sweep(runs, chunk=chunk, reduce=reduce, engine=engine, workers=workers,
                                       scheduler=scheduler, directory=directory, progress=progress)
    return {point: (summaries[2 * i], summaries[2 * i + 1]) for i, point in enumerate(points)}, info


def write_table(table, path) -> None:
    """Write a sweep table atomically: CSV (``.csv``, any other suffix too)."""
    from .io import atomic_write_bytes

    atomic_write_bytes(path, table.to_csv(index=False).encode("utf-8"))


def _timed_chunk(chunk: TrialChunk) -> float:
    """Run one chunk without the cache; return the CPU seconds it took (for :func:`running_at_scale`)."""
    begin = time.process_time()
    run_chunk(chunk, None)
    return time.process_time() - begin


def trial_work(network, protocol) -> float:
    """A trial's work in scattered additions, the unit the extrapolation of :func:`running_at_scale` scales
    by: per learning step the drive of the s active inputs (s n_h f), the top-k over n_h units and the update
    of k phi weights in both directions; per retrieval the cue's drive (m n_h f), the top-k and the output
    (k phi) and top-s over n_i."""
    from .memory.patterns import cue_size

    drive = network.n_hidden * network.fan_in
    phi = network.fan_in_count
    steps = protocol.n_burn_in + protocol.n_eval
    m = cue_size(protocol.cue_fraction, network.active)
    learn = network.active * drive + network.n_hidden + 2 * network.winners * phi
    recall = m * drive + network.n_hidden + network.winners * phi + network.n_input
    return float(steps * learn + 2 * protocol.n_eval * recall)


def running_at_scale(full_grid, workers: Sequence[int] = (1, 2), trials: int = 40, chunk: int = 10,
                     cluster_sizes: Sequence[int] = (64, 256)):
    """The measured cost of sweeps here and the extrapolated cost of ``full_grid`` (a
    :class:`~slotless.memory.design_space.DesignGrid`), for the performance appendix ({ref}`ch-design-space`).

    Measures, on an embedded LocalCluster of each size in ``workers`` (kernels loaded first, no cache),
    ``trials`` trials in tasks of ``chunk`` of the paper's point (at the grid's ``variant_scale``: the
    paper's size for the full grid) and of its matched MHN, at the grid's cues. Returns ``(measured,
    extrapolated)`` DataFrames. ``measured``: per worker count the wall seconds, the CPU seconds the tasks
    took, the speed-up over the first count, the parallel efficiency, and the busy share (task CPU /
    (workers x wall): below 1 when the machine has fewer free cores than workers). ``extrapolated``: the
    full grid's wall hours here (the largest measured count at its efficiency) and on ``cluster_sizes``
    single-threaded workers (at the same efficiency, an assumption); its ``attrs`` hold the CPU-hours and the
    number of tasks. The CPU-hours scale the measured CPU seconds per trial of the K-winner and of the MHN by
    :func:`trial_work`.
    """
    import pandas as pd

    from .memory.design_space import PAPER_POINT, DesignPoint
    from .memory.network import NetworkConfig
    from .memory.protocol import ProtocolConfig

    workers = [check_int("workers", n, 1) for n in workers]
    trials = check_int("trials", trials, 1)
    grid = dataclasses.replace(full_grid, samples=1, runs=trials)
    point = (full_grid.variant_scale, PAPER_POINT["winners"], PAPER_POINT["epsilon"], PAPER_POINT["fan_in"])
    pairs = [design_space_runs(DesignPoint(*point, cue), grid) for cue in grid.cues]
    bench = {"kwinner": [k for k, _ in pairs], "mhn": [m for _, m in pairs]}
    warm = MemoryRun(NetworkConfig(20, 10, 4, 0.5, 2, 0.5), ProtocolConfig(5, 5, 5), 1, 0, "warm-up")
    rows, cpu_of = [], {}
    for n in workers:
        with Engine(workers=n, embedded=True) as engine:
            # one tiny task per worker first, so that no measurement includes loading the kernels
            map_tasks(run_chunk, [(c, None) for c in [warm.chunks(1)[0]] * n], engine=engine)
            wall = cpu = 0.0
            for model, runs in bench.items():
                chunks = [(c,) for run in runs for c in run.chunks(chunk)]
                begin = time.perf_counter()
                spent = map_tasks(_timed_chunk, chunks, engine=engine)
                wall += time.perf_counter() - begin
                cpu_of[(n, model)] = sum(spent)
                cpu += sum(spent)
        rows.append({"workers": n, "wall seconds": wall, "task CPU seconds": cpu})
    measured = pd.DataFrame(rows)
    measured["speed-up"] = measured["wall seconds"].iloc[0] / measured["wall seconds"]
    measured["efficiency"] = measured["speed-up"] * measured["workers"].iloc[0] / measured["workers"]
    # the share of the workers' wall time spent computing: well below 1 with more workers than free cores
    measured["busy"] = measured["task CPU seconds"] / (measured["workers"] * measured["wall seconds"])
    # CPU seconds per unit of work, per model, from the first worker count (CPU time, unlike wall time,
    # hardly depends on what else the machine runs)
    first = workers[0]
    per_unit = {model: cpu_of[(first, model)] / sum(r.trials * trial_work(r.network, r.protocol) for r in runs)
                for model, runs in bench.items()}
    runs = list(dict.fromkeys(r for p in full_grid.points() for r in design_space_runs(p, full_grid)))
    model_of = {True: "mhn", False: "kwinner"}
    cpu = sum(r.trials * trial_work(r.network, r.protocol)
              * per_unit[model_of[(r.network.winners, r.network.fan_in) == (1, 1.0)]] for r in runs)
    efficiency = float(measured["efficiency"].iloc[-1])
    here = workers[-1]
    extrapolated = pd.DataFrame(
        [{"where": f"here, {here} workers (measured efficiency)", "workers": here,
          "wall hours": cpu / (here * efficiency) / 3600}]
        + [{"where": f"{n} single-threaded workers (same efficiency, assumed)", "workers": n,
            "wall hours": cpu / (n * efficiency) / 3600} for n in cluster_sizes])
    extrapolated.attrs["cpu_hours"] = cpu / 3600
    extrapolated.attrs["tasks"] = sum(len(r.chunks(default_chunk(r.trials))) for r in runs)
    return measured, extrapolated


