"""Executors run one job (a playbook with its inputs already on disk) and report its outcome.

The interface is one coroutine, ``Executor.run(spec, on_event)``. ``AnsibleRunnerExecutor`` is the
plain path: ansible-runner's Python interface in a worker thread (so the event loop never blocks),
one ansible-playbook process per job, started under ``runner.jobs.guard`` so that no process of
the job outlives it (a timeout, a cancel, the operator's death) and its files are private (umask
0077).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runner.jobs.results import JobOutcome, keep_event

log = logging.getLogger(__name__)

GUARD = Path(__file__).with_name("guard.py")

EventCallback = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True, slots=True)
class JobSpec:
    ident: str
    private_data_dir: Path
    playbook: Path
    project_dir: Path
    envvars: Mapping[str, str] = field(default_factory=dict)
    verbosity: int = 0
    cmdline: str | None = None
    timeout: float | None = None
    rotate_artifacts: int = 20


class Executor(Protocol):
    name: str

    async def run(self, spec: JobSpec, on_event: EventCallback) -> JobOutcome: ...

    def shutdown(self) -> None: ...


def _stdout_tail(spec: JobSpec, limit: int = 1500) -> str:
    try:
        data = (spec.private_data_dir / "artifacts" / spec.ident / "stdout").read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode(errors="replace")


def event_handler(
    kept: list[Mapping[str, Any]], on_event: EventCallback
) -> Callable[[Mapping[str, Any]], bool]:
    """ansible-runner's event_handler: keep what results need, pass every event on, keep the file."""

    def handle(event: Mapping[str, Any]) -> bool:
        if keep_event(event):
            kept.append(event)
        try:
            on_event(event)
        except Exception:  # a logging problem must never break the job
            log.exception("event callback failed")
        return True

    return handle


def runner_kwargs(spec: JobSpec, handle: Callable[..., bool], cancel: Callable[[], bool]) -> dict[str, Any]:
    """The ansible-runner arguments of a job, shared by every executor (same command, env, artifacts)."""
    return {
        "private_data_dir": str(spec.private_data_dir),
        "project_dir": str(spec.project_dir),
        "playbook": str(spec.playbook),
        "ident": spec.ident,
        "envvars": dict(spec.envvars),
        "verbosity": spec.verbosity or None,
        "cmdline": spec.cmdline or None,
        "timeout": int(spec.timeout) if spec.timeout else None,
        "rotate_artifacts": spec.rotate_artifacts,
        "event_handler": handle,
        "cancel_callback": cancel,
        "suppress_env_files": True,
        "quiet": True,
    }


def guarded(command: list[str]) -> list[str]:
    """``command`` run under the job guard (``runner.jobs.guard``), tied to this process's life."""
    return [sys.executable, "-I", str(GUARD), str(os.getpid()), "--", *command]


class AnsibleRunnerExecutor:
    """One ansible-playbook process per job, through ``ansible_runner.run`` in a thread pool."""

    name = "ansible-runner"

    def __init__(self, max_workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="job")
        self._stopping = threading.Event()

    def shutdown(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, spec: JobSpec, on_event: EventCallback) -> JobOutcome:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run_blocking, spec, on_event)

    def _run_blocking(self, spec: JobSpec, on_event: EventCallback) -> JobOutcome:
        from ansible_runner import interface  # imported lazily: only the job threads need it

        kept: list[Mapping[str, Any]] = []
        try:
            r = interface.init_runner(
                **runner_kwargs(spec, event_handler(kept, on_event), self._stopping.is_set)
            )
            r.config.command = guarded(r.config.command)
            r.run()
        except Exception as exc:  # bad inputs, missing binaries, an ansible-runner crash
            log.exception("ansible-runner failed to run the job")
            return JobOutcome(
                status="error", rc=None, events=tuple(kept), error=f"{type(exc).__name__}: {exc}"
            )
        return JobOutcome(status=r.status, rc=r.rc, events=tuple(kept), stdout_tail=_stdout_tail(spec))
