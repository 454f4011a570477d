"""Speed, measured side by side ({ref}`ch-performance`).

The straightforward reference (:mod:`slotless.perf.reference`: dense NumPy float64, one trial at
a time, full products, argsort) and the fast engine (:func:`slotless.memory.protocol.run_trials`)
are timed **in the same process, on the same settings**. Each comparison also checks that
the two give the same accuracy curves within statistical noise, so that speed never buys
a different model.

Everything here returns plain dicts of numbers (JSON-ready); ``benchmarks/run.py`` is a thin
command line over :func:`run_benchmark`, and the book's Performance chapter calls the same
functions at a smaller scale.

Timings on a shared machine are noisy: they are reported, never asserted in unit tests.
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

import numpy as np

from ..checks import ConfigError, check_choice, check_float, check_int
from ..rng import trial_generator

__all__ = [
    "SETTINGS",
    "CUES",
    "TARGETS",
    "SCALES",
    "FIGURE_SET_TRIALS",
    "machine_info",
    "peak_rss_mib",
    "threads",
    "blas_threads",
    "network_preset",
    "protocol_config",
    "time_reference",
    "time_fast",
    "agreement",
    "side_by_side",
    "scaling",
    "peak_rss_subprocess",
    "sweep_scaling",
    "figure_set_estimate",
    "figure_set_from_rows",
    "makespan",
    "run_benchmark",
    "check_targets",
    "format_table",
]

#: The three memory settings of the paper: the keys of :data:`slotless.memory.network.PRESETS`.
SETTINGS = ("kwinner", "kwinner-alt", "mhn")
#: Cue levels of the paper (``eq-methods-cue``).
CUES = (1.0, 0.5)

#: Speed targets (ratios measured in one run, on this machine's cores).
TARGETS = {
    "ratio_kwinner_min": 30.0,  # main and alternative K-winner, per-trial cost, batching allowed
    "ratio_mhn_min": 10.0,
    "figure_set_max_s": 600.0,  # complete paper-scale memory figure set
    "sweeps_max_s": 180.0,  # every Case Sequence sweep at paper scale
    "peak_rss_max_mib": 4096.0,
}

#: Benchmark scales. ``n_mem`` is the protocol size of the side-by-side runs (B = E = n_mem,
#: P = n_mem + 1); ``n_ref``/``n_fast`` trials per side-by-side comparison; ``grid_*`` the scaling
#: grids, run at protocol size ``scaling_mem`` with ``scaling_trials`` trials per point;
#: ``rss_trials`` trials in the fresh peak-RSS process; ``sweep_*`` the Case Sequence timing.
SCALES = {
    # unit tests: tiny networks, seconds in total
    "tiny": dict(
        n_mem=60, n_ref=2, n_fast=6, shrink=10, scaling_mem=60, scaling_trials=4, grid_nh=(50, 100),
        grid_mem=(30, 60), grid_batch=(1, 4), grid_threads=(1,), rss_trials=4,
        sweep_batches=20, sweep_seeds=(1, 2), sweep_models=1,
    ),
    # the book at quick scale: networks shrunk 5x (n_i = 200), short protocol (timings only indicative)
    "quick": dict(
        n_mem=150, n_ref=2, n_fast=12, shrink=5, scaling_mem=150, scaling_trials=4, grid_nh=(100, 200, 400, 800),
        grid_mem=(75, 150, 300), grid_batch=(1, 4), grid_threads=(1, 2), rss_trials=8,
        sweep_batches=30, sweep_seeds=(1, 4), sweep_models=1,
    ),
    # the book at paper scale: paper sizes, one reference trial per setting (a few minutes)
    "chapter": dict(
        n_mem=2000, n_ref=1, n_fast=12, shrink=1, scaling_mem=500, scaling_trials=8,
        grid_nh=(500, 1000, 2000, 4000), grid_mem=(250, 500, 1000, 2000), grid_batch=(1, 2, 8),
        grid_threads=(1, 2), rss_trials=16, sweep_batches=100, sweep_seeds=(1, 3, 10), sweep_models=None,
    ),
    # make bench: paper sizes, more reference trials, wider grids
    "full": dict(
        n_mem=2000, n_ref=3, n_fast=64, shrink=1, scaling_mem=1000, scaling_trials=16,
        grid_nh=(250, 500, 1000, 2000, 4000), grid_mem=(250, 500, 1000, 2000, 4000), grid_batch=(1, 2, 4, 8, 16),
        grid_threads=(1, 2), rss_trials=100, sweep_batches=200, sweep_seeds=(1, 2, 5, 10), sweep_models=None,
    ),
}

#: Trials behind the complete paper-scale memory figure set (``sec-methods-experiments``), per network setting.
#: Accuracy curves: 100 trials per model and cue; d'/RD: 10 samples x 20 runs per model and cue.
#: Random data: main vs MHN and alternative vs MHN at cues 1.0 and 0.5 (the MHN is counted
#: once per comparison, i.e. not assumed to be shared). Tree data, main vs MHN: accuracy
#: curves at b in {5,10,15,20,30} x 2 cues, d' at b=20, cue 1.0. Variants k=65 and eps=0.35
#: (2 cues each, accuracy curves) and the random-winner control (2 cues) run at main size.
FIGURE_SET_TRIALS = {
    "kwinner": 2 * (100 + 200) + 5 * 2 * 100 + 200 + 2 * 2 * 100 + 2 * 100,
    "kwinner-alt": 2 * (100 + 200),
    "mhn": 2 * 2 * (100 + 200) + 5 * 2 * 100 + 200,
}


# ------------------------------------------------------------------------------ machine
def machine_info() -> dict:
    """CPU model, core count and library versions of this machine."""
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
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "numba": _version("numba"),
        "torch": _version("torch"),
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


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

    The reference is timed on one core: a
    multi-threaded BLAS mat-vec on an oversubscribed machine mostly spins, which would
    inflate the speed-up unfairly.
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
def time_reference(network, protocol, n_trials: int, seed: int, stream: str = "bench/reference") -> dict:
    """Run ``n_trials`` trials of the straightforward reference, one after the other, on one
    thread (numpy's BLAS limited to one thread by :func:`blas_threads`).

    Returns ``{"seconds_per_trial", "cpu_seconds_per_trial", "seconds", "acc_real": (T, E),
    "acc_pseudo": (T, E)}`` (accuracies age 1 first). CPU time (all threads of the process) is
    less sensitive than wall time to other load on a shared machine.
    Trial ``t`` draws from ``trial_generator(seed, t, stream)``.
    """
    from .reference import run_reference_trial

    n_trials = check_int("n_trials", n_trials, 1)
    real, pseudo = [], []
    with blas_threads(1):
        start, cpu = time.perf_counter(), time.process_time()
        for trial in range(n_trials):
            r, p = run_reference_trial(network, protocol, trial_generator(seed, trial, stream))
            real.append(np.asarray(r, dtype=np.float64))
            pseudo.append(np.asarray(p, dtype=np.float64))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "seconds": seconds,
        "seconds_per_trial": seconds / n_trials,
        "cpu_seconds_per_trial": cpu / n_trials,
        "acc_real": np.stack(real),
        "acc_pseudo": np.stack(pseudo),
    }


def time_fast(
    network,
    protocol,
    n_trials: int,
    seed: int,
    stream: str = "bench/fast",
    *,
    chunk_size: int | None = None,
    n_threads: int | None = None,
    warmup: bool = True,
) -> dict:
    """Run ``n_trials`` trials of the fast engine as one batch and time it (wall clock).

    ``warmup`` first runs one trial (not timed) so that JIT compilation is not counted;
    its cost is returned as ``warmup_seconds``. ``chunk_size`` and ``n_threads`` are passed
    through (None: the engine's defaults). Returns the same keys as :func:`time_reference`.
    """
    from ..memory.protocol import run_trials

    n_trials = check_int("n_trials", n_trials, 1)
    kwargs = {} if chunk_size is None else {"chunk_size": check_int("chunk_size", chunk_size, 1)}
    with threads(n_threads):
        warm = 0.0
        if warmup:
            start = time.perf_counter()
            run_trials(network, protocol, 1, seed, stream + "/warmup", progress=False, **kwargs)
            warm = time.perf_counter() - start
        start, cpu = time.perf_counter(), time.process_time()
        result = run_trials(network, protocol, n_trials, seed, stream, progress=False, **kwargs)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "seconds": seconds,
        "seconds_per_trial": seconds / n_trials,
        "cpu_seconds_per_trial": cpu / n_trials,
        "warmup_seconds": warm,
        "acc_real": np.asarray(result.acc_real, dtype=np.float64),
        "acc_pseudo": np.asarray(result.acc_pseudo, dtype=np.float64),
    }


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


def agreement(real_a, pseudo_a, real_b, pseudo_b, *, alpha: float = 1e-3) -> dict:
    """Do two sets of accuracy curves come from the same model, within statistical noise?

    ``real_*``/``pseudo_*``: (trials, E) accuracies, AGE 1 FIRST (column a - 1). For each
    age window (:func:`age_windows`) and for real and pseudo curves, each trial's window mean
    is one sample. Under the null (same model) both sides share one between-trial variance,
    estimated by pooling (so a side with a single trial still gets an SE). The statistic is
    ``z = (mean_a - mean_b) / (sd_pooled * sqrt(1/n_a + 1/n_b))``, a two-sample t with
    ``n_a + n_b - 2`` degrees of freedom. The curves agree when every ``|z|`` is below the
    Bonferroni threshold ``t_{1 - alpha/(2m), df}`` for the ``m`` tests, i.e. the family-wise
    false-alarm rate is at most ``alpha``.

    Returns ``{"windows", "z_real", "z_pseudo", "diff_real", "diff_pseudo", "threshold", "max_abs_z", "ok"}``.
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
    out = {"windows": windows, "n_a": n_a, "n_b": n_b, "df": df}
    for kind, a, b in (("real", arrays[0], arrays[2]), ("pseudo", arrays[1], arrays[3])):
        zs, diffs = [], []
        for lo, hi in windows:
            cols = slice(lo - 1, hi)  # age 1 first: age a is column a - 1
            wa, wb = a[:, cols].mean(axis=1), b[:, cols].mean(axis=1)
            ss = ((wa - wa.mean()) ** 2).sum() + ((wb - wb.mean()) ** 2).sum()
            sd = math.sqrt(ss / df)
            se = sd * math.sqrt(1.0 / n_a + 1.0 / n_b)
            diff = wa.mean() - wb.mean()
            if se > 0:
                z = diff / se
            else:  # no noise at all: agreement means exact equality
                z = 0.0 if abs(diff) < 1e-12 else math.copysign(math.inf, diff)
            zs.append(float(z))
            diffs.append(float(diff))
        out[f"z_{kind}"] = zs
        out[f"diff_{kind}"] = diffs
    m = 2 * len(windows)
    out["threshold"] = float(stats.t.ppf(1 - alpha / (2 * m), df))
    out["max_abs_z"] = float(max(abs(z) for z in out["z_real"] + out["z_pseudo"]))
    out["ok"] = bool(out["max_abs_z"] < out["threshold"])
    return out


def side_by_side(
    setting: str,
    cue: float,
    n_mem: int,
    n_ref: int,
    n_fast: int,
    seed: int = 0,
    *,
    shrink: int = 1,
    n_threads: int | None = None,
    keep_curves: bool = False,
) -> dict:
    """Time the reference and the fast engine on the same setting, and compare their curves.

    The reference runs ``n_ref`` trials one at a time; the fast engine runs ``n_fast`` trials
    as one batch. They use independent streams of ``seed``, so the agreement test of
    :func:`agreement` compares independent samples. ``ratio`` is reference seconds per trial
    over fast seconds per trial; ``ratio_per_core`` divides it by the cores the fast engine may
    use (a conservative ratio that grants the reference perfect parallelism over trials);
    ``ratio_cpu`` is the ratio of CPU seconds (process-wide, all threads), which is the least
    sensitive to other load on the machine. The targets are checked on ``ratio`` (wall clock).
    """
    network = network_preset(setting, shrink)
    protocol = protocol_config(n_mem, cue)
    tag = f"bench/{setting}/cue={cue}"
    fast = time_fast(network, protocol, n_fast, seed, tag + "/fast", n_threads=n_threads)
    ref = time_reference(network, protocol, n_ref, seed, tag + "/reference")
    agree = agreement(ref["acc_real"], ref["acc_pseudo"], fast["acc_real"], fast["acc_pseudo"])
    cores = n_threads or os.cpu_count() or 1
    out = {
        "setting": setting,
        "cue": cue,
        "n_mem": n_mem,
        "n_ref": n_ref,
        "n_fast": n_fast,
        "reference_s_per_trial": ref["seconds_per_trial"],
        "fast_s_per_trial": fast["seconds_per_trial"],
        "fast_warmup_s": fast["warmup_seconds"],
        "ratio": ref["seconds_per_trial"] / fast["seconds_per_trial"],
        "ratio_per_core": ref["seconds_per_trial"] / fast["seconds_per_trial"] / cores,
        "reference_cpu_s_per_trial": ref["cpu_seconds_per_trial"],
        "fast_cpu_s_per_trial": fast["cpu_seconds_per_trial"],
        "ratio_cpu": ref["cpu_seconds_per_trial"] / max(fast["cpu_seconds_per_trial"], 1e-12),
        "cores": cores,
        "agreement": agree,
        "mean_real_reference": float(ref["acc_real"].mean()),
        "mean_real_fast": float(fast["acc_real"].mean()),
        "mean_pseudo_reference": float(ref["acc_pseudo"].mean()),
        "mean_pseudo_fast": float(fast["acc_pseudo"].mean()),
    }
    if keep_curves:
        for side, res in (("reference", ref), ("fast", fast)):
            out[f"curve_real_{side}"] = res["acc_real"].mean(axis=0)  # by age 1..E
            out[f"curve_pseudo_{side}"] = res["acc_pseudo"].mean(axis=0)
    return out


# ----------------------------------------------------------------------------- scaling
def scaling(
    kind: str,
    values,
    *,
    setting: str = "kwinner",
    n_mem: int = 2000,
    n_trials: int = 16,
    cue: float = 1.0,
    seed: int = 0,
    shrink: int = 1,
) -> dict:
    """Fast-engine cost per trial as one quantity varies (the others at their preset values).

    ``kind``: ``"n_h"`` (hidden units; f, k, eps fixed), ``"n_mem"`` (memories: B = E = n_mem),
    ``"batch"`` (trials run together: ``chunk_size`` = value, ``max(n_trials, value)`` trials),
    ``"threads"`` (torch/Numba threads = value). Returns ``{"kind", "values", "s_per_trial"}``.
    """
    check_choice("kind", kind, ("n_h", "n_mem", "batch", "threads"))
    values = [check_int(kind, v, 1) for v in values]
    seconds = []
    for value in values:
        network = network_preset(setting, shrink, **({"n_hidden": value} if kind == "n_h" else {}))
        protocol = protocol_config(value if kind == "n_mem" else n_mem, cue)
        trials = max(n_trials, value) if kind == "batch" else n_trials
        res = time_fast(
            network,
            protocol,
            trials,
            seed,
            f"bench/scaling/{kind}={value}",
            chunk_size=value if kind == "batch" else None,
            n_threads=value if kind == "threads" else None,
            warmup=kind in ("n_h", "n_mem") or value == values[0],
        )
        seconds.append(res["seconds_per_trial"])
    return {"kind": kind, "setting": setting, "values": values, "s_per_trial": seconds, "n_trials": n_trials}


def peak_rss_subprocess(setting: str = "kwinner", n_mem: int = 2000, n_trials: int = 100, shrink: int = 1) -> dict:
    """Peak RSS of a fresh process that runs one figure-sized batch with default chunking.

    Returns ``{"peak_rss_mib", "baseline_rss_mib", "seconds", "n_trials"}``; the baseline is
    the peak after imports and a one-trial warm-up, before the measured batch.
    """
    code = (
        "import json, time\n"
        "from slotless.perf import bench\n"
        "from slotless.memory.protocol import run_trials\n"
        f"net = bench.network_preset({setting!r}, {shrink})\n"
        f"pro = bench.protocol_config({n_mem}, 1.0)\n"
        "run_trials(net, pro, 1, 0, 'rss/warmup', progress=False)\n"
        "base = bench.peak_rss_mib(); t = time.perf_counter()\n"
        f"run_trials(net, pro, {n_trials}, 0, 'rss', progress=False)\n"
        "print(json.dumps({'peak_rss_mib': bench.peak_rss_mib(), 'baseline_rss_mib': base,"
        " 'seconds': time.perf_counter() - t}))\n"
    )
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"peak-RSS subprocess failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(setting=setting, n_mem=n_mem, n_trials=n_trials)
    return out


def sweep_scaling(seeds_list, batches: int, *, models=None, preset: str = "paper", batch_size: int = 64) -> dict:
    """Case Sequence sweep cost vs the number of seeds stacked, per model.

    For each model (default: every model in :data:`slotless.attention.training.MODELS`, under ``preset``)
    and each number of seeds, one :func:`slotless.attention.training.run_sweep` of ``batches`` batches is
    timed (``run_sweep``'s default of one torch thread).
    ``paper_estimate_s`` extrapolates each model's 10-seed cost linearly to 5000 batches
    (an estimate, labelled as such: the per-batch cost is constant after set-up).
    ``paper_estimate_total_s`` is all models one after the other on one thread;
    ``paper_estimate_2core_s`` spreads the models over this machine's cores as separate
    single-threaded processes (:func:`makespan`). The ``_cpu`` variants use CPU seconds instead
    of wall seconds: on a shared, oversubscribed machine they estimate what the machine would do
    on its own, and the <= 3 min target is checked on ``paper_estimate_2core_cpu_s``.
    """
    from ..attention import training

    batches = check_int("batches", batches, 1)
    seeds_list = [check_int("seeds", s, 1) for s in seeds_list]
    if models is None:
        models = list(training.MODELS)
    out = {"batches": batches, "seeds": seeds_list, "models": {}, "batch_size": batch_size}
    for model in models:
        config = training.resolve_config(model, preset)
        # one tiny run first so that one-off set-up cost is not timed
        training.run_sweep(config, seeds_list[0], 2, batch_size, 0)
        secs, cpus = [], []
        for n_seeds in seeds_list:
            start, cpu = time.perf_counter(), time.process_time()
            training.run_sweep(config, n_seeds, batches, batch_size, 0)
            secs.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        per_batch = [s / batches for s in secs]
        cpu_per_batch = [c / batches for c in cpus]
        out["models"][model] = {
            "seconds": secs,
            "cpu_seconds": cpus,
            "s_per_batch": per_batch,
            "s_per_seed_batch": [p / n for p, n in zip(per_batch, seeds_list)],
            "paper_estimate_s": _interp_seeds(seeds_list, per_batch, 10) * 5000,
            "paper_estimate_cpu_s": _interp_seeds(seeds_list, cpu_per_batch, 10) * 5000,
        }
    cores = os.cpu_count() or 1
    for key in ("", "_cpu"):
        estimates = [m[f"paper_estimate{key}_s"] for m in out["models"].values()]
        out[f"paper_estimate{key}_total_s"] = float(sum(estimates))
        out[f"paper_estimate_2core{key}_s"] = makespan(estimates, cores)
    return out


def makespan(durations, workers: int) -> float:
    """Wall time of independent jobs spread over ``workers`` processes (longest job first)."""
    workers = check_int("workers", workers, 1)
    loads = [0.0] * workers
    for d in sorted(durations, reverse=True):
        loads[loads.index(min(loads))] += d
    return float(max(loads))


def _interp_seeds(seeds_list, per_batch, target):
    """Per-batch cost at ``target`` seeds: measured if present, else linear fit in seeds."""
    if target in seeds_list:
        return per_batch[seeds_list.index(target)]
    if len(seeds_list) == 1:
        return per_batch[0] * target / seeds_list[0]
    slope, intercept = np.polyfit(seeds_list, per_batch, 1)
    return float(max(intercept + slope * target, per_batch[-1]))


def figure_set_estimate(per_trial: dict, trials: dict | None = None) -> dict:
    """Estimated wall time of the complete paper-scale memory figure set.

    ``per_trial`` maps setting -> fast seconds per trial at paper scale (batched);
    ``trials`` defaults to :data:`FIGURE_SET_TRIALS`. The estimate is per-trial cost x trial
    count; it excludes tree generation and plotting (small beside the trials).
    """
    trials = FIGURE_SET_TRIALS if trials is None else trials
    parts = {name: trials[name] * per_trial[name] for name in trials}
    return {"trials": dict(trials), "seconds_by_setting": parts, "total_s": float(sum(parts.values()))}


def figure_set_from_rows(rows) -> dict:
    """:func:`figure_set_estimate` from side-by-side rows, by wall clock and by CPU time.

    ``total_s`` uses the measured wall seconds per trial (inflated by other load on a shared
    machine); ``total_cpu_s`` uses CPU seconds per trial divided by the cores (trials are
    independent and spread over the cores), i.e. what this machine would take on its own.
    The <= 10 min target is checked on ``total_cpu_s``.
    """
    cores = os.cpu_count() or 1
    wall = {s: float(np.mean([r["fast_s_per_trial"] for r in rows if r["setting"] == s])) for s in SETTINGS}
    cpu = {s: float(np.mean([r["fast_cpu_s_per_trial"] for r in rows if r["setting"] == s])) / cores
           for s in SETTINGS}
    out = figure_set_estimate(wall)
    by_cpu = figure_set_estimate(cpu)
    out["seconds_per_trial"] = wall
    out["cpu_seconds_per_trial_per_core"] = cpu
    out["seconds_by_setting_cpu"] = by_cpu["seconds_by_setting"]
    out["total_cpu_s"] = by_cpu["total_s"]
    return out


# ----------------------------------------------------------------------------- driver
def run_benchmark(scale: str = "full", *, seed: int = 0, sweeps: bool = True, log=None) -> dict:
    """Run the whole benchmark at ``scale`` (a key of :data:`SCALES`) and return its results.

    Side-by-side ratios for main, alternative and MHN at cues 1.0 and 0.5; scaling in n_h,
    memories, batch and threads; peak RSS of a figure-sized batch in a fresh process; the
    figure-set estimate; the Case Sequence sweep cost vs seeds (if ``sweeps`` and
    ``sweeps`` is true). ``log`` is called with progress lines.
    """
    check_choice("scale", scale, tuple(SCALES))
    p = SCALES[scale]
    say = log or (lambda line: None)
    start = time.perf_counter()
    results = {"scale": scale, "params": p, "machine": machine_info(), "targets": TARGETS, "seed": seed}
    results["side_by_side"] = []
    for setting in SETTINGS:
        for cue in CUES:
            res = side_by_side(setting, cue, p["n_mem"], p["n_ref"], p["n_fast"], seed, shrink=p["shrink"])
            results["side_by_side"].append(res)
            say(
                f"{setting:5s} cue={cue:.1f}: reference {res['reference_s_per_trial']:.3f} s/trial, "
                f"slotless {res['fast_s_per_trial']:.4f} s/trial, ratio {res['ratio']:.1f}x, "
                f"max|z| {res['agreement']['max_abs_z']:.2f} < {res['agreement']['threshold']:.2f}"
            )
    common = dict(setting="kwinner", n_mem=p["scaling_mem"], n_trials=p["scaling_trials"], seed=seed, shrink=p["shrink"])
    results["scaling"] = {}
    for kind, grid in (("n_h", "grid_nh"), ("n_mem", "grid_mem"), ("batch", "grid_batch"), ("threads", "grid_threads")):
        values = list(p[grid])
        results["scaling"][kind] = scaling(kind, values, **common)
        say(f"scaling {kind}: " + ", ".join(
            f"{v}: {s * 1e3:.1f} ms" for v, s in zip(values, results["scaling"][kind]["s_per_trial"])))
    results["peak_rss"] = peak_rss_subprocess("kwinner", p["n_mem"], p["rss_trials"], p["shrink"])
    say(f"peak RSS {results['peak_rss']['peak_rss_mib']:.0f} MiB ({p['rss_trials']} trials, fresh process)")
    fig = figure_set_from_rows(results["side_by_side"])
    fig["paper_scale"] = p["n_mem"] == 2000 and p["shrink"] == 1
    results["figure_set"] = fig
    say(f"figure set (estimate = per-trial cost x trials): {fig['total_s']:.0f} s wall, "
        f"{fig['total_cpu_s']:.0f} s by CPU time over the cores")
    results["sweeps"] = None
    if sweeps:
        from ..attention import training

        models = list(training.MODELS)
        if p["sweep_models"] is not None:
            models = models[: p["sweep_models"]]
        results["sweeps"] = sweep_scaling(p["sweep_seeds"], p["sweep_batches"], models=models)
        say(f"sweeps (estimate from {p['sweep_batches']} batches): "
            f"{results['sweeps']['paper_estimate_total_s']:.0f} s")
    results["seconds"] = time.perf_counter() - start
    return results


def check_targets(results: dict) -> list[str]:
    """Return a list of failed targets (empty: all met). Agreement failures are failures too.

    Speed targets apply only to results at paper sizes (``n_mem`` = 2000, no shrink).
    """
    failures = []
    paper = results["params"]["n_mem"] == 2000 and results["params"]["shrink"] == 1
    for res in results["side_by_side"]:
        name = f"{res['setting']} cue={res['cue']}"
        if not res["agreement"]["ok"]:
            failures.append(f"{name}: curves differ (max |z| {res['agreement']['max_abs_z']:.2f} "
                            f">= {res['agreement']['threshold']:.2f})")
        if paper:
            target = TARGETS["ratio_mhn_min"] if res["setting"] == "mhn" else TARGETS["ratio_kwinner_min"]
            if res["ratio"] < target:
                failures.append(f"{name}: ratio {res['ratio']:.1f}x < {target:.0f}x")
    if paper:
        if results["figure_set"]["total_cpu_s"] > TARGETS["figure_set_max_s"]:
            failures.append(f"memory figure set {results['figure_set']['total_cpu_s']:.0f} s (estimate by CPU time "
                            f"over the cores) > {TARGETS['figure_set_max_s']:.0f} s")
        sweeps = results.get("sweeps") or {}
        if "paper_estimate_2core_cpu_s" in sweeps and sweeps["paper_estimate_2core_cpu_s"] > TARGETS["sweeps_max_s"]:
            failures.append(f"Case Sequence sweeps {sweeps['paper_estimate_2core_cpu_s']:.0f} s (estimate by CPU "
                            f"time, models over {results['machine']['cores']} cores) > {TARGETS['sweeps_max_s']:.0f} s")
    if results["peak_rss"]["peak_rss_mib"] > TARGETS["peak_rss_max_mib"]:
        failures.append(f"peak RSS {results['peak_rss']['peak_rss_mib']:.0f} MiB > {TARGETS['peak_rss_max_mib']:.0f} MiB")
    return failures


def format_table(results: dict) -> str:
    """The side-by-side table as text: setting, cue, s/trial for both, ratio, target, agreement."""
    lines = [
        f"{'setting':8s} {'cue':>4s} {'reference s/trial':>18s} {'slotless s/trial':>17s} "
        f"{'ratio':>7s} {'target':>7s} {'CPU ratio':>9s} {'max|z|':>7s} {'bound':>6s}"
    ]
    for res in results["side_by_side"]:
        target = TARGETS["ratio_mhn_min"] if res["setting"] == "mhn" else TARGETS["ratio_kwinner_min"]
        lines.append(
            f"{res['setting']:8s} {res['cue']:4.1f} {res['reference_s_per_trial']:18.3f} "
            f"{res['fast_s_per_trial']:17.4f} {res['ratio']:6.1f}x {target:6.0f}x {res.get('ratio_cpu', math.nan):8.1f}x "
            f"{res['agreement']['max_abs_z']:7.2f} {res['agreement']['threshold']:6.2f}"
        )
    fig = results["figure_set"]
    lines.append(f"memory figure set (estimate: per-trial cost x {sum(fig['trials'].values())} trials): "
                 f"{fig['total_cpu_s']:.0f} s by CPU time over the cores, {fig['total_s']:.0f} s by wall clock "
                 f"under this run's load (target <= {TARGETS['figure_set_max_s']:.0f} s, checked on CPU time)")
    sweeps = results.get("sweeps") or {}
    if "paper_estimate_total_s" in sweeps:
        lines.append(f"Case Sequence sweeps (estimate, 10 seeds x 5000 batches, {len(sweeps['models'])} models): "
                     f"{sweeps['paper_estimate_2core_cpu_s']:.0f} s by CPU time over the cores "
                     f"({sweeps['paper_estimate_2core_s']:.0f} s by wall clock; "
                     f"{sweeps['paper_estimate_cpu_total_s']:.0f} s CPU one after the other; "
                     f"target <= {TARGETS['sweeps_max_s']:.0f} s, checked on CPU time)")
    elif sweeps:
        lines.append(f"Case Sequence sweeps: {sweeps.get('error')}")
    lines.append(f"peak RSS {results['peak_rss']['peak_rss_mib']:.0f} MiB "
                 f"(target < {TARGETS['peak_rss_max_mib']:.0f} MiB)")
    return "\n".join(lines)
