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
from scipy import stats

from ..checks import ConfigError, check_choice, check_float, check_int, check_integer_product
from . import kernels
from .kernels import PHASE_LEARN, PHASE_RANDOM, PHASE_RETRIEVE_HIDDEN, PHASE_RETRIEVE_OUTPUT, step_key
from .patterns import crp_tree

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
    "MaskCounts",
    "mask_counts",
    "Ensemble",
    "ensemble_of",
    "LearningStep",
    "learn_step",
    "update_rounding_bound",
    "average_rounding_bound",
    "learn_sequence",
    "last_wins",
    "still_held",
    "UsageWindow",
    "usage_window",
    "SymmetryCheck",
    "symmetry_check",
    "ExpAverage",
    "exponential_average",
    "frozen_winners",
    "SharingProbes",
    "ensemble_sharing",
    "retrieval_accuracy",
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


# ------------------------------------------------------------------ one network, step by step
# What {ref}`ch-kwinner` measures on one network: the mask, one pattern's ensemble, one learning step,
# a stream of memories, the exponential-average view and retrieval.
def _unit_roundoff(dtype) -> float:
    return float(np.finfo(np.dtype(dtype)).eps) / 2


@dataclass(frozen=True)
class MaskCounts:
    """Connection counts of a network's mask A (``eq-methods-init``, {ref}`sec-kwinner-mask`).

    fan_in: (n_h,) inputs of each hidden unit (exactly phi = f n_i); fan_out: (n_i,) hidden units
    reading each input, Binomial(n_h, f) under the model; binomial_var: n_h f (1 - f);
    binomial_var_se: the standard error of a sample variance of n_i such counts (normal approximation,
    ``binomial_var * sqrt(2 / (n_i - 1))``).
    """

    fan_in: np.ndarray
    fan_out: np.ndarray
    binomial_var: float
    binomial_var_se: float


def mask_counts(net: Network) -> MaskCounts:
    """:class:`MaskCounts` of ``net`` ({numref}`fig-kwinner-mask`)."""
    cfg = net.config
    var = cfg.n_hidden * cfg.fan_in * (1 - cfg.fan_in)
    return MaskCounts(net.mask.sum(axis=1), net.mask.sum(axis=0), var, var * np.sqrt(2 / (cfg.n_input - 1)))


@dataclass(frozen=True)
class Ensemble:
    """The ensemble one pattern would recruit now (``eq-methods-forward``, {ref}`sec-kwinner-drive`).

    drive: (n_h,) hidden drive h = W_xy x; winners: (k,) ascending, the units learn() would pick for x
    at this step; seen: (n_h,) active inputs of x each unit is connected to (hypergeometric with mean
    ``expected_seen = phi s / n_i`` for a random pattern)."""

    drive: np.ndarray
    winners: np.ndarray
    seen: np.ndarray
    expected_seen: float

    @property
    def others(self) -> np.ndarray:
        """The units outside the ensemble, ascending."""
        return np.setdiff1d(np.arange(self.drive.size), self.winners)

    @property
    def threshold(self) -> float:
        """The k-th largest drive (the smallest drive in the ensemble)."""
        return float(self.drive[self.winners].min())

    @property
    def seen_se(self) -> float:
        """Standard error of the mean of ``seen`` over k units drawn at random (ddof 0)."""
        return float(self.seen.std() / np.sqrt(self.winners.size))


def ensemble_of(net: Network, x: np.ndarray) -> Ensemble:
    """The :class:`Ensemble` of pattern ``x`` (n_i,) in ``net`` (top-k rule, ``eq-methods-forward``, with the
    tie key that :func:`learn` will use at the network's next step; {numref}`fig-kwinner-drive`); nothing changes."""
    cfg = net.config
    x = np.asarray(x)
    drive = hidden_drive(net, x)
    key = step_key(net.tie_seed, PHASE_LEARN, net.n_learned)
    winners = select_winners(drive, cfg.winners, cfg.tie_break, key)
    seen = (net.mask & x.astype(bool)).sum(axis=1)
    return Ensemble(drive, winners, seen, cfg.fan_in_count * cfg.active / cfg.n_input)


def update_rounding_bound(epsilon: float, dtype="float32") -> float:
    """Tolerance of one computed weight change against ``eq-methods-update`` evaluated in float64
    ({ref}`sec-kwinner-learning`): one product and one sum per update and one more unit round-off ``u``
    of ``dtype`` for the difference, ``(3 - eps) u``. The error of storing eps in ``dtype`` (about
    1.2e-8 for float32 at eps = 0.3, times |x_i - w| <= 1) is not included."""
    return (3 - epsilon) * _unit_roundoff(dtype)


