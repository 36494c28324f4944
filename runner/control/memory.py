"""Give the memory a burst of reconciles freed back to the system.

glibc keeps freed memory in its arenas (one per thread that allocated, up to 8 per core) for
reuse; after a start-up with thousands of CRs, or a burst of jobs, tens of MiB stay resident
although Python no longer uses them. Two things keep the idle operator small:

* ``limit_arenas`` (at start-up, before any thread): at most two malloc arenas, so the job and
  API threads do not each keep their own free memory;
* ``Trimmer``: once the reconciles have all finished (and some ran since the last look),
  ``malloc_trim(0)`` returns the free pages.

Both do nothing where the C library is not glibc.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # mallopt parameter (glibc malloc.h)
TRIM_CHECK = 5.0  # seconds between looks


def _glibc() -> Any | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not hasattr(libc, "malloc_trim") or not hasattr(libc, "mallopt"):
        return None  # not glibc (musl has neither)
    return libc


_LIBC = _glibc()


def limit_arenas(count: int = 2) -> bool:
    """At most ``count`` malloc arenas for the threads started from now on."""
    return bool(_LIBC is not None and _LIBC.mallopt(M_ARENA_MAX, count))


def trim() -> bool:
    """Return free heap pages to the system; whether anything was released."""
    return bool(_LIBC is not None and _LIBC.malloc_trim(0))


class Trimmer:
    """Trims once the work is done: ``idle()`` is true and ``work()`` moved since the last trim."""

    def __init__(self, idle: Callable[[], bool], work: Callable[[], int], period: float = TRIM_CHECK) -> None:
        self.idle = idle
        self.work = work
        self.period = period
        self._done_at = work()

    async def run(self) -> None:
        if _LIBC is None:
            return
        while True:
            await asyncio.sleep(self.period)
            done = self.work()
            if done != self._done_at and self.idle():
                self._done_at = done
                released = trim()
                log.debug("returned free memory to the system after %d reconciles (%s)", done, released)
