"""Small pure helpers: percentiles, ratios, formatting, sizes."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        return math.nan
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def p95(values: Sequence[float]) -> float:
    return percentile(values, 95)


def ratio(num: float, den: float) -> float:
    if not den or math.isnan(num) or math.isnan(den):
        return math.nan
    return num / den


def fmt_ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}x"


def fmt_s(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) < 0.0005:
        return "0 ms"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def fmt_bytes(n: float) -> str:
    if math.isnan(n):
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def scaled(default: int, scale: float, minimum: int = 1) -> int:
    """A size from the issue's default times ``--scale``, never below ``minimum``."""
    return max(minimum, round(default * scale))


def meets(value: float, target: float, higher_is_better: bool) -> bool | None:
    if math.isnan(value):
        return None
    return value >= target if higher_is_better else value <= target
