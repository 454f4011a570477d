"""Speed, measured side by side ({ref}`ch-performance`).

The straightforward reference (:mod:`slotless.perf.reference`: dense NumPy float64, one trial at a
time, full products, full sorts) and the engine (:func:`slotless.memory.protocol.run_trials`) are
timed **in the same process, on the same settings, one after the other**. Every comparison also
tests that the two give the same accuracy curves within statistical noise, so that speed never
buys a different model.

Two ratios are reported, each with its standard error from the per-trial times: the **wall-clock
ratio** (the reference on one core, the engine on batches of trials over every core, as a chapter
runs it) and the **CPU-time ratio** (process CPU seconds, all threads; it charges the engine for
every core it uses and is less sensitive to other programs on the machine). The speed targets
(:data:`TARGETS`) are checked by ``make bench`` (``benchmarks/run.py``), never by a test or a
chapter: timings depend on the machine and on its load.

``benchmarks/run.py`` is a thin command line over :func:`run_benchmark`; the book's Performance
appendix calls the same functions at the ``"chapter"`` scale.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ..checks import ConfigError, check_choice, check_float, check_int
from ..rng import trial_generator

__all__ = [
    "SETTINGS",
    "CUES",
    "SpeedTarget",
    "Targets",
    "TARGETS",
    "BenchScale",
    "SCALES",
    "Machine",
    "machine_info",
    "peak_rss_mib",
    "threads",
    "blas_threads",
    "network_preset",
    "protocol_config",
    "Timing",
    "Ratio",
    "time_reference",
    "time_fast",
    "age_windows",
    "Agreement",
    "agreement",
    "SideBySide",
    "side_by_side",
    "Scaling",
    "scaling",
    "PeakMemory",
    "peak_rss_subprocess",
    "SweepCost",
    "sweep_cost",
    "BenchmarkResult",
    "run_benchmark",
    "check_targets",
    "format_table",
]

#: The three memory settings of the paper: the keys of :data:`slotless.memory.network.PRESETS`.
SETTINGS = ("kwinner", "kwinner-alt", "mhn")
#: Cue levels of the paper (``eq-methods-cue``).
CUES = (1.0, 0.5)


@dataclass(frozen=True)
class SpeedTarget:
    """Minimum ratios of reference to engine seconds per trial: by wall clock and by CPU time."""

    wall: float
    cpu: float


@dataclass(frozen=True)
class Targets:
    """What ``make bench`` requires, one table: a :class:`SpeedTarget` per setting (at paper scale,
    every cue level) and the peak memory of a figure-sized batch of trials."""

    ratio: dict
    peak_rss_mib: float

    def replace_ratio(self, setting: str, target: SpeedTarget) -> "Targets":
        check_choice("setting", setting, SETTINGS)
        return dataclasses.replace(self, ratio={**self.ratio, setting: target})


#: The targets of ``make bench``.
TARGETS = Targets(
    ratio={
        "kwinner": SpeedTarget(wall=150.0, cpu=80.0),
        "kwinner-alt": SpeedTarget(wall=100.0, cpu=50.0),
        "mhn": SpeedTarget(wall=80.0, cpu=40.0),
    },
    peak_rss_mib=4096.0,
)


@dataclass(frozen=True)
class BenchScale:
    """The sizes of one benchmark run.

    ``n_mem``: protocol size of the side-by-side runs (B = E = n_mem, P = n_mem + 1); ``shrink``: divide
    the networks by this (tiny and quick scales only); ``cues``: the cue levels timed; ``n_ref``: reference
    trials per setting and cue (at least 2, for a standard error); ``fast_batches`` x ``fast_batch_trials``:
    the engine's timed batches (each batch is one timing sample); ``scaling_*``: the scaling grids, run at
    protocol size ``scaling_mem`` with ``scaling_trials`` trials per point; ``rss_trials``: trials in the
    fresh peak-memory process; ``running_trials``: trials per run of the running-at-scale measurement
    (:func:`slotless.sweeps.running_at_scale`); ``sweep_*``: the Case Sequence training cost
    (``sweep_models``: how many of :data:`slotless.attention.training.MODELS`, None for all).
    """

    n_mem: int
    shrink: int
    cues: tuple
    n_ref: dict
    fast_batches: int
    fast_batch_trials: int
    scaling_mem: int
    scaling_trials: int
    grid_nh: tuple
    grid_mem: tuple
    grid_batch: tuple
    grid_threads: tuple
    rss_trials: int
    running_trials: int
    sweep_batches: int
    sweep_seeds: tuple
    sweep_models: int | None

    @property
    def paper_sizes(self) -> bool:
        """Whether the side-by-side runs use the paper's network and protocol sizes."""
        return self.n_mem == 2000 and self.shrink == 1


