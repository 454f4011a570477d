import os
import sys
from pathlib import Path

# Kernels must not inherit a non-interactive backend: it silently drops figures.
os.environ.pop("MPLBACKEND", None)
# Results cached on disk must never stand in for a test's own computation.
os.environ.pop("SLOTLESS_CACHE", None)
sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_configure(config):
    """nbval's golden-notebook kernels start again when they never started (the same rule as the chapter
    executions: slotless.execute.with_kernel_retries), e.g. when another process took a port between
    jupyter_client choosing it and the kernel binding it. A kernel that started is never restarted."""
    try:
        import nbval.plugin
    except ImportError:  # nbval not installed: nothing to patch
        return
    from slotless.execute import with_kernel_retries

    started_once = nbval.plugin.RunningKernel
    if getattr(started_once, "retries_start", False):
        return

    class RunningKernel(started_once):
        retries_start = True

        def __init__(self, *args, **kwargs):
            with_kernel_retries(lambda: started_once.__init__(self, *args, **kwargs))

    nbval.plugin.RunningKernel = RunningKernel
