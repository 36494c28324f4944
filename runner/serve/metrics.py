"""Prometheus metrics of the runner (served on the metrics endpoint with the role-published ones)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from runner import __version__

REGISTRY = CollectorRegistry(auto_describe=True)

BUILD_INFO = Gauge("ansible_operator_build_info", "Build information", ["version"], registry=REGISTRY)
BUILD_INFO.labels(version=__version__).set(1)

RECONCILE_RESULT = Counter(
    "ansible_operator_reconcile_result",
    "Finished reconciles by kind and result",
    ["GVK", "result"],
    registry=REGISTRY,
)
RECONCILES = Histogram(
    "ansible_operator_reconciles",
    "Duration of whole reconciles (job included), seconds",
    ["GVK"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
    registry=REGISTRY,
)
JOBS_RUNNING = Gauge("ansible_operator_jobs_running", "Jobs running now", registry=REGISTRY)
