"""Status writes retry what passes (outages, overload, conflicts) and give up on what does not."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError

from runner.cluster.kube import ConflictsExhausted, ResourceNotServed, ResourceRef, gone
from runner.status import conditions as cond
from runner.status.writer import MAX_DELAY, StatusWriter, retry_delay

REF = ResourceRef("demo.example.com", "v1", "webapps", "WebApp", True)
CR = {"metadata": {"name": "shop", "namespace": "prod", "generation": 3}}
LOG = logging.LoggerAdapter(logging.getLogger("test"), {})


def api_error(status: int, headers: Mapping[str, str] | None = None) -> ApiException:
    exc = ApiException(status=status, reason="x")
    exc.headers = dict(headers or {})
    return exc


@pytest.mark.parametrize("status", [0, 408, 429, 500, 502, 503, 504])
def test_passing_api_errors_are_retried(status: int) -> None:
    assert retry_delay(api_error(status), 0) == 0.5


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_lasting_api_errors_are_not(status: int) -> None:
    assert retry_delay(api_error(status), 0) is None


def test_retry_after_is_honoured_and_back_off_grows_to_a_cap() -> None:
    assert retry_delay(api_error(429, {"Retry-After": "7"}), 0) == 7.0
    assert retry_delay(api_error(429, {"Retry-After": "soon"}), 1) == 1.0
    assert [retry_delay(ConnectionRefusedError(), a) for a in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert retry_delay(MaxRetryError(None, "/x"), 0) == 0.5  # type: ignore[arg-type]
    assert retry_delay(ConflictsExhausted("409 x 5"), 2) == 2.0
    assert retry_delay(ValueError("a bug"), 0) is None
    assert retry_delay(api_error(503), 50) == MAX_DELAY


class FlakyKube:
    """Fails the first ``failures`` writes with ``error``, then applies them."""

    def __init__(self, failures: int, error: BaseException) -> None:
        self.failures = failures
        self.error = error
        self.status: dict[str, Any] = {}
        self.calls = 0

    async def write_status(
        self, ref: Any, ns: Any, name: Any, change: Any, *, current: Any
    ) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        self.status.update(change(self.status))
        return {"metadata": {"name": name}, "status": self.status}


def write(kube: FlakyKube, *, deadline: float = 120.0, until_landed: bool = True) -> tuple[Any, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    writer = StatusWriter(kube, deadline=deadline, sleep=sleep)  # type: ignore[arg-type]
    change = lambda c, g, now: cond.mark_running(c, generation=g, now=now)  # noqa: E731
    return asyncio.run(writer.write(REF, CR, change, LOG, finished=True, until_landed=until_landed)), slept


def test_a_write_that_meets_an_outage_lands_once_the_api_is_back() -> None:
    kube = FlakyKube(4, ConnectionRefusedError("refused"))
    written, slept = write(kube)
    assert written.landed and kube.calls == 5 and slept == [0.5, 1, 2, 4]
    assert kube.status["observedGeneration"] == 3
    assert cond.find(kube.status["conditions"], "Running") is not None


def test_a_write_that_cannot_land_in_time_is_reported_not_landed() -> None:
    written, slept = write(FlakyKube(1000, api_error(503)), deadline=30)
    assert not written.landed and "503" in written.error
    assert sum(slept) <= 30


def test_a_lasting_error_is_not_retried() -> None:
    kube = FlakyKube(1, api_error(422))
    written, slept = write(kube)
    assert not written.landed and kube.calls == 1 and slept == []


def test_a_write_that_may_fail_is_tried_once() -> None:
    kube = FlakyKube(1, ConnectionRefusedError())
    written, slept = write(kube, until_landed=False)
    assert not written.landed and kube.calls == 1 and slept == []


def test_a_404_that_names_no_object_is_not_a_deletion() -> None:
    # Right after an API server restarts, a CRD's kind is not served yet: its 404 names nothing.
    unserved = api_error(404)
    unserved.body = (
        '{"kind":"Status","reason":"NotFound","message":"the server could not find the requested resource"}'
    )
    with pytest.raises(ResourceNotServed):
        gone(unserved)
    named = api_error(404)
    named.body = '{"kind":"Status","reason":"NotFound","details":{"name":"shop","kind":"webapps"}}'
    assert gone(named)
    assert not gone(api_error(409))
    assert retry_delay(ResourceNotServed("x"), 0) == 0.5
