"""The K-winner modern Hopfield network, and the 1-winner MHN as its k = 1, f = 1, eps = 1 case.

Book: {ref}`ch-kwinner` builds one network step by step with the readable functions of this
module; {ref}`ch-methods` specifies the model (``eq-methods-init``, ``eq-methods-forward``,
``eq-methods-update``, ``eq-methods-ties``, ``eq-methods-random-winners``) and lists the presets
(``tbl-methods-memory``). This module holds

- :class:`NetworkConfig` and :data:`PRESETS`, the one table of Part I network settings: ``"kwinner"``
  (the main K-winner), ``"kwinner-alt"`` (the alternative setting) and ``"mhn"`` (the parameter-matched
  1-winner MHN). The CLI, the book and the benchmark all use these names;
- the **readable** path in plain NumPy (one network, dense matrices): :func:`init_network`,
  :func:`hidden_drive`, :func:`select_winners`, :func:`learn`, :func:`output`, :func:`retrieve`.
  The fast engine (:mod:`slotless.memory.kernels`) is tested equal to it, bit for bit.

Update rule (``eq-methods-update``). For each winner u and existing connection i of u:
``w <- (1 - eps) * w + eps * x_i`` on both ``W_xy[u, i]`` and ``W_yx[i, u]``, which is ``w += eps (x_i - w)``
written so that eps = 1 overwrites exactly (``0*w + 1*x = x``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from dataclasses import replace as _dc_replace

import numpy as np

from ..checks import ConfigError, check_choice, check_float, check_int, check_integer_product
from . import kernels
from .kernels import PHASE_LEARN, PHASE_RANDOM, PHASE_RETRIEVE_HIDDEN, PHASE_RETRIEVE_OUTPUT, step_key

__all__ = [
    "NetworkConfig",
    "PRESETS",
    "WINNER_RULES",
    "TIE_BREAKS",
    "DTYPES",
    "preset",
    "Network",
    "init_network",
    "network_from_seeds",
    "hidden_drive",
    "select_winners",
    "learn",
    "output",
    "retrieve",
    "tie_priority",
    "step_key",
    "PHASE_LEARN",
    "PHASE_RANDOM",
    "PHASE_RETRIEVE_HIDDEN",
    "PHASE_RETRIEVE_OUTPUT",
]

WINNER_RULES = ("topk", "random")
TIE_BREAKS = ("random", "lowest_index")
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class NetworkConfig:
    """A runset (n_i, n_h, s, f, k, eps) plus the learning winner rule and the tie-break
    (``eq-methods-ties``, ``eq-methods-random-winners``).

    n_input: input (= output) units n_i; n_hidden: hidden units n_h; active: ones per pattern s;
    fan_in: fraction f, each hidden unit has phi = f*n_i inputs (must be an integer);
    winners: k; epsilon: learning rate in (0, 1];
    winner_rule: "topk" (the model) or "random" (control: k random winners during learning);
    tie_break: "random" (default, ``eq-methods-ties``) or "lowest_index".
    """

    n_input: int
    n_hidden: int
    active: int
    fan_in: float
    winners: int
    epsilon: float
    winner_rule: str = "topk"
    tie_break: str = "random"

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        n_input = check_int("n_input", self.n_input, 1)
        set_("n_input", n_input)
        set_("n_hidden", check_int("n_hidden", self.n_hidden, 1))
        set_("active", check_int("active", self.active, 1, n_input))
        set_("fan_in", check_float("fan_in", self.fan_in, 0.0, 1.0, lo_open=True))
        check_integer_product("fan_in", self.fan_in, n_input)
        set_("winners", check_int("winners", self.winners, 1, self.n_hidden))
        set_("epsilon", check_float("epsilon", self.epsilon, 0.0, 1.0, lo_open=True))
        check_choice("winner_rule", self.winner_rule, WINNER_RULES)
        check_choice("tie_break", self.tie_break, TIE_BREAKS)

    @property
    def fan_in_count(self) -> int:
        """phi = f * n_i, the number of input connections of each hidden unit."""
        return check_integer_product("fan_in", self.fan_in, self.n_input)

    @property
    def connections(self) -> int:
        """n_h * phi connections per direction."""
        return self.n_hidden * self.fan_in_count

    def replace(self, **overrides) -> "NetworkConfig":
        """A copy with some fields changed (validated again)."""
        return _dc_replace(self, **overrides)

    def as_dict(self) -> dict:
        return {
            "n_input": self.n_input,
            "n_hidden": self.n_hidden,
            "active": self.active,
            "fan_in": self.fan_in,
            "winners": self.winners,
            "epsilon": self.epsilon,
            "winner_rule": self.winner_rule,
            "tie_break": self.tie_break,
        }


#: The Part I network settings, one table (``tbl-methods-memory``): the main K-winner, the
#: alternative K-winner and the parameter-matched 1-winner MHN, each with n_h f n_i = 10^5
#: connections per direction.
PRESETS = {
    "kwinner": NetworkConfig(1000, 2000, 100, 0.05, 50, 0.3),
    "kwinner-alt": NetworkConfig(1000, 1000, 100, 0.1, 50, 0.3),
    "mhn": NetworkConfig(1000, 100, 100, 1.0, 1, 1.0),
}


def preset(name: str, **overrides) -> NetworkConfig:
    """``PRESETS[name]`` with explicit overrides (None values are ignored).
    Book: ``tbl-methods-memory`` ({ref}`ch-kwinner`).
    """
    check_choice("model", name, tuple(PRESETS))
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]



def tie_priority(key, units) -> np.ndarray:
    """uint64 hash priority of ``units`` under ``key`` (vectorised splitmix64(key + unit)).
    Book: ``eq-methods-ties`` ({ref}`ch-kwinner`).
    """
    z = np.uint64(key) + np.asarray(units, dtype=np.uint64)
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@dataclass(eq=False)
class Network:
    """One K-winner MHN with dense weights (readable path).

    mask: (n_h, n_i) bool; w_xy: (n_h, n_i); w_yx: (n_i, n_h), exactly 0 off the mask;
    idx: (n_h, phi) int32, the inputs of each hidden unit (ascending);
    tie_seed: uint64 base of the tie/random-winner keys; n_learned / n_retrieved: step counters
    that feed the keys (so a sequence of calls is reproducible).
    Book: ``eq-methods-init`` ({ref}`ch-kwinner`).
    """

    config: NetworkConfig
    mask: np.ndarray
    w_xy: np.ndarray
    w_yx: np.ndarray
    idx: np.ndarray
    tie_seed: np.uint64
    n_learned: int = 0
    n_retrieved: int = 0
    wins: np.ndarray = field(default=None)

    @property
    def dtype(self):
        return self.w_xy.dtype


def network_from_seeds(cfg: NetworkConfig, net_seed, tie_seed, dtype="float32") -> Network:
    """A fresh network from two uint64 seeds: ``net_seed`` draws the mask and the initial weights,
    ``tie_seed`` keys the tie-breaks and random winners. Book: ``eq-methods-init`` ({ref}`ch-kwinner`)."""
    check_choice("dtype", str(np.dtype(dtype)), DTYPES)
    idx, u1, u2 = kernels.draw_network(np.uint64(net_seed), cfg.n_hidden, cfg.n_input, cfg.fan_in_count)
    n_h, n_i = cfg.n_hidden, cfg.n_input
    rows = np.repeat(np.arange(n_h), idx.shape[1])
    cols = idx.ravel()
    mask = np.zeros((n_h, n_i), dtype=bool)
    mask[rows, cols] = True
    w_xy = np.zeros((n_h, n_i), dtype=dtype)
    w_yx = np.zeros((n_i, n_h), dtype=dtype)
    w_xy[rows, cols] = u1.ravel()
    w_yx[cols, rows] = u2.ravel()
    return Network(cfg, mask, w_xy, w_yx, idx, np.uint64(tie_seed), wins=np.zeros(n_h, dtype=np.int64))


def init_network(cfg: NetworkConfig, rng: np.random.Generator, dtype: str = "float32") -> Network:
    """A fresh network (``eq-methods-init``, {eq}`eq-kwinner-init`): each hidden unit gets phi = f*n_i inputs uniformly at random,
    W_xy = U1 * A and W_yx = U2 * A^T with independent U[0,1) draws. Two uint64 seeds
    (mask+weights, ties) are drawn from ``rng``."""
    if not isinstance(cfg, NetworkConfig):
        raise ConfigError(f"cfg={cfg!r} must be a NetworkConfig")
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(f"rng={rng!r} must be a numpy.random.Generator")
    seeds = rng.integers(0, 2**64, size=2, dtype=np.uint64)
    return network_from_seeds(cfg, seeds[0], seeds[1], dtype)


def hidden_drive(net: Network, x: np.ndarray) -> np.ndarray:
    """h = W_xy x for one binary input ``x`` (n_i,), shape (n_h,).

    Summed column by column over the active inputs in ascending order (the fast engine
    adds in the same order, so both give bitwise equal drives). Book: ``eq-methods-forward`` ({ref}`ch-kwinner`)."""
    h = np.zeros(net.config.n_hidden, dtype=net.dtype)
    for i in np.flatnonzero(x):
        h += net.w_xy[:, i]
    return h


def select_winners(drive: np.ndarray, k: int, tie_break: str = "random", key=0) -> np.ndarray:
    """Indices (ascending, int64) of the k largest entries of ``drive`` (``eq-methods-ties``).

    Let v_k be the k-th largest value: all entries > v_k are kept and the remaining places are
    filled from the entries == v_k, by the largest ``tie_priority(key, unit)`` (tie_break="random")
    or by lowest index (tie_break="lowest_index")."""
    drive = np.asarray(drive)
    n = drive.shape[0]
    k = check_int("k", k, 1, n)
    check_choice("tie_break", tie_break, TIE_BREAKS)
    if k == n:
        return np.arange(n)
    vk = drive.max() if k == 1 else np.partition(drive, n - k)[n - k]
    above = np.flatnonzero(drive > vk)
    equal = np.flatnonzero(drive == vk)
    need = k - above.size
    if need < equal.size:
        if tie_break == "lowest_index":
            equal = equal[:need]
        else:
            order = np.argsort(tie_priority(key, equal))
            equal = equal[order[equal.size - need:]]
    return np.sort(np.concatenate([above, equal]))


def output(net: Network, winners: np.ndarray) -> np.ndarray:
    """o = W_yx y for the indicator y of ``winners``, shape (n_i,), summed winner by winner
    in ascending order. Book: ``eq-methods-forward`` ({ref}`ch-kwinner`)."""
    o = np.zeros(net.config.n_input, dtype=net.dtype)
    for u in np.sort(winners):
        o += net.w_yx[:, u]
    return o


def learn(net: Network, x: np.ndarray) -> np.ndarray:
    """Present ``x`` (n_i,) once: pick the winners from the CURRENT weights, then move every
    existing connection of each winner toward x (both directions, rate eps). Returns the
    winners (ascending). Non-winners and absent connections never change.
    Book: ``eq-methods-update``, ``eq-methods-random-winners`` ({ref}`ch-kwinner`).
    """
    cfg = net.config
    x = np.asarray(x)
    if x.shape != (cfg.n_input,):
        raise ConfigError(f"x has shape {x.shape}, expected ({cfg.n_input},)")
    step = net.n_learned
    if cfg.winner_rule == "random":
        key = step_key(net.tie_seed, PHASE_RANDOM, step)
        pr = tie_priority(key, np.arange(cfg.n_hidden))
        winners = np.sort(np.argsort(pr)[cfg.n_hidden - cfg.winners:])
    else:
        key = step_key(net.tie_seed, PHASE_LEARN, step)
        winners = select_winners(hidden_drive(net, x), cfg.winners, cfg.tie_break, key)
    eps = net.dtype.type(cfg.epsilon)
    keep = net.dtype.type(1.0 - cfg.epsilon)
    for u in winners:
        cols = net.idx[u]
        target = x[cols].astype(net.dtype)
        net.w_xy[u, cols] = keep * net.w_xy[u, cols] + eps * target
        net.w_yx[cols, u] = keep * net.w_yx[cols, u] + eps * target
    net.wins[winners] += 1
    net.n_learned += 1
    return winners


def retrieve(net: Network, cues: np.ndarray) -> np.ndarray:
    """Frozen retrieval (``eq-methods-forward``) of each row of ``cues`` (n, n_i):
    drive, k-WTA, output, top-s. Returns (n, n_i) uint8 with exactly s ones per row."""
    cfg = net.config
    cues = np.atleast_2d(np.asarray(cues))
    if cues.ndim != 2 or cues.shape[1] != cfg.n_input:
        raise ConfigError(f"cues have shape {cues.shape}, expected (n, {cfg.n_input})")
    out = np.zeros(cues.shape, dtype=np.uint8)
    for r, cue in enumerate(cues):
        step = net.n_retrieved
        winners = select_winners(hidden_drive(net, cue), cfg.winners, cfg.tie_break,
                                 step_key(net.tie_seed, PHASE_RETRIEVE_HIDDEN, step))
        o = output(net, winners)
        chosen = select_winners(o, cfg.active, cfg.tie_break,
                                step_key(net.tie_seed, PHASE_RETRIEVE_OUTPUT, step))
        out[r, chosen] = 1
        net.n_retrieved += 1
    return out
