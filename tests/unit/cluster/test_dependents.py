"""Dependent-watch decisions without a cluster: what counts as a change, own writes, persistence."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from runner.cluster import dependents
from runner.cluster.dependents import Dependents
from runner.cluster.discovery import ResourceInfo

CM = ResourceInfo("", "v1", "configmaps", "ConfigMap", True, frozenset({"get", "list", "watch"}))
REF = {"apiVersion": "g.io/v1", "kind": "Thing", "name": "t", "uid": "u1"}


def cm(rv: str, data: dict | None = None, **meta: object) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "c",
            "namespace": "n",
            "uid": "cm1",
            "resourceVersion": rv,
            "ownerReferences": [REF],
            **meta,
        },
        "data": data or {"a": "1"},
        "status": {},
    }


def test_digest_ignores_status_and_bookkeeping() -> None:
    base = cm("1")
    assert dependents.digest(base) == dependents.digest({**cm("2", managedFields=[{}]), "status": {"x": 1}})
    assert dependents.digest(base) != dependents.digest(cm("2", {"a": "2"}))
    assert dependents.digest(base) != dependents.digest(cm("2", labels={"l": "v"}))


def run(
    events: list[tuple[str, dict]], own: list[dict] | None = None, own_deletes: list[str] | None = None
) -> list[str]:
    seen: list[str] = []

    async def main() -> None:
        d = Dependents(upstream=None, namespaces=(), state_file=None)  # type: ignore[arg-type]
        d.bind(
            lambda info, obj: ["key"] if obj["metadata"].get("ownerReferences") else [],
            lambda k, r: seen.append(r),
        )
        for o in own or []:
            d.own_write(o)
        for uid in own_deletes or []:
            d.own_delete(uid)
        for kind, obj in events:
            d._on_event(CM, kind, obj)
        await asyncio.sleep(dependents.DECIDE_DELAY + 0.2)

    asyncio.run(main())
    return seen


def test_changes_and_deletions_notify_the_owner() -> None:
    assert run([("ADDED", cm("1")), ("MODIFIED", cm("2", {"a": "x"}))]) == ["dependent ConfigMap c changed"]
    assert run([("ADDED", cm("1")), ("DELETED", cm("2"))]) == ["dependent ConfigMap c deleted"]


def test_creates_status_only_updates_and_own_writes_are_ignored() -> None:
    assert run([("ADDED", cm("1"))]) == []
    assert run([("ADDED", cm("1")), ("MODIFIED", {**cm("2"), "status": {"ready": True}})]) == []
    changed = cm("2", {"a": "x"})
    assert run([("ADDED", cm("1")), ("MODIFIED", changed)], own=[changed]) == []
    assert run([("ADDED", cm("1")), ("DELETED", cm("2"))], own_deletes=["cm1"]) == []


def test_unowned_objects_are_ignored() -> None:
    plain = cm("1")
    plain["metadata"].pop("ownerReferences")
    assert run([("ADDED", plain), ("MODIFIED", {**plain, "data": {"a": "z"}}), ("DELETED", plain)]) == []


def test_tracked_kinds_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "kinds.json"
    first = Dependents(upstream=None, namespaces=(), state_file=state)  # type: ignore[arg-type]
    first.track(CM)
    second = Dependents(upstream=None, namespaces=(), state_file=state)  # type: ignore[arg-type]
    assert second._load() == [CM]


def test_an_error_event_is_retried_after_a_pause_from_where_it_stopped(monkeypatch, caplog) -> None:
    """A watch ended by an ERROR event (not 410) resumes from its last resourceVersion, after 1,
    2, 4 … s: before, it was watched again at once, a request loop while the error lasted."""
    pauses: list[float] = []
    resumed: list[str | None] = []

    class Listing:
        async def get_json(self, path: str) -> dict:
            return {"items": [], "metadata": {"resourceVersion": "7"}}

    async def main() -> None:
        d = Dependents(upstream=Listing(), namespaces=(), state_file=None)  # type: ignore[arg-type]
        real_sleep = asyncio.sleep

        async def sleep(delay: float) -> None:
            pauses.append(delay)
            await real_sleep(0)

        async def stream(info: ResourceInfo, path: str, rv: str | None) -> str | None:
            resumed.append(rv)
            if len(resumed) == 4:
                raise asyncio.CancelledError
            raise dependents.WatchErrorEvent({"code": 500, "message": "etcdserver: leader changed"}, "42")

        monkeypatch.setattr(dependents.asyncio, "sleep", sleep)
        d._stream = stream  # type: ignore[method-assign]
        with contextlib.suppress(asyncio.CancelledError):
            await d._watch(CM, "n")

    with caplog.at_level("WARNING", logger="runner.cluster.dependents"):
        asyncio.run(main())
    assert pauses == [1.0, 2.0, 4.0]
    assert resumed == ["7", "42", "42", "42"]
    failed = "watch of /api/v1/namespaces/n/configmaps failed (ERROR event 500: etcdserver: leader changed)"
    assert failed in caplog.text
