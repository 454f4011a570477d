"""Compile every kernel of both parts once, before several processes need them.

Numba compiles a kernel the first time it runs and stores it in its on-disk cache; processes that
start together would otherwise all compile at once. ``make book`` and ``make test`` call
:func:`compile_kernels` first, so that later processes only load the cache.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BOOK_DTYPES", "compile_kernels"]

#: The dtypes ``make book`` compiles up front. Every simulation of the book runs in float32; its float64
#: cross-checks run in the chapter's own process (Part II's storage loop is the only compiled one, under
#: a second to compile there), so compiling float64 for both parts up front (about 30 s of CPU) would be wasted.
BOOK_DTYPES = ("float32",)


def compile_kernels(dtypes=("float32", "float64"), processes: int | None = None) -> None:
    """Compile (or load from numba's on-disk cache) every compiled function of Part I and Part II, on
    tiny runs: the trial kernel for random and tree data, the MHN-Transformer's storage loop, the held-out
    draws and the compiled training steps, for each of ``dtypes``.

    Numba compiles in one thread, so the kernels of each part (Part I, Part II) and dtype compile as one job,
    and the jobs run in ``processes`` processes (default: one per core; 1 compiles everything here): on 2
    cores a cold compile of both dtypes takes about 43 s instead of 67 s, of float32 alone about 28 s. Two
    processes that compile the same function (one part in two dtypes) may each rewrite its cache index and
    drop the other's entry, so then a last pass here loads every kernel and compiles whatever is missing."""
    import os

    dtypes = tuple(dtypes)
    jobs = [(dtype, part) for part in ("memory", "attention") for dtype in dtypes]
    processes = min(len(jobs), os.cpu_count() or 1) if processes is None else processes
    if processes > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_compile, *zip(*jobs)))
        if len(dtypes) == 1:  # the jobs compiled disjoint sets of functions: every cache index is whole
            return
    for dtype in dtypes:
        _compile(dtype)


def _compile(dtype: str, part: str = "both") -> None:
    """Run every compiled function of Part I (``part="memory"``), Part II ("attention") or both once in
    ``dtype`` (see :func:`compile_kernels`)."""
    if part in ("memory", "both"):
        from .memory.network import NetworkConfig
        from .memory.protocol import ProtocolConfig, run_trials

        network = NetworkConfig(20, 10, 4, 0.5, 2, 0.5)
        run_trials(network, ProtocolConfig(5, 5, 5), 1, 0, dtype=dtype)
        run_trials(network, ProtocolConfig(5, 5, 5, data="tree", flips=1), 1, 0, dtype=dtype)
    if part == "memory":
        return
    from .attention import mhn, task, training
    from .attention.tensors import torch_dtype, torch_generators

    config = mhn.MHNConfig(letters=2, context=2, hidden=4)
    generators = torch_generators(0, 1, "compile")
    slow = mhn.init_mhn(config, generators, dtype)
    X = task.encode(task.draw_sequences(2, 2, 1, np.random.default_rng(0)), 2, torch_dtype(dtype))[0]
    init = mhn.draw_fast_init(config, 1, generators, dtype)
    mhn.mhn_store(config, slow.W_K, slow.W_V, X, *init, W_items=mhn.item_projections(config, dtype))
    stream = task.TaskStream(2, 2, np.random.default_rng(0), np.array([0]))  # the held-out draws, both paths'
    stream.draw(1)
    stream.draw_tokens(0, np.empty((1, 1, 1, 2), np.int64), np.empty((1, 1, 1), np.int64), np.empty((1, 1, 1), np.int64))
    for model in ("transformer", "mhn-wk"):  # the compiled training steps
        tiny = dict(letters=2, context=2, dtype=dtype, **({} if model == "transformer" else {"hidden": 4}))
        training.run_sweep(training.resolve_config(model, **tiny), 1, 1, 2)
