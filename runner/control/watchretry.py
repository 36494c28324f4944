"""A watch that fails is retried, never fatal: the operator keeps serving every other kind.

kopf ends the whole operator when a watch request fails with an error it does not retry itself:
a 404 while an API server that has just started is still installing its CRDs' handlers ("404 page
not found"), a CRD deleted and created again while the operator watches named namespaces, a 403
that outlasts kopf's retries (RBAC being changed), or an ``ERROR`` event in the stream. The Go
operator's informers retry such a list or watch with a back-off and log it; so does the runner.

``wrap`` wraps kopf's ``continuous_watch`` (one list followed by watches, which kopf's
``infinite_watch`` starts again whenever it returns; ``watchtap.install`` puts it in place): the
failure is logged as one line naming the kind, the namespace and what to check, and the stream
ends after a back-off, so kopf lists again. A kind that yields its listing again is back to the
shortest back-off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from kopf._cogs.clients import errors, watching

log = logging.getLogger("runner.control.watchretry")

FIRST_BACKOFF = 1.0  # seconds
MAX_BACKOFF = 30.0


def backoff(failures: int) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1, 2, 4, ... at most 30)."""
    return float(min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** max(0, failures - 1)))


def advice(exc: BaseException) -> str:
    """What a user should check, for the error a watch met."""
    status = getattr(exc, "status", None)
    if status == 404:
        return "is its CRD installed and served? (an API server that has just started serves it shortly)"
    if status == 403:
        return "does the operator's ServiceAccount still have list and watch on it?"
    return "the API server refused the watch"


def wrap(original: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    """``original`` (kopf's ``continuous_watch``) that logs and backs off on a failure, then ends."""
    failures: dict[tuple[str, str | None], int] = {}

    async def continuous_watch(**kwargs: Any) -> AsyncIterator[Any]:
        resource, namespace = kwargs.get("resource"), kwargs.get("namespace")
        key = (str(resource), namespace)
        try:
            async for event in original(**kwargs):
                if event is watching.Bookmark.LISTED:
                    failures.pop(key, None)
                yield event
        except (errors.APIError, watching.WatchingError) as exc:
            failures[key] = count = failures.get(key, 0) + 1
            delay = backoff(count)
            where = f"in namespace {namespace}" if namespace else "cluster-wide"
            text = str(exc.args[0]) if exc.args and exc.args[0] else type(exc).__name__
            first_line = (text.strip().splitlines() or [type(exc).__name__])[0][:200]
            log.warning(
                "watching %s %s failed: %s; %s; trying again in %.0f s",
                getattr(resource, "kind", resource),
                where,
                first_line,
                advice(exc),
                delay,
            )
            await asyncio.sleep(delay)

    return continuous_watch