def average_rounding_bound(epsilon: float, dtype="float32") -> float:
    """Accumulated rounding error of one weight under repeated updates, ``(2 - eps) u / eps``
    (``u`` the unit round-off of ``dtype``): the tolerance of {eq}`eq-kwinner-expavg` (and twice it of
    {eq}`eq-kwinner-symmetry`), derived in {ref}`sec-kwinner-expavg`."""
    return (2 - epsilon) * _unit_roundoff(dtype) / epsilon


@dataclass(frozen=True)
class LearningStep:
    """One presentation, recorded ({ref}`sec-kwinner-learning`, {numref}`fig-kwinner-update`).

    winners: (k,) ascending; before_xy: (n_h, n_i) W_xy before the step; d_xy: (n_h, n_i) and d_yx:
    (n_i, n_h) the changes of the weights (in the network's dtype); deviation_xy / deviation_yx: the
    largest deviation of the winners' changes from {eq}`eq-kwinner-update` evaluated in float64;
    bound: :func:`update_rounding_bound`; absent_unchanged: no absent connection changed."""

    winners: np.ndarray
    before_xy: np.ndarray
    d_xy: np.ndarray
    d_yx: np.ndarray
    deviation_xy: float
    deviation_yx: float
    bound: float
    absent_unchanged: bool

    @property
    def changed_rows(self) -> np.ndarray:
        """Hidden units whose incoming weights changed."""
        return np.flatnonzero(np.any(self.d_xy != 0, axis=1))

    @property
    def changed_columns(self) -> np.ndarray:
        """Hidden units whose outgoing weights changed."""
        return np.flatnonzero(np.any(self.d_yx != 0, axis=0))


def learn_step(net: Network, x: np.ndarray) -> LearningStep:
    """:func:`learn` ``x`` once and record what changed (:class:`LearningStep`; {eq}`eq-kwinner-update`)."""
    eps = net.config.epsilon
    before_xy, before_yx = net.w_xy.copy(), net.w_yx.copy()
    winners = learn(net, x)
    d_xy, d_yx = net.w_xy - before_xy, net.w_yx - before_yx
    x = np.asarray(x)
    rule_xy = eps * (x[None, :] - before_xy[winners].astype(np.float64)) * net.mask[winners]
    rule_yx = eps * (x[:, None] - before_yx[:, winners].astype(np.float64)) * net.mask.T[:, winners]
    absent_unchanged = bool(np.all(d_xy[~net.mask] == 0) and np.all(d_yx[~net.mask.T] == 0))
    return LearningStep(winners, before_xy, d_xy, d_yx, float(np.abs(d_xy[winners] - rule_xy).max()),
                        float(np.abs(d_yx[:, winners] - rule_yx).max()), update_rounding_bound(eps, net.dtype),
                        absent_unchanged)


def learn_sequence(net: Network, patterns: np.ndarray) -> np.ndarray:
    """:func:`learn` each row of ``patterns`` (n, n_i) in order, one presentation each
    ({ref}`sec-kwinner-stream`). Returns the winners of every step, (n, k) int64."""
    patterns = np.asarray(patterns)
    if patterns.ndim != 2:
        raise ConfigError(f"patterns have shape {patterns.shape}, expected (n, {net.config.n_input})")
    history = np.empty((patterns.shape[0], net.config.winners), dtype=np.int64)
    for t, x in enumerate(patterns):
        history[t] = learn(net, x)
    return history


def _history(history) -> np.ndarray:
    h = np.asarray(history)
    if h.ndim == 1:
        h = h[:, None]
    if h.ndim != 2:
        raise ConfigError(f"history has shape {h.shape}: expected (steps,) or (steps, k) winners")
    return h


def last_wins(history, n_hidden: int) -> np.ndarray:
    """The last step at which each hidden unit won, (n_hidden,) int64, -1 if never
    ({ref}`sec-kwinner-expavg`: a 1-winner unit holds the pattern of its last win). ``history``:
    (steps,) or (steps, k) winners per step, learning order."""
    h = _history(history)
    last = np.full(check_int("n_hidden", n_hidden, 1), -1, dtype=np.int64)
    steps = np.repeat(np.arange(h.shape[0]), h.shape[1])
    np.maximum.at(last, h.ravel(), steps)
    return last


