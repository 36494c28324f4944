"""The operator's memory helpers: the compact store of watched CRs, and trimming after work."""

from __future__ import annotations

import asyncio

from runner.control import memory
from runner.control.objects import ObjectStore


def test_store_returns_an_equal_independent_copy() -> None:
    obj = {
        "apiVersion": "x/v1",
        "kind": "K",
        "metadata": {"name": "a", "namespace": "n", "uid": "u1", "labels": {"é": "ü", "odd": "\ud800"}},
        "spec": {"size": 3, "nested": [{"a": None, "b": 1.5, "c": True}]},
    }
    store: ObjectStore[tuple[int, str]] = ObjectStore()
    store[(0, "a")] = obj
    got = store.get((0, "a"))
    assert got == obj
    assert got is not obj
    assert got is not None
    got["spec"]["size"] = 4  # a reconcile's copy: the stored object does not change
    assert store.get((0, "a")) == obj
    assert (0, "a") in store and list(store) == [(0, "a")] and len(store) == 1
    store.pop((0, "a"))
    store.pop((0, "a"))
    assert store.get((0, "a")) is None and (0, "a") not in store


def test_trimmer_trims_once_work_is_done() -> None:
    calls: list[int] = []
    state = {"running": 1, "finished": 0}
    real_trim = memory.trim
    memory.trim = lambda: bool(calls.append(state["finished"])) or True  # type: ignore[assignment]
    try:
        trimmer = memory.Trimmer(
            idle=lambda: state["running"] == 0, work=lambda: state["finished"], period=0.01
        )

        async def scenario() -> None:
            task = asyncio.get_running_loop().create_task(trimmer.run())
            await asyncio.sleep(0.05)  # nothing done yet: no trim
            state["finished"] = 5  # work done, but one still running: no trim
            await asyncio.sleep(0.05)
            state["running"] = 0  # all done: one trim, not one per look
            await asyncio.sleep(0.05)
            task.cancel()

        asyncio.run(scenario())
    finally:
        memory.trim = real_trim
    if memory._LIBC is not None:
        assert calls == [5]
        assert memory.trim() in (True, False)


def test_process_start_time_is_this_process() -> None:
    import subprocess
    import sys
    import time

    before = time.time()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; time.sleep(0.3); from runner.control.operator import "
            "process_started_at; print(process_started_at())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    started = float(out)
    # /proc/stat's boot time has whole seconds: the start is known to about a second
    assert before - 1.5 <= started <= time.time()
