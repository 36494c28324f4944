"""The watched kinds' events reach the runner straight from kopf's stream, in the API server's order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest
from kopf._cogs.clients import errors, watching

from runner.control import watchretry, watchtap


class Res:
    def __init__(self, group: str, version: str, kind: str) -> None:
        self.group, self.version, self.kind = group, version, kind


MINE = Res("example.com", "v1", "Echo")
CRDS = Res("apiextensions.k8s.io", "v1", "CustomResourceDefinition")


def ev(kind: str | None, name: str) -> dict[str, Any]:
    return {"type": kind, "object": {"metadata": {"name": name, "namespace": "ns1"}}}


def stream(*items: Any) -> Any:
    async def continuous_watch(**_: Any) -> AsyncIterator[Any]:
        for item in items:
            yield item

    return continuous_watch


def collect(fn: Any, **kwargs: Any) -> list[Any]:
    async def run() -> list[Any]:
        return [e async for e in fn(**kwargs)]

    return asyncio.run(run())


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    watchtap.untap_all()
    yield
    watchtap.untap_all()


def test_a_tapped_kinds_events_go_to_its_sink_in_order_and_kopf_keeps_its_markers() -> None:
    got: list[tuple[Any, str | None, str]] = []

    def sink(resource: Any, event: Mapping[str, Any]) -> None:
        got.append((resource, event["type"], event["object"]["metadata"]["name"]))

    watchtap.tap("example.com", "v1", "Echo", sink)
    events = [ev(None, "a"), ev(None, "b"), watching.Bookmark.LISTED, ev("MODIFIED", "a"), ev("DELETED", "b")]
    bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}
    left = collect(watchtap.wrap(stream(*events[:3], bookmark, *events[3:])), resource=MINE, namespace=None)
    assert left == [watching.Bookmark.LISTED]  # kopf still learns that the listing is over
    assert got == [(MINE, None, "a"), (MINE, None, "b"), (MINE, "MODIFIED", "a"), (MINE, "DELETED", "b")]


def test_other_kinds_go_through_kopf_untouched() -> None:
    watchtap.tap("example.com", "v1", "Echo", lambda r, e: pytest.fail("not this kind"))
    events = [ev(None, "crd-a"), watching.Bookmark.LISTED, ev("ADDED", "crd-b")]
    assert collect(watchtap.wrap(stream(*events)), resource=CRDS, namespace=None) == events
    other_version = Res("example.com", "v2", "Echo")
    assert collect(watchtap.wrap(stream(*events)), resource=other_version, namespace=None) == events


def test_an_object_the_sink_cannot_take_is_logged_and_the_stream_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    taken: list[str] = []

    def sink(resource: Any, event: Mapping[str, Any]) -> None:
        name = event["object"]["metadata"]["name"]
        if name == "bad":
            raise ValueError("cannot")
        taken.append(name)

    watchtap.tap("example.com", "v1", "Echo", sink)
    with caplog.at_level(logging.ERROR, logger="runner.control.watchtap"):
        collect(watchtap.wrap(stream(ev("ADDED", "bad"), ev("ADDED", "good"))), resource=MINE, namespace=None)
    assert taken == ["good"]
    assert "could not take in the ADDED event of Echo ns1/bad" in caplog.text


def test_a_big_listing_lets_the_event_loop_run_in_between() -> None:
    turns: list[int] = []
    taken: list[str] = []
    watchtap.tap("example.com", "v1", "Echo", lambda r, e: taken.append(e["object"]["metadata"]["name"]))

    async def run() -> None:
        async def ticker() -> None:
            while True:
                turns.append(len(taken))
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        n = watchtap.YIELD_EVERY * 3
        listing = stream(*(ev(None, f"cr-{i}") for i in range(n)))
        async for _ in watchtap.wrap(listing)(resource=MINE, namespace=None):
            pass
        task.cancel()

    asyncio.run(run())
    assert len(taken) == watchtap.YIELD_EVERY * 3
    assert {watchtap.YIELD_EVERY, 2 * watchtap.YIELD_EVERY} <= set(turns)


def test_install_wraps_once_with_failures_retried_under_the_tap(monkeypatch: pytest.MonkeyPatch) -> None:
    async def original(**_: Any) -> AsyncIterator[Any]:
        yield ev("ADDED", "a")
        raise errors.APINotFoundError("404 page not found", status=404, headers={})

    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(watching, "continuous_watch", original)
    monkeypatch.setattr(watchtap, "_installed", [])
    monkeypatch.setattr(watchretry.asyncio, "sleep", fake_sleep)
    watchtap.install()
    wrapped = watching.continuous_watch
    watchtap.install()
    assert watching.continuous_watch is wrapped is not original
    taken: list[str] = []
    watchtap.tap("example.com", "v1", "Echo", lambda r, e: taken.append(e["type"]))
    assert collect(wrapped, resource=MINE, namespace=None) == []  # the 404 did not escape
    assert taken == ["ADDED"]
    assert slept == [1.0]
