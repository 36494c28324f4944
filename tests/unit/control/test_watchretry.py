"""A failing watch is logged and retried with a back-off, never fatal to the operator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kopf._cogs.clients import errors, watching

from runner.control import watchretry


class Kind:
    kind = "Nap"

    def __str__(self) -> str:
        return "naps.v1.faults.runner.example.com"


def stream(*items: Any) -> Any:
    """A stand-in for kopf's continuous_watch: yields ``items``, raising the exceptions among them."""

    async def continuous_watch(**_: Any) -> AsyncIterator[Any]:
        for item in items:
            if isinstance(item, BaseException):
                raise item
            yield item

    return continuous_watch


def drain(fn: Any, sleeps: list[float], monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> list[Any]:
    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(watchretry.asyncio, "sleep", fake_sleep)

    async def collect() -> list[Any]:
        return [e async for e in fn(**kwargs)]

    return asyncio.run(collect())


def not_found() -> errors.APINotFoundError:
    return errors.APINotFoundError("404 page not found", status=404, headers={})


def test_backoff_doubles_up_to_thirty_seconds() -> None:
    assert [watchretry.backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_404_ends_the_stream_after_a_logged_backoff(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    event = {"type": "ADDED", "object": {"metadata": {"name": "a"}}}
    wrapped = watchretry.wrap(stream(watching.Bookmark.LISTED, event, not_found()))
    sleeps: list[float] = []
    with caplog.at_level(logging.WARNING, logger="runner.control.watchretry"):
        got = drain(wrapped, sleeps, monkeypatch, resource=Kind(), namespace="ns1")
    assert got == [watching.Bookmark.LISTED, event]
    assert sleeps == [1.0]
    (line,) = [r.getMessage() for r in caplog.records]
    assert line == (
        "watching Nap in namespace ns1 failed: 404 page not found; is its CRD installed and served? "
        "(an API server that has just started serves it shortly); trying again in 1 s"
    )


def test_failures_in_a_row_back_off_longer_and_a_listing_resets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    failing = watchretry.wrap(stream(not_found()))
    sleeps: list[float] = []
    for _ in range(3):
        drain(failing, sleeps, monkeypatch, resource=Kind(), namespace=None)
    assert sleeps == [1.0, 2.0, 4.0]

    listed_then_failing = watchretry.wrap(stream(watching.Bookmark.LISTED, not_found()))
    sleeps = []
    for _ in range(3):
        drain(listed_then_failing, sleeps, monkeypatch, resource=Kind(), namespace=None)
    assert sleeps == [1.0, 1.0, 1.0]


def test_each_kind_and_namespace_backs_off_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    failing = watchretry.wrap(stream(not_found()))
    sleeps: list[float] = []
    drain(failing, sleeps, monkeypatch, resource=Kind(), namespace="ns1")
    drain(failing, sleeps, monkeypatch, resource=Kind(), namespace="ns1")
    drain(failing, sleeps, monkeypatch, resource=Kind(), namespace="ns2")
    assert sleeps == [1.0, 2.0, 1.0]


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (errors.APIForbiddenError("forbidden", status=403, headers={}), "list and watch"),
        (watching.WatchingError("Error in the watch-stream: {'code': 500}"), "refused the watch"),
    ],
)
def test_a_refused_watch_or_an_error_event_is_retried_too(
    exc: BaseException, says: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sleeps: list[float] = []
    with caplog.at_level(logging.WARNING, logger="runner.control.watchretry"):
        assert drain(watchretry.wrap(stream(exc)), sleeps, monkeypatch, resource=Kind(), namespace=None) == []
    assert sleeps == [1.0]
    assert "cluster-wide" in caplog.text and says in caplog.text


def test_other_errors_are_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="a bug"):
        drain(watchretry.wrap(stream(ValueError("a bug"))), [], monkeypatch, resource=Kind(), namespace=None)
