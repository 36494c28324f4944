"""Kubernetes Events on the CRs, written as client-go's event recorder writes them.

An Event is a core/v1 Event named ``<object name>.<hex nanoseconds>``, in the CR's namespace (a
cluster-scoped CR's go to ``default``), reported by the operator's name. An Event identical to one
this process posted recently (same object, type, reason, message and reporter) is not posted again:
the posted one gets ``count + 1`` and a new ``lastTimestamp`` (client-go's EventCorrelator, in its
simplest form), so a CR failing on every retry shows one ``Failed`` Event with a rising count.

Posting never blocks a reconcile and never raises into it: ``post`` queues the Event, one task on
the event loop writes the queue through the operator's API client, and failures are logged once
per CR (until an Event of it lands again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from runner.cluster.kube import MERGE_PATCH, Kube
from runner.status.messages import event_message

log = logging.getLogger("runner.status.events")

DEFAULT_COMPONENT = "ansible-operator-runner"
CACHE_SIZE = 4096  # Events remembered for aggregation (client-go's maxLruCacheEntries)
QUEUE_SIZE = 1000  # Events waiting to be written; more are dropped (and that is logged)
CLOSE_TIMEOUT = 5.0  # seconds to write what is queued when the operator stops

# (involved object, type, reason, message, component)
Key = tuple[tuple[str, ...], str, str, str, str]


@dataclass(frozen=True, slots=True)
class Posted:
    """An Event this process wrote: where it is and its count so far."""

    namespace: str
    name: str
    count: int


def event_namespace(obj: Mapping[str, Any]) -> str:
    """The CR's namespace; ``default`` for a cluster-scoped CR (as client-go does)."""
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def event_name(object_name: str, now_ns: int) -> str:
    """client-go's Event name: the object's name and the nanosecond timestamp in hex."""
    return f"{object_name}.{now_ns:016x}"


def timestamp(now_ns: int) -> str:
    return datetime.fromtimestamp(now_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def involved_object(obj: Mapping[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    fields = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    return {k: str(v) for k, v in fields.items() if v}


def aggregation_key(obj: Mapping[str, Any], type_: str, reason: str, message: str, component: str) -> Key:
    """What makes two Events the same one (the resourceVersion of the object does not)."""
    ref = involved_object(obj)
    who = tuple(ref.get(k, "") for k in ("apiVersion", "kind", "namespace", "name", "uid"))
    return (who, type_, reason, message, component)


def new_event(
    obj: Mapping[str, Any], type_: str, reason: str, message: str, *, component: str, now_ns: int
) -> dict[str, Any]:
    """The body of a new core/v1 Event about ``obj`` (``message`` already fits)."""
    meta = obj.get("metadata") or {}
    when = timestamp(now_ns)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": event_name(str(meta.get("name") or "unknown"), now_ns),
            "namespace": event_namespace(obj),
        },
        "involvedObject": involved_object(obj),
        "type": type_,
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": when,
        "lastTimestamp": when,
        "count": 1,
    }


def repeat_patch(count: int, now_ns: int) -> dict[str, Any]:
    """The merge patch that counts one more occurrence of a posted Event."""
    return {"count": count, "lastTimestamp": timestamp(now_ns)}


def describe_cr(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind') or 'object'} {where}{meta.get('name')}"


class EventRecorder:
    """Posts Events through the operator's API client; ``post`` is the reconciler's EventPoster."""

    def __init__(
        self,
        kube: Kube,
        component: str = DEFAULT_COMPONENT,
        *,
        cache_size: int = CACHE_SIZE,
        queue_size: int = QUEUE_SIZE,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.kube = kube
        self.component = component or DEFAULT_COMPONENT
        self._cache: OrderedDict[Key, Posted] = OrderedDict()
        self._cache_size = cache_size
        self._queue_size = queue_size
        self._clock = clock
        self._queue: asyncio.Queue[tuple[Mapping[str, Any], str, str, str]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._failing: OrderedDict[str, None] = OrderedDict()  # CRs whose last Event did not land
        self._dropping = False

    def start(self) -> None:
        """Start the writer now (inside the running loop). The operator calls this before kopf
        starts: kopf takes every task created after its own start for one of its handlers' and, at
        shutdown, waits 5 s for it to end before cancelling it, which would both delay every exit
        and drop the last Events that ``close`` is there to write."""
        self._ensure_worker(asyncio.get_running_loop())

    def _ensure_worker(self, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[Any]:
        if self._queue is None:
            self._queue = asyncio.Queue(self._queue_size)
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._work(self._queue), name="event-recorder")
        return self._queue

    # ---- the EventPoster: never blocks, never raises
    def post(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop: nothing can write it
        queue = self._ensure_worker(loop)
        try:
            queue.put_nowait((dict(obj), type_, reason, message))
            self._dropping = False
        except asyncio.QueueFull:
            if not self._dropping:
                log.warning(
                    "Kubernetes Events are being dropped: %d are waiting to be written", self._queue_size
                )
            self._dropping = True

    async def _work(self, queue: asyncio.Queue[tuple[Mapping[str, Any], str, str, str]]) -> None:
        while True:
            obj, type_, reason, message = await queue.get()
            try:
                await self.record(obj, type_, reason, message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(obj, reason, exc)
            else:
                self._failing.pop(describe_cr(obj), None)
            finally:
                queue.task_done()

    def _failed(self, obj: Mapping[str, Any], reason: str, exc: Exception) -> None:
        cr = describe_cr(obj)
        if cr in self._failing:
            return
        self._failing[cr] = None
        if len(self._failing) > self._cache_size:
            self._failing.popitem(last=False)
        why = f"HTTP {exc.status} {exc.reason or ''}".strip() if isinstance(exc, ApiException) else repr(exc)
        log.warning(
            "could not post the %s Event of %s: %s (further failures for it are not logged)",
            reason,
            cr,
            why,
            extra={"cr": cr},
        )

    # ---- the writes
    async def record(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Write one Event: count it on the one posted before if it is the same, else create it."""
        message = event_message(message)
        key = aggregation_key(obj, type_, reason, message, self.component)
        now = self._clock()
        posted = self._cache.get(key)
        if posted is not None:
            path = f"/api/v1/namespaces/{posted.namespace}/events/{posted.name}"
            try:
                await self.kube.call("PATCH", path, repeat_patch(posted.count + 1, now), MERGE_PATCH)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                self._cache.pop(key, None)  # deleted (expired): post a new one
            else:
                self._remember(key, Posted(posted.namespace, posted.name, posted.count + 1))
                return
        body = new_event(obj, type_, reason, message, component=self.component, now_ns=now)
        namespace = body["metadata"]["namespace"]
        await self.kube.call("POST", f"/api/v1/namespaces/{namespace}/events", body)
        self._remember(key, Posted(namespace, body["metadata"]["name"], 1))

    def _remember(self, key: Key, posted: Posted) -> None:
        self._cache[key] = posted
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Write what is queued (for up to ``timeout`` seconds), then stop."""
        if self._queue is not None and self._worker is not None and not self._worker.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._queue.join(), timeout)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
