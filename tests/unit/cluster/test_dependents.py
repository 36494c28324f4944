"""Dependent-watch decisions without a cluster: what counts as a change, own writes, persistence."""

from __future__ import annotations

import asyncio
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
