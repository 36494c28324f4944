"""When and how many reconciles run: one job per CR at a time, coalescing, bounded concurrency.

* Requests for a CR that is already running (or waiting for a slot) are coalesced into a single
  follow-up run, which reads the latest object when it starts.
* Concurrency is bounded per kind and globally. Waiters are served by priority: new and changed
  CRs first, then retries, then periodic resyncs, so a backlog of resyncs never delays new work.
* A CR waiting for its kind's slot is an entry in that kind's queue, not a task: a start-up with
  10,000 CRs queues 10,000 entries, and only the CRs that hold a slot have a task (creating and
  first running a task per CR was about a third of taking in such a listing).
* After each run, at most one timer per CR: a retry with exponential back-off after a failure,
  the role's ``requeue_after``, or the periodic resync (spread with jitter).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

log = logging.getLogger(__name__)


class Priority(IntEnum):
    CHANGE = 0  # created, spec changed, deleting, dependent changed, requeue_after
    STARTUP = 1  # first reconcile of a CR that existed when the operator started
    RETRY = 2  # back-off after a failure
    RESYNC = 3  # periodic resync of an unchanged CR


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a reconcile reports back to the scheduler."""

    ok: bool
    retry: bool = True  # a failure worth retrying (a refused spec is not: it waits for a change)
    requeue_after: float | None = None  # asked for by the role
    resync_after: float | None = None  # periodic resync period, None or 0 = never


class PrioritySemaphore:
    """An asyncio semaphore that wakes the waiter with the lowest priority value first (FIFO within).

    A waiter is a task awaiting ``acquire`` or a callback given to ``reserve`` (called, holding the
    slot, when its turn comes). A waiter can be moved ahead while it waits (``raise_priority``): a
    CR queued for a resync that gets edited meanwhile is served as a change; a reserved one can be
    withdrawn (``cancel``).
    """

    def __init__(self, value: int) -> None:
        if value < 1:
            raise ValueError("a semaphore needs at least one slot")
        self._free = value
        # [priority, seq, waiter, key]; waiter: a future or a callback, None = superseded
        self._heap: list[list[Any]] = []
        self._entries: dict[Hashable, list[Any]] = {}
        self._seq = itertools.count()

    def _idle(self) -> bool:
        return self._free > 0 and not self._entries and not self._heap

    def _push(self, priority: int, waiter: Any, key: Hashable) -> None:
        entry = [priority, next(self._seq), waiter, key]
        heapq.heappush(self._heap, entry)
        if key is not None:
            self._entries[key] = entry

    async def acquire(self, priority: int, key: Hashable = None) -> None:
        if self._idle():
            self._free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._push(priority, fut, key)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # we were handed the slot just as we got cancelled
            raise
        finally:
            if key is not None and self._entries.get(key) is not None and self._entries[key][2] is fut:
                del self._entries[key]

    def reserve(self, priority: int, key: Hashable, start: Callable[[], None]) -> None:
        """Call ``start()`` holding a slot: at once if one is free, else when its turn comes."""
        if self._idle():
            self._free -= 1
            start()
            return
        self._push(priority, start, key)

    def cancel(self, key: Hashable) -> bool:
        """Withdraw ``key``'s reservation; whether there was one."""
        entry = self._entries.get(key)
        if entry is None or not callable(entry[2]):  # a future is not callable: acquire() waits
            return False
        entry[2] = None
        del self._entries[key]
        return True

    def raise_priority(self, key: Hashable, priority: int) -> None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= priority or not _waiting(entry[2]):
            return
        waiter = entry[2]
        entry[2] = None
        self._push(priority, waiter, key)

    def release(self) -> None:
        while self._heap:
            _, _, waiter, key = heapq.heappop(self._heap)
            if not _waiting(waiter):
                continue
            if isinstance(waiter, asyncio.Future):
                waiter.set_result(None)
                return
            if key is not None and self._entries.get(key, [None, None, None])[2] is waiter:
                del self._entries[key]
            waiter()
            return
        self._free += 1

    @asynccontextmanager
    async def slot(self, priority: int, key: Hashable = None) -> AsyncIterator[None]:
        await self.acquire(priority, key)
        try:
            yield
        finally:
            self.release()


def _waiting(waiter: Any) -> bool:
    if waiter is None:
        return False
    return not (isinstance(waiter, asyncio.Future) and waiter.done())


Reconcile = Callable[[Hashable, frozenset[str]], Awaitable[Outcome]]


@dataclass(slots=True)
class _State:
    group: Hashable
    pending: Priority | None = None
    reasons: set[str] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None
    due: float = 0.0
    failures: int = 0
    forgotten: bool = False
    queued: bool = False  # waiting in its kind's queue (no task until it holds the kind's slot)