def still_held(history) -> np.ndarray:
    """For the 1-winner MHN: whether each memory's unit has not won since, (steps,) bool in learning
    order ({ref}`sec-kwinner-retrieval`). ``history``: (steps,) the winner of each step."""
    h = np.asarray(history)
    if h.ndim != 1:
        raise ConfigError(f"history has shape {h.shape}: still_held needs one winner per step (the 1-winner MHN)")
    return last_wins(h, int(h.max()) + 1 if h.size else 1)[h] == np.arange(h.size)


@dataclass(frozen=True)
class UsageWindow:
    """How often each hidden unit won during steps ``start..stop-1`` ({ref}`sec-kwinner-usage`).

    counts: (n_h,) wins per unit; steps: window length; p = k / n_h. Under uniformly random
    recruitment a count is Binomial(steps, p)."""

    counts: np.ndarray
    steps: int
    p: float

    @property
    def binomial_var(self) -> float:
        """steps p (1 - p), the variance of the counts under random recruitment."""
        return self.steps * self.p * (1 - self.p)

    @property
    def var_ratio(self) -> float:
        """Sample variance of the counts (ddof 0) over the binomial variance: 1 for random recruitment,
        below 1 for more even usage, above 1 for less even usage."""
        return float(self.counts.var() / self.binomial_var)

    @property
    def ratio_se(self) -> float:
        """Standard error of :attr:`var_ratio` under the binomial law, ``sqrt(2 / (n_h - 1))`` (the
        binomial's excess kurtosis neglected)."""
        return float(np.sqrt(2 / (self.counts.size - 1)))


def usage_window(history, n_hidden: int, start: int, stop: int) -> UsageWindow:
    """:class:`UsageWindow` of steps ``start..stop-1`` of ``history`` ((steps,) or (steps, k) winners;
    {numref}`fig-kwinner-usage`)."""
    h = _history(history)
    stop = check_int("stop", stop, 1, h.shape[0])
    start = check_int("start", start, 0, stop - 1)
    n_hidden = check_int("n_hidden", n_hidden, 1)
    counts = np.bincount(h[start:stop].ravel(), minlength=n_hidden)
    return UsageWindow(counts, stop - start, h.shape[1] / n_hidden)


@dataclass(frozen=True)
class SymmetryCheck:
    """Both sides of {eq}`eq-kwinner-symmetry` for every connection, in float64 ({ref}`sec-kwinner-expavg`).

    measured: (n_h, n_i) W_xy[u, i] - W_yx[i, u]; predicted: (n_h, n_i) (1 - eps)^{m_u} times the same
    difference at initialisation (with the dtype's value of 1 - eps); error: the largest |measured -
    predicted| over existing connections; bound: twice :func:`average_rounding_bound`; unit_roundoff:
    u of the network's dtype (2^-24 for float32)."""

    measured: np.ndarray
    predicted: np.ndarray
    error: float
    bound: float
    unit_roundoff: float


def symmetry_check(net: Network, w0_xy: np.ndarray, w0_yx: np.ndarray) -> SymmetryCheck:
    """:class:`SymmetryCheck` ({eq}`eq-kwinner-symmetry`) of ``net`` against its initial weights ``w0_xy``
    (n_h, n_i) and ``w0_yx`` (n_i, n_h); m_u is ``net.wins``."""
    keep = float(net.dtype.type(1 - net.config.epsilon))
    m = net.wins.astype(np.float64)
    measured = net.w_xy.astype(np.float64) - net.w_yx.T.astype(np.float64)
    predicted = keep ** m[:, None] * (w0_xy.astype(np.float64) - w0_yx.T.astype(np.float64))
    error = float(np.abs(measured - predicted)[net.mask].max())
    return SymmetryCheck(measured, predicted, error, 2 * average_rounding_bound(net.config.epsilon, net.dtype),
                         _unit_roundoff(net.dtype))


@dataclass(frozen=True)
class ExpAverage:
    """{eq}`eq-kwinner-expavg` for every unit at once ({ref}`sec-kwinner-expavg`).

    won: (steps, n_h) bool, unit u won at step t; trace: (steps, n_h) the coefficient
    eps (1-eps)^(later wins of u) of pattern t in unit u (0 where u did not win); predicted: (n_h, n_i)
    W_xy from the initial weights and the traces; error: max |predicted - W_xy|; bound:
    :func:`average_rounding_bound`."""

    won: np.ndarray
    trace: np.ndarray
    predicted: np.ndarray
    error: float
    bound: float


