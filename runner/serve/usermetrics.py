"""Metrics that roles publish with ``osdk_metric``, served on the operator's metrics endpoint.

The module only returns its arguments; the runner reads them from the job's event stream (as the
Go operator does), so a job needs no network access of its own to publish a metric.

The series are the Go operator's (``internal/ansible/metrics/metrics.go``): a metric is served
under the name the role gave it (a counter ``counter_inc_test`` is ``counter_inc_test 1``, not
``counter_inc_test_total``), histograms have client_golang's default buckets, summaries only
``_sum`` and ``_count``; one operation per task, in Go's order of precedence.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import Metric

from runner.serve.metrics import REGISTRY

log = logging.getLogger("runner.serve.usermetrics")

METRIC_ACTIONS = frozenset({"osdk_metric", "operator_sdk.util.osdk_metric"})
KINDS = ("counter", "gauge", "histogram", "summary")
# client_golang's prometheus.DefBuckets
GO_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class _Series:
    kind: str
    help: str
    value: float = 0.0  # counter and gauge
    total: float = 0.0  # histogram and summary: sum of observations
    count: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(GO_BUCKETS))

    def observe(self, value: float) -> None:
        self.total += value
        self.count += 1
        if self.kind == "histogram":
            index = bisect.bisect_left(GO_BUCKETS, value)  # le: value <= bound
            if index < len(GO_BUCKETS):
                self.buckets[index] += 1

    def family(self, name: str) -> Metric:
        family = Metric(name, self.help, self.kind)
        if self.kind in ("counter", "gauge"):
            family.add_sample(name, {}, self.value)
            return family
        if self.kind == "histogram":
            running = 0
            for bound, hits in zip(GO_BUCKETS, self.buckets, strict=True):
                running += hits
                family.add_sample(name + "_bucket", {"le": str(bound)}, running)
            family.add_sample(name + "_bucket", {"le": "+Inf"}, self.count)
        family.add_sample(name + "_sum", {}, self.total)
        family.add_sample(name + "_count", {}, self.count)
        return family


class UserMetrics:
    """The ``osdk_metric`` series, a prometheus_client collector."""

    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            families = [series.family(name) for name, series in self._series.items()]
        yield from families

    def apply(self, res: Mapping[str, Any]) -> None:
        """Create (first time) and update the metric one ``osdk_metric`` task asked for."""
        name, description = str(res.get("name") or ""), str(res.get("description") or "")
        kinds = [k for k in KINDS if isinstance(res.get(k), Mapping)]
        if not name or len(kinds) != 1:
            raise ValueError("osdk_metric needs a name and exactly one of counter, gauge, histogram, summary")
        kind, ops = kinds[0], res[kinds[0]]
        with self._lock:
            series = self._series.get(name)
            if series is None:
                series = self._series[name] = _Series(kind, description)
                log.info("registering metric %s (%s)", name, kind)
            observed = {"histogram", "summary"}
            if series.kind != kind and not {series.kind, kind} <= observed:
                raise ValueError(f"cannot change metric type of {name}, which is a {series.kind}")
            if kind == "counter":
                _counter(series, ops)
            elif kind == "gauge":
                _gauge(series, ops)
            else:
                # As in Go: a histogram takes a summary's observation and the other way round, and
                # no ``observe`` observes 0.
                series.observe(_number(ops, "observe"))


def _number(ops: Mapping[str, Any], name: str) -> float:
    value = ops.get(name)
    return 0.0 if value is None or value is False else float(value)


def _counter(series: _Series, ops: Mapping[str, Any]) -> None:
    if ops.get("increment") or ops.get("inc"):
        series.value += 1
    elif amount := _number(ops, "add"):
        if amount < 0:
            raise ValueError("counter metrics cannot decrease in value")
        series.value += amount


def _gauge(series: _Series, ops: Mapping[str, Any]) -> None:
    """One operation, the first of: increment, decrement, add, subtract, set (not 0),
    set_to_current_time; as the Go operator does."""
    if ops.get("increment") or ops.get("inc"):
        series.value += 1
    elif ops.get("decrement") or ops.get("dec"):
        series.value -= 1
    elif amount := _number(ops, "add"):
        series.value += amount
    elif amount := _number(ops, "subtract") or _number(ops, "sub"):
        series.value -= amount
    elif value := _number(ops, "set"):
        series.value = value
    elif ops.get("set_to_current_time"):
        series.value = time.time()


USER_METRICS = UserMetrics()
REGISTRY.register(USER_METRICS)


def apply(res: Mapping[str, Any]) -> None:
    USER_METRICS.apply(res)


def observe_event(event: Mapping[str, Any], logger: logging.LoggerAdapter) -> None:  # type: ignore[type-arg]
    data = event.get("event_data") or {}
    if event.get("event") != "runner_on_ok" or data.get("task_action") not in METRIC_ACTIONS:
        return
    try:
        apply(data.get("res") or {})
    except (ValueError, TypeError) as exc:
        logger.warning("ignoring osdk_metric task %r: %s", data.get("task", ""), exc)
