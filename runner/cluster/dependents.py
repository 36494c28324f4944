"""Dependent watches: rerun a CR's role when something changes or deletes what the role made.

Once a job has created (or adopted) objects of a kind, that kind is watched (list + watch through
the operator's credentials). An update that changes more than status and bookkeeping metadata, or
a deletion, of an object owned by a CR asks for a rerun of that CR. Creates are ignored, and so are
the job's own writes (the proxy reports each write's resourceVersion), so a role never retriggers
itself. Bursts are debounced into one request. The kinds watched are remembered in the runner
directory, so after a restart they are watched again before any CR has run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp

from runner.cluster.discovery import ResourceInfo
from runner.cluster.ownership import owners_of
from runner.cluster.upstream import Upstream

log = logging.getLogger("runner.cluster.dependents")

VOLATILE_META = ("resourceVersion", "managedFields", "generation", "creationTimestamp", "uid", "selfLink")
OWN_WRITES_KEPT = 20000
DECIDE_DELAY = 0.3  # let the proxy report a job's write before its watch event is judged


def digest(obj: Mapping[str, Any]) -> str:
    """What counts as a change of a dependent: everything but status and bookkeeping metadata."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in VOLATILE_META}
    body = {k: v for k, v in obj.items() if k not in ("status", "metadata")}
    return hashlib.sha1(json.dumps([meta, body], sort_keys=True, default=str).encode()).hexdigest()


class WatchErrorEvent(Exception):
    """The API server ended a watch with an ``ERROR`` event other than 410 (Gone)."""

    def __init__(self, status: Mapping[str, Any], rv: str | None) -> None:
        code, message = status.get("code"), status.get("message") or status.get("reason") or "no message"
        super().__init__(f"ERROR event {code}: {message}")
        self.rv = rv  # where the next watch resumes


Resolve = Callable[[ResourceInfo, Mapping[str, Any]], list[Hashable]]
Notify = Callable[[Hashable, str], None]


