"""The coordinator's bookkeeping without a cluster: which CRs this replica may run, what it writes
to hand one over, and that a job running holds the hand-over back until it ends."""

from __future__ import annotations

import asyncio
from typing import Any

from runner.cluster.kube import ResourceRef
from runner.control.operator import _older
from runner.control.shard.coordinator import JSON_PATCH, Coordinator
from runner.control.shard.members import LeaseView
from runner.control.shard.names import RingNames

REF = ResourceRef("x.example.com", "v1", "things", "Thing", True)
NAMES = RingNames("ring")


class FakeKube:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, str]] = []

    async def call(self, method: str, path: str, body: Any = None, content_type: str = "") -> Any:
        self.calls.append((method, path, body, content_type))
        return None


class FakeLease:
    identity = "r0"
    where = "ns/r0"


def cr(assigned: str | None = None, drain: bool = False, rv: str = "1") -> dict[str, Any]:
    labels = {NAMES.assignment: assigned} if assigned else {}
    if drain:
        labels[NAMES.drain] = "true"
    return {"metadata": {"name": "a", "namespace": "ns", "labels": labels, "resourceVersion": rv}}


def coordinator(objects: dict[Any, Any], members: list[str]) -> tuple[Coordinator, FakeKube, list[str]]:
    kube = FakeKube()
    c = Coordinator(kube, FakeLease(), ring_name="ring", by="name", duration=15.0)  # type: ignore[arg-type]
    events: list[str] = []
    c.bind(
        objects,
        lambda _k: REF,
        lambda k: events.append("gained"),
        lambda k: events.append("lost"),
        lambda k, o: None,
    )
    c._last_renewed = float("inf")  # renewed just now, for these tests
    c.members.observe([LeaseView(m, m, "t", 15.0, 0.0) for m in members], now=0.0)
    c._ring = c.members.ring(0.0)
    return c, kube, events


def test_an_unassigned_cr_is_claimed_by_the_member_the_ring_picks_and_only_then_runs() -> None:
    async def scenario() -> None:
        key = (0, "ns", "a")
        objects = {key: cr()}
        c, kube, events = coordinator(objects, ["r0"])
        c.observe(key, objects[key])
        await asyncio.sleep(0)
        assert c.may_start(key) == "skip"
        method, _path, body, _ = kube.calls[0]
        assert method == "PATCH" and body["metadata"]["labels"] == {NAMES.assignment: "r0"}
        assert body["metadata"]["resourceVersion"] == "1"  # fails if anyone labelled it meanwhile
        objects[key] = cr("r0", rv="2")
        c.observe(key, objects[key])
        assert events == ["gained"] and c.may_start(key) == "run"

    asyncio.run(scenario())


def test_asked_to_drain_while_running_the_member_releases_after_the_job() -> None:
    async def scenario() -> None:
        key = (0, "ns", "a")
        objects = {key: cr("r0")}
        c, kube, _events = coordinator(objects, ["r0", "r1"])
        c._picks[key] = "r1"  # the ring now picks the other member
        c.observe(key, objects[key])
        assert c.may_start(key) == "run"
        c.started(key)
        objects[key] = cr("r0", drain=True, rv="2")
        c.observe(key, objects[key])
        await asyncio.sleep(0)
        assert kube.calls == []  # nothing written while the job runs
        assert c.may_start(key) == "skip"  # and nothing new starts
        c.finished(key)
        await asyncio.sleep(0)
        ((_method, _path, ops, kind),) = kube.calls
        assert kind == JSON_PATCH
        assert ops[0] == {
            "op": "test",
            "path": "/metadata/labels/" + NAMES.assignment.replace("/", "~1"),
            "value": "r0",
        }
        assert [op["op"] for op in ops[1:]] == ["remove", "remove"]

    asyncio.run(scenario())


def test_a_late_renewal_holds_jobs_back() -> None:
    key = (0, "ns", "a")
    objects = {key: cr("r0")}
    c, _kube, _events = coordinator(objects, ["r0"])
    c._last_renewed = -100.0
    assert c.may_start(key) == "later"


def test_older_events_are_told_apart_by_resource_version() -> None:
    assert _older(cr(rv="9"), cr(rv="10"))
    assert not _older(cr(rv="10"), cr(rv="10"))
    assert not _older(cr(rv="abc"), cr(rv="10"))
    assert not _older(cr(rv="1"), None)
