"""Kubernetes Events as client-go writes them: names, the aggregation of repeats, the writes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from runner.status.events import (
    EventRecorder,
    aggregation_key,
    event_name,
    new_event,
    repeat_patch,
)

NOW = 1_714_557_600_123_456_789  # 2024-05-01T10:00:00.123456789Z


def echo(ns: str | None = "team-a", rv: str = "41") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "db", "uid": "u-1", "resourceVersion": rv}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": "e2e.example.com/v1", "kind": "Echo", "metadata": meta, "spec": {}}


def test_event_name_is_object_name_and_16_hex_digits_of_nanoseconds() -> None:
    name = event_name("db", NOW)
    assert name == f"db.{NOW:x}"
    assert len(name.split(".", 1)[1]) == 16 and not name.startswith("kopf-event")


def test_new_event_names_the_object_and_the_operator() -> None:
    body = new_event(echo(), "Warning", "Failed", "boom", component="memcached-operator", now_ns=NOW)
    assert body["metadata"] == {"name": event_name("db", NOW), "namespace": "team-a"}
    assert body["involvedObject"] == {
        "apiVersion": "e2e.example.com/v1",
        "kind": "Echo",
        "name": "db",
        "namespace": "team-a",
        "uid": "u-1",
        "resourceVersion": "41",
    }
    assert (body["type"], body["reason"], body["message"], body["count"]) == ("Warning", "Failed", "boom", 1)
    assert body["source"] == {"component": "memcached-operator"}
    assert body["reportingComponent"] == "memcached-operator"
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2024-05-01T10:00:00Z"


def test_cluster_scoped_objects_get_their_events_in_default() -> None:
    body = new_event(echo(ns=None), "Normal", "Started", "go", component="op", now_ns=NOW)
    assert body["metadata"]["namespace"] == "default"
    assert "namespace" not in body["involvedObject"]


def test_aggregation_key_ignores_the_resource_version_only() -> None:
    key = aggregation_key(echo(rv="1"), "Warning", "Failed", "boom", "op")
    assert key == aggregation_key(echo(rv="2"), "Warning", "Failed", "boom", "op")
    for other in (
        aggregation_key(echo(ns="team-b"), "Warning", "Failed", "boom", "op"),
        aggregation_key(echo(), "Normal", "Failed", "boom", "op"),
        aggregation_key(echo(), "Warning", "Succeeded", "boom", "op"),
        aggregation_key(echo(), "Warning", "Failed", "other", "op"),
        aggregation_key(echo(), "Warning", "Failed", "boom", "another-op"),
    ):
        assert other != key


def test_repeat_patch_counts_and_moves_last_timestamp() -> None:
    assert repeat_patch(3, NOW) == {"count": 3, "lastTimestamp": "2024-05-01T10:00:00Z"}


class FakeKube:
    """Records the operator's Event writes; ``fail`` makes the next calls raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.fail: list[BaseException] = []

    async def call(self, method: str, path: str, body: Any = None, content_type: str = "") -> Any:
        self.calls.append((method, path, body))
        if self.fail:
            raise self.fail.pop(0)
        return body


def recorder(kube: FakeKube, **kw: Any) -> EventRecorder:
    ticks = iter(range(NOW, NOW + 10**6))
    return EventRecorder(kube, "op", clock=lambda: next(ticks), **kw)  # type: ignore[arg-type]


def test_a_repeated_event_is_counted_on_the_first_one() -> None:
    kube = FakeKube()
    rec = recorder(kube)

    async def run() -> None:
        await rec.record(echo(rv="1"), "Warning", "Failed", "boom")
        await rec.record(echo(rv="2"), "Warning", "Failed", "boom")
        await rec.record(echo(rv="3"), "Warning", "Failed", "boom")
        await rec.record(echo(), "Warning", "Failed", "another boom")

    asyncio.run(run())
    (m1, p1, created), (m2, p2, patch2), (m3, p3, patch3), (m4, _, other) = kube.calls
    assert (m1, p1) == ("POST", "/api/v1/namespaces/team-a/events")
    name = created["metadata"]["name"]
    assert (m2, p2) == (m3, p3) == ("PATCH", f"/api/v1/namespaces/team-a/events/{name}")
    assert (patch2["count"], patch3["count"]) == (2, 3)
    assert m4 == "POST" and other["message"] == "another boom" and other["count"] == 1


def test_a_deleted_event_is_posted_again() -> None:
    kube = FakeKube()
    rec = recorder(kube)

    async def run() -> None:
        await rec.record(echo(), "Warning", "Failed", "boom")
        kube.fail.append(ApiException(status=404, reason="Not Found"))
        await rec.record(echo(), "Warning", "Failed", "boom")
        await rec.record(echo(), "Warning", "Failed", "boom")

    asyncio.run(run())
    assert [m for m, _, _ in kube.calls] == ["POST", "PATCH", "POST", "PATCH"]
    assert kube.calls[2][2]["count"] == 1 and kube.calls[3][2]["count"] == 2


def test_the_cache_is_bounded() -> None:
    kube = FakeKube()
    rec = recorder(kube, cache_size=2)

    async def run() -> None:
        for message in ("a", "b", "c", "a"):
            await rec.record(echo(), "Normal", "Started", message)

    asyncio.run(run())
    assert [m for m, _, _ in kube.calls] == ["POST"] * 4  # "a" was forgotten when "c" came


def test_long_messages_are_cut_to_fit_an_event() -> None:
    kube = FakeKube()
    asyncio.run(recorder(kube).record(echo(), "Warning", "Failed", "word " * 1000))
    assert len(kube.calls[0][2]["message"].encode()) <= 1024


def test_post_never_raises_and_logs_a_failing_cr_once(caplog: pytest.LogCaptureFixture) -> None:
    kube = FakeKube()
    rec = recorder(kube)
    kube.fail.extend([ApiException(status=403, reason="Forbidden")] * 2)

    async def run() -> None:
        rec.post(echo(), "Normal", "Started", "one")
        rec.post(echo(), "Normal", "Started", "two")
        rec.post(echo(), "Normal", "Started", "three")
        await rec.close()

    asyncio.run(run())
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "Echo team-a/db" in warnings[0] and "403" in warnings[0]
    assert kube.calls[-1][2]["message"] == "three"  # the third landed
    rec.post(echo(), "Normal", "Started", "no event loop")  # and outside a loop: nothing, no error
