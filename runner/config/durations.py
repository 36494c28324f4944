"""Go-style durations (``10h``, ``1m30s``, ``500ms``) to and from seconds.

Accepts what Go's ``time.ParseDuration`` accepts (minus negative values), plus plain numbers, which
are taken as seconds (``30`` or ``"30"`` → 30 s).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

__all__ = ["format_duration", "parse_duration"]

_UNITS: dict[str, Decimal] = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "\u00b5s": Decimal("1e-6"),  # micro sign
    "\u03bcs": Decimal("1e-6"),  # Greek mu
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}
_NUMBER = r"(?:\d+\.?\d*|\.\d+)"
_UNIT = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_COMPONENT = re.compile(rf"({_NUMBER})({_UNIT})")
_DURATION = re.compile(rf"(?:{_NUMBER}(?:{_UNIT}))+")
_PLAIN_NUMBER = re.compile(rf"{_NUMBER}(?:[eE][-+]?\d+)?")

_HINT = "expected a Go duration such as 30s, 5m or 1h30m"


def _invalid(text: object, why: str = _HINT) -> ValueError:
    return ValueError(f"invalid duration {text!r}: {why}")


def parse_duration(text: str | int | float) -> float:
    """Return the duration ``text`` in seconds; raise ``ValueError`` if it is invalid or negative."""
    if isinstance(text, bool):
        raise _invalid(text)
    if isinstance(text, int | float):
        if not math.isfinite(text):
            raise _invalid(text, "must be a finite number of seconds")
        if text < 0:
            raise _invalid(text, "must not be negative")
        return float(text)
    if not isinstance(text, str):
        raise _invalid(text)
    s = text.strip()
    if s.startswith("-"):
        body = s[1:]
        if _DURATION.fullmatch(body) or _PLAIN_NUMBER.fullmatch(body):
            raise _invalid(text, "must not be negative")
        raise _invalid(text)
    if s.startswith("+"):
        s = s[1:]
    if _PLAIN_NUMBER.fullmatch(s):
        try:
            return float(Decimal(s))
        except InvalidOperation as exc:  # pragma: no cover - regex already guards the syntax
            raise _invalid(text) from exc
    if not _DURATION.fullmatch(s):
        unknown = [u for u in re.findall(r"[^\W\d_]+", s) if u not in _UNITS]
        if unknown and re.fullmatch(r"(?:[\d.]+[^\W\d_]+)+", s):
            raise _invalid(
                text, f"unknown unit {unknown[0]!r} (valid units: ns, us, ms, s, m, h; e.g. 48h for 2 days)"
            )
        raise _invalid(text)
    total = sum((Decimal(num) * _UNITS[unit] for num, unit in _COMPONENT.findall(s)), Decimal(0))
    return float(total)


def _trim(value: Decimal) -> str:
    """Format a decimal without exponent and without trailing zeros (``1.500`` → ``1.5``)."""
    out = format(value, "f")
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return out


def format_duration(seconds: float) -> str:
    """Format ``seconds`` compactly in Go notation: 36000 → ``10h``, 90 → ``1m30s``, 0.5 → ``500ms``."""
    if isinstance(seconds, bool) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"cannot format duration {seconds!r}: must be a finite, non-negative number")
    ns = round(Decimal(repr(float(seconds))) * Decimal(1_000_000_000))
    if ns == 0:
        return "0s"
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{_trim(Decimal(ns) / 1_000)}us"
    if ns < 1_000_000_000:
        return f"{_trim(Decimal(ns) / 1_000_000)}ms"
    hours, rest = divmod(ns, 3_600 * 1_000_000_000)
    minutes, rest = divmod(rest, 60 * 1_000_000_000)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if rest:
        parts.append(f"{_trim(Decimal(rest) / 1_000_000_000)}s")
    return "".join(parts)
