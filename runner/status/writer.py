"""Status writes that land: the conditions of a reconcile written on the CR, retried until they do.

A write that fails for a reason that passes (no connection to the API server, a 5xx, a 429 with
its ``Retry-After``, conflicts on every attempt) is tried again with exponential back-off for up to
``deadline`` seconds. A write that has still not landed then, or that fails for a reason that will
not pass (403, 422), is reported as not landed: the reconciler fails the reconcile, so the
scheduler runs it again on the latest object, instead of reporting success on a CR whose status
still says ``Running=True`` (what the Go operator and earlier versions did after an API outage).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from runner.cluster.kube import ConflictsExhausted, Kube, ResourceNotServed, ResourceRef
from runner.status import conditions as cond

# (current conditions, generation, now) → new conditions
Change = Callable[[list[dict[str, Any]], int | None, str], list[dict[str, Any]]]

TRANSIENT_STATUS = frozenset({0, 408, 429, 500, 502, 503, 504})
DEFAULT_DEADLINE = 120.0
FIRST_DELAY = 0.5
MAX_DELAY = 10.0


@dataclass(frozen=True, slots=True)
class Written:
    landed: bool  # the status is on the CR (or there was nothing to write: unmanaged, or the CR is gone)
    obj: dict[str, Any] | None = None  # the object as the write returned it
    error: str = ""  # why it did not land


def retry_delay(exc: BaseException, attempt: int) -> float | None:
    """Seconds to wait before trying a failed write again (``attempt`` counts from 0), or None when
    trying again cannot help. Pure."""
    backoff: float = min(FIRST_DELAY * 2.0**attempt, MAX_DELAY)
    if isinstance(exc, ApiException):
        if (exc.status or 0) not in TRANSIENT_STATUS:
            return None
        headers: Mapping[str, str] = exc.headers or {}
        try:
            return min(max(float(headers["Retry-After"]), 0.0), MAX_DELAY * 6)
        except (KeyError, TypeError, ValueError):
            return backoff
    if isinstance(exc, HTTPError | OSError | asyncio.TimeoutError | ConflictsExhausted | ResourceNotServed):
        return backoff
    return None


def describe(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason or ''}".strip()
    return f"{type(exc).__name__}: {exc}".split("\n", 1)[0][:300]


class StatusWriter:
    def __init__(
        self,
        kube: Kube,
        *,
        deadline: float = DEFAULT_DEADLINE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.kube = kube
        self.deadline = deadline
        self._sleep = sleep

    async def write(
        self,
        ref: ResourceRef,
        obj: Mapping[str, Any],
        change: Change,
        log: logging.LoggerAdapter[logging.Logger],
        *,
        finished: bool = False,
        current: Mapping[str, Any] | None = None,
        until_landed: bool = True,
    ) -> Written:
        """Write ``change`` of the conditions on ``obj``'s status (``observedGeneration`` too when
        ``finished``); other status keys are kept. ``until_landed=False`` tries once."""
        meta = obj["metadata"]
        generation = meta.get("generation")

        def keys(status: Mapping[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {
                "conditions": change(list(status.get("conditions") or []), generation, cond.now_rfc3339())
            }
            if finished and generation is not None:
                out["observedGeneration"] = generation
            return out

        loop = asyncio.get_running_loop()
        started = loop.time()
        waited = 0.0  # the back-off slept so far (the deadline counts it even if the clock did not move)
        attempt = 0
        while True:
            try:
                written = await self.kube.write_status(
                    ref, meta.get("namespace"), meta["name"], keys, current=current
                )
                if attempt:
                    log.info("status written after %d failed attempts", attempt)
                return Written(True, written)
            except Exception as exc:
                current = None  # re-read on the next attempt
                delay = retry_delay(exc, attempt) if until_landed else None
                spent = max(loop.time() - started, waited)
                if delay is None or spent + delay > self.deadline:
                    log.warning("could not write status: %s", describe(exc), exc_info=delay is None)
                    return Written(False, None, describe(exc))
                log.warning("could not write status (%s): trying again in %.1fs", describe(exc), delay)
                await self._sleep(delay)
                waited += delay
                attempt += 1