def exponential_average(net: Network, w0_xy: np.ndarray, history, patterns: np.ndarray) -> ExpAverage:
    """:class:`ExpAverage` ({eq}`eq-kwinner-expavg`) of ``net`` after learning ``patterns`` (steps, n_i)
    from initial weights ``w0_xy`` (n_h, n_i); ``history``: (steps, k) winners of every step of the
    network's life."""
    h = _history(history)
    eps = net.config.epsilon
    eps_d, keep_d = float(net.dtype.type(eps)), float(net.dtype.type(1 - eps))
    won = np.zeros((h.shape[0], net.config.n_hidden))
    won[np.arange(h.shape[0])[:, None], h] = 1
    later = np.cumsum(won[::-1], axis=0)[::-1] - won  # wins of u after step t
    trace = won * eps_d * keep_d ** later
    m = net.wins.astype(np.float64)
    predicted = keep_d ** m[:, None] * w0_xy + (trace.T @ np.asarray(patterns)) * net.mask
    return ExpAverage(won.astype(bool), trace, predicted, float(np.abs(predicted - net.w_xy).max()),
                      average_rounding_bound(eps, net.dtype))


def frozen_winners(net: Network, pattern: np.ndarray, probe: int) -> np.ndarray:
    """The winners (ascending) of ``pattern`` in the frozen network, with the random tie key of probe
    number ``probe`` (``eq-methods-ties``; keys of retrieval phase, offset by 10^6 so that they never
    meet those of :func:`retrieve`). Nothing changes."""
    key = step_key(net.tie_seed, PHASE_RETRIEVE_HIDDEN, 10**6 + check_int("probe", probe, 0))
    return select_winners(hidden_drive(net, pattern), net.config.winners, net.config.tie_break, key)


@dataclass(frozen=True)
class SharingProbes:
    """Ensemble overlap of probe pairs with a set pattern overlap ({ref}`sec-kwinner-overlap`,
    {numref}`fig-kwinner-overlap`).

    flips: (levels,) flips b of the child; pattern_overlap: (levels,) 1 - b/s; shared: (levels, n_probe)
    the fraction of the k winners the two patterns of each pair share."""

    flips: np.ndarray
    pattern_overlap: np.ndarray
    shared: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """(levels,) mean shared fraction over probe pairs."""
        return self.shared.mean(1)

    @property
    def se(self) -> np.ndarray:
        """(levels,) its standard error (ddof 1)."""
        return self.shared.std(1, ddof=1) / np.sqrt(self.shared.shape[1])

    @property
    def spearman(self) -> float:
        """Spearman's rho between pattern overlap and shared fraction over all probe pairs."""
        overlap = np.repeat(self.pattern_overlap, self.shared.shape[1])
        return float(stats.spearmanr(overlap, self.shared.ravel()).statistic)


def ensemble_sharing(nets, flips, n_probe: int, rng: np.random.Generator) -> list[SharingProbes]:
    """For each level b of ``flips`` and each of ``n_probe`` probe pairs, a root pattern and one child
    with b flips (a two-node nested-CRP tree, ``eq-methods-tree``, drawn from ``rng``), and the fraction
    of winners they share in each frozen network of ``nets`` (:func:`frozen_winners`; all networks see
    the same pairs and must share n_i and s). Returns one :class:`SharingProbes` per network."""
    cfg = nets[0].config
    if any(n.config.n_input != cfg.n_input or n.config.active != cfg.active for n in nets):
        raise ConfigError("nets must share n_input and active: they are probed with the same patterns")
    flips = np.asarray(flips)
    n_probe = check_int("n_probe", n_probe, 2)
    shared = np.zeros((len(nets), flips.size, n_probe))
    for j, b in enumerate(flips):
        for r in range(n_probe):
            root, child = crp_tree(2, cfg.n_input, cfg.active, int(b), rng).patterns
            probe = 2 * (j * n_probe + r)
            for i, net in enumerate(nets):
                common = np.intersect1d(frozen_winners(net, root, probe), frozen_winners(net, child, probe + 1))
                shared[i, j, r] = common.size / net.config.winners
    return [SharingProbes(flips, 1 - flips / cfg.active, s) for s in shared]


def retrieval_accuracy(net: Network, cues: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Retrieve every row of ``cues`` (n, n_i) in order (:func:`retrieve`) and score it against the
    matching full pattern of ``targets`` (n, n_i): ``x . x_hat / s`` (``eq-methods-accuracy``), (n,)."""
    return (retrieve(net, cues) & np.asarray(targets)).sum(axis=1) / net.config.active