#: The benchmark scales: ``tiny`` (unit tests, seconds), ``quick`` (the book at CI scale), ``chapter``
#: (the book at paper scale: cue 1.0, two reference trials per K-winner setting) and ``full``
#: (``make bench``: both cues, more reference trials, wider grids).
SCALES = {
    "tiny": BenchScale(
        n_mem=60, shrink=10, cues=CUES, n_ref={"kwinner": 2, "kwinner-alt": 2, "mhn": 2}, fast_batches=3,
        fast_batch_trials=4, scaling_mem=60, scaling_trials=4, grid_nh=(50, 100), grid_mem=(30, 60), grid_batch=(1, 4),
        grid_threads=(1,), rss_trials=4, running_trials=8, sweep_batches=20, sweep_seeds=(1, 2), sweep_models=1,
    ),
    "quick": BenchScale(
        n_mem=150, shrink=5, cues=(1.0,), n_ref={"kwinner": 2, "kwinner-alt": 2, "mhn": 3}, fast_batches=3,
        fast_batch_trials=4, scaling_mem=150, scaling_trials=4, grid_nh=(100, 200, 400, 800), grid_mem=(75, 150, 300),
        grid_batch=(1, 4), grid_threads=(1, 2), rss_trials=8, running_trials=8, sweep_batches=30, sweep_seeds=(1, 4),
        sweep_models=2,
    ),
    "chapter": BenchScale(
        n_mem=2000, shrink=1, cues=(1.0,), n_ref={"kwinner": 2, "kwinner-alt": 2, "mhn": 4}, fast_batches=4,
        fast_batch_trials=8, scaling_mem=500, scaling_trials=8, grid_nh=(500, 1000, 2000, 4000),
        grid_mem=(250, 500, 1000, 2000), grid_batch=(1, 2, 8), grid_threads=(1, 2), rss_trials=16, running_trials=20,
        sweep_batches=50, sweep_seeds=(1, 10, 50), sweep_models=None,
    ),
    "full": BenchScale(
        n_mem=2000, shrink=1, cues=CUES, n_ref={"kwinner": 3, "kwinner-alt": 3, "mhn": 8}, fast_batches=4,
        fast_batch_trials=16, scaling_mem=1000, scaling_trials=16, grid_nh=(250, 500, 1000, 2000, 4000),
        grid_mem=(250, 500, 1000, 2000, 4000), grid_batch=(1, 2, 4, 8, 16), grid_threads=(1, 2), rss_trials=100,
        running_trials=40, sweep_batches=200, sweep_seeds=(1, 10, 50), sweep_models=None,
    ),
}


# ------------------------------------------------------------------------------ machine
@dataclass(frozen=True)
class Machine:
    """The machine a benchmark ran on: CPU model, cores, memory, library versions, load average."""

    cpu: str
    cores: int
    memory_gib: float
    python: str
    numpy: str
    scipy: str
    numba: str
    torch: str
    platform: str
    load_average: tuple | None

    def describe(self) -> str:
        """Two lines for a reader: the hardware and the software."""
        return (f"CPU: {self.cpu}, {self.cores} cores, {self.memory_gib} GiB; Python {self.python}\n"
                f"numpy {self.numpy}, scipy {self.scipy}, numba {self.numba}, torch {self.torch}")


