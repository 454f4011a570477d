"""Every compiled (Numba) function of Part I: the random generator, the samplers, tree growth,
the network draw, winner selection and the whole continual-learning trial.

Book: {ref}`ch-methods` (the model specification) defines what each kernel computes:
patterns ``eq-methods-patterns``, cues ``eq-methods-cue``, trees ``eq-methods-tree``, the network
``eq-methods-init`` / ``eq-methods-forward`` / ``eq-methods-update``, ties ``eq-methods-ties`` and the
trial ``eq-methods-trial``. The readable NumPy path of :mod:`slotless.memory.network` computes the
same thing, and the tests hold the two equal bit for bit.

Randomness. All sampling runs on a counter-based generator (splitmix64) whose 64-bit seed is drawn
from the caller's :class:`numpy.random.Generator`, so a compiled trial and the readable path see
*identical* data for the same trial seed. Sampling without replacement uses Floyd's algorithm
(exactly uniform subsets); integers in ``[0, n)`` are ``floor(u * n)`` with a 53-bit uniform ``u``
(bias below 2**-40 for ``n <= 2**13``). Ties and the random winners of the control use the hash
priority ``splitmix64(step_key + unit)``, where :func:`step_key` mixes a per-network seed, the phase
(learn / random-learn / retrieve-hidden / retrieve-output) and the step counter.

Where the time goes, and how it is kept low (a paper-scale trial is 8000 steps):

- the forward weights are stored per input (CSR), so a drive adds the active inputs' runs; the
  update of a winner touches only its own connections (``_fast_trial``);
- every index array is unsigned and as small as the sizes allow (:func:`index_type`), so the hot
  loops carry no negative-index checks and the trial's arrays stay in the core's cache;
- top-k carries a threshold from step to step and selects among the few candidates above it with
  branch-free passes (``_select_top``, ``_kth_smallest``); a step allocates nothing;
- subsets are drawn into bit sets and read out with one trailing-zero count per element;
- the 1-winner MHN (k = 1, f = 1, eps = 1) stores 0/1 patterns once a unit has won, so its drives
  are popcounts of bit-packed patterns (``_bitpacked_mhn_trial``, tested equal to the general path).

Python-facing entry points are the public names (``random_rows``, ``cue_rows``, ``grow_tree``,
``tree_rows``, ``draw_network``, ``kth_largest``, ``select_top``, ``trial_data``,
``retrieval_targets``, ``pow_table``, ``step_key``, ``run_trial_batch``). A cached Numba function that returns a tuple of
arrays and is also inlined into the cached parallel trial kernel can fail when called from Python
after that kernel was loaded from the cache ("NRT_adapt_ndarray_to_python: descr is NULL", numba
0.68.1), so Python calls thin wrappers and never the private callees (underscored) directly.
"""

from __future__ import annotations

from typing import NamedTuple

import llvmlite.ir as llvm_ir
import numba as nb
import numpy as np
from numba import types
from numba.extending import intrinsic

__all__ = [
    "MAX_TREE_ATTEMPTS",
    "PHASE_LEARN",
    "PHASE_RANDOM",
    "PHASE_RETRIEVE_HIDDEN",
    "PHASE_RETRIEVE_OUTPUT",
    "TrialParams",
    "splitmix64",
    "random_rows",
    "cue_rows",
    "grow_tree",
    "tree_rows",
    "draw_network",
    "step_key",
    "kth_largest",
    "select_top",
    "trial_data",
    "retrieval_targets",
    "pow_table",
    "run_trial_batch",
    "index_type",
]

# ----------------------------------------------------------------- generator core
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S40 = np.uint64(40)
_TREE_RETRY = np.uint64(0xD1B54A32D192ED03)
_UNIFORM_SALT = np.uint64(0x5851F42D4C957F2D)
MAX_TREE_ATTEMPTS = 8


@nb.njit(cache=True)
def splitmix64(z):
    """The splitmix64 finaliser of ``z + golden`` (a bijection on uint64): the generator behind every draw
    of ``eq-methods-patterns``, ``eq-methods-init`` and the ties of ``eq-methods-ties``."""
    z = z + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@nb.njit(cache=True)
def _next(state):
    state[0] = state[0] + _GOLDEN
    z = state[0]
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@nb.njit(cache=True)
def _uniform(state):
    """Uniform float64 in [0, 1) with 53 random bits."""
    return np.float64(_next(state) >> _S11) * 1.1102230246251565e-16


@nb.njit(cache=True)
def _randbelow(state, n):
    return np.int64(_uniform(state) * n)


@nb.njit(cache=True)
def _draws_below(state, first, count, out):
    """``out[q]`` = what ``_randbelow(state, first + q)`` returns on the q-th of ``count`` successive calls.

    The generator is counter-based (draw q mixes ``state + (q + 1) * golden``), so the draws are
    independent of each other and this loop has no branch: it runs vectorised. Advances the state
    past the ``count`` draws."""
    base = state[0]
    for q in range(count):
        z = base + np.uint64(q + 1) * _GOLDEN
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        z = z ^ (z >> _S31)
        out[q] = np.int64(np.float64(z >> _S11) * 1.1102230246251565e-16 * (first + q))
    state[0] = base + np.uint64(count) * _GOLDEN


