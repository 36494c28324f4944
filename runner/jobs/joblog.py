"""Job events → operator log lines (the Go operator's ``--ansible-log-events`` levels), and the
whole output of a job when ``ANSIBLE_DEBUG_LOGS`` asks for it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

DEBUG_LOGS_ENV = "ANSIBLE_DEBUG_LOGS"
# Go's strconv.ParseBool: anything else (unset, "yes", "on") is false.
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})


def debug_logs_enabled(environ: Mapping[str, str]) -> bool:
    """Whether every job's whole output goes to the operator log (``ANSIBLE_DEBUG_LOGS``, read as
    the Go operator reads it)."""
    return environ.get(DEBUG_LOGS_ENV, "") in _GO_TRUE


DEBUG_OUTPUT_LIMIT = 256 * 1024  # bytes of a job's output logged at most (its end)


def job_stdout(private_data_dir: Path, ident: str, limit: int = DEBUG_OUTPUT_LIMIT) -> str:
    """The job's output as ansible-playbook printed it (ansible-runner's ``stdout`` artifact);
    of a longer output, its last ``limit`` bytes, saying how much was left out."""
    try:
        with open(private_data_dir / "artifacts" / ident / "stdout", "rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(size - limit, 0))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    if size > limit:
        return f"[the first {size - limit} bytes left out; the job's artifacts have all]\n{text}"
    return text


QUIET_ACTIONS = frozenset({"set_fact", "ansible.builtin.set_fact", "debug", "ansible.builtin.debug"})


def event_logger(log: logging.LoggerAdapter, level: str) -> Callable[[Mapping[str, Any]], None]:  # type: ignore[type-arg]
    """A callback for the executor that logs job events at ``level`` (nothing, tasks, everything)."""

    def on_event(event: Mapping[str, Any]) -> None:
        if level == "nothing":
            return
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if level == "everything":
            log.info("job event %s", kind, extra={"event": kind, "event_data": data})
            return
        action = data.get("task_action", "")
        if kind == "playbook_on_task_start" and action not in QUIET_ACTIONS:
            log.info("task started: %s", data.get("task", ""), extra={"task": data.get("task", "")})
        elif kind == "runner_on_ok" and action in ("debug", "ansible.builtin.debug"):
            res = data.get("res") or {}
            log.info("debug: %s", res.get("msg", res), extra={"task": data.get("task", "")})
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            res = data.get("res") or {}
            log.warning(
                "task failed: %s: %s",
                data.get("task", ""),
                res.get("msg", ""),
                extra={"task": data.get("task", "")},
            )
        elif kind == "runner_on_unreachable":
            log.warning("host unreachable in task %s", data.get("task", ""))

    return on_event
