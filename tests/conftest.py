import os
import sys
from pathlib import Path

# Kernels must not inherit a non-interactive backend: it silently drops figures.
os.environ.pop("MPLBACKEND", None)
# Results cached on disk must never stand in for a test's own computation.
os.environ.pop("SLOTLESS_CACHE", None)
sys.path.insert(0, str(Path(__file__).resolve().parent))
