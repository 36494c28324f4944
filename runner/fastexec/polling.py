"""Ansible's internal polling, backed off while a task waits long (the warm controller only).

ansible-core waits for a task's result in a loop that sleeps ``internal_poll_interval`` (1 ms by
default) between checks (``StrategyBase._wait_on_pending_results``), and the ``pause`` action
polls the job's terminal the same way. A task that waits (on a slow API, ``wait: true``,
``pause``) so keeps its job busy a thousand times a second doing nothing: measured on
ansible-core 2.19, about 90 ms of CPU per second of waiting, 9 % of a core per waiting job. An
operator running many such jobs at once (``--max-concurrent-jobs``, several replicas) spends
cores on it.

Here the first 50 ms of a wait keep the 1 ms poll, so a quick task ends as soon as before; after
that the sleep grows with the wait (a tenth of it, at most 20 ms), so a task that waits a second
is noticed at most 20 ms late and the polling costs a twentieth. Applied only when the job's
Ansible configuration leaves ``internal_poll_interval`` at its default: a value the user set is
kept as it is. The plain executor (``ansible-playbook`` as a separate process) is unchanged.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from types import ModuleType
from typing import Any

FAST_FOR = 0.05  # seconds of a wait polled at the configured interval
MAX_SLEEP = 0.02  # the longest sleep between two checks
NEW_WAIT_GAP = 0.005  # a pause this long between two sleeps starts a new wait


class BackoffTime:
    """Stands in for the ``time`` module of the modules that poll: ``sleep(interval)`` backs off
    over a long wait; everything else (and any other sleep) is the ``time`` module's own."""

    def __init__(
        self,
        interval: float,
        clock: Callable[[], float] = _time.monotonic,
        sleeper: Callable[[float], None] = _time.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleeper
        self._wait_started = -1.0
        self._last_return = -1.0

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)

    def delay(self, now: float) -> float:
        """How long the poll that starts at ``now`` sleeps."""
        if self._last_return < 0 or now - self._last_return > NEW_WAIT_GAP:
            self._wait_started = now
        waited = now - self._wait_started
        if waited < FAST_FOR:
            return self.interval
        return max(self.interval, min(MAX_SLEEP, waited / 10))

    def sleep(self, seconds: float) -> None:
        if seconds != self.interval:
            self._sleep(seconds)
            return
        self._sleep(self.delay(self._clock()))
        self._last_return = self._clock()


def _polling_modules() -> list[ModuleType]:
    import ansible.plugins.strategy
    import ansible.utils.display

    found: list[ModuleType] = [ansible.plugins.strategy, ansible.utils.display]
    try:
        import ansible.plugins.strategy.free

        found.append(ansible.plugins.strategy.free)
    except ImportError:
        pass
    return found


def back_off_polling() -> bool:
    """Install ``BackoffTime`` in the modules that poll, unless the job's configuration sets
    ``internal_poll_interval``; True when installed. Called in the job's own (forked) process."""
    from ansible import constants as C

    try:
        _value, origin = C.config.get_config_value_and_origin("DEFAULT_INTERNAL_POLL_INTERVAL")
    except Exception:
        return False
    if origin != "default":
        return False
    interval = float(C.DEFAULT_INTERNAL_POLL_INTERVAL)
    for module in _polling_modules():
        if getattr(module, "time", None) is _time:
            module.time = BackoffTime(interval)  # type: ignore[attr-defined]
    return True