@nb.njit(cache=True)
def _fill_uniform24(state, out):
    """``out[q]`` = the q-th of ``len(out)`` successive uniforms in [0, 1) on a 2**-24 grid (exact in
    float32 and float64 alike), drawn in one vectorised loop as in :func:`_draws_below`."""
    base = state[0]
    for q in range(out.shape[0]):
        z = base + np.uint64(q + 1) * _GOLDEN
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        z = z ^ (z >> _S31)
        out[q] = np.float64(z >> _S40) * 5.960464477539063e-08
    state[0] = base + np.uint64(out.shape[0]) * _GOLDEN


@nb.njit(cache=True)
def _new_state(seed):
    state = np.empty(1, dtype=np.uint64)
    state[0] = seed
    return state


@intrinsic
def _ctz(typingctx, word):
    """Trailing zeros of a nonzero uint64 (one ``tzcnt`` instruction)."""
    if word != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], llvm_ir.Constant(llvm_ir.IntType(1), 1))

    return types.uint64(types.uint64), codegen


@intrinsic
def _popcount(typingctx, word):
    """Set bits of a uint64 (one ``popcnt`` instruction)."""
    if word != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


_ONE = np.uint64(1)
_SIX = np.uint64(6)
_LOW6 = np.uint64(63)


@nb.njit(cache=True)
def _copy(dst, src, n):
    """``dst[:n] = src[:n]``, element by element: a slice assignment compiles Numba's shape-check error path,
    about 2 s more compilation per kernel that uses one."""
    for i in range(n):
        dst[i] = src[i]


@nb.njit(cache=True)
def _n_words(n):
    """uint64 words of a bit set over range(n)."""
    return (n + 63) >> 6


@nb.njit(cache=True)
def _sample_sorted(state, n, s, words, out, draws):
    """Floyd's algorithm: ``out[:s]`` = a uniform s-subset of range(n), ascending.

    ``words`` (uint64, at least ``_n_words(n)``) must be all zero; it is left all zero. ``draws``: int64
    scratch of length >= s. The s random integers of Floyd's loop are drawn first, in one vectorised
    block (:func:`_draws_below`); the subset is kept as a bit set and read out in ascending order one
    set bit at a time, which costs s + n/64 steps instead of a scan over n flags. With s = n the subset
    is everything; the generator still advances past Floyd's n draws.
    """
    if s == n:
        state[0] = state[0] + np.uint64(n) * _GOLDEN
        for i in range(n):
            out[i] = i
        return
    _draws_below(state, n - s + 1, s, draws)
    for q in range(s):
        t = np.uint64(draws[q])
        w = t >> _SIX
        bit = _ONE << (t & _LOW6)
        if words[w] & bit:
            t = np.uint64(n - s + q)
            w = t >> _SIX
            bit = _ONE << (t & _LOW6)
        words[w] |= bit
    cnt = 0
    for w in range(_n_words(n)):
        v = words[w]
        words[w] = 0
        base = w << 6
        while v:
            out[cnt] = base + np.int64(_ctz(v))
            cnt += 1
            v &= v - _ONE


@nb.njit(cache=True)
def _random_rows(seed, n_rows, n, s):
    """``(n_rows, s)`` int32: each row a uniform s-subset of range(n), ascending."""
    state = _new_state(seed)
    out = np.empty((n_rows, s), dtype=np.int32)
    words = np.zeros(_n_words(n), dtype=np.uint64)
    draws = np.empty(s, dtype=np.int64)
    for r in range(n_rows):
        _sample_sorted(state, n, s, words, out[r], draws)
    return out


@nb.njit(cache=True)
def _cue_rows(seed, targets, m):
    """For each row of ``targets`` ((n, s) ascending indices) keep m entries, ascending."""
    n_rows, s = targets.shape
    state = _new_state(seed)
    out = np.empty((n_rows, m), dtype=np.int32)
    words = np.zeros(_n_words(s), dtype=np.uint64)
    pos = np.empty(m, dtype=np.int32)
    draws = np.empty(m, dtype=np.int64)
    for r in range(n_rows):
        _sample_sorted(state, s, m, words, pos, draws)
        for j in range(m):
            out[r, j] = targets[r, pos[j]]
    return out


