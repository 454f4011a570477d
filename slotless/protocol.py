"""The continual-learning protocol (spec §2.1-2.4) and the fast multi-trial engine.

One trial: a fresh network and a fresh data pool split in order into burn-in (B), evaluated (E)
and pseudo (P) patterns. Learn the B burn-in and then the E evaluated patterns one at a time,
freeze, retrieve every evaluated pattern and the first E pseudo-patterns from partial cues, and
score ``acc = x . x_hat / s``. Evaluated pattern j (0-based, learning order) has age a = E - j and
is paired with pseudo-pattern j; the results are stored AGE 1 FIRST (column a-1). The extra
paper-time pseudo-pattern (P = E + 1) is drawn but never paired, hence not retrieved.

Randomness of trial t: ``slotless.rng.trial_generator(seed, first_trial + t, stream)`` gives four
uint64 seeds, in this order: data (pool, then the uniform baseline), network (mask, then U1, then U2),
cues (evaluated, pseudo, uniform, in that order) and ties/random winners. Both engines consume them
identically:

- ``engine="fast"``: the whole trial as one Numba loop on the existing connections only
  (each hidden unit's phi inputs plus a CSR from each input to the units it feeds); trials run
  in parallel with ``prange``. Per-trial scratch lives inside the loop, so peak memory is
  about (threads x one trial) plus the (T, E) outputs.
- ``engine="reference"``: the readable dense NumPy path of :mod:`slotless.networks`.

Both give bitwise identical results for the same trial (tested), so the readable path is the
ground truth for the fast one. (The research-style baseline for speed is :mod:`slotless.reference`.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numba as nb
import numpy as np

from . import patterns as _pat
from .checks import ConfigError, check_choice, check_float, check_int
from .io import cached_arrays
from .networks import (
    DTYPES,
    PHASE_LEARN,
    PHASE_RANDOM,
    PHASE_RETRIEVE_HIDDEN,
    PHASE_RETRIEVE_OUTPUT,
    NetworkConfig,
    _draw_network,
    _network_from_seeds,
    _random_top,
    _select_top,
    learn,
    preset,
    retrieve,
    step_key,
)
from .patterns import _cue_rows, _random_rows, _tree_rows, splitmix64
from .rng import trial_generator

__all__ = [
    "ProtocolConfig",
    "protocol_preset",
    "TrialResult",
    "run_trials",
    "run_trials_cached",
    "trial_seeds4",
    "compile_kernels",
]

DATA_KINDS = ("random", "tree")
ENGINES = ("fast", "reference")
_UNIFORM_SALT = np.uint64(0x5851F42D4C957F2D)


@dataclass(frozen=True)
class ProtocolConfig:
    """Sizes and data of one trial (spec §2.1-2.3, §3).

    n_burn_in B, n_eval E, n_pseudo P (>= E; paper-time P = E + 1, the extra one unpaired);
    cue_fraction c in (0, 1] (cue keeps floor(c s) bits); data "random" or "tree" (needs flips b);
    uniform_baseline: also retrieve E never-learned unstructured patterns (spec §3);
    tree_nodes: size of the tree (None: paper-time 7 n_mem for 3 n_mem + 1 leaves, i.e.
    ceil(7 (B+E+P-1)/3)).
    """

    n_burn_in: int = 2000
    n_eval: int = 2000
    n_pseudo: int = 2001
    cue_fraction: float = 1.0
    data: str = "random"
    flips: int | None = None
    uniform_baseline: bool = False
    tree_nodes: int | None = None

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("n_burn_in", check_int("n_burn_in", self.n_burn_in, 0))
        set_("n_eval", check_int("n_eval", self.n_eval, 1))
        set_("n_pseudo", check_int("n_pseudo", self.n_pseudo, self.n_eval))
        set_("cue_fraction", check_float("cue_fraction", self.cue_fraction, 0.0, 1.0, lo_open=True))
        check_choice("data", self.data, DATA_KINDS)
        if self.data == "tree":
            if self.flips is None:
                raise ConfigError("flips=None: data='tree' needs the number of bit flips b")
            set_("flips", check_int("flips", self.flips, 0))
        elif self.flips is not None:
            raise ConfigError(f"flips={self.flips!r} only applies to data='tree'")
        if not isinstance(self.uniform_baseline, (bool, np.bool_)):
            raise ConfigError(f"uniform_baseline={self.uniform_baseline!r} must be True or False")
        if self.tree_nodes is not None:
            set_("tree_nodes", check_int("tree_nodes", self.tree_nodes, 1))

    @property
    def n_pool(self) -> int:
        return self.n_burn_in + self.n_eval + self.n_pseudo

    @property
    def tree_size(self) -> int:
        return _pat.default_tree_nodes(self.n_pool) if self.tree_nodes is None else self.tree_nodes

    def replace(self, **overrides) -> "ProtocolConfig":
        return dataclasses.replace(self, **overrides)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["tree_nodes"] = self.tree_size if self.data == "tree" else self.tree_nodes
        return d


def protocol_preset(name: str = "paper", **overrides) -> ProtocolConfig:
    """``"paper"``: B = E = 2000, P = 2001 (default). ``"later"``: B = 3000, E = 1000, P = E and a
    tree of 3 (B + 2E) steps (spec §2.2). Overrides (None values ignored) replace fields; under
    "later", P and tree_nodes follow the overridden sizes unless given."""
    check_choice("protocol", name, ("paper", "later"))
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if name == "paper":
        base = dict(n_burn_in=2000, n_eval=2000, n_pseudo=None)
        base.update(overrides)
        if base["n_pseudo"] is None:
            base["n_pseudo"] = check_int("n_eval", base["n_eval"], 1) + 1
        return ProtocolConfig(**base)
    base = dict(n_burn_in=3000, n_eval=1000, n_pseudo=None, tree_nodes=None)
    base.update(overrides)
    if base["n_pseudo"] is None:
        base["n_pseudo"] = base["n_eval"]
    if base["tree_nodes"] is None:
        b_, e_ = check_int("n_burn_in", base["n_burn_in"], 0), check_int("n_eval", base["n_eval"], 1)
        base["tree_nodes"] = 3 * (b_ + 2 * e_) + 1
    return ProtocolConfig(**base)


@dataclass
class TrialResult:
    """Results of T trials, AGE 1 FIRST along the last axis (column a-1 = memory of age a).

    acc_real, acc_pseudo: (T, E) retrieval accuracy of each memory and of its paired pseudo-pattern;
    acc_uniform: (T, E) or None, the unstructured baseline (spec §3);
    trace: (T, E), per memory the mean over its learning-time winners of eps (1-eps)^m_u, m_u =
    later wins of unit u (1-winner MHN: 1 if its unit was never overwritten, else 0);
    hidden_usage: (T, n_h) wins per hidden unit over burn-in + evaluated learning;
    config: everything that determined the run.
    """

    acc_real: np.ndarray
    acc_pseudo: np.ndarray
    acc_uniform: np.ndarray | None
    trace: np.ndarray
    hidden_usage: np.ndarray
    config: dict

    def to_arrays(self) -> dict:
        arrays = {
            "acc_real": self.acc_real,
            "acc_pseudo": self.acc_pseudo,
            "trace": self.trace,
            "hidden_usage": self.hidden_usage,
        }
        if self.acc_uniform is not None:
            arrays["acc_uniform"] = self.acc_uniform
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict, config: dict) -> "TrialResult":
        return cls(arrays["acc_real"], arrays["acc_pseudo"], arrays.get("acc_uniform"), arrays["trace"],
                   arrays["hidden_usage"], config)


# ----------------------------------------------------------------- shared per-trial draws
def trial_seeds4(seed: int, trial: int, stream="") -> np.ndarray:
    """The four uint64 seeds (data, network, cues, ties) of one trial."""
    return trial_generator(seed, trial, stream).integers(0, 2**64, size=4, dtype=np.uint64)


@nb.njit(cache=True)
def _trial_data(data_kind, seed, n_pool, n_uniform, n_i, s, b, tree_nodes, max_attempts):
    """(pool (n_pool, s), uniform (n_uniform, s), ok) for one trial; ok=False: too few leaves."""
    ok = True
    if data_kind == 0:
        pool = _random_rows(seed, n_pool, n_i, s)
    else:
        pool, attempts, found = _tree_rows(seed, n_pool, tree_nodes, n_i, s, b, max_attempts)
        if pool.shape[0] == 0:
            ok = False
            pool = np.zeros((n_pool, s), dtype=np.int32)
    uni = _random_rows(splitmix64(seed ^ _UNIFORM_SALT), n_uniform, n_i, s)
    return pool, uni, ok


@nb.njit(cache=True)
def _trial_data_py(data_kind, seed, n_pool, n_uniform, n_i, s, b, tree_nodes, max_attempts):
    """Python-facing entry of :func:`_trial_data` (see the note in :mod:`slotless.patterns`)."""
    return _trial_data(data_kind, seed, n_pool, n_uniform, n_i, s, b, tree_nodes, max_attempts)


@nb.njit(cache=True)
def _targets_py(pool, uni, B, E):
    return _targets(pool, uni, B, E)


@nb.njit(cache=True)
def _targets(pool, uni, B, E):
    """Rows to retrieve: the E evaluated, the first E pseudo, then the uniform patterns."""
    return np.concatenate((pool[B:B + 2 * E], uni))


# ------------------------------------------------------------------------- fast engine
@nb.njit(cache=True)
def _pow_table(eps, n):
    """pw[m] = eps (1 - eps)^m for m < n, by repeated multiplication (same in both engines)."""
    pw = np.empty(n, dtype=np.float64)
    f = 1.0
    for m in range(n):
        pw[m] = eps * f
        f *= 1.0 - eps
    return pw


@nb.njit(cache=True)
def _pow_table_py(eps, n):
    return _pow_table(eps, n)


@nb.njit(cache=True)
def _drive(active, off, c_unit, wcsr, dense, h, zero):
    """h = W_xy x for the active inputs ``active`` (ascending), input by input.

    With f = 1 (``dense``) every input feeds all units in order, so the inner loop is one
    contiguous (vectorised) add; the per-unit summation order is the same either way."""
    h[:] = zero
    n_h = h.shape[0]
    for a in range(active.shape[0]):
        i = active[a]
        if dense:
            h += wcsr[off[i]:off[i] + n_h]
        else:
            for e in range(off[i], off[i + 1]):
                h[c_unit[e]] += wcsr[e]


@nb.njit(cache=True)
def _fast_trial(pool, targets, cues, idx, u1, u2, B, E, n_i, k, s, lowest, random_rule, prm, eps64, tie_seed,
                acc, trace, usage):
    """One trial on the existing connections only. Writes acc (R,), trace (E,), usage (n_h,).

    Forward weights are stored in CSR order (grouped by input, units ascending), so the drive of an
    active input reads one contiguous run; ``emap[u, j]`` locates unit u's j-th connection in it.
    Return weights are stored per unit, ``wyx[u, j] = W_yx[idx[u, j], u]``.
    """
    n_h, phi = idx.shape
    dense = phi == n_i
    eps = prm[0]
    keep = prm[1]
    one = prm[2]
    zero = prm[3]
    off = np.zeros(n_i + 1, dtype=np.int64)
    for u in range(n_h):
        for j in range(phi):
            off[idx[u, j] + 1] += 1
    for i in range(n_i):
        off[i + 1] += off[i]
    fill = off[:-1].copy()
    c_unit = np.empty(n_h * phi, dtype=np.int32)
    emap = np.empty((n_h, phi), dtype=np.int64)
    wcsr = np.empty(n_h * phi, dtype=prm.dtype)
    wyx = np.empty((n_h, phi), dtype=prm.dtype)
    for u in range(n_h):
        for j in range(phi):
            i = idx[u, j]
            e = fill[i]
            c_unit[e] = u
            emap[u, j] = e
            wcsr[e] = u1[u, j]
            wyx[u, j] = u2[u, j]
            fill[i] = e + 1
    h = np.zeros(n_h, dtype=prm.dtype)
    hbuf = np.empty(n_h, dtype=prm.dtype)
    o = np.zeros(n_i, dtype=prm.dtype)
    obuf = np.empty(n_i, dtype=prm.dtype)
    prbuf = np.empty(2 * n_h, dtype=np.uint64)
    tau = np.full(3, -np.inf)  # selection thresholds: learn, retrieve-hidden, retrieve-output
    xmark = np.zeros(n_i, dtype=np.bool_)
    win = np.empty(k, dtype=np.int64)
    sel = np.empty(s, dtype=np.int64)
    win_eval = np.empty((E, k), dtype=np.int64)
    count_at = np.empty((E, k), dtype=np.int64)
    n_learn = B + E
    for t in range(n_learn):
        x = pool[t]
        if random_rule:
            _random_top(n_h, k, step_key(tie_seed, PHASE_RANDOM, t), win, prbuf)
        else:
            _drive(x, off, c_unit, wcsr, dense, h, zero)
            _select_top(h, k, lowest, step_key(tie_seed, PHASE_LEARN, t), win, hbuf, tau[0:1])
        for a in range(x.shape[0]):
            xmark[x[a]] = True
        for r in range(k):
            u = win[r]
            for j in range(phi):
                xv = one if xmark[idx[u, j]] else zero
                e = emap[u, j]
                wcsr[e] = keep * wcsr[e] + eps * xv
                wyx[u, j] = keep * wyx[u, j] + eps * xv
            usage[u] += 1
        for a in range(x.shape[0]):
            xmark[x[a]] = False
        if t >= B:
            for r in range(k):
                win_eval[t - B, r] = win[r]
                count_at[t - B, r] = usage[win[r]]
    pw = _pow_table(eps64, n_learn + 1)
    for j in range(E):
        tot = 0.0
        for r in range(k):
            tot += pw[usage[win_eval[j, r]] - count_at[j, r]]
        trace[j] = tot / k
    n_ret = cues.shape[0]
    for q in range(n_ret):
        c = cues[q]
        _drive(c, off, c_unit, wcsr, dense, h, zero)
        _select_top(h, k, lowest, step_key(tie_seed, PHASE_RETRIEVE_HIDDEN, q), win, hbuf, tau[1:2])
        o[:] = zero
        for r in range(k):
            u = win[r]
            if dense:  # f = 1: idx[u, j] = j, a contiguous (vectorised) add
                o += wyx[u]
            else:
                for j in range(phi):
                    o[idx[u, j]] += wyx[u, j]
        _select_top(o, s, lowest, step_key(tie_seed, PHASE_RETRIEVE_OUTPUT, q), sel, obuf, tau[2:3])
        x = targets[q]
        for a in range(x.shape[0]):
            xmark[x[a]] = True
        hit = 0
        for a in range(s):
            if xmark[sel[a]]:
                hit += 1
        for a in range(x.shape[0]):
            xmark[x[a]] = False
        acc[q] = hit / s


@nb.njit(cache=True, parallel=True)
def _fast_kernel(seeds, data_kind, B, E, P, n_uni, n_i, s, b, tree_nodes, max_attempts, n_h, phi, k, m,
                 lowest, random_rule, prm, eps64, acc, trace, usage, ok):
    T = seeds.shape[0]
    for t in nb.prange(T):
        pool, uni, good = _trial_data(data_kind, seeds[t, 0], B + E + P, n_uni, n_i, s, b, tree_nodes,
                                      max_attempts)
        ok[t] = good
        if not good:
            continue
        targets = _targets(pool, uni, B, E)
        cues = _cue_rows(seeds[t, 2], targets, m)
        idx, u1, u2 = _draw_network(seeds[t, 1], n_h, n_i, phi)
        _fast_trial(pool, targets, cues, idx, u1, u2, B, E, n_i, k, s, lowest, random_rule, prm, eps64, seeds[t, 3],
                    acc[t], trace[t], usage[t])


# --------------------------------------------------------------------- readable engine
def _readable_trial(cfg: NetworkConfig, proto: ProtocolConfig, seeds, dtype, m, data_kind, b, n_uni):
    B, E = proto.n_burn_in, proto.n_eval
    pool, uni, ok = _trial_data_py(data_kind, seeds[0], proto.n_pool, n_uni, cfg.n_input, cfg.active, b,
                                proto.tree_size, _pat.MAX_TREE_ATTEMPTS)
    if not ok:
        return None
    targets = _targets_py(pool, uni, B, E)
    cues = _pat._cue_rows_py(seeds[2], targets, m)
    net = _network_from_seeds(cfg, seeds[1], seeds[3], dtype)
    dense_pool = _pat.to_dense(pool[: B + E], cfg.n_input)
    win_eval, count_at = [], []
    for t in range(B + E):
        winners = learn(net, dense_pool[t])
        if t >= B:
            win_eval.append(winners)
            count_at.append(net.wins[winners].copy())
    eps = float(cfg.epsilon)
    later = net.wins[np.array(win_eval)] - np.array(count_at)  # (E, k) later wins of each winner
    weights = _pow_table_py(eps, B + E + 1)[later]  # eps (1 - eps)^m_u
    trace = np.zeros(E)
    for r in range(cfg.winners):  # summed in winner order, as the fast engine does
        trace += weights[:, r]
    trace /= cfg.winners
    x_hat = retrieve(net, _pat.to_dense(cues, cfg.n_input))
    acc = (x_hat & _pat.to_dense(targets, cfg.n_input)).sum(axis=1) / cfg.active
    return acc, trace, net.wins.copy()


# ------------------------------------------------------------------------------ driver
def _as_network(network) -> NetworkConfig:
    if isinstance(network, str):
        return preset(network)
    if not isinstance(network, NetworkConfig):
        raise ConfigError(f"network={network!r} must be a NetworkConfig or a preset name")
    return network


def _run_config(cfg, proto, trials, seed, stream, first_trial, dtype, engine) -> dict:
    return {
        "network": cfg.as_dict(),
        "protocol": proto.as_dict(),
        "trials": trials,
        "seed": seed,
        "stream": stream,
        "first_trial": first_trial,
        "dtype": dtype,
        "engine": engine,
    }


def _validate(network, protocol, trials, seed, stream, first_trial, dtype, chunk_size, engine):
    cfg = _as_network(network)
    if not isinstance(protocol, ProtocolConfig):
        raise ConfigError(f"protocol={protocol!r} must be a ProtocolConfig (see protocol_preset)")
    trials = check_int("trials", trials, 1)
    seed = check_int("seed", seed, 0)
    first_trial = check_int("first_trial", first_trial, 0)
    if not isinstance(stream, (str, int)) or isinstance(stream, bool):
        raise ConfigError(f"stream={stream!r} must be a string or an integer")
    try:
        dtype = str(np.dtype(dtype))
    except TypeError:
        pass
    dtype = check_choice("dtype", dtype, DTYPES)
    engine = check_choice("engine", engine, ENGINES)
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, 1)
    if protocol.data == "tree":
        hi = min(cfg.active, cfg.n_input - cfg.active)
        check_int("flips", protocol.flips, 0, hi)
    _pat.cue_size(protocol.cue_fraction, cfg.active)
    return cfg, trials, seed, first_trial, dtype, engine, chunk_size


def run_trials(network, protocol: ProtocolConfig, trials: int, seed: int, stream="", *, first_trial: int = 0,
               dtype: str = "float32", chunk_size: int | None = None, progress: bool = False,
               engine: str = "fast") -> TrialResult:
    """Run ``trials`` independent trials of ``protocol`` on fresh networks of ``network``.

    network: a :class:`NetworkConfig` or a preset name ("kwinner", "kwinner-alt", "mhn").
    Trial t uses ``trial_generator(seed, first_trial + t, stream)``, so its result does not depend on
    chunk_size, thread count or the other trials of the call. Returns a :class:`TrialResult`
    with (T, E) arrays, age 1 first. ``chunk_size`` (default 64) trials run per compiled call;
    peak memory is about (threads x one trial's scratch) + the outputs.
    """
    cfg, trials, seed, first_trial, dtype, engine, chunk_size = _validate(
        network, protocol, trials, seed, stream, first_trial, dtype, chunk_size, engine)
    B, E, P = protocol.n_burn_in, protocol.n_eval, protocol.n_pseudo
    m = _pat.cue_size(protocol.cue_fraction, cfg.active)
    data_kind = 0 if protocol.data == "random" else 1
    b = protocol.flips if protocol.data == "tree" else 0
    n_uni = E if protocol.uniform_baseline else 0
    R = 2 * E + n_uni
    acc = np.zeros((trials, R), dtype=np.float64)
    trace = np.zeros((trials, E), dtype=np.float64)
    usage = np.zeros((trials, cfg.n_hidden), dtype=np.int64)
    seeds = np.stack([trial_seeds4(seed, first_trial + t, stream) for t in range(trials)])
    chunk = chunk_size or 64
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=trials, desc=f"{protocol.data} trials", unit="trial")
    try:
        if engine == "fast":
            np_dtype = np.dtype(dtype)
            prm = np.array([cfg.epsilon, 1.0 - cfg.epsilon, 1.0, 0.0], dtype=np_dtype)
            ok = np.ones(trials, dtype=np.bool_)
            for lo in range(0, trials, chunk):
                hi = min(trials, lo + chunk)
                _fast_kernel(seeds[lo:hi], data_kind, B, E, P, n_uni, cfg.n_input, cfg.active, b,
                             protocol.tree_size, _pat.MAX_TREE_ATTEMPTS, cfg.n_hidden, cfg.fan_in_count,
                             cfg.winners, m, cfg.tie_break == "lowest_index", cfg.winner_rule == "random", prm, float(cfg.epsilon),
                             acc[lo:hi], trace[lo:hi], usage[lo:hi], ok[lo:hi])
                if bar is not None:
                    bar.update(hi - lo)
            bad = np.flatnonzero(~ok)
        else:
            bad = []
            for t in range(trials):
                out = _readable_trial(cfg, protocol, seeds[t], dtype, m, data_kind, b, n_uni)
                if out is None:
                    bad.append(t)
                    continue
                acc[t], trace[t], usage[t] = out
                if bar is not None:
                    bar.update(1)
        if len(bad):
            raise ConfigError(
                f"tree_nodes={protocol.tree_size}: trial {first_trial + int(bad[0])} found too few leaves for "
                f"{protocol.n_pool} patterns after {_pat.MAX_TREE_ATTEMPTS} regrowths; grow a larger tree"
            )
    finally:
        if bar is not None:
            bar.close()
    # learning order -> age 1 first
    acc_real = acc[:, :E][:, ::-1].copy()
    acc_pseudo = acc[:, E:2 * E][:, ::-1].copy()
    acc_uniform = acc[:, 2 * E:][:, ::-1].copy() if n_uni else None
    config = _run_config(cfg, protocol, trials, seed, stream, first_trial, dtype, engine)
    return TrialResult(acc_real, acc_pseudo, acc_uniform, trace[:, ::-1].copy(), usage, config)


def run_trials_cached(network, protocol: ProtocolConfig, trials: int, seed: int, stream="", *,
                      first_trial: int = 0, dtype: str = "float32", chunk_size: int | None = None,
                      progress: bool = False, engine: str = "fast"):
    """:func:`run_trials` through :func:`slotless.io.cached_arrays` (keyed by network, protocol,
    seed, stream, trial range, dtype and engine, plus the package source). Returns
    ``(TrialResult, from_cache)``. Caching is off unless ``SLOTLESS_CACHE`` is set."""
    cfg, trials, seed, first_trial, dtype, engine, chunk_size = _validate(
        network, protocol, trials, seed, stream, first_trial, dtype, chunk_size, engine)
    config = _run_config(cfg, protocol, trials, seed, stream, first_trial, dtype, engine)
    config["kind"] = "slotless.protocol.run_trials"

    def compute():
        return run_trials(cfg, protocol, trials, seed, stream, first_trial=first_trial, dtype=dtype,
                          chunk_size=chunk_size, progress=progress, engine=engine).to_arrays()

    arrays, from_cache = cached_arrays(config, compute)
    config.pop("kind")
    return TrialResult.from_arrays(arrays, config), from_cache


def compile_kernels(dtypes=("float32", "float64")) -> None:
    """Compile (or load from numba's on-disk cache) every fast kernel, on a tiny run.

    Call it once before starting several processes that use the engine (``make test``
    does), so they load the cache instead of compiling concurrently.
    """
    from . import models, task  # Part II's storage kernel (imports torch, so only here)

    network = NetworkConfig(20, 10, 4, 0.5, 2, 0.5)
    for dtype in dtypes:
        run_trials(network, ProtocolConfig(5, 5, 5), 1, 0, dtype=dtype)
        run_trials(network, ProtocolConfig(5, 5, 5, data="tree", flips=1), 1, 0, dtype=dtype)
        config = models.MHNConfig(letters=2, context=2, hidden=4)
        generators = models.torch_generators(0, 1, "compile")
        slow = models.init_mhn(config, generators, dtype)
        X = task.encode(task.draw_sequences(2, 2, 1, np.random.default_rng(0)), 2, models._dtype(dtype))[0]
        init = models.draw_fast_init(config, 1, generators, dtype)
        models.mhn_store(config, slow.W_K, slow.W_V, X, *init, W_items=models.item_projections(config, dtype))
