"""Argument validation: every public entry point rejects bad input with a
:class:`ConfigError` that names the parameter, the value and the allowed range.

The CLI turns a ``ConfigError`` into a one-line message and exit status 2. :func:`check_memory`
refuses, before any work, a request whose estimated memory exceeds what the machine has available.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

__all__ = [
    "ConfigError",
    "check_int",
    "check_float",
    "check_choice",
    "check_integer_product",
    "available_memory",
    "check_memory",
    "format_bytes",
]


class ConfigError(ValueError):
    """A parameter is outside its allowed range. The message names it."""


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as an int, or raise if it is not an integer in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        if isinstance(value, Real) and float(value).is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{name}={value!r} must be an integer{_range_text(lo, hi)}")
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{name}={value} is out of range: allowed{_range_text(lo, hi)}")
    return value


def check_float(
    name: str,
    value,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``value`` as a finite float in the interval, or raise.

    ``lo_open``/``hi_open`` make that end of the interval exclusive.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigError(f"{name}={value!r} must be a real number{_interval_text(lo, hi, lo_open, hi_open)}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name}={value} must be finite{_interval_text(lo, hi, lo_open, hi_open)}")
    below = lo is not None and (value <= lo if lo_open else value < lo)
    above = hi is not None and (value >= hi if hi_open else value > hi)
    if below or above:
        raise ConfigError(f"{name}={value} is out of range: allowed{_interval_text(lo, hi, lo_open, hi_open)}")
    return value


def check_choice(name: str, value, choices) -> str:
    """Return ``value`` if it is one of ``choices``, or raise listing them."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{name}={value!r} is not allowed: choose one of {allowed}")
    return value


def check_integer_product(name: str, fraction: float, total: int) -> int:
    """Return ``round(fraction * total)``, or raise unless it is a positive integer.

    The reference code truncates ``int(f * n)`` (0.29 * 100 -> 28); we insist that
    ``fraction * total`` is an integer to within 1e-9 instead (``sec-methods-network``).
    """
    product = fraction * total
    rounded = round(product)
    if abs(product - rounded) > 1e-9 or rounded < 1:
        raise ConfigError(
            f"{name}={fraction!r} gives {name}*{total}={product:g}, which must be a positive integer"
        )
    return int(rounded)


def _range_text(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def _interval_text(lo, hi, lo_open, hi_open) -> str:
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {hi:g}"
    return ""


def available_memory() -> int | None:
    """Bytes of memory this process can still get: the kernel's ``MemAvailable``, lowered by a cgroup
    limit if one is set (containers, batch schedulers); None where neither can be read."""
    values = []
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    values.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file, encoding="ascii") as handle:
                limit = handle.read().strip()
            with open(usage_file, encoding="ascii") as handle:
                usage = int(handle.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max" or a huge number: no limit
            values.append(max(int(limit) - usage, 0))
    return min(values) if values else None


def check_memory(estimates, available: int | None = None) -> None:
    """Refuse, before any work, a request whose estimated memory exceeds what is available.

    ``estimates``: ``(bytes, options)`` pairs, one per part of the run, ``options`` naming the settings
    that make that part large (e.g. ``"--trials, --memories"``). The message names the largest part's
    options. ``available`` defaults to :func:`available_memory` (nothing is checked if it is unknown).
    """
    estimates = [(float(n), options) for n, options in estimates]
    total = sum(n for n, _ in estimates)
    available = available_memory() if available is None else available
    if available is None or total <= available:
        return
    largest = max(estimates, key=lambda e: e[0])[1]
    raise ConfigError(f"this run needs about {format_bytes(total)} of memory, more than the "
                      f"{format_bytes(available)} available; reduce {largest}")


def format_bytes(n: float) -> str:
    """``n`` bytes for a message: "512 B", "3.2 MB", "32.0 PB" (powers of 1000)."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000:
            break
        n /= 1000.0
    else:
        unit = "EB"
    return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