class Scheduler:
    def __init__(
        self,
        reconcile: Reconcile,
        *,
        global_limit: int,
        group_limits: dict[Hashable, int],
        on_forgotten: Callable[[Hashable], None] | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        jitter: float = 0.1,
    ) -> None:
        self._reconcile = reconcile
        self._global = PrioritySemaphore(global_limit)
        self._groups = {g: PrioritySemaphore(n) for g, n in group_limits.items()}
        self._on_forgotten = on_forgotten
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._jitter = jitter
        self._states: dict[Hashable, _State] = {}
        self._closed = False

    # ---- requests
    def request(self, key: Hashable, group: Hashable, priority: Priority, reason: str) -> None:
        """Ask for a reconcile of ``key`` as soon as a slot is free (coalesced with any pending one)."""
        if self._closed:
            return
        state = self._states.get(key)
        if state is None or (state.forgotten and state.task is None):
            state = self._states[key] = _State(group=group)
        state.forgotten = False  # a CR recreated while the old one's last job still runs
        if state.timer is not None and priority != Priority.RESYNC:
            state.timer.cancel()
            state.timer = None
        state.reasons.add(reason)
        state.pending = priority if state.pending is None else min(state.pending, priority)
        self._groups[state.group].raise_priority(key, state.pending)
        self._global.raise_priority(key, state.pending)
        if state.task is None and not state.queued:
            self._queue(key, state)

    def request_soon(self, key: Hashable, group: Hashable, reason: str, delay: float) -> None:
        """Like ``request`` (as a change), but a burst of such requests within ``delay`` becomes one run."""
        if self._closed:
            return
        state = self._states.get(key)
        if state is None or state.forgotten or state.task is not None:
            self.request(key, group, Priority.CHANGE, reason)
            return
        state.reasons.add(reason)
        now = asyncio.get_running_loop().time()
        if state.timer is None or state.due > now + delay:
            self._arm(key, state, delay, Priority.CHANGE, reason)

    def forget(self, key: Hashable) -> None:
        """The CR is gone: no more runs; ``on_forgotten`` is called once no job runs for it."""
        state = self._states.get(key)
        if state is None:
            if self._on_forgotten:
                self._on_forgotten(key)
            return
        state.forgotten = True
        state.pending = None
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        self._unqueue(key, state)
        if state.task is None:
            self._drop(key, state)

    def is_busy(self, key: Hashable) -> bool:
        state = self._states.get(key)
        return bool(state and state.task is not None)

    # ---- the per-CR driver
    def _queue(self, key: Hashable, state: _State) -> None:
        """Wait for the kind's slot; the CR gets its task once it holds it."""
        assert state.pending is not None
        state.queued = True
        self._groups[state.group].reserve(state.pending, key, lambda: self._start(key, state))

    def _unqueue(self, key: Hashable, state: _State) -> None:
        if state.queued:
            self._groups[state.group].cancel(key)
            state.queued = False

    def _start(self, key: Hashable, state: _State) -> None:
        """Called holding a slot of the CR's kind."""
        state.queued = False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # the event loop has ended without close()
            self._closed = True
        if self._closed:
            return  # nothing runs any more: the slot is not handed on
        if state.pending is None or state.forgotten:
            self._groups[state.group].release()
            return
        state.task = loop.create_task(self._drive(key, state))

    async def _drive(self, key: Hashable, state: _State) -> None:
        """One run, holding the kind's slot; a request that came in meanwhile queues the next."""
        try:
            outcome = None
            try:
                priority = state.pending if state.pending is not None else Priority.CHANGE
                async with self._global.slot(priority, key):
                    if state.pending is not None and not state.forgotten:
                        reasons = frozenset(state.reasons)
                        state.pending = None
                        state.reasons.clear()
                        outcome = await self._run_one(key, reasons)
            finally:
                self._groups[state.group].release()
            if outcome is not None and state.pending is None and not state.forgotten:
                self._plan_next(key, state, outcome)
        finally:
            state.task = None
            if state.forgotten:
                self._drop(key, state)
            elif state.pending is not None and not self._closed:
                self._queue(key, state)

    async def _run_one(self, key: Hashable, reasons: frozenset[str]) -> Outcome:
        try:
            return await self._reconcile(key, reasons)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reconcile crashed", extra={"cr": str(key)})
            return Outcome(ok=False)

    def _plan_next(self, key: Hashable, state: _State, outcome: Outcome) -> None:
        if not outcome.ok and outcome.retry:
            delay = min(self._backoff_base * (2 ** min(state.failures, 32)), self._backoff_cap)
            state.failures += 1
            self._arm(key, state, delay, Priority.RETRY, "retry after failure")
            return
        state.failures = 0 if outcome.ok else state.failures
        if outcome.requeue_after is not None:
            self._arm(key, state, outcome.requeue_after, Priority.CHANGE, "requeue_after")
        elif outcome.resync_after:
            spread = outcome.resync_after * self._jitter
            delay = outcome.resync_after + random.uniform(-spread, spread)
            self._arm(key, state, delay, Priority.RESYNC, "periodic resync")

    def _arm(self, key: Hashable, state: _State, delay: float, priority: Priority, reason: str) -> None:
        if state.timer is not None:
            state.timer.cancel()
        loop = asyncio.get_running_loop()
        state.due = loop.time() + max(delay, 0.0)
        state.timer = loop.call_later(max(delay, 0.0), self._fire, key, state, priority, reason)

    def _fire(self, key: Hashable, state: _State, priority: Priority, reason: str) -> None:
        state.timer = None
        if not state.forgotten and self._states.get(key) is state:
            self.request(key, state.group, priority, reason)

    def _drop(self, key: Hashable, state: _State) -> None:
        if self._states.get(key) is state:
            del self._states[key]
        if self._on_forgotten:
            self._on_forgotten(key)

    # ---- shutdown
    async def close(self) -> None:
        """Stop timers and wait for the jobs that are running (their executors stop them)."""
        self._closed = True
        tasks = []
        for key, state in self._states.items():
            state.pending = None
            self._unqueue(key, state)
            if state.timer is not None:
                state.timer.cancel()
                state.timer = None
            if state.task is not None:
                tasks.append(state.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
