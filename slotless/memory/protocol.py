"""The continual-learning protocol and its trial engines.

Book: {ref}`ch-methods` specifies the trial (``eq-methods-trial``), the cue and the score
(``eq-methods-cue``, ``eq-methods-accuracy``) and memory age (``eq-methods-age``); {ref}`ch-retention`,
{ref}`ch-structured` and {ref}`ch-controls` run it.

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

- ``engine="fast"``: the whole trial as one compiled loop on the existing connections only
  (:func:`slotless.memory.kernels.run_trial_batch`); trials run in parallel. Per-trial scratch lives
  inside the loop, so peak memory is about (threads x one trial) plus the (T, E) outputs.
- ``engine="readable"``: the dense NumPy path of :mod:`slotless.memory.network`.

Both give bitwise identical results for the same trial (tested), so the readable path is the
ground truth for the fast one. (The straightforward reference implementation that the speed
benchmarks compare against is :mod:`slotless.perf.reference`.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numba
import numpy as np

from ..checks import ConfigError, check_choice, check_float, check_int
from ..io import cached_arrays
from ..rng import trial_generator
from . import kernels
from . import patterns as _pat
from .network import DTYPES, NetworkConfig, learn, network_from_seeds, preset, retrieve

__all__ = [
    "DATA_KINDS",
    "ENGINES",
    "PROTOCOL_PRESETS",
    "ProtocolConfig",
    "protocol_preset",
    "TrialResult",
    "run_trials",
    "run_trials_cached",
    "trial_seeds4",
    "trial_params",
    "check_fits",
]

DATA_KINDS = ("random", "tree")
ENGINES = ("fast", "readable")
#: The protocol size presets of :func:`protocol_preset`.
PROTOCOL_PRESETS = ("paper", "later")


@dataclass(frozen=True)
class ProtocolConfig:
    """Sizes and data of one trial (``eq-methods-trial``, ``eq-methods-tree``).

    n_burn_in B, n_eval E, n_pseudo P (>= E; paper-time P = E + 1, the extra one unpaired);
    cue_fraction c in (0, 1] (cue keeps floor(c s) bits); data "random" or "tree" (needs flips b);
    uniform_baseline: also retrieve E never-learned unstructured patterns (``eq-methods-tree``);
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
    tree of 3 (B + 2E) steps (``sec-methods-protocol``). Overrides (None values ignored) replace fields; under
    "later", P and tree_nodes follow the overridden sizes unless given."""
    check_choice("protocol", name, PROTOCOL_PRESETS)
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
    acc_uniform: (T, E) or None, the unstructured baseline (``eq-methods-tree``);
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


def trial_seeds4(seed: int, trial: int, stream="") -> np.ndarray:
    """The four uint64 seeds (data, network, cues, ties) of one trial. Book: ``sec-methods-seeding``."""
    return trial_generator(seed, trial, stream).integers(0, 2**64, size=4, dtype=np.uint64)


def _bitpacked_applies(cfg: NetworkConfig) -> bool:
    """Whether ``cfg`` is a 1-winner MHN (k = 1, f = 1, eps = 1), which the fast engine runs bit-packed."""
    return cfg.winners == 1 and cfg.fan_in_count == cfg.n_input and cfg.epsilon == 1.0


def trial_params(cfg: NetworkConfig, proto: ProtocolConfig, *, bitpacked: bool = True) -> kernels.TrialParams:
    """The :class:`slotless.memory.kernels.TrialParams` record of ``cfg`` under ``proto``.

    ``bitpacked=False`` keeps a 1-winner MHN on the general path (for the test that holds the two
    equal bit for bit). Book: ``eq-methods-trial``."""
    return kernels.TrialParams(
        data_kind=DATA_KINDS.index(proto.data), n_burn_in=proto.n_burn_in, n_eval=proto.n_eval,
        n_pseudo=proto.n_pseudo, n_uniform=proto.n_eval if proto.uniform_baseline else 0,
        flips=proto.flips if proto.data == "tree" else 0, tree_nodes=proto.tree_size,
        max_attempts=kernels.MAX_TREE_ATTEMPTS, n_input=cfg.n_input, active=cfg.active, n_hidden=cfg.n_hidden,
        fan_in_count=cfg.fan_in_count, winners=cfg.winners, cue_bits=_pat.cue_size(proto.cue_fraction, cfg.active),
        lowest_index=cfg.tie_break == "lowest_index", random_winners=cfg.winner_rule == "random",
        epsilon=float(cfg.epsilon), bitpacked=bitpacked and _bitpacked_applies(cfg))


def _readable_trial(cfg: NetworkConfig, proto: ProtocolConfig, p: kernels.TrialParams, seeds, dtype):
    """One trial on the readable path: ``(acc, trace, usage)`` as the fast engine writes them, or None."""
    B, E = p.n_burn_in, p.n_eval
    pool, uni, ok = kernels.trial_data(p.data_kind, seeds[0], proto.n_pool, p.n_uniform, p.n_input, p.active, p.flips,
                                       p.tree_nodes, p.max_attempts)
    if not ok:
        return None
    targets = kernels.retrieval_targets(pool, uni, B, E)
    cues = kernels.cue_rows(seeds[2], targets, p.cue_bits)
    net = network_from_seeds(cfg, seeds[1], seeds[3], dtype)
    dense_pool = _pat.to_dense(pool[: B + E], cfg.n_input)
    win_eval, count_at = [], []
    for t in range(B + E):
        winners = learn(net, dense_pool[t])
        if t >= B:
            win_eval.append(winners)
            count_at.append(net.wins[winners].copy())
    eps = float(cfg.epsilon)
    later = net.wins[np.array(win_eval)] - np.array(count_at)  # (E, k) later wins of each winner
    weights = kernels.pow_table(eps, B + E + 1)[later]  # eps (1 - eps)^m_u
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
    check_fits(cfg, protocol)
    return cfg, trials, seed, first_trial, dtype, engine, chunk_size


def check_fits(network: NetworkConfig, protocol: ProtocolConfig) -> None:
    """Raise :class:`ConfigError` unless ``protocol`` can run on ``network``: the cue keeps a whole number of
    the ``active`` ones (``eq-methods-trial``) and, for tree data, the flips per edge fit the pattern
    (``eq-methods-tree``: at most ``min(s, n_i - s)``)."""
    if protocol.data == "tree":
        check_int("flips", protocol.flips, 0, min(network.active, network.n_input - network.active))
    _pat.cue_size(protocol.cue_fraction, network.active)


def run_trials(network, protocol: ProtocolConfig, trials: int, seed: int, stream="", *, first_trial: int = 0,
               dtype: str = "float32", chunk_size: int | None = None, progress: bool = False,
               engine: str = "fast", _bitpacked: bool = True) -> TrialResult:
    """Run ``trials`` independent trials of ``protocol`` on fresh networks of ``network``.

    network: a :class:`NetworkConfig` or a preset name ("kwinner", "kwinner-alt", "mhn").
    Trial t uses ``trial_generator(seed, first_trial + t, stream)``, so its result does not depend on
    chunk_size, thread count or the other trials of the call. Returns a :class:`TrialResult`
    with (T, E) arrays, age 1 first. ``chunk_size`` trials run per compiled call (default: one per
    thread, so that Ctrl-C, which Python sees between calls, stops a run within about one trial's time);
    peak memory is about (threads x one trial's scratch) + the outputs.
    A 1-winner MHN runs on bit-packed patterns (same results; ``_bitpacked=False``, for tests only, forces
    the general path). Book: ``eq-methods-trial`` ({ref}`ch-retention`).
    """
    cfg, trials, seed, first_trial, dtype, engine, chunk_size = _validate(
        network, protocol, trials, seed, stream, first_trial, dtype, chunk_size, engine)
    params = trial_params(cfg, protocol, bitpacked=_bitpacked)
    E = protocol.n_eval
    acc = np.zeros((trials, 2 * E + params.n_uniform), dtype=np.float64)
    trace = np.zeros((trials, E), dtype=np.float64)
    usage = np.zeros((trials, cfg.n_hidden), dtype=np.int64)
    seeds = np.stack([trial_seeds4(seed, first_trial + t, stream) for t in range(trials)])
    chunk = chunk_size or max(1, numba.get_num_threads())
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=trials, desc=f"{protocol.data} trials", unit="trial")
    try:
        if engine == "fast":
            prm = np.array([cfg.epsilon, 1.0 - cfg.epsilon, 1.0, 0.0], dtype=np.dtype(dtype))
            ok = np.ones(trials, dtype=np.bool_)
            index_proto = np.empty(0, dtype=kernels.index_type(cfg.n_hidden, cfg.n_input))
            for lo in range(0, trials, chunk):
                hi = min(trials, lo + chunk)
                kernels.run_trial_batch(seeds[lo:hi], params, prm, acc[lo:hi], trace[lo:hi], usage[lo:hi], ok[lo:hi],
                                        index_proto)
                if bar is not None:
                    bar.update(hi - lo)
            bad = np.flatnonzero(~ok)
        else:
            bad = []
            for t in range(trials):
                out = _readable_trial(cfg, protocol, params, seeds[t], dtype)
                if out is None:
                    bad.append(t)
                    continue
                acc[t], trace[t], usage[t] = out
                if bar is not None:
                    bar.update(1)
        if len(bad):
            raise ConfigError(
                f"tree_nodes={protocol.tree_size}: trial {first_trial + int(bad[0])} found too few leaves for "
                f"{protocol.n_pool} patterns after {kernels.MAX_TREE_ATTEMPTS} regrowths; grow a larger tree"
            )
    finally:
        if bar is not None:
            bar.close()
    # learning order -> age 1 first
    acc_real = acc[:, :E][:, ::-1].copy()
    acc_pseudo = acc[:, E:2 * E][:, ::-1].copy()
    acc_uniform = acc[:, 2 * E:][:, ::-1].copy() if params.n_uniform else None
    config = _run_config(cfg, protocol, trials, seed, stream, first_trial, dtype, engine)
    return TrialResult(acc_real, acc_pseudo, acc_uniform, trace[:, ::-1].copy(), usage, config)


def run_trials_cached(network, protocol: ProtocolConfig, trials: int, seed: int, stream="", *,
                      first_trial: int = 0, dtype: str = "float32", chunk_size: int | None = None,
                      progress: bool = False, engine: str = "fast"):
    """:func:`run_trials` through :func:`slotless.io.cached_arrays` (keyed by network, protocol,
    seed, stream, trial range, dtype and engine, plus the package source). Returns
    ``(TrialResult, from_cache)``. Caching is off unless ``SLOTLESS_CACHE`` is set.
    Book: ``eq-methods-trial`` ({ref}`ch-retention`).
    """
    cfg, trials, seed, first_trial, dtype, engine, chunk_size = _validate(
        network, protocol, trials, seed, stream, first_trial, dtype, chunk_size, engine)
    config = _run_config(cfg, protocol, trials, seed, stream, first_trial, dtype, engine)
    config["kind"] = "slotless.memory.protocol.run_trials"

    def compute():
        return run_trials(cfg, protocol, trials, seed, stream, first_trial=first_trial, dtype=dtype,
                          chunk_size=chunk_size, progress=progress, engine=engine).to_arrays()

    arrays, from_cache = cached_arrays(config, compute)
    config.pop("kind")
    return TrialResult.from_arrays(arrays, config), from_cache


