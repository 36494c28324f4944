"""The watched kinds' events go straight to the runner, not through kopf's per-object workers.

kopf turns every event it receives into work for a task of that object's own (a queue, a batch
window, its per-object bookkeeping, the handler call with its context) before its ``on.event``
handler sees it. At start-up with 10,000 CRs that was about half of the event loop's busy time,
and a CR created meanwhile waited behind all of them. The runner needs none of it: its handler only records
the object and decides, synchronously. So the events of the kinds in watches.yaml are handed to
the runner as kopf's stream yields them, in the order the API server sent them; kopf still lists,
watches, resumes, re-lists after a 410, logs in and serves everything else it watches (CRDs and
namespaces when it scans). kopf's ``on.event`` handler stays registered: it is what makes kopf
watch the kind.

``install()`` wraps kopf's ``continuous_watch``; ``tap(group, version, kind, sink)`` routes a
kind's events to ``sink(resource, event)``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from kopf._cogs.clients import watching

from runner.control import watchretry

log = logging.getLogger("runner.control.watchtap")

Sink = Callable[[Any, Mapping[str, Any]], None]
YIELD_EVERY = 200  # events handed over between two turns of the event loop (a big listing)

_sinks: dict[tuple[str, str, str], Sink] = {}
_installed: list[Callable[..., AsyncIterator[Any]]] = []


def tap(group: str, version: str, kind: str, sink: Sink) -> None:
    """Hand the events of ``group/version, kind`` to ``sink`` instead of kopf's workers."""
    _sinks[(group, version, kind)] = sink


def untap_all() -> None:
    _sinks.clear()


def sink_for(resource: Any) -> Sink | None:
    key = tuple(str(getattr(resource, part, "")) for part in ("group", "version", "kind"))
    return _sinks.get(key)  # type: ignore[arg-type]


def wrap(original: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    """``original`` (kopf's ``continuous_watch``) with a tapped kind's object events handed over."""

    async def continuous_watch(**kwargs: Any) -> AsyncIterator[Any]:
        resource = kwargs.get("resource")
        sink = sink_for(resource)
        if sink is None:
            async for event in original(**kwargs):
                yield event
            return
        handed = 0
        async for event in original(**kwargs):
            if not isinstance(event, dict):  # kopf's own markers (the listing is over) stay kopf's
                yield event
                continue
            if event.get("type") == "BOOKMARK":
                continue
            try:
                sink(resource, event)
            except Exception:  # one bad object must not end the stream of all the others
                meta = (event.get("object") or {}).get("metadata") or {}
                log.exception(
                    "could not take in the %s event of %s %s/%s",
                    event.get("type") or "listed",
                    getattr(resource, "kind", resource),
                    meta.get("namespace") or "",
                    meta.get("name") or "",
                )
            handed += 1
            if handed % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    return continuous_watch


def install() -> None:
    """Wrap kopf's ``continuous_watch`` once per process: failures retried (``watchretry``),
    then the tapped kinds' events handed over."""
    if _installed:
        return
    _installed.append(watching.continuous_watch)
    watching.continuous_watch = wrap(watchretry.wrap(watching.continuous_watch))
