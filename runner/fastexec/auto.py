"""One door for jobs: the fast path for every job it can run identically, the plain path for the
others, with the reason logged once per kind."""

from __future__ import annotations

import logging
import threading

from runner.fastexec.executor import FastExecutor, FastUnavailable
from runner.jobs.executor import EventCallback, Executor, JobSpec
from runner.jobs.results import JobOutcome

log = logging.getLogger(__name__)


class AutoExecutor:
    """The fast path for every job it can run identically, the plain path for the others."""

    name = "auto"

    def __init__(self, fast: FastExecutor, plain: Executor) -> None:
        self.fast = fast
        self.plain = plain
        self._reported: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    async def run(self, spec: JobSpec, on_event: EventCallback) -> JobOutcome:
        reason = self.fast.compatible(spec)
        if reason is None:
            try:
                return await self.fast.run(spec, on_event)
            except FastUnavailable as exc:
                reason = exc.reason
        self._report(spec, reason)
        return await self.plain.run(spec, on_event)

    def _report(self, spec: JobSpec, reason: str) -> None:
        # Job directories are <runner-dir>/<group>/<version>/<kind>/<namespace>/<name>.
        watch = str(spec.private_data_dir.parent.parent)
        key = (watch, reason)
        with self._lock:
            if key in self._reported:
                return
            self._reported.add(key)
        log.warning("running on the plain path: %s", reason, extra={"watch": watch})

    def shutdown(self) -> None:
        self.fast.shutdown()
        self.plain.shutdown()