def machine_info() -> Machine:
    """CPU model, core count, memory and library versions of this machine."""
    from importlib.metadata import PackageNotFoundError, version

    def _version(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            mem_kib = int(handle.readline().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kib = 0
    return Machine(
        cpu=cpu, cores=os.cpu_count() or 1, memory_gib=round(mem_kib / 2**20, 1), python=platform.python_version(),
        numpy=np.__version__, scipy=_version("scipy"), numba=_version("numba"), torch=_version("torch"),
        platform=platform.platform(),
        load_average=tuple(round(x, 2) for x in os.getloadavg()) if hasattr(os, "getloadavg") else None,
    )


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (``ru_maxrss``)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024.0 if sys.platform != "darwin" else rss / 2**20


@contextlib.contextmanager
def threads(n: int | None):
    """Run the block with ``n`` threads for Numba (and torch, if loaded); None: leave as is."""
    if n is None:
        yield
        return
    n = check_int("threads", n, 1)
    torch = sys.modules.get("torch")  # only if loaded: the memory engine does not need it
    old_torch = torch.get_num_threads() if torch is not None else None
    numba_mod = None
    try:
        import numba as numba_mod

        old_numba = numba_mod.get_num_threads()
        numba_mod.set_num_threads(min(n, numba_mod.config.NUMBA_NUM_THREADS))
    except Exception:  # numba missing or its threading layer unavailable
        numba_mod = None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch is not None:
            torch.set_num_threads(old_torch)
        if numba_mod is not None:
            numba_mod.set_num_threads(old_numba)


def _openblas_libs():
    """ctypes handles of the OpenBLAS libraries numpy has loaded (Linux; empty elsewhere)."""
    import ctypes

    try:
        with open("/proc/self/maps", encoding="utf-8") as handle:
            paths = sorted({line.split()[-1] for line in handle if "openblas" in line.lower() and "/" in line})
    except OSError:
        return []
    out = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    out.append((get, put))
                    break
            else:
                continue
            break
    return out


@contextlib.contextmanager
def blas_threads(n: int):
    """Run the block with numpy's OpenBLAS limited to ``n`` threads (no-op if not found).

    The reference is timed on one core: a multi-threaded BLAS mat-vec on an oversubscribed machine
    mostly spins, which would inflate the speed-up unfairly.
    """
    n = check_int("blas threads", n, 1)
    libs = _openblas_libs()
    old = [get() for get, _ in libs]
    for _, put in libs:
        put(n)
    try:
        yield
    finally:
        for (_, put), value in zip(libs, old):
            put(value)


# ----------------------------------------------------------------------------- configs
def network_preset(setting: str, shrink: int = 1, **overrides):
    """The network preset of ``setting`` (a key of :data:`SETTINGS`), optionally shrunk.

    ``shrink`` divides n_input, n_hidden, active and winners by an integer (k = 1 stays 1),
    keeping fan_in, epsilon and the parameter matching; used only for tiny unit-test sizes.
    ``overrides`` replace fields of :class:`slotless.memory.network.NetworkConfig` (e.g. ``n_hidden=4000``).
    """
    from ..memory.network import PRESETS

    check_choice("setting", setting, SETTINGS)
    shrink = check_int("shrink", shrink, 1)
    preset = PRESETS[setting]
    if shrink > 1:
        fields = {name: getattr(preset, name) for name in ("n_input", "n_hidden", "active", "winners")}
        small = {name: max(1, value // shrink) for name, value in fields.items()}
        overrides = {**small, **overrides}
    return dataclasses.replace(preset, **overrides) if overrides else preset


def protocol_config(n_mem: int, cue: float, **overrides):
    """The paper-time protocol at size ``n_mem``: B = E = n_mem, P = n_mem + 1 (``sec-methods-protocol``)."""
    from ..memory.protocol import ProtocolConfig

    n_mem = check_int("n_mem", n_mem, 2)
    cue = check_float("cue", cue, 0.0, 1.0, lo_open=True)
    return ProtocolConfig(n_burn_in=n_mem, n_eval=n_mem, n_pseudo=n_mem + 1, cue_fraction=cue, **overrides)


# ------------------------------------------------------------------------------ timing
def _mean_se(values) -> tuple[float, float]:
    """Mean and standard error (sample SD / sqrt(n); NaN for a single value)."""
    x = np.asarray(values, dtype=np.float64)
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan
    return float(x.mean()), se


@dataclass
class Timing:
    """Seconds per trial of one implementation, as timing samples.

    ``wall``/``cpu``: one sample per reference trial, or per timed batch of the engine (batch seconds /
    trials in the batch); ``trials``: trials timed in all. ``acc_real``/``acc_pseudo``: ``(trials, E)``
    accuracies, age 1 first (not serialised).
    """

    wall: list
    cpu: list
    trials: int
    acc_real: np.ndarray = field(repr=False)
    acc_pseudo: np.ndarray = field(repr=False)
    warmup_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        """Mean wall seconds per trial."""
        return _mean_se(self.wall)[0]

    @property
    def cpu_seconds(self) -> float:
        """Mean CPU seconds per trial."""
        return _mean_se(self.cpu)[0]

    def to_json(self) -> dict:
        return {"wall": list(self.wall), "cpu": list(self.cpu), "trials": self.trials,
                "warmup_seconds": self.warmup_seconds}


@dataclass(frozen=True)
class Ratio:
    """A ratio of mean seconds per trial and its standard error (delta method: the relative standard
    errors of the two means add in quadrature)."""

    value: float
    se: float

    @classmethod
    def of(cls, numerator, denominator) -> "Ratio":
        (a, se_a), (b, se_b) = _mean_se(numerator), _mean_se(denominator)
        value = a / b
        return cls(value, value * math.sqrt((se_a / a) ** 2 + (se_b / b) ** 2))

    def __str__(self) -> str:
        return f"{self.value:.1f}x" + (f" ± {self.se:.1f}" if math.isfinite(self.se) else "")


def time_reference(network, protocol, n_trials: int, seed: int, stream: str = "bench/reference") -> Timing:
    """Run ``n_trials`` trials of the straightforward reference one after the other, on one thread
    (numpy's BLAS limited to one thread by :func:`blas_threads`), timing each trial.

    Trial ``t`` draws from ``trial_generator(seed, t, stream)``.
    """
    from .reference import run_reference_trial

    n_trials = check_int("n_trials", n_trials, 1)
    real, pseudo, wall, cpu = [], [], [], []
    with blas_threads(1):
        for trial in range(n_trials):
            start, cpu_start = time.perf_counter(), time.process_time()
            r, p = run_reference_trial(network, protocol, trial_generator(seed, trial, stream))
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
            real.append(np.asarray(r, dtype=np.float64))
            pseudo.append(np.asarray(p, dtype=np.float64))
    return Timing(wall, cpu, n_trials, np.stack(real), np.stack(pseudo))


def time_fast(network, protocol, n_batches: int, batch_trials: int, seed: int, stream: str = "bench/fast", *,
              n_threads: int | None = None, warmup: bool = True) -> Timing:
    """Run ``n_batches`` batches of ``batch_trials`` trials of the engine (each batch one call, its trials
    spread over the threads) and time each batch.

    ``warmup`` first runs one trial (not timed) so that loading the compiled kernels is not counted.
    Trials are numbered consecutively across batches, so the result is that of one call with
    ``n_batches * batch_trials`` trials.
    """
    from ..memory.protocol import run_trials

    n_batches = check_int("n_batches", n_batches, 1)
    batch_trials = check_int("batch_trials", batch_trials, 1)
    real, pseudo, wall, cpu = [], [], [], []
    with threads(n_threads):
        warm = 0.0
        if warmup:
            start = time.perf_counter()
            run_trials(network, protocol, 1, seed, stream + "/warmup")
            warm = time.perf_counter() - start
        for batch in range(n_batches):
            start, cpu_start = time.perf_counter(), time.process_time()
            result = run_trials(network, protocol, batch_trials, seed, stream, first_trial=batch * batch_trials,
                                chunk_size=batch_trials)
            wall.append((time.perf_counter() - start) / batch_trials)
            cpu.append((time.process_time() - cpu_start) / batch_trials)
            real.append(np.asarray(result.acc_real, dtype=np.float64))
            pseudo.append(np.asarray(result.acc_pseudo, dtype=np.float64))
    return Timing(wall, cpu, n_batches * batch_trials, np.concatenate(real), np.concatenate(pseudo), warm)


# --------------------------------------------------------------------------- agreement
def age_windows(n_eval: int) -> list[tuple[int, int]]:
    """Age windows (inclusive) used to compare curves: 1-10, 11-100, 101-1000, 1001-E, clipped to E."""
    edges = [1, 11, 101, 1001, n_eval + 1]
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        hi = min(hi, n_eval + 1)
        if lo < hi:
            out.append((lo, hi - 1))
    return out


@dataclass(frozen=True)
class Agreement:
    """The outcome of :func:`agreement`: per age window, the statistic ``z`` and the difference of means
    (side a - side b) for real and pseudo accuracy; the Bonferroni ``threshold``; ``ok`` when every
    ``|z|`` is below it."""

    windows: list
    n_a: int
    n_b: int
    df: int
    z_real: list
    z_pseudo: list
    diff_real: list
    diff_pseudo: list
    threshold: float
    max_abs_z: float
    ok: bool


def agreement(real_a, pseudo_a, real_b, pseudo_b, *, alpha: float = 1e-3) -> Agreement:
    """Do two sets of accuracy curves come from the same model, within statistical noise?

    ``real_*``/``pseudo_*``: (trials, E) accuracies, AGE 1 FIRST (column a - 1). For each
    age window (:func:`age_windows`) and for real and pseudo curves, each trial's window mean
    is one sample. Under the null (same model) both sides share one between-trial variance,
    estimated by pooling (so a side with a single trial still gets an SE). The statistic is
    ``z = (mean_a - mean_b) / (sd_pooled * sqrt(1/n_a + 1/n_b))``, a two-sample t with
    ``n_a + n_b - 2`` degrees of freedom. The curves agree when every ``|z|`` is below the
    Bonferroni threshold ``t_{1 - alpha/(2m), df}`` for the ``m`` tests, i.e. the family-wise
    false-alarm rate is at most ``alpha``.
    """
    from scipy import stats

    alpha = check_float("alpha", alpha, 0.0, 1.0, lo_open=True, hi_open=True)
    arrays = [np.atleast_2d(np.asarray(x, dtype=np.float64)) for x in (real_a, pseudo_a, real_b, pseudo_b)]
    n_eval = arrays[0].shape[1]
    if any(x.shape[1] != n_eval for x in arrays):
        raise ConfigError(f"curves must share n_eval; got shapes {[x.shape for x in arrays]}")
    n_a, n_b = arrays[0].shape[0], arrays[2].shape[0]
    if n_a + n_b < 3:
        raise ConfigError(f"need at least 3 trials in total to estimate noise; got {n_a} + {n_b}")
    windows = age_windows(n_eval)
    df = n_a + n_b - 2
    z, diff = {}, {}
    for kind, a, b in (("real", arrays[0], arrays[2]), ("pseudo", arrays[1], arrays[3])):
        z[kind], diff[kind] = [], []
        for lo, hi in windows:
            cols = slice(lo - 1, hi)  # age 1 first: age a is column a - 1
            wa, wb = a[:, cols].mean(axis=1), b[:, cols].mean(axis=1)
            ss = ((wa - wa.mean()) ** 2).sum() + ((wb - wb.mean()) ** 2).sum()
            se = math.sqrt(ss / df) * math.sqrt(1.0 / n_a + 1.0 / n_b)
            d = wa.mean() - wb.mean()
            if se > 0:
                zi = d / se
            else:  # no noise at all: agreement means exact equality
                zi = 0.0 if abs(d) < 1e-12 else math.copysign(math.inf, d)
            z[kind].append(float(zi))
            diff[kind].append(float(d))
    threshold = float(stats.t.ppf(1 - alpha / (4 * len(windows)), df))
    max_abs_z = float(max(abs(v) for v in z["real"] + z["pseudo"]))
    return Agreement(windows, n_a, n_b, df, z["real"], z["pseudo"], diff["real"], diff["pseudo"], threshold,
                     max_abs_z, bool(max_abs_z < threshold))


# ------------------------------------------------------------------------- side by side
@dataclass
class SideBySide:
    """One setting and cue level, timed side by side: the two :class:`Timing` records, the wall-clock and
    CPU-time :class:`Ratio` (reference over engine seconds per trial) and the :class:`Agreement` of the
    two implementations' accuracy curves (reference = side a)."""

    setting: str
    cue: float
    n_mem: int
    shrink: int
    reference: Timing
    fast: Timing
    ratio: Ratio
    ratio_cpu: Ratio
    agreement: Agreement

    def curves(self) -> dict:
        """Mean accuracy by age (age 1 first) of both implementations: ``{(side, kind): (E,)}``."""
        return {(side, kind): getattr(timing, f"acc_{kind}").mean(axis=0)
                for side, timing in (("reference", self.reference), ("slotless", self.fast))
                for kind in ("real", "pseudo")}

    def to_json(self) -> dict:
        return {"setting": self.setting, "cue": self.cue, "n_mem": self.n_mem, "shrink": self.shrink,
                "reference": self.reference.to_json(), "fast": self.fast.to_json(),
                "ratio": dataclasses.asdict(self.ratio), "ratio_cpu": dataclasses.asdict(self.ratio_cpu),
                "agreement": dataclasses.asdict(self.agreement)}


def side_by_side(setting: str, cue: float, scale: BenchScale, seed: int = 0, *, n_threads: int | None = None
                 ) -> SideBySide:
    """Time the reference and the engine on one setting and cue level at ``scale``, one after the other
    in this process, and test that their curves agree.

    The reference runs ``scale.n_ref[setting]`` trials one at a time on one core; the engine runs
    ``scale.fast_batches`` batches of ``scale.fast_batch_trials`` trials (all cores unless ``n_threads``).
    They use independent streams of ``seed``, so :func:`agreement` compares independent samples.
    """
    network = network_preset(setting, scale.shrink)
    protocol = protocol_config(scale.n_mem, cue)
    tag = f"bench/{setting}/cue={cue}"
    fast = time_fast(network, protocol, scale.fast_batches, scale.fast_batch_trials, seed, tag + "/fast",
                     n_threads=n_threads)
    ref = time_reference(network, protocol, scale.n_ref[setting], seed, tag + "/reference")
    agree = agreement(ref.acc_real, ref.acc_pseudo, fast.acc_real, fast.acc_pseudo)
    return SideBySide(setting, cue, scale.n_mem, scale.shrink, ref, fast, Ratio.of(ref.wall, fast.wall),
                      Ratio.of(ref.cpu, fast.cpu), agree)


# ----------------------------------------------------------------------------- scaling
@dataclass(frozen=True)
class Scaling:
    """Engine wall seconds per trial as one quantity (``kind``) takes ``values``."""

    kind: str
    setting: str
    values: list
    s_per_trial: list
    n_trials: int


def scaling(kind: str, values, *, setting: str = "kwinner", n_mem: int = 2000, n_trials: int = 16, cue: float = 1.0,
            seed: int = 0, shrink: int = 1) -> Scaling:
    """Engine cost per trial as one quantity varies (the others at their preset values).

    ``kind``: ``"n_h"`` (hidden units; f, k, eps fixed), ``"n_mem"`` (memories: B = E = n_mem),
    ``"batch"`` (trials run together in one call: ``max(n_trials, value)`` trials in calls of ``value``),
    ``"threads"`` (torch/Numba threads = value).
    """
    from ..memory.protocol import run_trials

    check_choice("kind", kind, ("n_h", "n_mem", "batch", "threads"))
    values = [check_int(kind, v, 1) for v in values]
    seconds = []
    for value in values:
        network = network_preset(setting, shrink, **({"n_hidden": value} if kind == "n_h" else {}))
        protocol = protocol_config(value if kind == "n_mem" else n_mem, cue)
        trials = max(n_trials, value) if kind == "batch" else n_trials
        stream = f"bench/scaling/{kind}={value}"
        with threads(value if kind == "threads" else None):
            run_trials(network, protocol, 1, seed, stream + "/warmup")
            start = time.perf_counter()
            run_trials(network, protocol, trials, seed, stream, chunk_size=value if kind == "batch" else None)
            seconds.append((time.perf_counter() - start) / trials)
    return Scaling(kind, setting, values, seconds, n_trials)


# ------------------------------------------------------------------------------ memory
@dataclass(frozen=True)
class PeakMemory:
    """Peak resident memory of a fresh process running ``n_trials`` trials of ``setting`` in one call
    (``baseline_mib``: the peak after imports and a one-trial warm-up)."""

    setting: str
    n_mem: int
    n_trials: int
    peak_rss_mib: float
    baseline_mib: float


def peak_rss_subprocess(setting: str = "kwinner", n_mem: int = 2000, n_trials: int = 100, shrink: int = 1
                        ) -> PeakMemory:
    """Peak RSS of a fresh process that runs one figure-sized batch with default chunking."""
    code = (
        "import json\n"
        "from slotless.perf import bench\n"
        "from slotless.memory.protocol import run_trials\n"
        f"net = bench.network_preset({setting!r}, {shrink})\n"
        f"pro = bench.protocol_config({n_mem}, 1.0)\n"
        "run_trials(net, pro, 1, 0, 'rss/warmup')\n"
        "base = bench.peak_rss_mib()\n"
        f"run_trials(net, pro, {n_trials}, 0, 'rss')\n"
        "print(json.dumps([bench.peak_rss_mib(), base]))\n"
    )
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"peak-RSS subprocess failed:\n{proc.stderr[-2000:]}")
    peak, base = json.loads(proc.stdout.strip().splitlines()[-1])
    return PeakMemory(setting, n_mem, n_trials, peak, base)


# --------------------------------------------------------------------------- Part II
@dataclass(frozen=True)
class SweepCost:
    """Case Sequence training cost per batch (CPU seconds, one thread) of one model: with the compiled
    step for each number of seeds in ``seeds`` (``compiled_s_per_batch``), and with the readable torch
    step at the largest (``readable_s_per_batch``)."""

    model: str
    seeds: list
    batches: int
    compiled_s_per_batch: list
    readable_s_per_batch: float

    @property
    def speedup(self) -> float:
        """Readable over compiled CPU seconds per batch, at the largest number of seeds."""
        return self.readable_s_per_batch / self.compiled_s_per_batch[-1]


def sweep_cost(seeds_list, batches: int, *, models=None, preset: str = "paper", batch_size: int = 64) -> list:
    """:class:`SweepCost` of each model (default: every model of :data:`slotless.attention.training.MODELS`,
    under ``preset``): ``batches`` batches of :func:`slotless.attention.training.run_sweep` (one thread)."""
    from ..attention import training

    batches = check_int("batches", batches, 1)
    seeds_list = [check_int("seeds", s, 1) for s in seeds_list]
    out = []
    for model in list(training.MODELS) if models is None else models:
        config = training.resolve_config(model, preset)

        def cpu_per_batch(n_seeds, compiled, n_batches=batches):
            old = training._COMPILED_STEP
            training._COMPILED_STEP = compiled
            try:
                start = time.process_time()
                training.run_sweep(config, n_seeds, n_batches, batch_size, 0)
                return (time.process_time() - start) / n_batches
            finally:
                training._COMPILED_STEP = old

        for path in (True, False):  # one-off set-up and kernel loading, not timed
            cpu_per_batch(seeds_list[0], path, 2)
        compiled = [cpu_per_batch(n, True) for n in seeds_list]
        out.append(SweepCost(model, seeds_list, batches, compiled, cpu_per_batch(seeds_list[-1], False)))
    return out


# ----------------------------------------------------------------------------- driver
@dataclass
class BenchmarkResult:
    """Everything one benchmark run measured (:func:`run_benchmark`)."""

    scale: str
    sizes: BenchScale
    machine: Machine
    seed: int
    side_by_side: list
    scaling: dict
    peak_memory: PeakMemory
    sweeps: list | None
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"scale": self.scale, "sizes": dataclasses.asdict(self.sizes), "machine": dataclasses.asdict(self.machine),
                "seed": self.seed, "side_by_side": [r.to_json() for r in self.side_by_side],
                "scaling": {k: dataclasses.asdict(v) for k, v in self.scaling.items()},
                "peak_memory": dataclasses.asdict(self.peak_memory),
                "sweeps": None if self.sweeps is None else [dataclasses.asdict(s) for s in self.sweeps],
                "seconds": self.seconds}


def run_benchmark(scale: str = "full", *, seed: int = 0, sweeps: bool = True, log=None) -> BenchmarkResult:
    """Run the whole benchmark at ``scale`` (a key of :data:`SCALES`) and return its results.

    Side by side for every setting at the scale's cue levels; scaling in n_h, memories, batch and
    threads; the peak memory of a figure-sized batch in a fresh process; the Case Sequence training
    cost (if ``sweeps``). ``log`` is called with progress lines.
    """
    check_choice("scale", scale, tuple(SCALES))
    p = SCALES[scale]
    say = log or (lambda line: None)
    start = time.perf_counter()
    machine = machine_info()
    rows = []
    for setting in SETTINGS:
        for cue in p.cues:
            res = side_by_side(setting, cue, p, seed)
            rows.append(res)
            say(f"{setting:11s} cue={cue:.1f}: reference {res.reference.seconds:.3f} s/trial, slotless "
                f"{res.fast.seconds:.4f} s/trial, ratio {res.ratio} (CPU {res.ratio_cpu}), max|z| "
                f"{res.agreement.max_abs_z:.2f} < {res.agreement.threshold:.2f}")
    common = dict(setting="kwinner", n_mem=p.scaling_mem, n_trials=p.scaling_trials, seed=seed, shrink=p.shrink)
    grids = {"n_h": p.grid_nh, "n_mem": p.grid_mem, "batch": p.grid_batch, "threads": p.grid_threads}
    scal = {}
    for kind, grid in grids.items():
        scal[kind] = scaling(kind, grid, **common)
        say(f"scaling {kind}: " + ", ".join(f"{v}: {s * 1e3:.1f} ms" for v, s in zip(grid, scal[kind].s_per_trial)))
    memory = peak_rss_subprocess("kwinner", p.n_mem, p.rss_trials, p.shrink)
    say(f"peak RSS {memory.peak_rss_mib:.0f} MiB ({p.rss_trials} trials, fresh process)")
    costs = None
    if sweeps:
        from ..attention import training

        models = list(training.MODELS)[: p.sweep_models] if p.sweep_models else None
        costs = sweep_cost(p.sweep_seeds, p.sweep_batches, models=models)
        for c in costs:
            say(f"training {c.model}: {c.compiled_s_per_batch[-1] * 1e3:.2f} ms per batch at {c.seeds[-1]} seeds "
                f"({c.speedup:.1f}x the readable step)")
    return BenchmarkResult(scale, p, machine, seed, rows, scal, memory, costs, time.perf_counter() - start)


def check_targets(result: BenchmarkResult, targets: Targets = TARGETS, *, speed: bool | None = None) -> list[str]:
    """The failed targets of ``result`` (empty: all met); disagreeing curves are failures too.

    ``speed``: check the ratio targets (default: only when the run used the paper's sizes, where the
    targets are defined); peak memory and agreement are always checked.
    """
    speed = result.sizes.paper_sizes if speed is None else speed
    failures = []
    for res in result.side_by_side:
        name = f"{res.setting} cue={res.cue}"
        if not res.agreement.ok:
            failures.append(f"{name}: curves differ (max |z| {res.agreement.max_abs_z:.2f} >= "
                            f"{res.agreement.threshold:.2f})")
        if speed:
            target = targets.ratio[res.setting]
            if res.ratio.value < target.wall:
                failures.append(f"{name}: wall-clock ratio {res.ratio.value:.1f}x < {target.wall:g}x")
            if res.ratio_cpu.value < target.cpu:
                failures.append(f"{name}: CPU-time ratio {res.ratio_cpu.value:.1f}x < {target.cpu:g}x")
    if result.peak_memory.peak_rss_mib >= targets.peak_rss_mib:
        failures.append(f"peak RSS {result.peak_memory.peak_rss_mib:.0f} MiB >= {targets.peak_rss_mib:.0f} MiB")
    return failures


def format_table(result: BenchmarkResult, targets: Targets = TARGETS) -> str:
    """The side-by-side table as text (setting, cue, s/trial of both, both ratios with their standard
    errors, the targets, agreement), then peak memory and the Part II training cost."""
    lines = [f"{'setting':11s} {'cue':>4s} {'reference s/trial':>17s} {'slotless s/trial':>16s} "
             f"{'wall ratio':>15s} {'CPU ratio':>15s} {'target wall/CPU':>16s} {'max|z|':>7s} {'bound':>6s}"]
    for res in result.side_by_side:
        target = targets.ratio[res.setting]
        lines.append(
            f"{res.setting:11s} {res.cue:4.1f} {res.reference.seconds:17.3f} {res.fast.seconds:16.4f} "
            f"{str(res.ratio):>15s} {str(res.ratio_cpu):>15s} {f'{target.wall:g}x / {target.cpu:g}x':>16s} "
            f"{res.agreement.max_abs_z:7.2f} {res.agreement.threshold:6.2f}")
    lines.append("ratios: mean reference s/trial over mean slotless s/trial, ± one standard error from the per-trial "
                 "times (reference on one core; slotless on every core)")
    mem = result.peak_memory
    lines.append(f"peak RSS {mem.peak_rss_mib:.0f} MiB ({mem.n_trials} {mem.setting} trials in one call; "
                 f"target < {targets.peak_rss_mib:.0f} MiB)")
    for c in result.sweeps or []:
        lines.append(f"training {c.model:13s} {c.compiled_s_per_batch[-1] * 1e3:6.2f} ms CPU per batch of "
                     f"{c.seeds[-1]} seeds, {c.speedup:4.1f}x the readable torch step")
    return "\n".join(lines)
