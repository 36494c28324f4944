"""Job events → job result: pure folding of ansible-runner events into what status reports."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.jobs.taskerror import task_error
from runner.jobs.typehint import installed_ansible_core, with_hint

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\r")

# Events the runner keeps while a job runs; everything else is only logged.
KEPT_EVENTS = frozenset({"playbook_on_stats", "runner_on_failed", "runner_on_unreachable", "runner_on_ok"})
REQUEUE_ACTIONS = frozenset({"operator_sdk.util.requeue_after", "requeue_after", "runner.util.requeue_after"})


@dataclass(frozen=True, slots=True)
class AnsibleResult:
    """Task counts of one job, summed over every host."""

    ok: int = 0
    changed: int = 0
    skipped: int = 0
    failures: int = 0
    completion: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "changed": self.changed,
            "skipped": self.skipped,
            "failures": self.failures,
            "completion": self.completion,
        }


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What an executor returns: the job's final state and the events worth keeping."""

    status: str  # successful | failed | timeout | canceled | error
    rc: int | None
    events: tuple[Mapping[str, Any], ...] = ()
    stdout_tail: str = ""
    error: str = ""  # why the job could not run at all (status "error")


@dataclass(frozen=True, slots=True)
class JobResult:
    ok: bool
    result: AnsibleResult | None
    message: str
    requeue_after: float | None = None
    interrupted: bool = False
    failed_tasks: tuple[str, ...] = field(default=())


def keep_event(event: Mapping[str, Any]) -> bool:
    if event.get("event") not in KEPT_EVENTS:
        return False
    if event.get("event") == "runner_on_ok":
        return (event.get("event_data") or {}).get("task_action") in REQUEUE_ACTIONS
    return True


def _sum_hosts(stats: Mapping[str, Any], key: str) -> int:
    per_host = stats.get(key) or {}
    return sum(int(v) for v in per_host.values()) if isinstance(per_host, Mapping) else 0


def ansible_result(events: Iterable[Mapping[str, Any]]) -> AnsibleResult | None:
    """Counts from the last ``playbook_on_stats`` event, summed over every host."""
    stats_event = None
    for event in events:
        if event.get("event") == "playbook_on_stats":
            stats_event = event
    if stats_event is None:
        return None
    data = stats_event.get("event_data") or {}
    return AnsibleResult(
        ok=_sum_hosts(data, "ok"),
        changed=_sum_hosts(data, "changed"),
        skipped=_sum_hosts(data, "skipped"),
        failures=_sum_hosts(data, "failures") + _sum_hosts(data, "dark"),
        completion=str(stats_event.get("created") or ""),
    )


def _task_message(data: Mapping[str, Any]) -> str:
    """``<task name>: <what it said>``, an API server's Status JSON reduced to its message."""
    res = data.get("res") or {}
    msg = task_error(res) if isinstance(res, Mapping) else ""
    task = data.get("task") or data.get("task_action") or "unnamed task"
    return with_hint(f"{task}: {msg or 'task failed'}", installed_ansible_core())


def failure_messages(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """Messages of the failed tasks that made the play fail (ignored errors excluded), in order."""
    out: list[str] = []
    for event in events:
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "runner_on_failed" and data.get("ignore_errors"):
            continue
        if kind in ("runner_on_failed", "runner_on_unreachable"):
            message = _task_message(data)
            if message not in out:
                out.append(message)
    return out


def requeue_period(events: Iterable[Mapping[str, Any]]) -> float | None:
    from runner.config.durations import parse_duration

    period: float | None = None
    for event in events:
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_ok" and data.get("task_action") in REQUEUE_ACTIONS:
            res = data.get("res") or {}
            raw = res.get("period") if isinstance(res, Mapping) else None
            if raw is not None:
                try:
                    period = parse_duration(raw)
                except ValueError:
                    continue
    return period


def summarize(outcome: JobOutcome, *, timeout: float | None = None) -> JobResult:
    """Decide success or failure and the message a user will read on the CR."""
    result = ansible_result(outcome.events)
    requeue = requeue_period(outcome.events)
    if outcome.status == "error":
        return JobResult(False, result, f"the job could not run: {outcome.error}")
    if outcome.status == "timeout":
        limit = f" after {int(timeout)}s" if timeout else ""
        return JobResult(False, result, f"the job timed out{limit} and was stopped")
    if outcome.status == "canceled":
        return JobResult(False, result, "the job was interrupted (operator shutting down)", interrupted=True)
    failed = result is not None and result.failures > 0
    if outcome.status == "successful" and result is not None and not failed:
        return JobResult(True, result, "", requeue_after=requeue)
    messages = failure_messages(outcome.events)
    if messages:
        return JobResult(False, result, "\n".join(messages), requeue_after=None, failed_tasks=tuple(messages))
    if outcome.rc is None and outcome.status == "failed":
        tail = _ANSI.sub("", outcome.stdout_tail).strip()[-500:]
        detail = f"; its last output: {tail}" if tail else ""
        return JobResult(False, result, f"ansible-playbook was killed before it finished{detail}")
    if result is None:
        tail = outcome.stdout_tail.strip()
        detail = f": {tail}" if tail else ""
        return JobResult(
            False, None, f"ansible-playbook exited with code {outcome.rc} before running{detail}"
        )
    return JobResult(False, result, f"unknown playbook failure (exit code {outcome.rc})")
