"""Which watch events start a reconcile: pure functions over the custom resource as a dict.

A reconcile runs when a CR is first seen (created, or listed when the operator starts), when its
``metadata.generation`` changes (so never for the runner's own status writes, nor for label-only
edits), when it starts deleting, when its annotations change and the watch asks for that, and,
for kinds without a generation (Secrets, ConfigMaps), on any change other than status and the
assignment and drain labels of ``--sharding``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runner.control.shard.names import is_runner_label

_VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation")


@dataclass(frozen=True, slots=True)
class Seen:
    """What the runner remembers of a CR to tell a meaningful change from noise."""

    uid: str
    generation: int | None
    deleting: bool
    annotations: str
    content: str | None  # digest of everything but status, for kinds without a generation


_encode = json.JSONEncoder(sort_keys=True, default=str).encode  # one encoder, not one per call


def _digest(value: Any) -> str:
    return hashlib.sha1(_encode(value).encode()).hexdigest()


_NO_ANNOTATIONS = _digest({})  # most CRs: no annotations to encode


def fingerprint(obj: Mapping[str, Any]) -> Seen:
    meta = obj.get("metadata") or {}
    generation = meta.get("generation")
    content = None
    if generation is None:
        trimmed_meta = {k: v for k, v in meta.items() if k not in _VOLATILE_METADATA}
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if not is_runner_label(k)}
        if "labels" in trimmed_meta:
            trimmed_meta["labels"] = labels
        content = _digest({**{k: v for k, v in obj.items() if k != "status"}, "metadata": trimmed_meta})
    return Seen(
        uid=str(meta.get("uid", "")),
        generation=generation,
        deleting=bool(meta.get("deletionTimestamp")),
        annotations=_digest(annotations) if (annotations := meta.get("annotations")) else _NO_ANNOTATIONS,
        content=content,
    )


def trigger(prev: Seen | None, now: Seen, *, watch_annotations: bool) -> str | None:
    """The reason this observation should start a reconcile, or None."""
    if prev is None or prev.uid != now.uid:
        return "new resource"
    if now.deleting and not prev.deleting:
        return "deletion"
    if now.generation != prev.generation:
        return "spec changed"
    if now.content is not None and now.content != prev.content:
        return "resource changed"
    if watch_annotations and now.annotations != prev.annotations:
        return "annotations changed"
    return None


def created_since(meta: Mapping[str, Any], since: float) -> bool:
    """Whether the CR was created at or after ``since`` (epoch seconds; creationTimestamp has
    whole seconds). A CR created while the operator starts can arrive in its initial listing: it
    is new work, served before the start-up backlog, not part of it."""
    stamp = meta.get("creationTimestamp")
    if not isinstance(stamp, str) or not stamp:
        return False
    try:
        created = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return False
    return created >= since
