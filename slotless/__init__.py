"""slotless: an executable reproduction of *Neural Computation Without Slots*
(Bhandarkar & McClelland, arXiv 2511.04593).

One module per idea:

- ``patterns``  random s-sparse patterns, partial cues, nested-CRP trees
- ``networks``  the K-winner and 1-winner modern Hopfield networks
- ``protocol``  the continual-learning protocol (burn-in, learn, retrieve, score)
- ``metrics``   accuracy by age, raw difference, paired d', AUC, SDT d', fits
- ``theory``    exact and approximate formulas for the formal results
- ``task``      the Case Sequence Task
- ``models``    the minimal transformer and the MHN-Transformers
- ``training``  seed-stacked training sweeps
- ``plots``     shared figure styling
- ``cli``       ``python -m slotless ...``, a thin layer over the above
- ``checks``    argument validation with one-line errors
- ``io``        atomic writes and the keyed result cache
"""

__version__ = "0.1.0"

import os as _os

import numba as _numba

from .io import PACKAGE_DIR as _PACKAGE_DIR
from .io import source_hash as _source_hash

# numba's on-disk cache notices edits to the file of a cached function, but not to the functions it
# compiles in from other modules (a kernel in protocol.py would keep an old tree generator from
# patterns.py). One cache directory per version of the package source makes a stale kernel impossible.
if not _os.environ.get("NUMBA_CACHE_DIR"):
    _numba.config.CACHE_DIR = str(_PACKAGE_DIR / "__pycache__" / f"numba-{_source_hash()[:16]}")