class Dependents:
    def __init__(self, upstream: Upstream, namespaces: Iterable[str], state_file: Path | None) -> None:
        self.upstream = upstream
        self.namespaces = tuple(namespaces)
        self.state_file = state_file
        self.resolve: Resolve = lambda info, obj: []
        self.notify: Notify = lambda key, reason: None
        self._kinds: dict[tuple[str, str, str], ResourceInfo] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._digests: dict[str, str] = {}
        self._own: collections.OrderedDict[tuple[str, str], None] = collections.OrderedDict()
        self._own_deletes: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._started = False

    def bind(self, resolve: Resolve, notify: Notify) -> None:
        self.resolve, self.notify = resolve, notify

    # ---- what the jobs did
    def own_write(self, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("uid"):
            self._remember(self._own, (meta["uid"], str(meta.get("resourceVersion"))))

    def own_delete(self, uid: str) -> None:
        self._remember(self._own_deletes, uid)

    @staticmethod
    def _remember(store: collections.OrderedDict[Any, None], key: Any) -> None:
        store[key] = None
        while len(store) > OWN_WRITES_KEPT:
            store.popitem(last=False)

    # ---- which kinds are watched
    def track(self, info: ResourceInfo) -> None:
        key = (info.group, info.version, info.plural)
        if key in self._kinds:
            return
        self._kinds[key] = info
        log.info("watching dependents of kind %s (%s)", info.kind, info.api_version)
        self._save()
        if self._started:
            self._spawn(info)

    def tracked(self) -> list[ResourceInfo]:
        return list(self._kinds.values())

    async def start(self) -> None:
        self._started = True
        for info in self._load():
            self.track(info)
        for info in self._kinds.values():
            self._spawn(info)

    async def stop(self) -> None:
        self._started = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def _load(self) -> list[ResourceInfo]:
        if not self.state_file or not self.state_file.exists():
            return []
        try:
            raw = json.loads(self.state_file.read_text())
            return [ResourceInfo(**{**r, "verbs": frozenset(r["verbs"])}) for r in raw]
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("ignoring unreadable %s: %s", self.state_file, exc)
            return []

    def _save(self) -> None:
        if not self.state_file:
            return
        rows = [{**asdict(i), "verbs": sorted(i.verbs)} for i in self._kinds.values()]
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, indent=1))
        tmp.replace(self.state_file)

    def _spawn(self, info: ResourceInfo) -> None:
        scopes: Iterable[str | None] = self.namespaces if (info.namespaced and self.namespaces) else (None,)
        for ns in scopes:
            self._tasks.append(asyncio.get_running_loop().create_task(self._watch(info, ns)))

    # ---- the watch loop
    def _path(self, info: ResourceInfo, namespace: str | None) -> str:
        root = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
        return f"{root}/namespaces/{namespace}/{info.plural}" if namespace else f"{root}/{info.plural}"

    async def _watch(self, info: ResourceInfo, namespace: str | None) -> None:
        path, rv, backoff = self._path(info, namespace), None, 1.0
        while True:
            try:
                if rv is None:
                    listing = await self.upstream.get_json(path)
                    for obj in listing.get("items") or []:
                        self._seed(info, obj)
                    rv = (listing.get("metadata") or {}).get("resourceVersion")
                rv = await self._stream(info, path, rv)
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except (TimeoutError, aiohttp.ClientError, ValueError, WatchErrorEvent) as exc:
                if isinstance(exc, WatchErrorEvent):
                    rv = exc.rv  # resumed after a pause, not at once: an error repeated is no hot loop
                log.warning("watch of %s failed (%s); retrying in %.0fs", path, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def _stream(self, info: ResourceInfo, path: str, rv: str | None) -> str | None:
        params = {"watch": "1", "allowWatchBookmarks": "true", "timeoutSeconds": "300"}
        if rv:
            params["resourceVersion"] = rv
        url = self.upstream.base + path
        async with self.upstream.session.get(
            url, params=params, headers=self.upstream.auth_headers()
        ) as resp:
            if resp.status == 410:
                return None
            resp.raise_for_status()
            buf = b""
            async for chunk in resp.content.iter_any():
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        if obj.get("code") == 410:
                            return None  # too old: list again
                        raise WatchErrorEvent(obj, rv)
                    rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                    self._on_event(info, event.get("type", ""), obj)
        return rv

    # ---- events → rerun requests
    def _seed(self, info: ResourceInfo, obj: Mapping[str, Any]) -> None:
        uid = (obj.get("metadata") or {}).get("uid")
        if uid and owners_of(obj):
            self._digests[uid] = digest(obj)

    def _on_event(self, info: ResourceInfo, kind: str, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        uid = meta.get("uid", "")
        if kind in ("ADDED", "BOOKMARK"):
            if kind == "ADDED":
                self._seed(info, obj)
            return
        owners = self.resolve(info, obj)
        if kind == "DELETED":
            self._digests.pop(uid, None)
            if owners:
                asyncio.get_running_loop().call_later(DECIDE_DELAY, self._decide_delete, info, obj, owners)
            return
        if kind != "MODIFIED" or not owners:
            self._digests.pop(uid, None)
            return
        new = digest(obj)
        if self._digests.get(uid) == new:
            return  # status or bookkeeping only
        self._digests[uid] = new
        rv = str(meta.get("resourceVersion"))
        asyncio.get_running_loop().call_later(DECIDE_DELAY, self._decide_update, info, obj, owners, (uid, rv))

    def _decide_update(
        self, info: ResourceInfo, obj: Mapping[str, Any], owners: list[Hashable], write: tuple[str, str]
    ) -> None:
        if write in self._own:
            return  # the role's own write
        name = (obj.get("metadata") or {}).get("name")
        for key in owners:
            self.notify(key, f"dependent {info.kind} {name} changed")

    def _decide_delete(self, info: ResourceInfo, obj: Mapping[str, Any], owners: list[Hashable]) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("uid") in self._own_deletes:
            return
        for key in owners:
            self.notify(key, f"dependent {info.kind} {meta.get('name')} deleted")
