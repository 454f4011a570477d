"""slotless: an executable reproduction of *Neural Computation Without Slots*
(Bhandarkar & McClelland, arXiv 2511.04593). The package mirrors the book:

- ``memory/``     Part I: ``patterns``, ``network`` (the K-winner and 1-winner MHN), ``kernels`` (every
  compiled function of Part I), ``protocol`` (continual learning), ``metrics`` (d', markers, fits),
  ``theory`` (the formal results), ``design_space`` (the design-space chapter), ``claims``
- ``attention/``  Part II: ``task`` (Case Sequence Task), ``tensors``, ``transformer``, ``mhn``
  (the MHN-Transformer), ``rules`` (the W_K rules), ``kernels`` (the compiled training steps),
  ``training`` (sweeps), ``diagnostics``, ``stats``, ``theory``, ``claims``
- ``book``        what every chapter shares: scale, seeds, shared runs, figure style
- ``figures/``    the figure-drawing code of each chapter
- ``claims``      the book's headline claims, in one list (``claim_types``: what a claim returns)
- ``sweeps``      the one engine for parallel work (Dask: a local cluster, a scheduler, or Slurm/PBS)
- ``perf/``       the straightforward reference implementation and the speed benchmark
- ``cli`` (``python -m slotless``), ``checks`` (one-line errors), ``io`` (safe result files, and the result
  cache keyed by the source as imported), ``rng``, ``warmup`` (compile every kernel)
"""

__version__ = "0.1.0"

import os as _os

import numba as _numba

from .io import numba_cache_dir as _numba_cache_dir

# numba's on-disk cache notices edits to the file of a cached function, but not to the functions it
# compiles in from other modules. One cache directory per version of the package source makes a
# stale kernel impossible.
if not _os.environ.get("NUMBA_CACHE_DIR"):
    _numba.config.CACHE_DIR = str(_numba_cache_dir())