@nb.njit(cache=True)
def _grow_tree(seed, n_nodes, n, s, b):
    """Nested CRP tree (``eq-methods-tree``). Returns (act (n_nodes, s), parent, depth, leaves)."""
    state = _new_state(seed)
    act = np.empty((n_nodes, s), dtype=np.int32)
    parent = np.full(n_nodes, -1, dtype=np.int32)
    depth = np.zeros(n_nodes, dtype=np.int32)
    ccount = np.zeros(n_nodes, dtype=np.int64)
    ntot = np.zeros(n_nodes, dtype=np.int64)
    first = np.full(n_nodes, -1, dtype=np.int32)
    last = np.full(n_nodes, -1, dtype=np.int32)
    nxt = np.full(n_nodes, -1, dtype=np.int32)
    nw = _n_words(n)
    bits = np.zeros((n_nodes, nw), dtype=np.uint64)  # each node's pattern as a bit set too
    words = np.zeros(_n_words(max(n, s)), dtype=np.uint64)
    drop = np.empty(b, dtype=np.int32)
    draws = np.empty(max(s, b), dtype=np.int64)
    _sample_sorted(state, n, s, words, act[0], draws)
    for j in range(s):
        i = np.uint64(act[0, j])
        bits[0, i >> _SIX] |= _ONE << (i & _LOW6)
    nodes = 1
    while nodes < n_nodes:
        cur = 0
        while True:
            if first[cur] != -1:
                r = _randbelow(state, ntot[cur] + 1)
                if r < ntot[cur]:
                    ch = first[cur]
                    acc = ccount[ch]
                    while r >= acc:
                        ch = nxt[ch]
                        acc += ccount[ch]
                    ccount[ch] += 1
                    ntot[cur] += 1
                    cur = ch
                    continue
            # create a new child of cur (first child, or with probability 1/(n+1))
            new = nodes
            parent[new] = cur
            depth[new] = depth[cur] + 1
            ccount[new] = 1
            ntot[cur] += 1
            if first[cur] == -1:
                first[cur] = new
            else:
                nxt[last[cur]] = new
            last[cur] = new
            # b of the parent's ones -> 0, b of its original zeros -> 1. The parent's pattern and the
            # child's are bit sets: a new one must be in neither (not one of the parent's ones, not
            # already chosen), and the child's row is read out of its bit set in ascending order.
            pbits = bits[cur]
            cbits = bits[new]
            _copy(cbits, pbits, nw)
            if b > 0:
                _sample_sorted(state, s, b, words, drop, draws)
                for j in range(b):
                    i = np.uint64(act[cur, drop[j]])
                    cbits[i >> _SIX] &= ~(_ONE << (i & _LOW6))
                added = 0
                while added < b:
                    t = np.uint64(_randbelow(state, n))
                    w = t >> _SIX
                    bit = _ONE << (t & _LOW6)
                    if not ((pbits[w] | cbits[w]) & bit):
                        cbits[w] |= bit
                        added += 1
                cnt = 0
                for w in range(nw):
                    v = cbits[w]
                    base = w << 6
                    while v:
                        act[new, cnt] = base + np.int64(_ctz(v))
                        cnt += 1
                        v &= v - _ONE
            else:
                _copy(act[new], act[cur], s)
            nodes += 1
            break
    # leaves, depth first in child-creation order (pre-order walk)
    leaves = np.empty(n_nodes, dtype=np.int32)
    n_leaves = 0
    node = 0
    while True:
        if first[node] == -1:
            leaves[n_leaves] = node
            n_leaves += 1
        if first[node] != -1:
            node = first[node]
            continue
        while node != 0 and nxt[node] == -1:
            node = parent[node]
        if node == 0:
            break
        node = nxt[node]
    return act, parent, depth, leaves[:n_leaves].copy()


@nb.njit(cache=True)
def _shuffle(state, arr):
    for i in range(arr.shape[0] - 1, 0, -1):
        j = _randbelow(state, i + 1)
        tmp = arr[i]
        arr[i] = arr[j]
        arr[j] = tmp


@nb.njit(cache=True)
def _tree_rows(seed, n_needed, n_nodes, n, s, b, max_attempts):
    """``(n_needed, s)`` shuffled leaf patterns, regrowing with the next seed if too few leaves.

    Returns (rows, attempts_used, leaves_found_last); rows has 0 rows if every attempt failed.
    """
    grow_seed = seed
    n_leaves = 0
    for attempt in range(max_attempts):
        act, parent, depth, leaves = _grow_tree(grow_seed, n_nodes, n, s, b)
        n_leaves = leaves.shape[0]
        if n_leaves >= n_needed:
            state = _new_state(splitmix64(grow_seed ^ _TREE_RETRY))
            _shuffle(state, leaves)
            out = np.empty((n_needed, s), dtype=np.int32)
            for r in range(n_needed):
                _copy(out[r], act[leaves[r]], s)
            return out, attempt + 1, n_leaves
        grow_seed = splitmix64(grow_seed + _TREE_RETRY)
    return np.empty((0, s), dtype=np.int32), max_attempts, n_leaves


# Python-facing entry points (see the module note).
@nb.njit(cache=True)
def grow_tree(seed, n_nodes, n, s, b):
    """Python-facing entry of :func:`_grow_tree`: one nested CRP tree (``eq-methods-tree``)."""
    return _grow_tree(seed, n_nodes, n, s, b)


@nb.njit(cache=True)
def tree_rows(seed, n_needed, n_nodes, n, s, b, max_attempts):
    """Python-facing entry of :func:`_tree_rows`: shuffled leaf patterns of a tree (``eq-methods-tree``)."""
    return _tree_rows(seed, n_needed, n_nodes, n, s, b, max_attempts)


@nb.njit(cache=True)
def random_rows(seed, n_rows, n, s):
    """Python-facing entry of :func:`_random_rows`: random s-of-n patterns (``eq-methods-patterns``)."""
    return _random_rows(seed, n_rows, n, s)


@nb.njit(cache=True)
def cue_rows(seed, targets, m):
    """Python-facing entry of :func:`_cue_rows`: m-bit partial cues of patterns (``eq-methods-cue``)."""
    return _cue_rows(seed, targets, m)


# ------------------------------------------------------------ networks and winner selection
PHASE_LEARN = 1
PHASE_RANDOM = 2
PHASE_RETRIEVE_HIDDEN = 3
PHASE_RETRIEVE_OUTPUT = 4

_P40 = np.uint64(1 << 40)


