"""Job events → operator log lines (the Go operator's ``--ansible-log-events`` levels)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

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
