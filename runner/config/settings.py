"""Operator settings: command-line flags and environment variables → one immutable config (pure)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_RECONCILE_PERIOD = 10 * 3600.0
DEFAULT_JOB_TIMEOUT = 3600.0
DEFAULT_WARM_IDLE_TIMEOUT = 60.0
LOG_EVENT_LEVELS = ("nothing", "tasks", "everything")


@dataclass(frozen=True, slots=True)
class Config:
    watches_file: Path
    max_concurrent_reconciles: int
    max_concurrent_jobs: int
    reconcile_period: float
    ansible_verbosity: int
    ansible_args: str
    roles_path: str
    collections_path: str
    inject_owner_ref: bool
    kubeconfig: str | None
    namespaces: tuple[str, ...]  # empty = all namespaces
    runner_dir: Path
    job_timeout: float
    log_events: str
    health_probe_bind_address: str
    metrics_bind_address: str
    metrics_secure: bool = False
    metrics_require_rbac: bool = False
    leader_elect: bool = False
    leader_election_id: str = ""
    leader_election_namespace: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    graceful_shutdown_timeout: float = 30.0
    cluster_wait_timeout: float = 120.0
    proxy_port: int = 0
    executor: str = "fast"
    warm_idle_timeout: float = DEFAULT_WARM_IDLE_TIMEOUT
    sharding: bool = False
    shard_identity: str = ""
    shard_ring: str = ""
    shard_by: str = "name"  # or "namespace"
    shard_lease_duration: float = 15.0
    rbac_record: Path | None = None  # --rbac-record: where the jobs' API calls are recorded
    environ: Mapping[str, str] = field(default_factory=dict)

    @property
    def operator_name(self) -> str:
        """Who reports the operator's Events: ``$OPERATOR_NAME``, else the leader election id."""
        return self.environ.get("OPERATOR_NAME") or self.leader_election_id or "ansible-operator-runner"

    def env_override(self, prefix: str, suffix: str) -> str | None:
        value = self.environ.get(f"{prefix}_{suffix}")
        return value if value not in (None, "") else None

    def verbosity_for(self, env_suffix: str) -> int:
        """``ANSIBLE_VERBOSITY_<KIND>_<GROUP>`` overrides ``--ansible-verbosity`` (0-7)."""
        raw = self.env_override("ANSIBLE_VERBOSITY", env_suffix)
        try:
            return min(max(int(raw), 0), 7) if raw is not None else self.ansible_verbosity
        except ValueError:
            return self.ansible_verbosity

    def workers_for(self, env_suffix: str) -> int:
        """``MAX_CONCURRENT_RECONCILES_<KIND>_<GROUP>`` (or the older ``WORKER_<KIND>_<GROUP>``)."""
        for prefix in ("MAX_CONCURRENT_RECONCILES", "WORKER"):
            raw = self.env_override(prefix, env_suffix)
            if raw is None:
                continue
            try:
                if int(raw) > 0:
                    return int(raw)
            except ValueError:
                pass
        return self.max_concurrent_reconciles


def parse_namespaces(value: str | None) -> tuple[str, ...]:
    return tuple(ns.strip() for ns in (value or "").split(",") if ns.strip())


def default_runner_dir(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("ANSIBLE_OPERATOR_RUNNER_DIR")
    if explicit:
        return Path(explicit)
    tmp = environ.get("TMPDIR") or "/tmp"
    return Path(tmp) / f"ansible-operator-runner-{os.getuid()}"