@nb.njit(cache=True)
def _draw_network(seed, n_hidden, n_input, phi):
    """Mask rows (ascending input indices) and two independent U[0,1) initial draws.

    Returns idx (n_h, phi) int32, u1 (n_h, phi), u2 (n_h, phi) float64 on a 2**-24 grid
    (exact in float32), aligned with idx: W_xy[u, idx[u, j]] = u1[u, j], W_yx[idx[u, j], u] = u2[u, j].
    """
    state = _new_state(seed)
    idx = np.empty((n_hidden, phi), dtype=np.int32)
    words = np.zeros(_n_words(n_input), dtype=np.uint64)
    draws = np.empty(phi, dtype=np.int64)
    for u in range(n_hidden):
        _sample_sorted(state, n_input, phi, words, idx[u], draws)
    u1 = np.empty((n_hidden, phi), dtype=np.float64)
    u2 = np.empty((n_hidden, phi), dtype=np.float64)
    _fill_uniform24(state, u1.ravel())
    _fill_uniform24(state, u2.ravel())
    return idx, u1, u2


@nb.njit(cache=True)
def draw_network(seed, n_hidden, n_input, phi):
    """Python-facing entry of :func:`_draw_network`: mask and initial weights (``eq-methods-init``)."""
    return _draw_network(seed, n_hidden, n_input, phi)


@nb.njit(cache=True)
def step_key(base, phase, step):
    """The tie/random key of one step: splitmix64(base + splitmix64(phase * 2**40 + step))
    (``eq-methods-ties``, ``eq-methods-random-winners``)."""
    return splitmix64(base + splitmix64(np.uint64(phase) * _P40 + np.uint64(step)))


@nb.njit(cache=True)
def _priority(key, unit):
    return splitmix64(key + np.uint64(unit))


@nb.njit(cache=True)
def _kth_smallest(buf, kth):
    """In-place quickselect: the value at position ``kth`` of sorted ``buf``.

    Leaves ``buf`` partitioned around it (``buf[:kth] <= buf[kth] <= buf[kth + 1:]``). Each round
    partitions around a median of three in two branch-free passes (Lomuto: first the entries below
    the pivot, then those equal to it), so random data costs no branch mispredictions and heavy ties
    cost no extra rounds; short ranges finish by insertion sort.
    """
    lo = 0
    hi = buf.shape[0]  # half-open [lo, hi)
    while hi - lo > 16:
        a = buf[lo]
        b = buf[(lo + hi) >> 1]
        c = buf[hi - 1]
        piv = max(min(a, b), min(max(a, b), c))
        p = lo
        for i in range(lo, hi):
            v = buf[i]
            buf[i] = buf[p]
            buf[p] = v
            p += 1 if v < piv else 0
        if kth < p:
            hi = p
            continue
        q = p
        for i in range(p, hi):
            v = buf[i]
            buf[i] = buf[q]
            buf[q] = v
            q += 1 if v <= piv else 0
        if kth < q:
            return piv
        lo = q
    for i in range(lo + 1, hi):
        v = buf[i]
        j = i - 1
        while j >= lo and buf[j] > v:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = v
    return buf[kth]


