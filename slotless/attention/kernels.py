"""Compiled (Numba) training steps of Part II: one batch of the MHN-Transformer or of the minimal
transformer, for every seed of a stack, in one call.

Book: {ref}`ch-training` runs the sweeps; {ref}`ch-methods` specifies the step
({prf:ref}`alg-mhn-transformer-step`, ``eq-methods-mhn-store``, ``eq-methods-mhn-query``,
``eq-methods-mhn-grads``, ``eq-methods-wk-rules``, ``eq-methods-transformer``,
``eq-methods-transformer-grads``). The readable torch functions of :mod:`slotless.attention.mhn`,
:mod:`slotless.attention.rules` and :mod:`slotless.attention.transformer` compute the same steps;
:func:`slotless.attention.training.run_sweep` uses these kernels when it can, and the tests hold the
two paths equal (float64 to 1e-12 over hundreds of batches; float32 within rounding).

Why compiled. A training step of these tiny models is a few thousand arithmetic operations per seed,
so in torch it is bound by dispatch overhead. Every token of the Case Sequence Task is one-hot, so a
key ``W_K x`` is a column of ``W_K``, and all products with items reduce to the Gram-like matrices
``W_K^T W_K`` and ``W_K^T W_Q`` (3L x 3L, once per batch) and to lookups. Sums over a batch of
outer products with one-hot query tokens are grouped by query token, so each gradient is a handful of
small matrix products per batch. The arithmetic is the same as in the readable path; only the order
of summation (hence the rounding) differs.

Why one seed at a time. Running the seeds of a stack side by side in vector lanes (every per-sequence
array ``(..., S)``, the seeds innermost) was measured and is slower: a prototype of this step with input
projections and a fixed W_K, equal to it bit for bit over 100 batches of 50 seeds, took 39.6 microseconds
per seed and batch against 30.3 here (33.2 even without laying out the fast-weight draws seed-innermost).
Each token lookup becomes a gather per lane, both sides of every held/free branch are computed, and
``exp`` stays scalar; the 1-winner storage loop alone gained 1.4x in lanes (2x with the lookups removed).

Without input projections every free unit's initial key row enters the storage and query steps; those
drives are computed for all units at once with the units innermost (:func:`_initial_key_drives_of`, for
the context items and the query of a sequence in one pass), which
vectorises without changing any unit's order of summation. The free units' terms of the W_Q gradient and
of the ``via_mhn`` direction are summed over the units first (a d_k vector, in float64) and then meet the
query token or the reinstated item once: for ``via_mhn`` with 12 free units of 16 and d_k = 50, 1200
operations per sequence instead of 7800. Their float32 rounding therefore differs from a unit-by-unit sum
(one rounding per sequence instead of one per unit); float64 agrees with the readable path to 1e-12. The
fast-weight draws are made seed by seed inside the step (:func:`_mt_fill`): without projections a batch of
50 seeds draws 14 MB, which went out to memory and back when every seed was drawn first.
:func:`draw_task_rows` draws the training sequences of a held-out split (the numpy path's sequences, from
the same numbers).

Inputs are token indices, not one-hot tensors: ``tok (S, B, C)`` (the context items,
``letter + L * case``), ``qtok (S, B)`` (the query token, ``2L + letter``) and ``target (S, B)``
(0 lowercase, 1 uppercase). Slow weights are numpy arrays updated in place: ``W_Q, W_K (S, d_k, 3L)``,
``W_V (S, 2, 3L)``. ``prm`` holds the float constants in the weights' dtype.
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["RULE_CODES", "DIAGNOSTIC_RULES", "PRM_BETA", "PRM_LR", "PRM_KEY_LR", "PRM_GAMMA", "mhn_batch_step", "transformer_batch_step",
           "mt_uniform_fill", "draw_task_rows", "draw_task_tokens"]

#: Integer codes of the W_K rules (``eq-methods-wk-rules``) inside the compiled step.
RULE_CODES = {"fixed": 0, "via_mhn": 1, "qk_align": 2, "hebbian": 3, "exact_onehot": 4, "exact_reinstatement": 5}
#: The W_K rules whose directions :func:`mhn_batch_step` writes when diagnosing, in this order (then the
#: transformer's true W_K gradient).
DIAGNOSTIC_RULES = ("via_mhn", "qk_align", "hebbian", "exact_onehot", "exact_reinstatement")
#: Positions in the ``prm`` array of constants (in the weights' dtype).
PRM_BETA, PRM_LR, PRM_KEY_LR, PRM_GAMMA = 0, 1, 2, 3


@nb.njit(cache=True)
def _softmax(logits, n, out):
    """``out[:n]`` = softmax of ``logits[:n]`` (max-subtracted, as :func:`slotless.attention.tensors.softmax`)."""
    m = logits[0]
    for u in range(1, n):
        if logits[u] > m:
            m = logits[u]
    tot = m - m  # a zero of the logits' dtype (m is finite: some logit is)
    for u in range(n):
        out[u] = np.exp(logits[u] - m)
        tot += out[u]
    for u in range(n):
        out[u] = out[u] / tot


@nb.njit(cache=True)
def _attend(item, item_scores, beta, has_items, mask_unrecruited, drive, out):
    """``out`` = the memory's attention over its ``nh`` hidden units for one query (``eq-methods-mhn-query``):
    softmax of ``beta`` times each unit's match. A unit holding item ``j`` (``item[u] = j``, one-hot
    reinstatement) matches with ``item_scores[j]``; a free unit is masked out (``mask_unrecruited``), scores 0
    once items are stored, or else matches the query's key with its initial key row: the caller puts those
    matches in ``drive`` (length ``nh``, :func:`_initial_key_drives_of`), which is then overwritten."""
    nh = item.shape[0]
    zero = beta - beta
    for u in range(nh):
        if item[u] >= 0:
            drive[u] = beta * item_scores[item[u]]
        elif mask_unrecruited:
            drive[u] = -np.inf
        elif has_items:
            drive[u] = beta * zero
        else:
            drive[u] = beta * drive[u]
    _softmax(drive, nh, out)


@nb.njit(cache=True)
def _initial_key_drives_of(W_hi0T, keys, out):
    """``out[t, u]`` = ``W_hi0T[:, u] . keys[t]`` for every key ``t`` (rows of ``keys (n, d_k)``) and unit ``u``:
    the match of each key with each unit's initial key row (no input projections). Each element is summed
    over ``k`` in ascending order, as a scalar loop would, but with the units innermost so that the loop runs
    across units in vector lanes (same rounding); the keys share each load of ``W_hi0T``."""
    dk, nh = W_hi0T.shape
    n = keys.shape[0]
    for t in range(n):
        for u in range(nh):
            out[t, u] = keys[0, 0] - keys[0, 0]
    for k in range(dk):
        for t in range(n):
            kv = keys[t, k]
            for u in range(nh):
                out[t, u] += W_hi0T[k, u] * kv


@nb.njit(cache=True)
def _via_mhn_part(c, xt, item, WKT, GK, W_oh, W_hi0T, W_hi0, has_items, mask_unrecruited, beta, A, G0T, scratch):
    """One sequence's part of the ``via_mhn`` W_K direction (``eq-methods-wk-rules``): the memory is queried
    with the re-keyed reinstated item ``k~ = W_K x~``; ``A += c x~^T`` (c: the unit signals of the stored
    items, by token) and, for free units with initial keys, ``G0 += W_hi0^T g x~^T``, kept transposed
    (``G0T (3L, d_k)``). ``WKT``: the seed's W_K transposed (read without input projections only);
    ``W_hi0 (n_h, d_k)`` and ``W_hi0T``: the free units' initial keys and their transpose.
    The free units' ``g W_hi0[u]`` are summed over the units first, then multiplied by ``x~`` (one outer
    product per sequence, not one per unit); the loops run along d_k, the longest axis, so that they
    vectorise."""
    dk, nh = W_hi0T.shape
    d = xt.shape[0]
    proj, kt, drive, aK, cvec, gw = scratch
    zero = beta - beta
    one = zero + 1
    # proj = GK x~ with i innermost: d independent sums side by side instead of one chain of dependent
    # additions after another, each still summed over i2 in ascending order (GK is symmetric bit for bit:
    # GK[i, i2] and GK[i2, i] are the same products summed in the same order)
    for i in range(d):
        proj[i] = zero
    for i2 in range(d):
        x2 = xt[i2]
        for i in range(d):
            proj[i] += GK[i2, i] * x2
    if not has_items:
        for k in range(dk):
            kt[k] = zero
        for i in range(d):
            xi = xt[i]
            for k in range(dk):
                kt[k] += WKT[i, k] * xi
        if not mask_unrecruited:
            _initial_key_drives_of(W_hi0T, kt.reshape((1, dk)), drive.reshape((1, nh)))
    _attend(item, proj, beta, has_items, mask_unrecruited, drive, aK)
    yk0 = zero
    yk1 = zero
    for u in range(nh):
        yk0 += W_oh[0, u] * aK[u]
        yk1 += W_oh[1, u] * aK[u]
    yk0 -= one if c == 0 else zero
    yk1 -= one if c == 1 else zero
    au = zero
    for u in range(nh):
        uu = yk0 * W_oh[0, u] + yk1 * W_oh[1, u]
        drive[u] = uu
        au += aK[u] * uu
    for i in range(d):
        cvec[i] = zero
    free = False
    if not has_items:
        for k in range(dk):
            gw[k] = 0.0
    for u in range(nh):
        g = aK[u] * (drive[u] - au)
        if item[u] >= 0:
            cvec[item[u]] += g
        elif not has_items:
            free = True
            for k in range(dk):
                gw[k] += g * W_hi0[u, k]
    if free:
        for i in range(d):
            xi = xt[i]
            for k in range(dk):
                G0T[i, k] += gw[k] * xi
    for i2 in range(d):
        for i in range(d):
            A[i2, i] += cvec[i2] * xt[i]


@nb.njit(cache=True)
def mhn_batch_step(W_Q, W_K, W_V, tok, qtok, target, fast_states, fast_cursor, raw, W_items, has_items, rule,
                   via_output, mask_unrecruited, prm, acc, loss, coll, diagnose, directions):  # pragma: no cover - compiled
    """One MHN-Transformer training batch for every seed ({prf:ref}`alg-mhn-transformer-step`).

    Per sequence: one-shot 1-winner storage of the context (``eq-methods-mhn-store``; ties among the
    maximal drives to the largest ``1 + tie_noise``, the first if equal), the query
    (``eq-methods-mhn-query``), the local W_Q and W_V gradients (``eq-methods-mhn-grads``) and the W_K
    direction of ``rule`` (:data:`RULE_CODES`, ``eq-methods-wk-rules``); then W_Q, W_V and W_K are
    updated in place in that order. The fast-weight draws of :func:`slotless.attention.mhn.draw_fast_init`
    (W_hi0 if no projections, W_oh0, W_reinst0, tie noise; in its layout) are drawn for one seed at a time
    into ``raw (B, n)`` float32, from that seed's generator ``fast_states[s], fast_cursor[s]``
    (:func:`mt_states`, :func:`mt_uniform_fill`), just before the seed's batch, so that they are still in
    cache when read; ``W_items (n_h, 3L)`` with ``has_items``; ``via_output``: W_V learns from the
    MHN output instead of the reinstated item. Writes ``acc, loss, coll (S,)``: the batch's accuracy,
    loss (of the QV error with a fixed W_K, else of the MHN output) and collision fraction.

    ``diagnose``: also write ``directions (S, 6, d_k, 3L)``, from the same batch and the pre-update
    weights: the W_K direction of each rule of :data:`DIAGNOSTIC_RULES` (whatever rule trains) and, last,
    the true W_K gradient of the slot-based transformer on the same batch (gamma = beta); they never
    change training.
    """
    S, dk, d = W_K.shape
    B, C = tok.shape[1], tok.shape[2]
    nh = W_items.shape[0]
    n_hi = 0 if has_items else nh * dk
    o_oh, o_re = n_hi, n_hi + 2 * nh
    o_tn = o_re + nh * d
    beta, lr, key_lr = prm[PRM_BETA], prm[PRM_LR], prm[PRM_KEY_LR]
    zero = prm[PRM_BETA] - prm[PRM_BETA]
    one = zero + 1
    two = one + one
    half = one / two
    GK = np.empty((d, d), W_K.dtype)  # W_K^T W_K: gram of keys
    MQ = np.empty((d, d), W_K.dtype)  # W_K^T W_Q: drive of a stored item for a query token
    CQ = np.empty((d, d), W_K.dtype)  # [qt, i]: sum over the batch of the W_Q readout through stored items
    HQ0 = np.empty((d, dk), W_K.dtype)  # [qt, k]: the same through free units' initial keys
    dWV = np.empty((2, d), W_K.dtype)
    A = np.empty((d, d), W_K.dtype)  # rule accumulators, see the end of the batch
    G0T = np.empty((d, dk), W_K.dtype)  # transposed, see _via_mhn_part
    T = np.empty((d, d), W_K.dtype)
    G = np.empty((dk, d), W_K.dtype)
    W_Qn = np.empty((dk, d), W_K.dtype)
    CQT = np.empty((d, d), W_K.dtype)  # CQ transposed
    vec = np.empty(d, W_K.dtype)  # one row of a product being summed
    D6 = np.empty((6, d), W_K.dtype)  # one row of each diagnostic direction
    holder = np.empty(nh, np.int64)
    drive = np.empty(nh, W_K.dtype)
    a = np.empty(nh, W_K.dtype)
    aK = np.empty(nh, W_K.dtype)
    W_oh = np.empty((2, nh), W_K.dtype)
    item = np.empty(nh, np.int64)
    # diagnostics: every rule's accumulators, and the transformer's W_K readout per query token
    Av = np.zeros((d, d), W_K.dtype)
    G0vT = np.zeros((d, dk), W_K.dtype)
    S2 = np.zeros((d, d), W_K.dtype)
    T2 = np.zeros((d, d), W_K.dtype)
    R4 = np.zeros((d, d), W_K.dtype)
    CT = np.zeros((d, d), W_K.dtype)
    ta = np.empty(C, W_K.dtype)
    W_hi0 = np.zeros((nh, dk), W_K.dtype)  # the free units' initial keys (no input projections)
    W_hi0T = np.zeros((dk, nh), W_K.dtype)  # and transposed: units innermost
    WKT = np.empty((d, dk), W_K.dtype)  # W_K[s] transposed: a token's key is a contiguous row
    xt = np.empty(d, W_K.dtype)
    wte = np.empty(d, W_K.dtype)
    cvec = np.empty(d, W_K.dtype)
    kt = np.empty(dk, W_K.dtype)
    proj = np.empty(d, W_K.dtype)
    # the sums over free units of g W_hi0[u] (_via_mhn_part's, and hq of the W_Q gradient): float64 even for
    # float32 weights, as the unit signals g are (``one = zero + 1`` is a float64)
    scratch = (proj, kt, drive, aK, cvec, np.empty(dk, np.float64))
    hq = np.empty(dk, np.float64)
    KS = np.empty((C + 1, dk), W_K.dtype)  # the keys of a sequence's items and query (no input projections)
    DS = np.empty((C + 1, nh), W_K.dtype)  # their initial-key drives, unit by unit
    raw_flat = raw.ravel()
    for s in range(S):
        _mt_fill(fast_states[s], fast_cursor[s], raw_flat)
        # The small matrix products of a batch (here and in the updates) sum every element in the order of
        # a scalar dot product, with the output's columns innermost, so that the loops run in vector lanes
        # instead of as chains of dependent additions (same rounding).
        for i in range(d):
            for j in range(d):
                GK[i, j] = zero
                MQ[i, j] = zero
            for k in range(dk):
                wki = W_K[s, k, i]
                for j in range(d):
                    GK[i, j] += wki * W_K[s, k, j]
                    MQ[i, j] += wki * W_Q[s, k, j]
        if not has_items:
            for i in range(d):
                for k in range(dk):
                    WKT[i, k] = W_K[s, k, i]
        CQ[:] = zero
        HQ0[:] = zero
        dWV[:] = zero
        A[:] = zero
        G0T[:] = zero
        T[:] = zero
        if diagnose:
            Av[:] = zero
            G0vT[:] = zero
            S2[:] = zero
            T2[:] = zero
            R4[:] = zero
            CT[:] = zero
        n_right = 0
        n_coll = 0
        tot_loss = zero
        for b in range(B):
            r = raw[b]
            # ---- storage (eq-methods-mhn-store)
            if not has_items:
                for u in range(nh):
                    r_u = r[u * dk:(u + 1) * dk]  # slices, not r[u * dk + k]: no wrap-around checks in loops
                    w_u = W_hi0[u]
                    for k in range(dk):
                        w_u[k] = half * r_u[k]
                    for k in range(dk):
                        W_hi0T[k, u] = w_u[k]
                # the initial-key drives of the context items' keys and of the query (row C), in one pass
                for t in range(C):
                    for k in range(dk):
                        KS[t, k] = WKT[tok[s, b, t], k]
                for k in range(dk):
                    KS[C, k] = W_Q[s, k, qtok[s, b]]
                _initial_key_drives_of(W_hi0T, KS, DS)
            for u in range(nh):
                holder[u] = -1
            hit = False
            for t in range(C):
                xt_tok = tok[s, b, t]
                top = -np.inf
                for u in range(nh):
                    proj_u = W_items[u, xt_tok] if has_items else zero
                    j = holder[u]
                    if j >= 0:
                        drive[u] = GK[tok[s, b, j], xt_tok] + proj_u
                    elif has_items:
                        drive[u] = proj_u
                    else:  # only free units read the initial-key drive
                        drive[u] = DS[t, u] + proj_u
                    if drive[u] > top:
                        top = drive[u]
                # the first unit of largest score among those at the top drive: the largest score, then the
                # first unit that has it (two short loops instead of one chain of dependent compare-and-keep
                # steps; recomputing the scores is faster than storing them)
                tie_noise = r[o_tn + t * nh:o_tn + (t + 1) * nh]
                best_score = -one
                for u in range(nh):
                    score = one + tie_noise[u] if drive[u] >= top else -one
                    best_score = max(best_score, score)
                best = 0
                for u in range(nh - 1, -1, -1):
                    score = one + tie_noise[u] if drive[u] >= top else -one
                    best = u if score == best_score else best
                hit = hit or holder[best] >= 0
                holder[best] = t
            n_coll += 1 if hit else 0
            # a unit holding an item stores it (one-hot: W_reinst[u] = x_j, kept as the index item[u])
            # and its value W_V x_j; a free unit keeps its initial draws (W_reinst[u] = raw row)
            for u in range(nh):
                j = holder[u]
                if j >= 0:
                    item[u] = tok[s, b, j]
                    W_oh[0, u] = W_V[s, 0, item[u]]
                    W_oh[1, u] = W_V[s, 1, item[u]]
                else:
                    item[u] = -1
                    W_oh[0, u] = r[o_oh + u]
                    W_oh[1, u] = r[o_oh + nh + u]
            # ---- query (eq-methods-mhn-query)
            qt = qtok[s, b]
            if not has_items:  # the free units' matches with the query's key W_Q x_q
                for u in range(nh):
                    drive[u] = DS[C, u]
            _attend(item, MQ[:, qt], beta, has_items, mask_unrecruited, drive, a)
            y0 = zero
            y1 = zero
            for u in range(nh):
                y0 += W_oh[0, u] * a[u]
                y1 += W_oh[1, u] * a[u]
            for i in range(d):
                xt[i] = zero
            for u in range(nh):
                if item[u] >= 0:
                    xt[item[u]] += a[u]
                else:
                    reinst = r[o_re + u * d:o_re + (u + 1) * d]
                    for i in range(d):
                        xt[i] += a[u] * reinst[i]
            c = target[s, b]
            n_right += 1 if (1 if y1 > y0 else 0) == c else 0
            # ---- local gradients (eq-methods-mhn-grads)
            e0 = -(one if c == 0 else zero)
            e1 = -(one if c == 1 else zero)
            v0 = zero
            v1 = zero
            for i in range(d):
                v0 += W_V[s, 0, i] * xt[i]
                v1 += W_V[s, 1, i] * xt[i]
            e0 += v0
            e1 += v1
            for i in range(d):
                wte[i] = e0 * W_V[s, 0, i] + e1 * W_V[s, 1, i]
            au = zero
            for u in range(nh):
                if item[u] >= 0:
                    uu = wte[item[u]]
                else:
                    uu = zero
                    reinst = r[o_re + u * d:o_re + (u + 1) * d]
                    for i in range(d):
                        uu += reinst[i] * wte[i]
                drive[u] = uu
                au += a[u] * uu
            for i in range(d):
                cvec[i] = zero
            if not has_items:  # hq: the free units' initial-key part (no input projections)
                for k in range(dk):
                    hq[k] = 0.0
            for u in range(nh):
                g = beta * (a[u] * (drive[u] - au))
                if item[u] >= 0:
                    cvec[item[u]] += g
                elif not has_items:
                    for k in range(dk):
                        hq[k] += g * W_hi0[u, k]  # along a row: contiguous, in vector lanes
            if not has_items:
                for k in range(dk):
                    HQ0[qt, k] += hq[k]
            for i in range(d):
                CQ[qt, i] += cvec[i]
            if via_output:
                ev0 = y0 - (one if c == 0 else zero)
                ev1 = y1 - (one if c == 1 else zero)
            else:
                ev0, ev1 = e0, e1
            for i in range(d):
                dWV[0, i] += ev0 * xt[i]
                dWV[1, i] += ev1 * xt[i]
            if rule == 0:
                tot_loss += e0 * e0 + e1 * e1
            else:
                f0 = y0 - (one if c == 0 else zero)
                f1 = y1 - (one if c == 1 else zero)
                tot_loss += f0 * f0 + f1 * f1
            # ---- the W_K rule's per-sequence part (eq-methods-wk-rules)
            if rule == 1:  # via_mhn: query the memory with the re-keyed reinstated item
                _via_mhn_part(c, xt, item, WKT, GK, W_oh, W_hi0T, W_hi0, has_items, mask_unrecruited, beta, A, G0T,
                              scratch)
            elif rule == 2 or rule == 3:  # qk_align / hebbian: sum x~ x~^T and x~ per query token
                for i in range(d):
                    T[qt, i] += xt[i]
                if rule == 2:
                    for i2 in range(d):
                        for i in range(d):
                            A[i2, i] += xt[i2] * xt[i]
            elif rule == 4:  # exact_onehot: x~ * (W_V^T e) - (y_hat^T e) x~, per query token
                ye = (e0 + (one if c == 0 else zero)) * e0 + (e1 + (one if c == 1 else zero)) * e1
                for i in range(d):
                    T[qt, i] += xt[i] * wte[i] - ye * xt[i]
            if diagnose:
                _via_mhn_part(c, xt, item, WKT, GK, W_oh, W_hi0T, W_hi0, has_items, mask_unrecruited, beta, Av, G0vT,
                              scratch)
                ye = (e0 + (one if c == 0 else zero)) * e0 + (e1 + (one if c == 1 else zero)) * e1
                for i in range(d):
                    T2[qt, i] += xt[i]
                    R4[qt, i] += xt[i] * wte[i] - ye * xt[i]
                    for i2 in range(d):
                        S2[i2, i] += xt[i2] * xt[i]
                # the slot-based transformer on the same sequence (gamma = beta): its W_K readout
                for t in range(C):
                    ta[t] = beta * MQ[tok[s, b, t], qt]
                _softmax(ta, C, ta)
                h0 = zero
                h1 = zero
                for t in range(C):
                    h0 += ta[t] * W_V[s, 0, tok[s, b, t]]
                    h1 += ta[t] * W_V[s, 1, tok[s, b, t]]
                f0 = h0 - (one if c == 0 else zero)
                f1 = h1 - (one if c == 1 else zero)
                for t in range(C):
                    item_t = tok[s, b, t]
                    CT[qt, item_t] += beta * ta[t] * ((W_V[s, 0, item_t] - h0) * f0 + (W_V[s, 1, item_t] - h1) * f1)
        acc[s] = n_right / B
        coll[s] = n_coll / B
        loss[s] = tot_loss
        # ---- updates: W_Q, then W_V, then W_K (alg-mhn-transformer-step)
        for qt in range(d):
            for i in range(d):
                CQT[i, qt] = CQ[qt, i]
        for k in range(dk):
            for qt in range(d):
                vec[qt] = zero
            for i in range(d):
                wki = W_K[s, k, i]
                for qt in range(d):
                    vec[qt] += wki * CQT[i, qt]
            for qt in range(d):
                W_Qn[k, qt] = W_Q[s, k, qt] - lr * (two * (vec[qt] + HQ0[qt, k]))
        if diagnose:
            for k in range(dk):
                D6[:] = zero
                for j in range(d):
                    wk = W_K[s, k, j]
                    wqn = W_Qn[k, j]
                    wq = W_Q[s, k, j]
                    for i in range(d):
                        D6[0, i] += wk * Av[j, i]
                        D6[1, i] += wk * S2[j, i] - wqn * T2[j, i]
                        D6[2, i] -= wqn * T2[j, i]
                        D6[3, i] += wq * R4[j, i]
                        D6[4, i] += wq * CQ[j, i]
                        D6[5, i] += wq * CT[j, i]
                for i in range(d):
                    directions[s, 0, k, i] = two * beta * (D6[0, i] + G0vT[i, k])
                    directions[s, 1, k, i] = two * D6[1, i]
                    directions[s, 2, k, i] = D6[2, i]
                    directions[s, 3, k, i] = two * beta * D6[3, i]
                    directions[s, 4, k, i] = two * D6[4, i]
                    directions[s, 5, k, i] = two * D6[5, i]
        for ci in range(2):
            for i in range(d):
                W_V[s, ci, i] = W_V[s, ci, i] - lr * (two * dWV[ci, i])
        if rule != 0:
            for k in range(dk):
                for i in range(d):
                    vec[i] = zero
                for j in range(d):  # j: i2 or a query token, summed in ascending order
                    if rule == 1:
                        w = W_K[s, k, j]
                        for i in range(d):
                            vec[i] += w * A[j, i]
                    elif rule == 2:
                        w = W_K[s, k, j]
                        wn = W_Qn[k, j]
                        for i in range(d):
                            vec[i] += w * A[j, i] - wn * T[j, i]
                    elif rule == 3:
                        wn = W_Qn[k, j]
                        for i in range(d):
                            vec[i] -= wn * T[j, i]
                    elif rule == 4:
                        w = W_Q[s, k, j]
                        for i in range(d):
                            vec[i] += w * T[j, i]
                    else:  # exact_reinstatement: the stored-key path of the QV loss
                        w = W_Q[s, k, j]
                        for i in range(d):
                            vec[i] += w * CQ[j, i]
                for i in range(d):
                    if rule == 1:
                        G[k, i] = two * beta * (vec[i] + G0T[i, k])
                    elif rule == 2 or rule == 5:
                        G[k, i] = two * vec[i]
                    elif rule == 3:
                        G[k, i] = vec[i]
                    else:
                        G[k, i] = two * beta * vec[i]
            for k in range(dk):
                for i in range(d):
                    W_K[s, k, i] = W_K[s, k, i] - key_lr * G[k, i]
        for k in range(dk):
            for qt in range(d):
                W_Q[s, k, qt] = W_Qn[k, qt]


@nb.njit(cache=True)
def transformer_batch_step(W_Q, W_K, W_V, tok, qtok, target, paper_time_gradient, prm, acc, loss):
    """One training batch of the minimal transformer for every seed (``eq-methods-transformer``,
    ``eq-methods-transformer-grads``): forward pass, the explicit gradients of the summed loss
    (``paper_time_gradient``: the paper-time quirk, unscaled softmax and no gamma in every gradient
    term), and the update of W_Q, W_K and W_V in place. Writes ``acc, loss (S,)``."""
    S, dk, d = W_K.shape
    B, C = tok.shape[1], tok.shape[2]
    gamma, lr = prm[PRM_GAMMA], prm[PRM_LR]
    zero = gamma - gamma
    one = zero + 1
    two = one + one
    MQ = np.empty((d, d), W_K.dtype)
    CQ = np.empty((d, d), W_K.dtype)  # [qt, i]: sum over the batch of X g for query token qt
    dWV = np.empty((2, d), W_K.dtype)
    sc = np.empty(C, W_K.dtype)
    a = np.empty(C, W_K.dtype)
    ap = np.empty(C, W_K.dtype)
    dQ = np.empty((dk, d), W_K.dtype)
    dK = np.empty((dk, d), W_K.dtype)
    for s in range(S):
        for i in range(d):
            for j in range(d):
                mq = zero
                for k in range(dk):
                    mq += W_K[s, k, i] * W_Q[s, k, j]
                MQ[i, j] = mq
        CQ[:] = zero
        dWV[:] = zero
        n_right = 0
        tot_loss = zero
        for b in range(B):
            qt = qtok[s, b]
            for t in range(C):
                sc[t] = MQ[tok[s, b, t], qt]
                a[t] = gamma * sc[t]
            _softmax(a, C, a)
            y0 = zero
            y1 = zero
            for t in range(C):
                y0 += a[t] * W_V[s, 0, tok[s, b, t]]
                y1 += a[t] * W_V[s, 1, tok[s, b, t]]
            c = target[s, b]
            n_right += 1 if (1 if y1 > y0 else 0) == c else 0
            e0 = y0 - (one if c == 0 else zero)
            e1 = y1 - (one if c == 1 else zero)
            tot_loss += e0 * e0 + e1 * e1
            if paper_time_gradient:  # every gradient term uses the unscaled softmax, no gamma
                _softmax(sc, C, ap)
                m0 = zero
                m1 = zero
                for t in range(C):
                    m0 += ap[t] * W_V[s, 0, tok[s, b, t]]
                    m1 += ap[t] * W_V[s, 1, tok[s, b, t]]
                scale = one
            else:
                for t in range(C):
                    ap[t] = a[t]
                m0, m1, scale = y0, y1, gamma
            for t in range(C):  # x~ = sum_t a_t x_t has a_t at each (distinct) context token
                item = tok[s, b, t]
                dWV[0, item] += e0 * ap[t]
                dWV[1, item] += e1 * ap[t]
                g = scale * ap[t] * ((W_V[s, 0, item] - m0) * e0 + (W_V[s, 1, item] - m1) * e1)
                CQ[qt, item] += g
        acc[s] = n_right / B
        loss[s] = tot_loss
        for k in range(dk):
            for j in range(d):
                hq = zero
                hk = zero
                for i in range(d):
                    hq += W_K[s, k, i] * CQ[j, i]
                    hk += W_Q[s, k, i] * CQ[i, j]
                dQ[k, j] = two * hq
                dK[k, j] = two * hk
        for k in range(dk):
            for j in range(d):
                W_Q[s, k, j] = W_Q[s, k, j] - lr * dQ[k, j]
                W_K[s, k, j] = W_K[s, k, j] - lr * dK[k, j]
        for ci in range(2):
            for i in range(d):
                W_V[s, ci, i] = W_V[s, ci, i] - lr * (two * dWV[ci, i])


# ------------------------------------------------------------------ torch's CPU generator, compiled
_MT_N = 624
_MT_M = 397
_MT_MATRIX_A = np.uint32(0x9908B0DF)
_MT_UPPER = np.uint32(0x80000000)
_MT_LOWER = np.uint32(0x7FFFFFFF)
#: Byte offsets in ``torch.Generator.get_state()`` (CPU): ``left`` (int32), ``next`` (uint64) and the
#: 624 state words (one uint64 each) of its Mersenne twister.
_STATE_LEFT, _STATE_NEXT, _STATE_WORDS = 8, 16, 24


@nb.njit(cache=True)
def _mt_twist(state):
    """Regenerate the 624 words of an MT19937 state (the reference algorithm, as torch's ``at::mt19937``)."""
    one = np.uint32(1)
    for i in range(_MT_N - _MT_M):
        y = (state[i] & _MT_UPPER) | (state[i + 1] & _MT_LOWER)
        state[i] = state[i + _MT_M] ^ (y >> one) ^ (_MT_MATRIX_A * (y & one))
    for i in range(_MT_N - _MT_M, _MT_N - 1):
        y = (state[i] & _MT_UPPER) | (state[i + 1] & _MT_LOWER)
        state[i] = state[i + _MT_M - _MT_N] ^ (y >> one) ^ (_MT_MATRIX_A * (y & one))
    y = (state[_MT_N - 1] & _MT_UPPER) | (state[0] & _MT_LOWER)
    state[_MT_N - 1] = state[_MT_M - 1] ^ (y >> one) ^ (_MT_MATRIX_A * (y & one))


@nb.njit(cache=True)
def mt_uniform_fill(states, cursor, out):  # pragma: no cover - compiled
    """Fill ``out[s]`` (float32, any shape per seed, in memory order) with the numbers that
    ``torch.rand(..., generator=g_s)`` would draw from the CPU generator whose Mersenne-twister state
    is ``states[s] (624,) uint32`` with ``cursor[s] = (left, next)``; advances the states.

    torch's CPU ``uniform_`` for float32 takes one 32-bit output per number and returns
    ``(y & (2**24 - 1)) * 2**-24`` (exact in float32). The compiled training step draws its fast-weight
    initialisations seed by seed with :func:`_mt_fill` ({prf:ref}`alg-mhn-transformer-step`), so that they
    are the readable path's draws without a torch call per seed.
    """
    for s in range(states.shape[0]):
        _mt_fill(states[s], cursor[s], out[s].ravel())


@nb.njit(cache=True)
def _mt_fill(state, cursor, flat):
    """Fill ``flat`` (float32, 1-d) with the next draws of one generator (:func:`mt_uniform_fill`):
    ``state (624,) uint32``, ``cursor = (left, next)``, both advanced in place. Each number is tempered
    straight into ``flat`` (one pass)."""
    left = cursor[0]
    nxt = cursor[1]
    n = 0
    total = flat.shape[0]
    while n < total:
        if left == 1:  # the next draw regenerates the state (torch: --left == 0)
            _mt_twist(state)
            left = _MT_N + 1
            nxt = 0
        m = min(left - 1, total - n)  # draws left before the next regeneration
        # through slices: indices known to be non-negative, so the loop vectorises (with ``flat[n + q]`` it
        # did not, and drawing took four times as long)
        dst = flat[n:n + m]
        src = state[nxt:nxt + m]
        for q in range(m):
            dst[q] = _mt_number(src[q])
        n += m
        nxt += m
        left -= m
    cursor[0] = left
    cursor[1] = nxt


@nb.njit(cache=True, inline="always")
def _mt_number(word):
    """The float32 number of one state word: MT19937 tempering, then torch's
    ``(y & (2**24 - 1)) * 2**-24``. Branch-free, so that a run of words vectorises."""
    y = word
    y ^= y >> np.uint32(11)
    y ^= (y << np.uint32(7)) & np.uint32(0x9D2C5680)
    y ^= (y << np.uint32(15)) & np.uint32(0xEFC60000)
    y ^= y >> np.uint32(18)
    # via int32 (the 24 bits fit): the int-to-float conversion of the vector units is signed
    return np.float32(np.int32(y & np.uint32(0xFFFFFF))) * np.float32(5.9604644775390625e-08)


def mt_states(generators):
    """The Mersenne-twister states of CPU ``torch.Generator`` objects, for :func:`mt_uniform_fill`
    ({prf:ref}`alg-mhn-transformer-step`): ``(states (S, 624) uint32, cursor (S, 2) int64)``."""
    states = np.empty((len(generators), _MT_N), dtype=np.uint32)
    cursor = np.empty((len(generators), 2), dtype=np.int64)
    for s, g in enumerate(generators):
        raw = g.get_state().numpy()
        states[s] = np.frombuffer(raw, dtype="<u8", count=_MT_N, offset=_STATE_WORDS)
        cursor[s, 0] = np.frombuffer(raw, dtype="<i4", count=1, offset=_STATE_LEFT)[0]
        cursor[s, 1] = np.frombuffer(raw, dtype="<u8", count=1, offset=_STATE_NEXT)[0]
    return states, cursor


def set_mt_states(generators, states, cursor) -> None:
    """Write states advanced by :func:`mt_uniform_fill` back into the ``torch.Generator`` objects
    ({prf:ref}`alg-mhn-transformer-step`), so that torch's own draws continue from there."""
    import torch

    for s, g in enumerate(generators):
        raw = g.get_state().numpy().copy()
        raw[_STATE_WORDS:_STATE_WORDS + 8 * _MT_N] = states[s].astype("<u8").view(np.uint8)
        raw[_STATE_LEFT:_STATE_LEFT + 4] = np.array([cursor[s, 0]], dtype="<i4").view(np.uint8)
        raw[_STATE_NEXT:_STATE_NEXT + 8] = np.array([cursor[s, 1]], dtype="<u8").view(np.uint8)
        g.set_state(torch.from_numpy(raw))


# ------------------------------------------------------------- training sequences with exclusions
@nb.njit(cache=True)
def _task_row(u, p, L, C, r, letters, cases, query, order):
    """Sequence ``r`` from the ``L + C + 1`` uniform draws ``u[p:]``, as :func:`slotless.attention.task.draw_sequences`
    makes it: letters = the first C of the argsort of ``u[p:p+L]`` (insertion sort: ties keep index order, as
    numpy's sort of short rows does), cases ``u < 0.5``, query ``min(floor(C u), C - 1)``; returns its id
    (:func:`slotless.attention.task.sequence_ids`). ``order``: int64 scratch of length L."""
    for i in range(L):
        order[i] = i
    for i in range(1, L):
        v = order[i]
        key = u[p + v]
        j = i - 1
        while j >= 0 and u[p + order[j]] > key:
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = v
    ident = 0
    for c in range(C):
        letters[r, c] = order[c]
        ident = ident * L + order[c]
    for c in range(C):
        cases[r, c] = 1 if u[p + L + c] < 0.5 else 0
        ident = ident * 2 + cases[r, c]
    query[r] = min(np.int64(u[p + L + C] * C), C - 1)
    return ident * C + query[r]


@nb.njit(cache=True, inline="always")
def _put_tokens(letters, cases, query, r, L, tok, qtok, target, j, s, row):  # pragma: no cover - compiled
    """Write sequence ``r`` of ``letters, cases (n, C)``, ``query (n,)`` as the training step's tokens of batch
    ``j``, seed ``s``, row ``row``: context tokens ``letter + L case`` into ``tok (n, S, B, C)``, the query token
    ``2L +`` the queried letter into ``qtok`` and the queried case into ``target`` (``sec-methods-task``)."""
    for c in range(letters.shape[1]):
        tok[j, s, row, c] = letters[r, c] + L * cases[r, c]
    qtok[j, s, row] = 2 * L + letters[r, query[r]]
    target[j, s, row] = cases[r, query[r]]


@nb.njit(cache=True)
def draw_task_tokens(u, L, C, s, tok, qtok, target):  # pragma: no cover - compiled
    """Seed ``s``'s training tokens for a chunk of ``n`` batches of ``B`` sequences, from the ``n B (L + C + 1)``
    numbers ``u`` (1-d) of :func:`slotless.attention.task.draw_sequences`' one ``rng.random`` call for ``n B``
    sequences: sequence ``i`` (:func:`_task_row`) goes to batch ``i // B``, row ``i % B`` of
    ``tok (n, S, B, C)`` (``letter + L case``), ``qtok (n, S, B)`` (``2L +`` the queried letter) and
    ``target (n, S, B)`` (the queried case). These are the training step's tokens of draw_sequences'
    sequences, laid out so that each batch's are one contiguous block (``sec-methods-task``)."""
    n, _, B, _ = tok.shape
    K = L + C + 1
    letters = np.empty((1, C), np.int64)
    cases = np.empty((1, C), np.int64)
    query = np.empty(1, np.int64)
    order = np.empty(L, np.int64)
    for i in range(n * B):
        _task_row(u, i * K, L, C, 0, letters, cases, query, order)
        _put_tokens(letters, cases, query, 0, L, tok, qtok, target, i // B, s, i % B)


@nb.njit(cache=True)
def _is_excluded(exclude, ident):
    """Whether ``ident`` is in the sorted array ``exclude`` (binary search)."""
    i = np.searchsorted(exclude, ident)
    return i < exclude.shape[0] and exclude[i] == ident


@nb.njit(cache=True)
def draw_task_rows(u, pos, L, C, exclude, letters, cases, query, bad):  # pragma: no cover - compiled
    """Fill ``letters, cases (n, C)`` and ``query (n,)`` with ``n`` sequences drawn from the uniform numbers
    ``u[pos:]``, redrawing every sequence whose id is in the sorted array ``exclude``: the sequences, and the
    numbers used, of :func:`slotless.attention.task.draw_sequences` followed by
    :func:`slotless.attention.task.redraw_excluded` on a generator whose ``random()`` numbers are ``u[pos:]``
    (``sec-methods-task``). Returns the position after the last number used; -1 if ``u`` ran out (nothing is
    committed: call again with more numbers); -2 after 10 000 rounds of redraws. ``bad``: bool scratch (n,).
    """
    n = query.shape[0]
    K = L + C + 1
    order = np.empty(L, np.int64)
    if pos + n * K > u.shape[0]:
        return -1
    for r in range(n):
        bad[r] = _is_excluded(exclude, _task_row(u, pos, L, C, r, letters, cases, query, order))
        pos += K
    for _ in range(10_000):
        n_bad = 0
        for r in range(n):
            n_bad += 1 if bad[r] else 0
        if n_bad == 0:
            return pos
        if pos + n_bad * K > u.shape[0]:
            return -1
        for r in range(n):  # the excluded rows, in ascending order, from the next numbers
            if bad[r]:
                bad[r] = _is_excluded(exclude, _task_row(u, pos, L, C, r, letters, cases, query, order))
                pos += K
    return -2


@nb.njit(cache=True)
def draw_task_batches(u, pos, L, C, exclude, s, first, tok, qtok, target, letters, cases, query, bad):  # pragma: no cover - compiled
    """Batches ``first``, ``first + 1``, ... of seed ``s``'s training tokens (the layout of
    :func:`draw_task_tokens`: ``tok (n, S, B, C)``, ``qtok, target (n, S, B)``), each batch the ``B``
    sequences of one :func:`draw_task_rows` call (held-out ids redrawn), from the numbers ``u[pos:]``:
    the tokens of ``B``-sequence draws of :class:`slotless.attention.task.TaskStream`, call after call.
    Returns ``(j, pos, status)``: batches before ``j`` are written and ``pos`` is the position after their
    last number; status 0: all written (j = n); -1: ``u`` ran out in batch j (call again from j with more
    numbers); -2: batch j's redraws did not end. ``letters, cases (B, C)``, ``query (B,)``, ``bad (B,)``:
    scratch."""
    n, _, B, _ = tok.shape
    for j in range(first, n):
        p = draw_task_rows(u, pos, L, C, exclude, letters, cases, query, bad)
        if p < 0:
            return j, pos, p
        pos = p
        for r in range(B):
            _put_tokens(letters, cases, query, r, L, tok, qtok, target, j, s, r)
    return n, pos, 0
