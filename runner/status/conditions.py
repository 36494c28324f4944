"""Status conditions: pure functions from (current conditions, what happened) to new conditions.

The shapes follow the Go ansible-operator (``Running``, ``Successful``, ``Failure`` with an
``ansibleResult``), with two deliberate differences, both because users of the Go operator hit them:

* A rerun does not flip ``Successful`` to False while it runs. ``Successful`` always describes the
  last *finished* reconcile, and every condition carries ``observedGeneration``, so
  ``kubectl wait --for=condition=Successful`` waits for the new generation after a spec change
  (kubectl ignores a condition whose observedGeneration is older than metadata.generation) and does
  not bounce during periodic resyncs.
* ``lastTransitionTime`` changes only when a condition's status flips, and the message is always
  refreshed (Go keeps a stale message when the reason is unchanged).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from runner.jobs.results import AnsibleResult

RUNNING = "Running"
SUCCESSFUL = "Successful"
FAILURE = "Failure"
OWN_TYPES = frozenset({RUNNING, SUCCESSFUL, FAILURE})

REASON_RUNNING = "Running"
REASON_SUCCESSFUL = "Successful"
REASON_FAILED = "Failed"

Condition = dict[str, Any]


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: Iterable[Mapping[str, Any]], new: Mapping[str, Any], now: str
) -> list[Condition]:
    """Replace (or append) the condition of ``new['type']``, keeping every other condition as it is.

    ``lastTransitionTime`` is kept when the status does not change.
    """
    out: list[Condition] = []
    placed = False
    for cond in conditions:
        if cond.get("type") != new["type"]:
            out.append(dict(cond))
            continue
        merged = dict(new)
        same_status = str(cond.get("status")) == str(new["status"])
        merged["lastTransitionTime"] = cond.get("lastTransitionTime", now) if same_status else now
        out.append(merged)
        placed = True
    if not placed:
        out.append({**new, "lastTransitionTime": now})
    return out


def _cond(ctype: str, status: bool, reason: str, message: str, generation: int | None) -> Condition:
    cond: Condition = {
        "type": ctype,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
    }
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def _apply(conditions: Iterable[Mapping[str, Any]], news: Sequence[Condition], now: str) -> list[Condition]:
    out = [dict(c) for c in conditions]
    for new in news:
        out = set_condition(out, new, now)
    return out


def mark_running(
    conditions: Iterable[Mapping[str, Any]], *, generation: int | None, now: str, finalizing: bool = False
) -> list[Condition]:
    """A job has started. ``Successful`` and ``Failure`` keep describing the last finished run."""
    message = "Running finalizer" if finalizing else "Running reconciliation"
    return _apply(conditions, [_cond(RUNNING, True, REASON_RUNNING, message, generation)], now)


def mark_succeeded(
    conditions: Iterable[Mapping[str, Any]], *, result: AnsibleResult, generation: int | None, now: str
) -> list[Condition]:
    running = _cond(RUNNING, True, REASON_SUCCESSFUL, "Awaiting next reconciliation", generation)
    running["ansibleResult"] = result.to_dict()
    return _apply(
        conditions,
        [
            running,
            _cond(SUCCESSFUL, True, REASON_SUCCESSFUL, "Last reconciliation succeeded", generation),
            _cond(FAILURE, False, REASON_SUCCESSFUL, "", generation),
        ],
        now,
    )


def mark_failed(
    conditions: Iterable[Mapping[str, Any]],
    *,
    message: str,
    generation: int | None,
    now: str,
    result: AnsibleResult | None = None,
    reason: str = REASON_FAILED,
) -> list[Condition]:
    """The job failed (or could not be started: then ``result`` is None and ``reason`` says why)."""
    failure = _cond(FAILURE, True, reason, message, generation)
    if result is not None:
        failure["ansibleResult"] = result.to_dict()
    return _apply(
        conditions,
        [
            _cond(RUNNING, False, reason, "Last reconciliation failed", generation),
            _cond(SUCCESSFUL, False, reason, "Last reconciliation failed", generation),
            failure,
        ],
        now,
    )


def mark_interrupted(
    conditions: Iterable[Mapping[str, Any]], *, generation: int | None, now: str
) -> list[Condition]:
    """The operator stopped during the job: not a failure; the CR is reconciled again on start-up."""
    message = "Interrupted by operator shutdown; runs again when the operator starts"
    return _apply(conditions, [_cond(RUNNING, False, "Interrupted", message, generation)], now)


def find(conditions: Iterable[Mapping[str, Any]], ctype: str) -> Mapping[str, Any] | None:
    for cond in conditions:
        if cond.get("type") == ctype:
            return cond
    return None
