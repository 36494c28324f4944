"""The ``/metrics`` text, written as the Go operator (client_golang) writes it.

prometheus_client's own writer serves a counter ``foo`` as ``foo_total`` with an extra
``foo_created`` series and writes ``1.0`` where Go writes ``1``; dashboards and alerts written for
the Go operator look for the Go lines. This writer takes the families of a registry and writes:

- a counter under the name of its samples (``counter_inc_test 1`` with ``# TYPE counter_inc_test
  counter``; ``process_cpu_seconds_total`` stays ``process_cpu_seconds_total``), no ``_created``;
- numbers as Go formats them (``1``, ``-7``, ``0.005``, ``1.7e+09``, ``+Inf``);
- label pairs sorted by name, with ``le`` / ``quantile`` last; families sorted by name; families
  without samples (a labelled metric never set) left out.

The result is text format 0.0.4, which Prometheus and prometheus_client's parser both read.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from decimal import Decimal

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LAST_LABELS = ("le", "quantile")
_WITH_CREATED = frozenset({"counter", "histogram", "summary", "gaugehistogram"})


def go_float(value: float) -> str:
    """``value`` as Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` writes it (client_golang's format)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # where the decimal point falls in ``text``
    exp10 = point - 1
    if exp10 < -4 or exp10 >= 6:  # Go's %e form: shortest mantissa, at least two exponent digits
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        body = f"{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    elif point <= 0:
        body = "0." + "0" * -point + text
    elif point >= len(text):
        body = text + "0" * (point - len(text))
    else:
        body = text[:point] + "." + text[point:]
    return ("-" if sign else "") + body


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    names = sorted(n for n in labels if n not in _LAST_LABELS)
    names += [n for n in _LAST_LABELS if n in labels]
    pairs = []
    for n in names:
        value = labels[n]
        if n in _LAST_LABELS:
            with contextlib.suppress(ValueError):
                value = go_float(float(value))
        pairs.append(f'{n}="{_escape_value(value)}"')
    return "{" + ",".join(pairs) + "}"


def _family_lines(family: Metric) -> tuple[str, list[str]] | None:
    samples = family.samples
    if family.type in _WITH_CREATED:
        samples = [s for s in samples if s.name != family.name + "_created"]
    if not samples:
        return None
    name = family.name
    if family.type == "counter":
        name = samples[0].name  # ``foo`` stays ``foo``; ``foo_total`` stays ``foo_total``
    kind = family.type if family.type in ("counter", "gauge", "histogram", "summary") else "untyped"
    lines = [f"# HELP {name} {_escape_help(family.documentation)}", f"# TYPE {name} {kind}"]
    lines += [f"{s.name}{_labels(s.labels)} {go_float(s.value)}" for s in samples]
    return name, lines


def render(collectors: Iterable[Collector]) -> bytes:
    """The exposition text of every family the collectors (e.g. a registry) yield."""
    families: dict[str, list[str]] = {}
    for collector in collectors:
        for family in collector.collect():
            written = _family_lines(family)
            if written is not None:
                families.setdefault(written[0], written[1])
    text = "".join(line + "\n" for name in sorted(families) for line in families[name])
    return text.encode()
