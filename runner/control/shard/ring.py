"""Which member serves a key: rendezvous (highest random weight) hashing (pure).

Every member computes the same answer from the same member set. Adding a member moves only the
keys the new member wins (about 1/N of them); removing one moves only its own keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def shard_key(namespace: str | None, name: str, by: str = "name") -> str:
    """What is hashed: ``namespace/name``, or the namespace alone with ``--shard-by=namespace``
    (a cluster-scoped CR has no namespace: its name is used)."""
    if by == "namespace" and namespace:
        return namespace
    return f"{namespace or ''}/{name}"


def _weight(member: str, key: str) -> int:
    digest = hashlib.blake2b(f"{member}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(key: str, members: Iterable[str]) -> str | None:
    """The member with the highest weight for ``key`` (ties broken by name), None if no members."""
    best: tuple[int, str] | None = None
    for member in members:
        candidate = (_weight(member, key), member)
        if best is None or candidate > best:
            best = candidate
    return best[1] if best else None
