"""The kopf edge: watch each kind of watches.yaml and feed its events to the scheduler.

Only kopf's low-level ``on.event`` handlers are used: kopf keeps no state on the CRs (no
``status.kopf``, no diff-base annotation, no finalizer of its own). The runner decides what an event
means (``decision``), serialises and bounds the work (``scheduler``) and runs it (``reconciler``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kopf

from runner.cluster import ownership
from runner.cluster.access import dependents_allowed
from runner.cluster.discovery import ResourceInfo
from runner.cluster.kube import ResourceRef
from runner.config.settings import Config
from runner.config.watches import Watch
from runner.control import memory, watchtap
from runner.control.decision import Seen, created_since, fingerprint, trigger
from runner.control.objects import ObjectStore
from runner.control.reconciler import Reconciler
from runner.control.scheduler import Outcome, Priority, Scheduler
from runner.control.shard.coordinator import Coordinator
from runner.jobs import jobdir
from runner.serve import metrics

log = logging.getLogger("runner.control.operator")

Key = tuple[int, str | None, str]  # (watch index, namespace, name)
DEPENDENT_DEBOUNCE = 0.5  # seconds: a burst of dependent events becomes one rerun
SWEEP_FIRST = 10.0  # seconds after start-up (the initial listing has arrived by then)
CREATED_SLACK = 1.0  # seconds: creationTimestamp has whole seconds
SWEEP_PERIOD = 300.0  # seconds between sweeps of job directories left by CRs deleted while we were down


@dataclass
class KindState:
    watch: Watch
    ref: ResourceRef | None = None


class Operator:
    """Holds the latest object of every watched CR and turns watch events into reconcile requests."""

    def __init__(
        self,
        config: Config,
        watches: list[Watch],
        reconciler: Reconciler,
        shard: Coordinator | None = None,
    ) -> None:
        self.config = config
        self.shard = shard
        self.kinds = {w.index: KindState(w) for w in watches}
        self.reconciler = reconciler
        self.objects: ObjectStore[Key] = ObjectStore()
        self.cleanups: list[Callable[[], Awaitable[None]]] = []  # run at shutdown, after the jobs
        self.seen: dict[Key, Seen] = {}
        self.started_at = process_started_at()  # CRs created since are new work, even if listed
        self.running = 0  # reconciles in progress
        self.finished = 0  # reconciles done since start-up
        self.scheduler = Scheduler(
            self._reconcile,
            global_limit=config.max_concurrent_jobs,
            group_limits={w.index: config.workers_for(w.gvk.env_suffix) for w in watches},
            on_forgotten=self._forgotten,
        )
        if shard is not None:
            shard.bind(self.objects, self._ref_of, self._gained, self._lost, self._feed)

    # ---- kopf wiring
    def register(self, registry: kopf.OperatorRegistry) -> None:
        for state in self.kinds.values():
            gvk = state.watch.gvk
            # The handler makes kopf watch the kind; the tap hands its events over directly.
            kopf.on.event(
                gvk.group, gvk.version, gvk.kind, registry=registry, id=f"watch-{state.watch.index}"
            )(self._handler(state))
            watchtap.tap(gvk.group, gvk.version, gvk.kind, self._sink(state))
        kopf.on.login(registry=registry)(kopf.login_via_client)
        kopf.on.startup(registry=registry)(self._start_sweeper)
        kopf.on.cleanup(registry=registry)(self._cleanup)

    def _sink(self, state: KindState) -> watchtap.Sink:
        def take(resource: Any, event: Mapping[str, Any]) -> None:
            if state.ref is None:
                state.ref = ResourceRef(
                    resource.group,
                    resource.version,
                    resource.plural,
                    state.watch.gvk.kind,
                    bool(resource.namespaced),
                )
            self.observe(state.watch, event.get("type"), event["object"])

        return take

    def _handler(self, state: KindState) -> Any:
        take = self._sink(state)

        async def on_event(event: kopf.RawEvent, resource: kopf.Resource, **_: Any) -> None:
            take(resource, event)  # only when the tap is not installed (kopf calls it otherwise)

        return on_event

    async def _start_sweeper(self, **_: Any) -> None:
        loop = asyncio.get_running_loop()
        self._sweep_task = loop.create_task(self._sweeper())
        trimmer = memory.Trimmer(idle=lambda: self.running == 0, work=lambda: self.finished)
        self._trim_task = loop.create_task(trimmer.run())

    async def _cleanup(self, **_: Any) -> None:
        """Let running jobs finish for --graceful-shutdown-timeout, then stop them (at once when
        this replica lost its ring Lease: the other members are about to take its CRs)."""
        if hasattr(self, "_sweep_task"):
            self._sweep_task.cancel()
            self._trim_task.cancel()
        grace = self.config.graceful_shutdown_timeout
        if self.shard is not None:
            self.shard.leave()
            grace = 0.0 if self.shard.lost.is_set() else grace
        closing = asyncio.ensure_future(self.scheduler.close())
        done, _pending = await asyncio.wait({closing}, timeout=grace)
        if not done:
            log.warning("jobs still running after the graceful shutdown timeout: stopping them")
        self.reconciler.executor.shutdown()
        await closing
        if self.shard is not None:  # the jobs have ended: the other members take its CRs now
            await self.shard.stop()
        for cleanup in self.cleanups:  # inside kopf's shutdown, so kopf does not wait on their tasks
            await cleanup()

    # ---- events → requests
    def observe(self, watch: Watch, event_type: str | None, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key: Key = (watch.index, meta.get("namespace"), meta.get("name", ""))
        if event_type == "DELETED" or not watch.selector.matches(meta.get("labels") or {}):
            metrics.resource_gone(watch.gvk, meta)
            if key in self.objects:
                self.objects.pop(key)
                self.seen.pop(key, None)
                self.scheduler.forget(key)
            if self.shard is not None:
                self.shard.forget(key)
            return
        if self.shard is not None and _older(obj, self.objects.get(key)):
            return  # an event from before a label write of ours, which was fed in already
        self.objects[key] = obj
        metrics.resource_seen(watch.gvk, meta)
        now = fingerprint(obj)
        reason = trigger(self.seen.get(key), now, watch_annotations=watch.watch_annotations_changes)
        self.seen[key] = now
        if self.shard is not None:
            self.shard.observe(key, obj)  # may call _gained (a run) or _lost
            if key not in self.shard.mine:
                return
        if reason is None:
            return
        startup = (
            event_type is None
            and reason == "new resource"
            and not created_since(meta, self.started_at - CREATED_SLACK)
        )
        priority = Priority.STARTUP if startup else Priority.CHANGE
        self.scheduler.request(key, watch.index, priority, "operator start-up" if startup else reason)

    # ---- dependents → requests
    def dependent_owners(self, info: ResourceInfo, obj: Mapping[str, Any]) -> list[Hashable]:
        """The CRs (keys) that ``obj`` belongs to and whose watch reruns on its changes."""
        keys: list[Hashable] = []
        for hint in ownership.owners_of(obj):
            for state in self.kinds.values():
                gvk = state.watch.gvk
                if (gvk.group, gvk.kind) != (hint.group, hint.kind) or state.ref is None:
                    continue
                if not dependents_allowed(state.watch, info):
                    continue
                key: Key = (state.watch.index, hint.namespace if state.ref.namespaced else None, hint.name)
                seen = self.seen.get(key)
                if key not in self.objects or seen is None:
                    continue
                if hint.uid is not None and seen.uid != hint.uid:
                    continue
                keys.append(key)
        return keys

    def dependent_changed(self, key: Hashable, reason: str) -> None:
        assert isinstance(key, tuple)
        if self.shard is not None and key not in self.shard.mine:
            return  # dependents follow their owner CR: its member reruns it
        if key in self.objects:
            self.scheduler.request_soon(key, key[0], reason, DEPENDENT_DEBOUNCE)

    async def _reconcile(self, key: Hashable, reasons: frozenset[str]) -> Outcome:
        assert isinstance(key, tuple)
        obj = self.objects.get(key)
        state = self.kinds[key[0]]
        if obj is None or state.ref is None:
            return Outcome(ok=True)
        if self.shard is None:
            return await self._run(state, obj, reasons)
        verdict = self.shard.may_start(key)
        if verdict != "run":  # skip: not (or no longer) this replica's, its member runs it
            return Outcome(ok=verdict == "skip")
        self.shard.started(key)
        try:
            return await self._run(state, obj, reasons)
        finally:
            self.shard.finished(key)

    async def _run(self, state: KindState, obj: Mapping[str, Any], reasons: frozenset[str]) -> Outcome:
        assert state.ref is not None
        self.running += 1
        try:
            return await self.reconciler.reconcile(state.watch, state.ref, obj, reasons)
        finally:
            self.running -= 1
            self.finished += 1

    # ---- sharding callbacks
    def _ref_of(self, key: Hashable) -> ResourceRef | None:
        assert isinstance(key, tuple)
        return self.kinds[key[0]].ref

    def _gained(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        # like a start-up backlog: new and changed CRs of this replica are not kept waiting by it
        self.scheduler.request(key, key[0], Priority.STARTUP, "assigned to this replica")

    def _lost(self, key: Hashable) -> None:
        self.scheduler.forget(key)  # no timers or queued runs; its job directory goes

    def _feed(self, key: Hashable, obj: Mapping[str, Any]) -> None:
        assert isinstance(key, tuple)
        self.observe(self.kinds[key[0]].watch, "MODIFIED", obj)

    def sweep_job_dirs(self) -> int:
        """Remove the job directories of CRs that are gone (deleted while the operator was down)."""
        base = self.config.runner_dir
        gvks = {i: (s.watch.gvk.group, s.watch.gvk.version, s.watch.gvk.kind) for i, s in self.kinds.items()}
        keys = set(self.objects) | {k for k in self.seen if self.scheduler.is_busy(k)}
        live = {(*gvks[i], ns, name) for i, ns, name in keys}
        orphans = jobdir.orphans(base, list(gvks.values()), live)
        for path in orphans:
            self._discard(path)
        if orphans:
            log.info("removed %d job directories of CRs that no longer exist", len(orphans))
        return len(orphans)

    async def _sweeper(self, **_: Any) -> None:
        """Sweep orphaned job dirs once the initial listing has settled, then every SWEEP_PERIOD."""
        # what a previous run moved aside and did not get to delete
        await asyncio.to_thread(jobdir.empty_trash, self.config.runner_dir)
        await asyncio.sleep(SWEEP_FIRST)
        while True:
            self.sweep_job_dirs()
            await asyncio.sleep(SWEEP_PERIOD)

    def _forgotten(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        index, namespace, name = key
        gvk = self.kinds[index].watch.gvk
        base = self.config.runner_dir
        path = jobdir.job_dir(base, gvk.group, gvk.version, gvk.kind, namespace, name)
        self._discard(path)
        log.debug("removed job directory %s", path)

    def _discard(self, path: Path) -> None:
        """Move a job directory aside now, and delete it in a thread: removing thousands of
        artifact files must not hold up the event loop (the other CRs)."""
        trashed = jobdir.discard(path, self.config.runner_dir)
        if trashed is not None:
            asyncio.get_running_loop().run_in_executor(None, shutil.rmtree, trashed, True)


def _older(obj: Mapping[str, Any], prev: Mapping[str, Any] | None) -> bool:
    """Whether ``obj`` is an older version than ``prev`` (resourceVersions compared as numbers,
    as etcd writes them; anything else is taken as newer)."""
    if prev is None:
        return False
    new = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    old = str((prev.get("metadata") or {}).get("resourceVersion") or "")
    return new.isdigit() and old.isdigit() and int(new) < int(old)


def fixed_namespaces(namespaces: tuple[str, ...]) -> bool:
    """WATCH_NAMESPACE names namespaces exactly (no kopf glob or negation patterns)."""
    return bool(namespaces) and not any(set(ns) & set("*?[]!") for ns in namespaces)


def process_started_at(pid: int | str = "self") -> float:
    """When process ``pid`` (default: this one) started, in epoch seconds; from /proc, else now."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            ticks = int(fh.read().rpartition(")")[2].split()[19])  # field 22, starttime
        with open("/proc/stat") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


