"""The runner's own Prometheus series, with the names, types, help and labels of the Go operator
(``internal/ansible/metrics/metrics.go`` of ansible-operator-plugins, and operator-lib's
``resource_created_at_seconds``). ``exposition`` writes them as Go does; the roles' ``osdk_metric``
series (``usermetrics``) are served next to them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from runner import __version__
from runner.config.watches import GVK

log = logging.getLogger("runner.serve.metrics")

REGISTRY = CollectorRegistry(auto_describe=True)
# process_cpu_seconds_total, process_resident_memory_bytes, ...: the same names as Go's collector
ProcessCollector(registry=REGISTRY)

BUILD_INFO = Gauge(
    "ansible_operator_build_info",
    "Build information for the ansible-operator binary",
    ["commit", "version"],
    registry=REGISTRY,
)
BUILD_INFO.labels(commit="unknown", version=__version__).set(1)

# A gauge in the Go operator too, though it only ever goes up.
RECONCILE_RESULT = Gauge(
    "ansible_operator_reconcile_result",
    "Gauge of reconciles and their results.",
    ["GVK", "result"],
    registry=REGISTRY,
)
# Go's default buckets (a dashboard's le="10" finds the same bucket) and, since this measures the
# whole reconcile with its job (Go's measures only the start of ansible-runner), longer ones.
RECONCILES = Histogram(
    "ansible_operator_reconciles",
    "How long in seconds a reconcile takes.",
    ["GVK"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
    registry=REGISTRY,
)
JOBS_RUNNING = Gauge("ansible_operator_jobs_running", "Jobs running now", registry=REGISTRY)

# --sharding (README: Scaling out)
SHARD_MEMBER = Gauge(
    "ansible_operator_shard_member",
    "1 for each live member of the ring, as this replica sees it",
    ["ring", "member"],
    registry=REGISTRY,
)
SHARD_OWNED = Gauge(
    "ansible_operator_shard_owned_resources",
    "Custom resources this replica serves",
    ["ring", "replica"],
    registry=REGISTRY,
)
SHARD_HANDOVERS = Counter(
    "ansible_operator_shard_handovers_total",
    "Custom resources this replica took or gave: claimed (unassigned), taken_over (from a member "
    "that is gone), released (handed over on request), drain_requested (asked a member for one)",
    ["ring", "how"],
    registry=REGISTRY,
)


def shard_members(ring: str, members: frozenset[str]) -> None:
    SHARD_MEMBER.clear()
    for member in sorted(members):
        SHARD_MEMBER.labels(ring=ring, member=member).set(1)


_CREATED_LABELS = ("name", "namespace", "group", "version", "kind")


class CreatedAt(Collector):
    """``resource_created_at_seconds``: one sample per watched CR, kept as a plain dict entry.

    A ``Gauge`` child per CR costs its label validation and objects on every CR's first event
    (about a third of taking in a 10,000-CR listing) and ~0.7 KB each; the samples are the same.
    """

    def __init__(self) -> None:
        self.values: dict[tuple[str, str, str, str, str], float] = {}

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "resource_created_at_seconds", "Timestamp at which a resource was created", labels=_CREATED_LABELS
        )
        for labels, value in list(self.values.items()):
            family.add_metric(labels, value)
        yield family


RESOURCE_CREATED_AT = CreatedAt()
REGISTRY.register(RESOURCE_CREATED_AT)


def gvk_label(gvk: GVK) -> str:
    """The ``GVK`` label value as Go's ``GroupVersionKind.String()`` writes it:
    ``cache.example.com/v1alpha1, Kind=Memcached`` (``/v1, Kind=Secret`` for the core group)."""
    return f"{gvk.group}/{gvk.version}, Kind={gvk.kind}"


def _created_at(meta: Mapping[str, Any]) -> float | None:
    stamp = meta.get("creationTimestamp")
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return float(int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()))
    except ValueError:
        return None


def resource_seen(gvk: GVK, meta: Mapping[str, Any]) -> None:
    """``resource_created_at_seconds`` of a watched CR (set on every event, as operator-lib does)."""
    created = _created_at(meta)
    if created is None:
        return
    RESOURCE_CREATED_AT.values[_resource_labels(gvk, meta)] = created


def resource_gone(gvk: GVK, meta: Mapping[str, Any]) -> None:
    """The CR is deleted (or no longer watched): its ``resource_created_at_seconds`` goes."""
    RESOURCE_CREATED_AT.values.pop(_resource_labels(gvk, meta), None)


def _resource_labels(gvk: GVK, meta: Mapping[str, Any]) -> tuple[str, str, str, str, str]:
    """The label values in ``_CREATED_LABELS`` order."""
    return (str(meta.get("name") or ""), str(meta.get("namespace") or ""), gvk.group, gvk.version, gvk.kind)
