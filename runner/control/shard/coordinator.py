"""The running ring member: keeps this replica's Lease, follows the other members, writes the
assignment and drain labels, and tells the operator which CRs it may run (``may_start``).

The operator calls ``observe`` for every watch event and around every job (``started`` /
``finished``); the coordinator calls back ``gained`` when a CR becomes this replica's (it runs
once, as at start-up) and ``lost`` when it is handed over. A label write's answer is fed back as a
watch event (``feed``), so a write is never undone by an older event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, Protocol

from kubernetes.client.exceptions import ApiException

from runner.cluster.kube import MERGE_PATCH, Kube, ResourceRef
from runner.control.shard import handover, ring
from runner.control.shard.handover import Action, CRView
from runner.control.shard.leases import MemberLease
from runner.control.shard.members import Members
from runner.control.shard.names import RingNames
from runner.serve import metrics

log = logging.getLogger("runner.control.shard")
JSON_PATCH = "application/json-patch+json"
GC_AFTER = 3600.0  # seconds: the Lease of a member gone this long is deleted
Obj = Mapping[str, Any]


class Objects(Protocol):
    """The operator's latest object of every watched CR (``control.objects.ObjectStore``)."""

    def get(self, key: Any) -> Obj | None: ...

    def __iter__(self) -> Iterator[Any]: ...


_HOW = {
    Action.CLAIM: "claimed",
    Action.TAKE_OVER: "taken_over",
    Action.RELEASE: "released",
    Action.ASK_DRAIN: "drain_requested",
}


def _pointer(key: str) -> str:
    return "/metadata/labels/" + key.replace("~", "~0").replace("/", "~1")


def timings(duration: float) -> tuple[float, float]:
    """(period of renewals and listings, renew deadline): a member that cannot renew for the
    deadline stops its jobs (within a second or two) before the others can see its Lease
    unrenewed for the whole duration."""
    return max(0.2, duration / 5), duration - max(2.0, duration / 5)


