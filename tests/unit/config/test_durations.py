"""Go duration parsing and formatting."""

from __future__ import annotations

import math

import pytest

from runner.config.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10h", 36000.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("2h45m", 9900.0),
        ("0", 0.0),
        ("0s", 0.0),
        ("1ns", 1e-9),
        ("1us", 1e-6),
        ("1\u00b5s", 1e-6),
        ("1\u03bcs", 1e-6),
        ("250ms", 0.25),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        (".5s", 0.5),
        ("1.s", 1.0),
        ("1h0m0s", 3600.0),
        ("+5s", 5.0),
        (" 5s ", 5.0),
        ("30", 30.0),
        ("2.5", 2.5),
        (30, 30.0),
        (1.5, 1.5),
        (0, 0.0),
    ],
)
def test_parse_valid(text: str | int | float, seconds: float) -> None:
    assert math.isclose(parse_duration(text), seconds, rel_tol=1e-12)
    assert isinstance(parse_duration(text), float)


@pytest.mark.parametrize("text", ["abc", "", "h", "10 h", "1h 5m", "1..5s", "s10", "1h-5m", "--5s", "ten"])
def test_parse_garbage(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert str(info.value) == (f"invalid duration {text!r}: expected a Go duration such as 30s, 5m or 1h30m")


@pytest.mark.parametrize("text", ["5d", "2days", "1h5x", "3w"])
def test_parse_unknown_unit(text: str) -> None:
    with pytest.raises(
        ValueError, match=r"invalid duration .*unknown unit .*valid units: ns, us, ms, s, m, h"
    ):
        parse_duration(text)


@pytest.mark.parametrize("value", ["-5m", "-1", "-1h30m", -1, -0.5])
def test_parse_negative(value: str | int | float) -> None:
    with pytest.raises(ValueError, match="must not be negative") as info:
        parse_duration(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", [True, False, None, [], float("inf"), float("nan")])
def test_parse_rejects_non_durations(value: object) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (36000, "10h"),
        (90, "1m30s"),
        (0.5, "500ms"),
        (0, "0s"),
        (1, "1s"),
        (60, "1m"),
        (3600, "1h"),
        (3601, "1h1s"),
        (1.5, "1.5s"),
        (3661.25, "1h1m1.25s"),
        (0.0015, "1.5ms"),
        (1e-6, "1us"),
        (1e-9, "1ns"),
        (86400 * 2, "48h"),
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text", ["10h", "1m30s", "500ms", "2h45m", "1h1m1.25s", "1.5ms", "0s"])
def test_round_trip(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize("value", [-1, float("inf"), float("nan")])
def test_format_rejects(value: float) -> None:
    with pytest.raises(ValueError, match="cannot format duration"):
        format_duration(value)
