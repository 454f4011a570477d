"""Compile every kernel of both parts once, before several processes need them.

Numba compiles a kernel the first time it runs and stores it in its on-disk cache; processes that
start together would otherwise all compile at once. ``make book`` and ``make test`` call
:func:`compile_kernels` first, so that later processes only load the cache.
"""

from __future__ import annotations

import numpy as np

__all__ = ["compile_kernels"]


def compile_kernels(dtypes=("float32", "float64"), processes: int | None = None) -> None:
    """Compile (or load from numba's on-disk cache) every compiled function of Part I and Part II, on
    tiny runs: the trial kernel for random and tree data, the MHN-Transformer's storage loop, the held-out
    draws and the compiled training steps, for each of ``dtypes``.

    Numba compiles in one thread, so the kernels of each part (Part I, Part II) and dtype compile as one job,
    and the jobs run in ``processes`` processes (default: one per core; 1 compiles everything here): on 2
    cores a cold compile takes about 45 s instead of 67 s. Two processes that compile the same function may
    each rewrite its cache index and drop the other's entry, so a last pass here loads every kernel and
    compiles whatever is missing."""
    import os

    dtypes = tuple(dtypes)
    jobs = [(dtype, part) for part in ("memory", "attention") for dtype in dtypes]
    processes = min(len(jobs), os.cpu_count() or 1) if processes is None else processes
    if processes > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_compile, *zip(*jobs)))
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
    task.TaskStream(2, 2, np.random.default_rng(0), np.array([0])).draw(1)  # the held-out draws
    for model in ("transformer", "mhn-wk"):  # the compiled training steps
        tiny = dict(letters=2, context=2, dtype=dtype, **({} if model == "transformer" else {"hidden": 4}))
        training.run_sweep(training.resolve_config(model, **tiny), 1, 1, 2)
