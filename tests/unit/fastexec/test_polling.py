"""The warm controller's back-off of Ansible's internal polling (runner/fastexec/polling.py)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.fastexec import polling
from runner.fastexec.polling import FAST_FOR, MAX_SLEEP, BackoffTime


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def poll(t: BackoffTime, clock: FakeClock, wait: float, work: float = 0.0001) -> list[float]:
    """A result-wait loop as ansible-core's: check (``work`` seconds), sleep, until ``wait`` passed."""
    start, first = clock.now, len(clock.slept)
    while clock.now - start < wait:
        clock.now += work
        t.sleep(0.001)
    return clock.slept[first:]


def test_a_quick_task_is_polled_every_millisecond() -> None:
    clock = FakeClock()
    t = BackoffTime(0.001, clock.clock, clock.sleep)
    assert set(poll(t, clock, FAST_FOR * 0.9)) == {0.001}


def test_a_long_wait_backs_off_to_the_longest_sleep() -> None:
    clock = FakeClock()
    t = BackoffTime(0.001, clock.clock, clock.sleep)
    slept = poll(t, clock, 2.0)
    assert max(slept) == MAX_SLEEP
    assert len(slept) < 2.0 / 0.001 / 10  # far fewer checks than a check every millisecond
    assert slept == sorted(slept)  # it only grows over one wait


def test_the_next_wait_starts_fast_again() -> None:
    clock = FakeClock()
    t = BackoffTime(0.001, clock.clock, clock.sleep)
    poll(t, clock, 1.0)
    clock.now += 0.05  # the strategy queues the next task
    assert set(poll(t, clock, FAST_FOR * 0.9)) == {0.001}


def test_other_sleeps_and_functions_are_the_time_modules() -> None:
    clock = FakeClock()
    t = BackoffTime(0.001, clock.clock, clock.sleep)
    t.sleep(0.0001)
    assert clock.slept == [0.0001]
    assert t.time is time.time and t.monotonic is time.monotonic


@given(st.floats(min_value=0, max_value=3600), st.floats(min_value=0.0001, max_value=0.01))
def test_a_sleep_is_never_shorter_than_asked_nor_longer_than_the_cap(waited: float, interval: float) -> None:
    t = BackoffTime(interval)
    t._last_return, t._wait_started = 10.0, 10.0 - waited
    d = t.delay(10.0 + polling.NEW_WAIT_GAP / 2)
    assert interval <= d <= max(interval, MAX_SLEEP)


@pytest.mark.parametrize("configured", [False, True])
def test_installed_only_when_the_user_left_the_interval_alone(
    configured: bool, tmp_path, monkeypatch
) -> None:
    import ansible.plugins.strategy as strategy
    from ansible import constants as C

    for module in polling._polling_modules():
        monkeypatch.setattr(module, "time", time)  # put back after the test
    monkeypatch.setattr(
        C.config,
        "get_config_value_and_origin",
        lambda name, **_: (0.002, str(tmp_path / "ansible.cfg")) if configured else (0.001, "default"),
    )
    assert polling.back_off_polling() is (not configured)
    assert isinstance(strategy.time, BackoffTime) is (not configured)
