# Pure duration parsing for operator_sdk.util.requeue_after (no Ansible imports).
"""Go durations (what ``time.ParseDuration`` accepts, without a sign) to seconds."""

from __future__ import annotations

import re

UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign
    "\u03bcs": 1e-6,  # greek small letter mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_UNIT = "|".join(sorted((re.escape(unit) for unit in UNIT_SECONDS), key=len, reverse=True))
_PART = re.compile(rf"({_NUMBER})({_UNIT})")
_DURATION = re.compile(rf"^\+?(?:{_NUMBER}(?:{_UNIT}))+$")
_SECONDS = re.compile(rf"^\+?{_NUMBER}$")

HINT = 'a Go duration such as "30s", "5m", "1h30m" or "500ms" (units: ns, us, ms, s, m, h)'


def parse_duration(text: str) -> float:
    """Seconds in ``text``; a plain number counts as seconds.  Raises ValueError when invalid."""
    if not isinstance(text, str):
        raise ValueError(f"invalid duration {text!r}: expected {HINT}")
    value = text.strip()
    if value.startswith("-"):
        raise ValueError(f"invalid duration {text!r}: must not be negative")
    if _SECONDS.match(value):
        return float(value.lstrip("+"))
    if not _DURATION.match(value):
        raise ValueError(f"invalid duration {text!r}: expected {HINT}")
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in _PART.findall(value))