@nb.njit(cache=True)
def _kth_of_candidates(work, k, full, tau):
    """The k-th largest of ``work`` (k <= len), the candidates of a selection: every entry >= the carried
    threshold ``tau`` (``full``: every entry, as tau admitted fewer than k). Partitions ``work``.

    tau is reset when it admitted fewer than k entries or more than 6k: to the (5k/4)-th largest value
    (the candidates hold it when there are at least 2k of them), or to the k-th if heavy ties there (e.g.
    the zeros of an MHN output) admit more than 6k entries. The result never depends on tau, only the
    speed does: a tighter reset keeps fewer candidates and falls back to every entry a little more often
    (5k/4 was 1.5-2.5% faster per paper-size trial than 2k, 9k/8 slower)."""
    cnt = work.shape[0]
    vk = _kth_smallest(work, cnt - k)  # now work[:cnt - k] holds the cnt - k smallest
    if full or cnt > 6 * k:
        tau[0] = vk
        if cnt >= 2 * k:
            reset = _kth_smallest(work[:cnt - k], cnt - (5 * k) // 4)
            above = 0
            for i in range(cnt):
                above += 1 if work[i] >= reset else 0
            if above <= 6 * k:
                tau[0] = reset
    return vk


@nb.njit(cache=True)
def kth_largest(values, k, tau):
    """Python-facing entry (for tests): the k-th largest value of ``values`` (1 < k < n), as the engine's
    selection (:func:`select_top`) finds it with the threshold ``tau`` (float64, length 1) it carries
    between calls: the smallest of the k selected entries (``eq-methods-ties``)."""
    selected = select_top(values, k, True, np.uint64(0), tau)
    vk = values[selected[0]]
    for i in selected[1:]:
        vk = min(vk, values[i])
    return vk


@nb.njit(cache=True)
def _emit_selected(vals, units, cnt, vk, k, lowest_index, key, out, pbuf):
    """Write the k selected units (ascending) into ``out[:k]`` (the rule of ``eq-methods-ties``).

    ``vals[:cnt]``/``units[:cnt]``: candidate values and their units, units ascending, holding every
    entry >= the k-th largest value ``vk``. Entries > vk are kept; the remaining places go to the
    tied entries (== vk) with the largest hash priorities ``_priority(key, unit)`` (distinct, since
    splitmix64 is a bijection), or to the lowest units if ``lowest_index``.
    ``pbuf``: uint64 scratch of length >= 2 x the number of tied entries.
    """
    n_gt = 0
    n_eq = 0
    for c in range(cnt):
        v = vals[c]
        n_gt += 1 if v > vk else 0
        n_eq += 1 if v == vk else 0
    need = k - n_gt
    if need == n_eq:  # no tie to break: every entry >= vk (out has room for cnt entries)
        o = 0
        for c in range(cnt):
            out[o] = units[c]
            o += 1 if vals[c] >= vk else 0
        return
    if lowest_index:
        o = 0
        taken = 0
        for c in range(cnt):
            v = vals[c]
            if v > vk:
                out[o] = units[c]
                o += 1
            elif v == vk and taken < need:
                out[o] = units[c]
                o += 1
                taken += 1
        return
    e = 0
    for c in range(cnt):
        if vals[c] == vk:
            pbuf[e] = _priority(key, units[c])
            e += 1
    if need == 1:
        cut = pbuf[0]
        for j in range(1, n_eq):
            if pbuf[j] > cut:
                cut = pbuf[j]
    else:
        work = pbuf[n_eq:2 * n_eq]
        _copy(work, pbuf, n_eq)
        cut = _kth_smallest(work, n_eq - need)  # the need-th largest priority
    o = 0
    e = 0
    for c in range(cnt):
        v = vals[c]
        if v > vk:
            out[o] = units[c]
            o += 1
        elif v == vk:
            if pbuf[e] >= cut:
                out[o] = units[c]
                o += 1
            e += 1


@nb.njit(cache=True)
def _select_top(values, k, lowest_index, key, out, buf, ubuf, pbuf, tau):
    """Write the k largest entries' indices (ascending) into out[:k], ties by ``eq-methods-ties``.

    One pass over ``values`` gathers the candidates >= the carried threshold ``tau`` with their
    indices; when there are at least k of them, the k-th largest value and the selection come from the
    candidates alone, otherwise every entry is a candidate (:func:`_kth_of_candidates`, which also
    resets tau when it admitted fewer than k or more than 6k). With heavy ties (integer drives at
    eps = 1) more than 6k candidates are common; they are still fewer than n. The result never depends
    on tau. Scratch: ``buf`` (values' dtype) and ``ubuf`` (int64) of length
    2n, ``pbuf`` (uint64) of length 2n; ``out`` needs room for n entries (only ``out[:k]`` is the
    result).
    """
    n = values.shape[0]
    if k >= n:
        for i in range(n):
            out[i] = i
        return
    if k == 1:
        vk = values[0]
        for i in range(1, n):
            if values[i] > vk:
                vk = values[i]
        cnt = 0
        for i in range(n):
            if values[i] == vk:
                buf[cnt] = vk
                ubuf[cnt] = i
                cnt += 1
        _emit_selected(buf, ubuf, cnt, vk, k, lowest_index, key, out, pbuf)
        return
    t = tau[0]
    cnt = 0
    for i in range(n):  # branch-free: write every entry, advance past those >= t
        v = values[i]
        buf[cnt] = v
        ubuf[cnt] = i
        cnt += 1 if v >= t else 0
    full = cnt < k
    if full:  # tau is too high: every entry is a candidate
        for i in range(n):
            buf[i] = values[i]
            ubuf[i] = i
        cnt = n
    work = buf[n:n + cnt]
    _copy(work, buf, cnt)
    vk = _kth_of_candidates(work, k, full, tau)
    _emit_selected(buf, ubuf, cnt, vk, k, lowest_index, key, out, pbuf)


@nb.njit(cache=True)
def select_top(values, k, lowest_index, key, tau):
    """Python-facing entry of :func:`_select_top` (for tests): the k selected indices, ascending, by the
    rule of ``eq-methods-ties``; ``tau`` (float64, length 1) carries the threshold between calls."""
    n = values.shape[0]
    out = np.empty(n, dtype=np.int64)
    buf = np.empty(2 * n, dtype=values.dtype)
    ubuf = np.empty(2 * n, dtype=np.int64)
    pbuf = np.empty(2 * n, dtype=np.uint64)
    _select_top(values, k, lowest_index, key, out, buf, ubuf, pbuf, tau)
    return out[:min(k, n)].copy()


@nb.njit(cache=True)
def _random_top(n, k, key, out, prbuf):
    """The k units with the largest hash priority (a uniform k-subset), ascending.

    Priorities of distinct units are distinct (splitmix64 is a bijection), so the k largest are
    exactly those >= the k-th largest. ``prbuf``: uint64 scratch of length 2 n."""
    pr = prbuf[:n]
    for i in range(n):
        pr[i] = _priority(key, i)
    if k >= n:
        for i in range(n):
            out[i] = i
        return
    work = prbuf[n:2 * n]
    _copy(work, pr, n)
    vk = _kth_smallest(work, n - k)
    cnt = 0
    for i in range(n):
        if pr[i] >= vk:
            out[cnt] = i
            cnt += 1


# ------------------------------------------------------------------- one trial
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
def trial_data(data_kind, seed, n_pool, n_uniform, n_i, s, b, tree_nodes, max_attempts):
    """Python-facing entry of :func:`_trial_data`: one trial's patterns (``eq-methods-trial``)."""
    return _trial_data(data_kind, seed, n_pool, n_uniform, n_i, s, b, tree_nodes, max_attempts)


@nb.njit(cache=True)
def retrieval_targets(pool, uni, B, E):
    """Python-facing entry of :func:`_targets`: the patterns a trial retrieves (``eq-methods-trial``)."""
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
def pow_table(eps, n):
    """Python-facing entry of :func:`_pow_table`: ``eps (1 - eps)^m``, the trace weights (``eq-methods-update``)."""
    return _pow_table(eps, n)


@nb.njit(cache=True)
def _drive(active, off, c_unit, wcsr, dense, h, zero):
    """h = W_xy x for the active inputs ``active`` (ascending), input by input.

    With f = 1 (``dense``) every input feeds all units in order, so the inner loop is one
    contiguous (vectorised) add; the per-unit summation order is the same either way. Offsets and
    unit indices are unsigned, so the compiled loop carries no negative-index wrap-around checks."""
    h[:] = zero
    for a in range(active.shape[0]):
        i = np.uint64(active[a])
        e = off[i]
        end = off[i + _ONE]
        if dense:  # element by element, not h += wcsr[e:end] (see _copy)
            for u in range(h.shape[0]):
                h[u] += wcsr[e]
                e += _ONE
        else:
            while e < end:
                h[c_unit[e]] += wcsr[e]
                e += _ONE


@nb.njit(cache=True)
def _trace_from_wins(win_eval, count_at, usage, eps64, n_learn, k, trace):
    """trace[j] = mean over the winners of memory j of eps (1 - eps)^(later wins) (``eq-methods-trial``)."""
    pw = _pow_table(eps64, n_learn + 1)
    for j in range(win_eval.shape[0]):
        tot = 0.0
        for r in range(k):
            tot += pw[usage[win_eval[j, r]] - count_at[j, r]]
        trace[j] = tot / k


@nb.njit(cache=True)
def _fast_trial(pool, targets, cues, idx, u1, u2, p, prm, tie_seed, acc, trace, usage, index_proto):
    """One trial on the existing connections only. Writes acc (R,), trace (E,), usage (n_h,).

    Forward weights are stored in CSR order (grouped by input, units ascending), so the drive of an
    active input reads one contiguous run; ``emap[u, j]`` locates unit u's j-th connection in it.
    Return weights are stored per unit, ``wyx[u, j] = W_yx[idx[u, j], u]``. All scratch is allocated
    once per trial: a step allocates nothing.
    """
    n_h, phi = idx.shape
    B, E, n_i, k, s = p.n_burn_in, p.n_eval, p.n_input, p.winners, p.active
    lowest, random_rule, eps64 = p.lowest_index, p.random_winners, p.epsilon
    dense = phi == n_i
    eps = prm[0]
    keep = prm[1]
    one = prm[2]
    zero = prm[3]
    # CSR of the forward weights. Indices are unsigned (of the type of ``index_proto``: uint16 when
    # every index fits) so that the hot loops carry no wrap-around checks and the arrays stay small.
    off = np.zeros(n_i + 1, dtype=np.uint64)
    inputs = np.empty((n_h, phi), dtype=index_proto.dtype)  # idx, unsigned
    for u in range(n_h):
        for j in range(phi):
            i = idx[u, j]
            inputs[u, j] = i
            off[i + 1] += _ONE
    for i in range(n_i):
        off[i + 1] += off[i]
    fill = off[:-1].copy()
    c_unit = np.empty(n_h * phi, dtype=index_proto.dtype)
    emap = np.empty((n_h, phi), dtype=np.uint32)
    wcsr = np.empty(n_h * phi, dtype=prm.dtype)
    wyx = np.empty((n_h, phi), dtype=prm.dtype)
    for u in range(n_h):
        for j in range(phi):
            i = inputs[u, j]
            e = fill[i]
            c_unit[e] = u
            emap[u, j] = e
            wcsr[e] = u1[u, j]
            wyx[u, j] = u2[u, j]
            fill[i] = e + _ONE
    n_max = max(n_h, n_i)
    h = np.zeros(n_h, dtype=prm.dtype)
    o = np.zeros(n_i, dtype=prm.dtype)
    vbuf = np.empty(2 * n_max, dtype=prm.dtype)
    ubuf = np.empty(2 * n_max, dtype=np.int64)
    pbuf = np.empty(2 * n_max, dtype=np.uint64)
    tau = np.full(3, -np.inf)  # selection thresholds: learn, retrieve-hidden, retrieve-output
    xmark = np.zeros(n_i, dtype=np.bool_)
    win = np.empty(n_max, dtype=np.int64)  # room for every candidate; win[:k] are the winners
    sel = np.empty(n_max, dtype=np.int64)
    win_eval = np.empty((E, k), dtype=np.int64)
    count_at = np.empty((E, k), dtype=np.int64)
    n_learn = B + E
    for t in range(n_learn):
        x = pool[t]
        if random_rule:
            _random_top(n_h, k, step_key(tie_seed, PHASE_RANDOM, t), win, pbuf)
        else:
            _drive(x, off, c_unit, wcsr, dense, h, zero)
            _select_top(h, k, lowest, step_key(tie_seed, PHASE_LEARN, t), win, vbuf, ubuf, pbuf, tau[0:1])
        for a in range(x.shape[0]):
            xmark[x[a]] = True
        for r in range(k):
            u = win[r]
            for j in range(phi):
                xv = one if xmark[inputs[u, j]] else zero
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
    _trace_from_wins(win_eval, count_at, usage, eps64, n_learn, k, trace)
    n_ret = cues.shape[0]
    for q in range(n_ret):
        c = cues[q]
        _drive(c, off, c_unit, wcsr, dense, h, zero)
        _select_top(h, k, lowest, step_key(tie_seed, PHASE_RETRIEVE_HIDDEN, q), win, vbuf, ubuf, pbuf, tau[1:2])
        o[:] = zero
        for r in range(k):
            u = win[r]
            if dense:  # f = 1: idx[u, j] = j, a contiguous (vectorised) add, element by element (see _copy)
                for j in range(phi):
                    o[j] += wyx[u, j]
            else:
                for j in range(phi):
                    o[inputs[u, j]] += wyx[u, j]
        _select_top(o, s, lowest, step_key(tie_seed, PHASE_RETRIEVE_OUTPUT, q), sel, vbuf, ubuf, pbuf, tau[2:3])
        acc[q] = _fraction_selected(sel, s, targets[q], xmark)


@nb.njit(cache=True)
def _fraction_selected(sel, s, x, xmark):
    """The fraction of the ``s`` selected outputs ``sel[:s]`` that are active units ``x`` of the stored
    pattern (retrieval accuracy, ``eq-methods-accuracy``). ``xmark`` is an all-False scratch over the inputs,
    left all-False."""
    for a in range(x.shape[0]):
        xmark[x[a]] = True
    hit = 0
    for a in range(s):
        if xmark[sel[a]]:
            hit += 1
    for a in range(x.shape[0]):
        xmark[x[a]] = False
    return hit / s


@nb.njit(cache=True)
def _set_bits(active, words):
    """``words`` = the bit set of the indices ``active``."""
    words[:] = 0
    for a in range(active.shape[0]):
        i = np.uint64(active[a])
        words[i >> _SIX] |= _ONE << (i & _LOW6)


@nb.njit(cache=True)
def _bitpacked_drive(active, bits, rows, won, w_init, h, zero):
    """h = W_xy x of a 1-winner MHN (``eq-methods-forward``), exactly as :func:`_drive` computes it.

    A unit that has won holds a 0/1 pattern, so its drive is the integer overlap
    ``popcount(row & x)`` (a sum of 0s and 1s is exact in float32 and float64 alike). A unit that has
    never won still holds its initial U(0,1) row ``w_init[u]``; its drive is summed input by input in
    ascending order, as in the general path."""
    n_h = h.shape[0]
    nw = bits.shape[0]
    for u in range(n_h):
        if won[u]:
            c = np.uint64(0)
            for w in range(nw):
                c += _popcount(rows[u, w] & bits[w])
            h[u] = c
        else:
            acc = zero
            for a in range(active.shape[0]):
                acc += w_init[u, active[a]]
            h[u] = acc


@nb.njit(cache=True)
def _bitpacked_mhn_trial(pool, targets, cues, u1, u2, p, prm, tie_seed, acc, trace, usage):
    """One trial of the 1-winner MHN (k = 1, f = 1, eps = 1) on bit-packed patterns.

    With eps = 1 a win overwrites the unit's row and column with the pattern exactly
    (``0 * w + 1 * x = x``), so a unit that has won stores a 0/1 pattern: one row of ``n_i / 64``
    words. Drives are then popcounts (:func:`_bitpacked_drive`), and the retrieved pattern of a unit
    that has won is its stored pattern (its output has exactly s ones, all selected, no tie). Units
    that have never won keep their initial real-valued weights and take the general path, with the
    same hash-priority ties. So the results (acc, trace, usage) are those of :func:`_fast_trial`,
    bit for bit, for the same seeds and dtype.
    """
    n_h = u1.shape[0]
    B, E, n_i, s = p.n_burn_in, p.n_eval, p.n_input, p.active
    lowest, random_rule, eps64 = p.lowest_index, p.random_winners, p.epsilon
    zero = prm[3]
    nw = _n_words(n_i)
    w_init = np.empty((n_h, n_i), dtype=prm.dtype)  # f = 1: idx[u, j] = j
    for u in range(n_h):
        for j in range(n_i):
            w_init[u, j] = u1[u, j]
    rows = np.zeros((n_h, nw), dtype=np.uint64)
    won = np.zeros(n_h, dtype=np.bool_)
    bits = np.zeros(nw, dtype=np.uint64)
    target_bits = np.zeros(nw, dtype=np.uint64)
    n_max = max(n_h, n_i)
    h = np.zeros(n_h, dtype=prm.dtype)
    o = np.zeros(n_i, dtype=prm.dtype)
    vbuf = np.empty(2 * n_max, dtype=prm.dtype)
    ubuf = np.empty(2 * n_max, dtype=np.int64)
    pbuf = np.empty(2 * n_max, dtype=np.uint64)
    tau = np.full(1, -np.inf)
    xmark = np.zeros(n_i, dtype=np.bool_)
    win = np.empty(n_max, dtype=np.int64)
    sel = np.empty(n_max, dtype=np.int64)
    win_eval = np.empty((E, 1), dtype=np.int64)
    count_at = np.empty((E, 1), dtype=np.int64)
    n_learn = B + E
    for t in range(n_learn):
        x = pool[t]
        _set_bits(x, bits)
        if random_rule:
            _random_top(n_h, 1, step_key(tie_seed, PHASE_RANDOM, t), win, pbuf)
        else:
            _bitpacked_drive(x, bits, rows, won, w_init, h, zero)
            _select_top(h, 1, lowest, step_key(tie_seed, PHASE_LEARN, t), win, vbuf, ubuf, pbuf, tau)
        u = win[0]
        _copy(rows[u], bits, nw)
        won[u] = True
        usage[u] += 1
        if t >= B:
            win_eval[t - B, 0] = u
            count_at[t - B, 0] = usage[u]
    _trace_from_wins(win_eval, count_at, usage, eps64, n_learn, 1, trace)
    for q in range(cues.shape[0]):
        c = cues[q]
        _set_bits(c, bits)
        _bitpacked_drive(c, bits, rows, won, w_init, h, zero)
        _select_top(h, 1, lowest, step_key(tie_seed, PHASE_RETRIEVE_HIDDEN, q), win, vbuf, ubuf, pbuf, tau)
        u = win[0]
        x = targets[q]
        if won[u]:  # the output is the stored pattern: exactly s ones, all of them selected
            _set_bits(x, target_bits)
            hit = np.uint64(0)
            for w in range(nw):
                hit += _popcount(rows[u, w] & target_bits[w])
            acc[q] = np.int64(hit) / s
            continue
        for j in range(n_i):  # a never-won unit: its initial return weights, general selection
            o[j] = u2[u, j]
        _select_top(o, s, lowest, step_key(tie_seed, PHASE_RETRIEVE_OUTPUT, q), sel, vbuf, ubuf, pbuf, tau)
        acc[q] = _fraction_selected(sel, s, x, xmark)


class TrialParams(NamedTuple):
    """The sizes and switches of one batch of trials (``eq-methods-trial``), passed to :func:`run_trial_batch`
    as one record.

    ``data_kind`` 0 random / 1 tree; protocol sizes ``n_burn_in`` B, ``n_eval`` E, ``n_pseudo`` P and
    ``n_uniform`` (E with a uniform baseline, else 0); ``flips`` b and ``tree_nodes`` (tree data);
    the network ``n_input``, ``active`` s, ``n_hidden``, ``fan_in_count`` phi, ``winners`` k and
    ``epsilon`` (float64, for the trace); ``cue_bits`` m; ``lowest_index`` (tie-break) and
    ``random_winners`` (the control's learning rule); ``bitpacked``: run the 1-winner MHN
    (k = 1, f = 1, eps = 1 only) on bit-packed patterns (:func:`_bitpacked_mhn_trial`, same results).
    """

    data_kind: int
    n_burn_in: int
    n_eval: int
    n_pseudo: int
    n_uniform: int
    flips: int
    tree_nodes: int
    max_attempts: int
    n_input: int
    active: int
    n_hidden: int
    fan_in_count: int
    winners: int
    cue_bits: int
    lowest_index: bool
    random_winners: bool
    epsilon: float
    bitpacked: bool = False


def index_type(n_hidden: int, n_input: int):
    """The unsigned index type of the fast engine's network (``sec-methods-network``): uint16 when every
    unit and input index fits, else uint32."""
    return np.uint16 if max(n_hidden, n_input) <= np.iinfo(np.uint16).max else np.uint32


@nb.njit(cache=True, parallel=True)
def run_trial_batch(seeds, p, prm, acc, trace, usage, ok, index_proto):
    """Run one trial (``eq-methods-trial``) per row of ``seeds`` ``(T, 4)`` uint64 (data, network, cues, ties),
    in parallel. (Without ``parallel=True`` it would compile about 8 s faster per dtype, but the 1-winner MHN
    trial ran about 15% slower, measured.)

    ``p``: :class:`TrialParams`; ``prm``: ``[eps, 1 - eps, 1, 0]`` in the trial's float dtype;
    ``index_proto``: an empty array of the unsigned type of the engine's unit and input indices
    (:func:`index_type`).
    Writes ``acc (T, 2E + n_uniform)`` in retrieval order, ``trace (T, E)``, ``usage (T, n_h)`` and
    ``ok (T,)`` (False: the tree had too few leaves).
    """
    T = seeds.shape[0]
    n_pool = p.n_burn_in + p.n_eval + p.n_pseudo
    for t in nb.prange(T):
        pool, uni, good = _trial_data(p.data_kind, seeds[t, 0], n_pool, p.n_uniform, p.n_input, p.active,
                                      p.flips, p.tree_nodes, p.max_attempts)
        ok[t] = good
        if not good:
            continue
        targets = _targets(pool, uni, p.n_burn_in, p.n_eval)
        cues = _cue_rows(seeds[t, 2], targets, p.cue_bits)
        idx, u1, u2 = _draw_network(seeds[t, 1], p.n_hidden, p.n_input, p.fan_in_count)
        if p.bitpacked:
            _bitpacked_mhn_trial(pool, targets, cues, u1, u2, p, prm, seeds[t, 3], acc[t], trace[t], usage[t])
        else:
            _fast_trial(pool, targets, cues, idx, u1, u2, p, prm, seeds[t, 3], acc[t], trace[t], usage[t],
                        index_proto)
