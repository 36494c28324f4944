"""Who is in the ring, from the members' Leases as listed now and before (pure; times are given).

A member is *alive* while it keeps renewing its Lease. It is *gone* (it has no say over its CRs any
more) when its Lease is released (no holder), when this replica's latest listing shows the Lease
not renewed for a whole lease duration (measured on this replica's clock between listings, so
clock skew between nodes does not matter, and a replica whose own listings are late, or fail,
only ever concludes less), or when a CR names a member whose Lease it has not listed for a lease
duration.
A Lease first seen with a renew time long past (twice its duration, by the wall clock) is gone at
once, so a replica that starts does not wait for members that died long ago.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LeaseView:
    """One member's Lease as listed: its name, holder, renew time (as written) and duration."""

    name: str
    holder: str
    renew_time: str
    duration: float
    renew_age: float | None = None  # wall-clock seconds since renew_time, when it parses
    resource_version: str = ""


@dataclass
class _Seen:
    renew_time: str
    holder: str
    duration: float
    changed_at: float  # local monotonic time the renew time was last seen to change


class Members:
    def __init__(self, me: str, default_duration: float) -> None:
        self.me = me
        self.default_duration = default_duration
        self._seen: dict[str, _Seen] = {}
        self._unknown_since: dict[str, float] = {}
        self.leaving = False
        self.listed_at = float("-inf")  # local time of the latest listing

    def observe(self, leases: Iterable[LeaseView], now: float) -> None:
        self.listed_at = now
        listed = set()
        for lease in leases:
            listed.add(lease.name)
            prev = self._seen.get(lease.name)
            if prev is None:
                stale = lease.renew_age is not None and lease.renew_age > 2 * lease.duration
                changed = now - lease.duration - 1 if stale else now
                self._seen[lease.name] = _Seen(lease.renew_time, lease.holder, lease.duration, changed)
                continue
            if lease.renew_time != prev.renew_time or lease.holder != prev.holder:
                prev.changed_at = now
            prev.renew_time, prev.holder, prev.duration = lease.renew_time, lease.holder, lease.duration
        for name in list(self._seen):
            if name not in listed:  # deleted: gone after a lease duration unseen (at once if it was)
                was_alive = self.alive(name, now)
                del self._seen[name]
                self._unknown_since[name] = now if was_alive else float("-inf")
        for name in listed:
            self._unknown_since.pop(name, None)

    def alive(self, name: str, now: float) -> bool:
        """Whether ``name`` still has a say over the CRs labelled with it."""
        if name == self.me:
            return True
        seen = self._seen.get(name)
        if seen is None:
            since = self._unknown_since.setdefault(name, now)
            return self.listed_at - since <= self.default_duration
        if seen.holder != name:
            return False  # released on a clean shutdown
        return self.listed_at - seen.changed_at <= seen.duration

    def stale(self, leases: Iterable[LeaseView], now: float, keep: float) -> list[LeaseView]:
        """Leases of members gone for longer than ``keep`` seconds (wall clock): to delete."""
        return [
            lease
            for lease in leases
            if lease.name != self.me
            and not self.alive(lease.name, now)
            and lease.renew_age is not None
            and lease.renew_age > keep
        ]

    def ring(self, now: float) -> frozenset[str]:
        """The members a CR may be assigned to: those alive with a Lease seen (and this replica
        unless it is leaving)."""
        members = {n for n, s in self._seen.items() if n != self.me and s.holder == n and self.alive(n, now)}
        if not self.leaving:
            members.add(self.me)
        return frozenset(members)
