"""The scheduler: one job per CR, coalescing, bounded concurrency, priorities, retries and shutdown.

Every test runs its own event loop with ``asyncio.run``. The fake reconcile blocks on a gate per
run, so tests decide exactly when each job finishes; they wait for conditions, never for times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any

import pytest

from runner.control.scheduler import Outcome, Priority, PrioritySemaphore, Scheduler

OK = Outcome(ok=True)
FAIL = Outcome(ok=False)


def run(coro_fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(coro_fn(), timeout=20))


async def settle(rounds: int = 50) -> None:
    """Let every ready task run until nothing more happens (no wall-clock time involved)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def wait_until(cond: Callable[[], bool], what: str = "condition", limit: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


@dataclass
class Run:
    key: Hashable
    reasons: frozenset[str]
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: Outcome | BaseException = OK
    done: bool = False


class FakeReconcile:
    """Records every run; a run blocks until released (unless ``auto``), then returns its outcome."""

    def __init__(self, *, auto: bool = False, groups: dict[Hashable, Hashable] | None = None) -> None:
        self.auto = auto
        self.groups = groups or {}
        self.runs: list[Run] = []
        self.running: list[Hashable] = []
        self.max_running = 0
        self.max_per_key: dict[Hashable, int] = {}
        self.max_per_group: dict[Hashable, int] = {}
        self.scripts: dict[Hashable, list[Outcome | BaseException]] = {}

    def script(self, key: Hashable, *outcomes: Outcome | BaseException) -> None:
        self.scripts[key] = list(outcomes)

    async def __call__(self, key: Hashable, reasons: frozenset[str]) -> Outcome:
        run_ = Run(key, reasons)
        script = self.scripts.get(key)
        if script:
            run_.outcome = script.pop(0)
        self.runs.append(run_)
        self.running.append(key)
        self.max_running = max(self.max_running, len(self.running))
        self.max_per_key[key] = max(self.max_per_key.get(key, 0), self.running.count(key))
        group = self.groups.get(key)
        if group is not None:
            in_group = sum(1 for k in self.running if self.groups.get(k) == group)
            self.max_per_group[group] = max(self.max_per_group.get(group, 0), in_group)
        try:
            if not self.auto:
                await run_.gate.wait()
        finally:
            self.running.remove(key)
            run_.done = True
        if isinstance(run_.outcome, BaseException):
            raise run_.outcome
        return run_.outcome

    def calls(self, key: Hashable | None = None) -> list[Run]:
        return [r for r in self.runs if key is None or r.key == key]

    def active(self, key: Hashable) -> Run:
        (run_,) = [r for r in self.runs if r.key == key and not r.done]
        return run_

    async def release(self, key: Hashable) -> None:
        self.active(key).gate.set()
        await settle()

    async def release_all(self) -> None:
        for r in self.runs:
            r.gate.set()
        await settle()


def scheduler(fake: FakeReconcile, **kw: Any) -> Scheduler:
    opts: dict[str, Any] = {
        "global_limit": 10,
        "group_limits": {"g": 10},
        "backoff_base": 0.01,
        "jitter": 0.0,
    }
    opts.update(kw)
    return Scheduler(fake, **opts)


# --- one job per CR, coalescing ---


def test_requests_during_a_run_coalesce_into_one_follow_up() -> None:
    async def main() -> None:
        fake = FakeReconcile()
        s = scheduler(fake)
        s.request("k", "g", Priority.CHANGE, "new resource")
        await settle()
        assert [r.reasons for r in fake.calls()] == [frozenset({"new resource"})]
        assert s.is_busy("k")

        s.request("k", "g", Priority.CHANGE, "spec changed")
        s.request("k", "g", Priority.RESYNC, "periodic resync")
        s.request("k", "g", Priority.CHANGE, "dependent changed")
        s.request("k", "g", Priority.CHANGE, "spec changed")
        await settle()
        assert len(fake.calls()) == 1, "a second job started while the first one runs"

        await fake.release("k")
        assert len(fake.calls()) == 2
        assert fake.calls()[1].reasons == {"spec changed", "periodic resync", "dependent changed"}

        await fake.release("k")
        await settle()
        assert len(fake.calls()) == 2, "more than one follow-up run"
        assert fake.max_per_key["k"] == 1
        assert not s.is_busy("k")
        await s.close()

    run(main)


def test_request_after_a_run_starts_a_new_run() -> None:
    async def main() -> None:
        fake = FakeReconcile(auto=True)
        s = scheduler(fake)
        s.request("k", "g", Priority.CHANGE, "a")
        await settle()
        s.request("k", "g", Priority.CHANGE, "b")
        await settle()
        assert [r.reasons for r in fake.calls()] == [frozenset({"a"}), frozenset({"b"})]
        await s.close()

    run(main)


def test_different_keys_run_in_parallel() -> None:
    async def main() -> None:
        fake = FakeReconcile()
        s = scheduler(fake)
        for key in ("a", "b", "c"):
            s.request(key, "g", Priority.CHANGE, "new")
        await settle()
        assert sorted(fake.running) == ["a", "b", "c"]
        await fake.release_all()
        await s.close()

    run(main)


# --- concurrency limits ---


def test_group_and_global_limits_are_never_exceeded() -> None:
    async def main() -> None:
        keys = {f"a{i}": "A" for i in range(6)} | {f"b{i}": "B" for i in range(6)}
        fake = FakeReconcile(groups=keys)
        s = scheduler(fake, global_limit=3, group_limits={"A": 2, "B": 2})
        for key, group in keys.items():
            s.request(key, group, Priority.CHANGE, "new")
        await settle()
        assert len(fake.running) == 3
        # Finish jobs one at a time until every key ran once.
        while len(fake.calls()) < len(keys) or fake.running:
            assert fake.running, "nothing runs although work is pending"
            await fake.release(fake.running[0])
        assert sorted(r.key for r in fake.calls()) == sorted(keys)
        assert fake.max_running == 3
        assert fake.max_per_group == {"A": 2, "B": 2}
        await s.close()

    run(main)


def test_group_limit_of_one_serialises_a_kind() -> None:
    async def main() -> None:
        keys = {f"k{i}": "G" for i in range(4)}
        fake = FakeReconcile(groups=keys)
        s = scheduler(fake, global_limit=10, group_limits={"G": 1})
        for key in keys:
            s.request(key, "G", Priority.CHANGE, "new")
        await settle()
        assert len(fake.running) == 1
        while len(fake.calls()) < 4 or fake.running:
            await fake.release(fake.running[0])
        assert fake.max_running == 1
        await s.close()

    run(main)


# --- priorities ---


def test_priority_semaphore_serves_by_priority_then_fifo() -> None:
    async def main() -> None:
        sem = PrioritySemaphore(1)
        await sem.acquire(Priority.CHANGE)
        order: list[str] = []

        async def waiter(name: str, priority: Priority) -> None:
            await sem.acquire(priority)
            order.append(name)

        waiters = [
            ("resync1", Priority.RESYNC),
            ("change1", Priority.CHANGE),
            ("retry1", Priority.RETRY),
            ("resync2", Priority.RESYNC),
            ("startup1", Priority.STARTUP),
            ("change2", Priority.CHANGE),
        ]
        tasks = []
        for name, prio in waiters:
            tasks.append(asyncio.create_task(waiter(name, prio)))
            await settle(3)
        assert order == []
        for _ in waiters:
            sem.release()
            await settle(3)
        assert order == ["change1", "change2", "startup1", "retry1", "resync1", "resync2"]
        await asyncio.gather(*tasks)

    run(main)


def test_priority_semaphore_cancelled_waiter_does_not_lose_the_slot() -> None:
    async def main() -> None:
        sem = PrioritySemaphore(1)
        await sem.acquire(Priority.CHANGE)
        waiter = asyncio.create_task(sem.acquire(Priority.CHANGE))
        await settle(3)
        waiter.cancel()
        await settle(3)
        sem.release()
        # The slot is free again: a new acquire must not block.
        await asyncio.wait_for(sem.acquire(Priority.RESYNC), timeout=1)
        sem.release()

        # Cancelled right after being handed the slot: the slot is passed on, not leaked.
        await sem.acquire(Priority.CHANGE)
        handed = asyncio.create_task(sem.acquire(Priority.CHANGE))
        await settle(3)
        sem.release()
        handed.cancel()
        await settle(3)
        await asyncio.wait_for(sem.acquire(Priority.CHANGE), timeout=1)

    run(main)


def test_priority_semaphore_counts_slots() -> None:
    async def main() -> None:
        sem = PrioritySemaphore(2)
        async with sem.slot(Priority.CHANGE), sem.slot(Priority.CHANGE):
            third = asyncio.create_task(sem.acquire(Priority.CHANGE))
            await settle(3)
            assert not third.done()
        await settle(3)
        assert third.done()

    run(main)
    with pytest.raises(ValueError):
        PrioritySemaphore(0)


def test_priority_semaphore_reservations_are_called_holding_the_slot_in_turn() -> None:
    async def main() -> None:
        sem = PrioritySemaphore(1)
        started: list[str] = []
        sem.reserve(Priority.STARTUP, "first", lambda: started.append("first"))
        assert started == ["first"], "a free slot is handed over at once"
        waiting = [("resync", Priority.RESYNC), ("startup", Priority.STARTUP), ("gone", Priority.CHANGE)]
        for name, prio in waiting:
            sem.reserve(prio, name, lambda name=name: started.append(name))
        sem.raise_priority("resync", Priority.CHANGE)
        assert sem.cancel("gone") and not sem.cancel("gone") and not sem.cancel("unknown")
        assert started == ["first"]
        sem.release()
        assert started == ["first", "resync"]
        sem.release()
        assert started == ["first", "resync", "startup"]
        sem.release()  # nobody waits: the slot is free again
        assert started == ["first", "resync", "startup"]
        await asyncio.wait_for(sem.acquire(Priority.RESYNC), timeout=1)

    run(main)


def test_a_backlog_waits_as_queue_entries_not_as_tasks() -> None:
    async def main() -> None:
        fake = FakeReconcile(auto=True)
        s = scheduler(fake, global_limit=2, group_limits={"g": 2})
        keys = [f"cr-{i}" for i in range(500)]
        before = len(asyncio.all_tasks())
        for key in keys:
            s.request(key, "g", Priority.STARTUP, "operator start-up")
        s.request("new", "g", Priority.CHANGE, "new resource")
        tasks = len(asyncio.all_tasks()) - before
        assert tasks <= 2, f"{tasks} tasks for 501 queued CRs and 2 slots"
        await wait_until(lambda: len(fake.calls()) == 501, "every CR ran", limit=10)
        order = [r.key for r in fake.calls()]
        assert "new" in order[:3], "new work is served before the start-up backlog"
        assert sorted(order) == sorted([*keys, "new"]) and fake.max_running <= 2
        await s.close()

    run(main)


def test_scheduler_serves_changes_before_resyncs() -> None:
    async def main() -> None:
        fake = FakeReconcile()
        s = scheduler(fake, global_limit=1)
        s.request("busy", "g", Priority.CHANGE, "new")
        await settle()
        s.request("r1", "g", Priority.RESYNC, "periodic resync")
        s.request("r2", "g", Priority.RESYNC, "periodic resync")
        s.request("t1", "g", Priority.RETRY, "retry after failure")
        s.request("c1", "g", Priority.CHANGE, "spec changed")
        s.request("s1", "g", Priority.STARTUP, "operator start-up")
        s.request("c2", "g", Priority.CHANGE, "spec changed")
        await settle()
        while fake.running:
            await fake.release(fake.running[0])
        assert [r.key for r in fake.calls()] == ["busy", "c1", "c2", "s1", "t1", "r1", "r2"]
        assert fake.max_running == 1
        await s.close()

    run(main)


def test_change_request_raises_the_priority_of_a_queued_resync() -> None:
    async def main() -> None:
        fake = FakeReconcile()
        s = scheduler(fake, global_limit=1)
        s.request("busy", "g", Priority.CHANGE, "new")
        await settle()
        for key in ("r1", "r2", "x"):
            s.request(key, "g", Priority.RESYNC, "periodic resync")
        await settle()
        s.request("x", "g", Priority.CHANGE, "spec changed")  # a user edits x while it waits
        await settle()
        while fake.running:
            await fake.release(fake.running[0])
        assert [r.key for r in fake.calls()] == ["busy", "x", "r1", "r2"]
        await s.close()

    run(main)


# --- retries, requeue_after, resync ---


def record_delays() -> list[float]:
    """Record the delay of every timer the scheduler arms on the running loop."""
    loop = asyncio.get_running_loop()
    delays: list[float] = []
    original = loop.call_later

    def call_later(delay: float, callback: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
        if getattr(callback, "__name__", "") == "_fire":  # not asyncio.sleep's own timers
            delays.append(delay)
        return original(delay, callback, *args, **kw)

    loop.call_later = call_later  # type: ignore[method-assign]
    return delays


def test_failure_is_retried_with_backoff_and_success_resets_it() -> None:
    async def main() -> None:
        fake = FakeReconcile(auto=True)
        fake.script("k", FAIL, FAIL, FAIL, OK, FAIL, OK)
        s = scheduler(fake, backoff_base=0.01)
        delays = record_delays()
        s.request("k", "g", Priority.CHANGE, "new")
        await wait_until(lambda: len(fake.calls()) == 4, "three retries")
        await settle()
        assert [r.reasons for r in fake.calls()[1:]] == [frozenset({"retry after failure"})] * 3
        assert delays == pytest.approx([0.01, 0.02, 0.04])
        # After a success the back-off starts again from the base delay.
        s.request("k", "g", Priority.CHANGE, "spec changed")
        await wait_until(lambda: len(fake.calls()) == 6, "retry after the new failure")
        assert delays == pytest.approx([0.01, 0.02, 0.04, 0.01])
        await settle()
        assert len(fake.calls()) == 6  # success without resync: no more runs
        await s.close()

    run(main)


def test_backoff_is_capped() -> None:
    async def main() -> None:
        fake = FakeReconcile(auto=True)
        fake.script("k", FAIL, FAIL, FAIL, FAIL, OK)
        s = scheduler(fake, backoff_base=0.01, backoff_cap=0.03)
        delays = record_delays()
        s.request("k", "g", Priority.CHANGE, "new")
        await wait_until(lambda: len(fake.calls()) == 5, "retries")
        assert delays == pytest.approx([0.01, 0.02, 0.03, 0.03])
        await s.close()

    run(main)


def test_a_cr_that_keeps_failing_keeps_being_retried() -> None:
    async def main() -> None:
        fake = FakeReconcile(auto=True)
        failures = 1100
        fake.script("k", *([FAIL] * failures), OK)
        s = scheduler(fake, backoff_base=0.0, backoff_cap=0.0)
        s.request("k", "g", Priority.CHANGE, "new")
        await wait_until(lambda: len(fake.calls()) == failures + 1, "all retries", limit=2)
        await s.close()

    run(main)


def test_refused_spec_is_not_retried() -> None:
    async def main() -> None:
        fake = FakeReconcile(auto=True)
        fake.script("k", Outcome(ok=False, retry=False))
        s = scheduler(fake, backoff_base=0.0)
        delays = record_delays()
        s.request("k", "g", Priority.CHANGE, "new")
        await settle()
        await asyncio.sleep(0.02)
        assert len(fake.calls()) == 1
        assert delays == []
        await s.close()

    run(main)


def test_change_does_not_wait_for_a_pending_retry() -> None:
    async def main() -> None:
        fake = FakeReconcile(auto=True)
        fake.script("k", FAIL, OK)
        s = scheduler(fake, backoff_base=3600.0, backoff_cap=3600.0)
        s.request("k", "g", Priority.CHANGE, "new")
        await settle()
        assert len(fake.calls()) == 1  # a retry is armed an hour from now
        s.request("k", "g", Priority.CHANGE, "spec changed")
        await settle()
        assert [r.reasons for r in fake.calls()] == [frozenset({"new"}), frozenset({"spec changed"})]
        await s.close()

    run(main)


def test_requeue_after_reruns() -> None:
    async def main() -> None:
        fake = FakeReconcile(auto=True)
        fake.script("k", Outcome(ok=True, requeue_after=0.01, resync_after=3600), OK)
        s = scheduler(fake)
        delays = record_delays()
        s.request("k", "g", Priority.CHANGE, "new")
        await wait_until(lambda: len(fake.calls()) == 2, "the requeue")
        assert fake.calls()[1].reasons == {"requeue_after"}
        assert delays[0] == pytest.approx(0.01)  # requeue_after wins over the resync period
        await s.close()

    run(main)


def test_periodic_resync() -> None:
    async def main() -> None:
        fake = FakeReconcile(auto=True)
        fake.script("k", Outcome(ok=True, resync_after=0.01), Outcome(ok=True, resync_after=0))
        s = scheduler(fake, jitter=0.0)
        s.request("k", "g", Priority.CHANGE, "new")
        await wait_until(lambda: len(fake.calls()) == 2, "the resync")
        assert fake.calls()[1].reasons == {"periodic resync"}
        await asyncio.sleep(0.03)
        assert len(fake.calls()) == 2  # resync_after=0 disables the resync
        await s.close()

    run(main)


def test_resync_is_spread_with_jitter() -> None:
    async def main() -> None:
        fake = FakeReconcile(auto=True)
        s = scheduler(fake, jitter=0.1)
        fake.script("k", *[Outcome(ok=True, resync_after=100.0)] * 30)
        delays = record_delays()
        for _ in range(30):
            s.request("k", "g", Priority.CHANGE, "change")
            await settle()
        assert len(delays) == 30
        assert all(90.0 <= d <= 110.0 for d in delays)
        assert len(set(delays)) > 1
        await s.close()

    run(main)


# --- forget ---


def test_forget_while_running_stops_further_runs_and_notifies_once_after_the_job() -> None:
    async def main() -> None:
        fake = FakeReconcile()
        fake.script("k", Outcome(ok=False))
        forgotten: list[Hashable] = []
        s = scheduler(fake, on_forgotten=forgotten.append, backoff_base=0.0)
        s.request("k", "g", Priority.CHANGE, "new")
        await settle()
        s.request("k", "g", Priority.CHANGE, "spec changed")  # would need a follow-up run
        s.forget("k")
        await settle()
        assert forgotten == [], "notified while the job still runs"
        await fake.release("k")
        await asyncio.sleep(0.02)
        assert forgotten == ["k"]
        assert len(fake.calls()) == 1  # no follow-up, no retry of the failure
        assert not s.is_busy("k")
        await s.close()
        assert forgotten == ["k"]

    run(main)


def test_forget_idle_cr_cancels_its_timer_and_notifies_at_once() -> None:
    async def main() -> None:
        fake = FakeReconcile(auto=True)
        fake.script("k", Outcome(ok=True, resync_after=0.01))
        forgotten: list[Hashable] = []
        s = scheduler(fake, on_forgotten=forgotten.append)
        s.request("k", "g", Priority.CHANGE, "new")
        await settle()
        s.forget("k")
        assert forgotten == ["k"]
        await asyncio.sleep(0.03)
        assert len(fake.calls()) == 1
        assert forgotten == ["k"]
        await s.close()

    run(main)


def test_forget_unknown_key_notifies() -> None:
    async def main() -> None:
        forgotten: list[Hashable] = []
        s = scheduler(FakeReconcile(), on_forgotten=forgotten.append)
        s.forget("nobody")
        assert forgotten == ["nobody"]
        await s.close()

    run(main)


def test_forget_while_waiting_for_a_slot_never_runs() -> None:
    async def main() -> None:
        fake = FakeReconcile()
        forgotten: list[Hashable] = []
        s = scheduler(fake, global_limit=1, on_forgotten=forgotten.append)
        s.request("a", "g", Priority.CHANGE, "new")
        s.request("b", "g", Priority.CHANGE, "new")
        await settle()
        s.forget("b")
        await fake.release("a")
        await settle()
        assert [r.key for r in fake.calls()] == ["a"]
        assert forgotten == ["b"]
        await s.close()

    run(main)


def test_recreated_cr_runs_again_after_forget() -> None:
    async def main() -> None:
        fake = FakeReconcile()
        forgotten: list[Hashable] = []
        s = scheduler(fake, on_forgotten=forgotten.append)
        s.request("k", "g", Priority.CHANGE, "new")
        await settle()
        s.forget("k")
        s.request("k", "g", Priority.CHANGE, "new resource")  # same name, new object
        await fake.release("k")
        assert len(fake.calls()) == 2
        await fake.release("k")
        assert forgotten == []
        # Forgotten after it finished: a later request starts from scratch.
        s.forget("k")
        assert forgotten == ["k"]
        s.request("k", "g", Priority.CHANGE, "new resource")
        await settle()
        assert len(fake.calls()) == 3
        await fake.release("k")
        await s.close()

    run(main)


# --- crashes and shutdown ---


def test_a_crashing_reconcile_is_retried_and_others_keep_running(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        fake = FakeReconcile(auto=True)
        fake.script("bad", RuntimeError("kaboom"), OK)
        s = scheduler(fake, backoff_base=0.01)
        with caplog.at_level(logging.ERROR, logger="runner.control.scheduler"):
            s.request("bad", "g", Priority.CHANGE, "new")
            s.request("good", "g", Priority.CHANGE, "new")
            await wait_until(lambda: len(fake.calls("bad")) == 2, "the retry after the crash")
        assert fake.calls("bad")[1].reasons == {"retry after failure"}
        assert len(fake.calls("good")) == 1
        s.request("good", "g", Priority.CHANGE, "again")
        await settle()
        assert len(fake.calls("good")) == 2
        assert any("reconcile crashed" in r.getMessage() for r in caplog.records)
        await s.close()

    run(main)


def test_close_waits_for_running_jobs_and_drops_pending_work() -> None:
    async def main() -> None:
        fake = FakeReconcile()
        fake.script("k", Outcome(ok=True, resync_after=0.01))
        s = scheduler(fake, global_limit=1)
        s.request("k", "g", Priority.CHANGE, "new")
        s.request("waiting", "g", Priority.CHANGE, "new")
        await settle()
        s.request("k", "g", Priority.CHANGE, "spec changed")
        closing = asyncio.create_task(s.close())
        await settle()
        assert not closing.done(), "close() returned while a job runs"
        await fake.release("k")
        await asyncio.wait_for(closing, timeout=2)
        assert [r.key for r in fake.calls()] == ["k"]
        # After close nothing runs any more.
        s.request("k", "g", Priority.CHANGE, "late")
        await asyncio.sleep(0.03)
        assert [r.key for r in fake.calls()] == ["k"]

    run(main)


def test_close_with_nothing_running() -> None:
    async def main() -> None:
        s = scheduler(FakeReconcile())
        await asyncio.wait_for(s.close(), timeout=1)

    run(main)