class Coordinator:
    def __init__(self, kube: Kube, lease: MemberLease, *, ring_name: str, by: str, duration: float) -> None:
        self.kube = kube
        self.lease = lease
        self.me = lease.identity
        self.names = RingNames(ring_name)
        self.by = by
        self.members = Members(self.me, duration)
        self.period, self.renew_deadline = timings(duration)
        self.lost = asyncio.Event()  # our own Lease could not be renewed in time
        self.running: set[Hashable] = set()
        self.mine: set[Hashable] = set()
        self._inflight: dict[Hashable, asyncio.Task[None]] = {}
        self._ring: frozenset[str] = frozenset({self.me})
        self._picks: dict[Hashable, str | None] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False
        self._last_renewed = 0.0
        # bound by the operator
        self._objects: Objects = {}
        self._ref_of: Callable[[Hashable], ResourceRef | None] = lambda _k: None
        self._gained: Callable[[Hashable], None] = lambda _k: None
        self._lost_cr: Callable[[Hashable], None] = lambda _k: None
        self._feed: Callable[[Hashable, Obj], None] = lambda _k, _o: None
        self._on_fenced: Callable[[], None] = lambda: None

    def bind(
        self,
        objects: Objects,
        ref_of: Callable[[Hashable], ResourceRef | None],
        gained: Callable[[Hashable], None],
        lost: Callable[[Hashable], None],
        feed: Callable[[Hashable, Obj], None],
    ) -> None:
        self._objects, self._ref_of, self._gained, self._lost_cr, self._feed = (
            objects,
            ref_of,
            gained,
            lost,
            feed,
        )

    # ---- membership
    async def start(self, on_fenced: Callable[[], None]) -> None:
        """Take this replica's Lease and see the other members before any CR is looked at."""
        self._on_fenced = on_fenced
        waited = False
        while not await self._safe(self.lease.take()):
            if not waited:
                log.info("another process holds this replica's Lease %s: waiting for it", self.lease.where)
                waited = True
            await asyncio.sleep(self.period)
        self._last_renewed = time.monotonic()
        await self._refresh(first=True)
        log.info(
            "joined the ring",
            extra={"ring": self.names.ring, "lease": self.lease.where, "members": sorted(self._ring)},
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._renew_loop()), loop.create_task(self._list_loop())]

    async def _safe(self, call: Any) -> bool:
        try:
            return bool(await call)
        except Exception as exc:  # the API server is unreachable: the next round tries again
            log.warning("lease call failed: %s", exc)
            return False

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            sent = time.monotonic()
            if sent - self._last_renewed > self.renew_deadline:
                self._fence(sent)
                return
            if await self._safe(self.lease.renew()):
                self._last_renewed = sent

    def _fence(self, now: float) -> None:
        """The others may see this replica's Lease expire soon: stop its jobs now, before they
        take its resources, and exit."""
        log.error(
            "could not renew this replica's Lease in time: stopping its jobs and exiting "
            "(the other members take its resources)",
            extra={"lease": self.lease.where, "since": round(now - self._last_renewed, 1)},
        )
        self.members.leaving = True
        self.lost.set()
        self._on_fenced()

    async def _list_loop(self) -> None:
        while not self.lost.is_set():
            await asyncio.sleep(self.period)
            try:
                await self._refresh()
            except Exception as exc:
                log.warning("could not list the ring's Leases: %s", exc)

    async def _refresh(self, first: bool = False) -> None:
        views = await self.lease.members()
        now = time.monotonic()
        self.members.observe(views, now)
        ring_now = self.members.ring(now)
        for gone in self.members.stale(views, now, keep=max(GC_AFTER, 10 * self.members.default_duration)):
            log.info("deleting the Lease of a member gone long ago", extra={"member": gone.name})
            await self.lease.delete(gone)
        if first:
            self._ring = ring_now
        elif ring_now != self._ring:
            log.info(
                "ring members changed",
                extra={"ring": self.names.ring, "members": sorted(ring_now), "before": sorted(self._ring)},
            )
            self._ring = ring_now
            self._picks.clear()
        metrics.shard_members(self.names.ring, ring_now)
        self.evaluate_all()

    def leave(self) -> None:
        """Shutting down: claim and start nothing more; the Lease goes when the jobs have ended."""
        self.members.leaving = True
        self._ring = self._ring - {self.me}
        self._picks.clear()

    async def stop(self) -> None:
        """Release the Lease (the jobs have ended): the other members take the CRs at once."""
        if self._stopped:
            return
        self._stopped = True
        for loop_task in self._tasks:
            loop_task.cancel()
        for task in list(self._inflight.values()):
            task.cancel()
        if not self.lost.is_set():
            await self.lease.release()
            log.info(
                "left the ring: its resources go to the other members", extra={"lease": self.lease.where}
            )

    # ---- CRs
    def _pick(self, key: Hashable) -> str | None:
        if key not in self._picks:
            assert isinstance(key, tuple)
            self._picks[key] = ring.owner(ring.shard_key(key[1], key[2], self.by), self._ring)
        return self._picks[key]

    def _labels(self, obj: Obj) -> Mapping[str, str]:
        return (obj.get("metadata") or {}).get("labels") or {}

    def _decide(self, key: Hashable, obj: Obj) -> Action:
        labels = self._labels(obj)
        assigned = labels.get(self.names.assignment) or None
        view = CRView(assigned, self.names.drain in labels, key in self.running)
        alive = self.members.alive(assigned, time.monotonic()) if assigned else False
        return handover.decide(view, self.me, self._pick(key), alive, self.members.leaving)

    def observe(self, key: Hashable, obj: Obj) -> None:
        """A CR as just seen (the operator has stored it): follow its assignment, act on it."""
        was = key in self.mine
        now = self._labels(obj).get(self.names.assignment) == self.me
        if now and not was:
            self.mine.add(key)
            self._owned()
            self._gained(key)
        elif was and not now:
            self.mine.discard(key)
            self._owned()
            if key in self.running:
                log.error(
                    "a resource this replica is running was assigned to another", extra={"cr": str(key)}
                )
            self._lost_cr(key)
        self.evaluate(key)

    def forget(self, key: Hashable) -> None:
        self._picks.pop(key, None)
        if key in self.mine:
            self.mine.discard(key)
            self._owned()

    def _owned(self) -> None:
        metrics.SHARD_OWNED.labels(ring=self.names.ring, replica=self.me).set(len(self.mine))

    def may_start(self, key: Hashable) -> str:
        """``run`` (call ``started`` at once), ``skip`` (not this replica's to run) or ``later``
        (this replica's Lease renewal is late: try again after a back-off)."""
        obj = self._objects.get(key)
        if obj is None or self.lost.is_set():
            return "skip"
        if not handover.may_run(self._decide(key, obj)):
            return "skip"
        if time.monotonic() - self._last_renewed > self.renew_deadline:
            return "later"  # the Lease may be about to expire: start nothing now
        return "run"

    def started(self, key: Hashable) -> None:
        self.running.add(key)

    def finished(self, key: Hashable) -> None:
        self.running.discard(key)
        self.evaluate(key)

    def evaluate_all(self) -> None:
        for key in list(self._objects):
            self.evaluate(key)

    def evaluate(self, key: Hashable) -> None:
        obj = self._objects.get(key)
        if obj is None or key in self._inflight:
            return
        action = self._decide(key, obj)
        if action in (Action.SERVE, Action.HOLD, Action.WAIT):
            return
        ref = self._ref_of(key)
        if ref is None:
            return
        task = asyncio.get_running_loop().create_task(self._act(key, ref, obj, action))
        self._inflight[key] = task
        task.add_done_callback(lambda _t: self._inflight.pop(key, None))

    async def _act(self, key: Hashable, ref: ResourceRef, obj: Obj, action: Action) -> None:
        meta = obj.get("metadata") or {}
        ns, name = meta.get("namespace"), meta.get("name")
        labels = self._labels(obj)
        assigned, drain = self.names.assignment, self.names.drain
        path = ref.path(ns, name)
        body: Any
        if action is Action.CLAIM:
            # guarded by resourceVersion: it fails if anyone labelled the CR meanwhile
            claim: dict[str, str | None] = {assigned: self.me}
            if drain in labels:
                claim[drain] = None
            body = {"metadata": {"resourceVersion": meta.get("resourceVersion"), "labels": claim}}
            kind = MERGE_PATCH
        elif action in (Action.TAKE_OVER, Action.RELEASE):
            # guarded by the label's value: it fails if the assignment changed meanwhile
            ops: list[dict[str, Any]] = [
                {"op": "test", "path": _pointer(assigned), "value": labels.get(assigned)}
            ]
            if action is Action.TAKE_OVER:
                ops.append({"op": "replace", "path": _pointer(assigned), "value": self.me})
            else:
                ops.append({"op": "remove", "path": _pointer(assigned)})
            if drain in labels:
                ops.append({"op": "remove", "path": _pointer(drain)})
            body, kind = ops, JSON_PATCH
        elif action is Action.ASK_DRAIN:
            body, kind = {"metadata": {"labels": {drain: "true"}}}, MERGE_PATCH
        else:  # CLEAR_DRAIN
            body, kind = {"metadata": {"labels": {drain: None}}}, MERGE_PATCH
        try:
            written = await self.kube.call("PATCH", path, body, kind)
        except ApiException as exc:
            if exc.status in (404, 409, 422):  # gone, or changed meanwhile: the next event decides again
                log.debug("%s lost a race (%s)", action.value, exc.status, extra={"cr": f"{ns}/{name}"})
                return
            log.warning("could not %s %s/%s: %s", action.value, ns, name, exc.reason)
            return
        except Exception as exc:
            log.warning("could not %s %s/%s: %s", action.value, ns, name, exc)
            return
        how = _HOW.get(action)
        if how:
            metrics.SHARD_HANDOVERS.labels(ring=self.names.ring, how=how).inc()
            previous = labels.get(assigned)
            log.info(
                "resource %s",
                how.replace("_", " "),
                extra={"cr": f"{ref.kind} {ns}/{name}" if ns else f"{ref.kind} {name}", "from": previous},
            )
        if isinstance(written, dict):
            self._feed(key, written)
