"""The latest object of every watched CR, kept compact.

A CR parsed from JSON costs several KiB of Python dicts and strings (about 6 KiB for a small CR
with its managedFields and status); with thousands of CRs that is most of the operator's memory.
Kept as its compact JSON text instead (about a quarter of that), it is decoded when a reconcile
starts, which needs a fresh copy anyway. What the watch decisions read (uid, generation, digests)
lives in ``decision.Seen``.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterator, Mapping
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)

_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode  # ASCII: any str encodes


class ObjectStore(Generic[K]):
    def __init__(self) -> None:
        self._raw: dict[K, bytes] = {}

    def __setitem__(self, key: K, obj: Mapping[str, Any]) -> None:
        self._raw[key] = _encode(obj).encode()

    def get(self, key: K) -> dict[str, Any] | None:
        raw = self._raw.get(key)
        if raw is None:
            return None
        obj: dict[str, Any] = json.loads(raw)
        return obj

    def pop(self, key: K) -> None:
        self._raw.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def __iter__(self) -> Iterator[K]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)
