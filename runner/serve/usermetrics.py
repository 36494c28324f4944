"""Metrics that roles publish with ``osdk_metric``, served on the operator's metrics endpoint.

The module only returns its arguments; the runner reads them from the job's event stream (as the
Go operator does), so a job needs no network access of its own to publish a metric.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, Summary

from runner.serve.metrics import REGISTRY

log = logging.getLogger("runner.serve.usermetrics")

METRIC_ACTIONS = frozenset({"osdk_metric", "operator_sdk.util.osdk_metric"})
_TYPES: dict[str, type] = {"counter": Counter, "gauge": Gauge, "histogram": Histogram, "summary": Summary}
_metrics: dict[str, Any] = {}
_lock = threading.Lock()


def _metric(name: str, description: str, kind: str) -> Any:
    with _lock:
        metric = _metrics.get(name)
        if metric is None:
            metric = _metrics[name] = _TYPES[kind](name, description or name, registry=REGISTRY)
        elif not isinstance(metric, _TYPES[kind]):
            raise ValueError(f"metric {name} is already a {type(metric).__name__.lower()}, not a {kind}")
        return metric


def _first(ops: Mapping[str, Any], *names: str) -> Any:
    for n in names:
        if ops.get(n) not in (None, False):
            return ops[n]
    return None


def apply(res: Mapping[str, Any]) -> None:
    """Create or update the metric that one ``osdk_metric`` task asked for."""
    name, description = str(res.get("name") or ""), str(res.get("description") or "")
    kinds = [k for k in _TYPES if isinstance(res.get(k), Mapping)]
    if not name or len(kinds) != 1:
        raise ValueError("osdk_metric needs a name and exactly one of counter, gauge, histogram, summary")
    kind, ops = kinds[0], res[kinds[0]]
    metric = _metric(name, description, kind)
    if kind == "counter":
        if (amount := _first(ops, "add")) is not None:
            metric.inc(float(amount))
        elif _first(ops, "increment", "inc"):
            metric.inc()
    elif kind == "gauge":
        _gauge(metric, ops)
    elif (value := _first(ops, "observe")) is not None:
        metric.observe(float(value))


def _gauge(metric: Gauge, ops: Mapping[str, Any]) -> None:
    if (v := _first(ops, "set")) is not None:
        metric.set(float(v))
    if _first(ops, "increment", "inc"):
        metric.inc()
    if _first(ops, "decrement", "dec"):
        metric.dec()
    if (v := _first(ops, "add")) is not None:
        metric.inc(float(v))
    if (v := _first(ops, "subtract", "sub")) is not None:
        metric.dec(float(v))
    if _first(ops, "set_to_current_time"):
        metric.set(time.time())


def observe_event(event: Mapping[str, Any], logger: logging.LoggerAdapter) -> None:  # type: ignore[type-arg]
    data = event.get("event_data") or {}
    if event.get("event") != "runner_on_ok" or data.get("task_action") not in METRIC_ACTIONS:
        return
    try:
        apply(data.get("res") or {})
    except (ValueError, TypeError) as exc:
        logger.warning("ignoring osdk_metric task %r: %s", data.get("task", ""), exc)