def settings(namespaces: tuple[str, ...] = ()) -> kopf.OperatorSettings:
    s = kopf.OperatorSettings()
    # Watching named namespaces, the operator needs no cluster-wide access to Namespaces (a Role
    # in each is enough, as config/namespaced grants): kopf's scanning would list and watch all
    # Namespaces, retrying a 403 for about a minute before it serves the CRs. As with the Go
    # operator, the kinds are then those served at start-up (preflight waits for them).
    s.scanning.disabled = fixed_namespaces(namespaces)
    s.posting.enabled = False  # the runner posts its own Events (runner/status/events.py)
    s.watching.server_timeout = 300
    s.watching.client_timeout = 330
    s.watching.connect_timeout = 30
    s.networking.request_timeout = 60
    s.batching.batch_window = 0.05
    return s


async def run_operator(
    config: Config, operator: Operator, ready: asyncio.Event, stop: asyncio.Future[Any]
) -> None:
    registry = kopf.OperatorRegistry()
    operator.register(registry)

    async def settle_stop_flag(**_: Any) -> None:
        # kopf waits for its stop-flag waiter at exit; after a signal nobody else settles the flag.
        if not stop.done():
            stop.set_result(None)

    kopf.on.cleanup(registry=registry, id="settle-stop-flag")(settle_stop_flag)
    watchtap.install()  # and watchretry under it
    await kopf.operator(
        registry=registry,
        settings=settings(config.namespaces),
        standalone=True,
        clusterwide=not config.namespaces,
        namespaces=list(config.namespaces),
        ready_flag=ready,
        stop_flag=stop,
    )
