"""The API calls of the jobs, as RBAC sees them, recorded per watched kind (``--rbac-record``).

The job proxy sees every request a job makes. ``calls_of`` maps one request to what the API
server's authorizer checks (API group, resource with its subresource, verb, and whether the
request is inside a namespace, so that a Role can grant it); ``Recorder`` collects them per
watched kind and merges them into a JSON file that ``ansible-operator rbac`` turns into rules.
The file only grows: several operator runs (molecule, e2e tests) add up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from runner.cluster import apipath

log = logging.getLogger("runner.cluster.rbaccalls")

FORMAT = 1
FLUSH_DELAY = 1.0  # seconds: a burst of new calls becomes one write
# Exec, attach and port-forward over a websocket are a GET; since Kubernetes 1.30 the API server
# also checks ``create`` on the subresource for them (as for the POST that SPDY sends).
UPGRADE_SUBRESOURCES = frozenset({"exec", "attach", "portforward"})


@dataclass(frozen=True, order=True, slots=True)
class Call:
    group: str  # "" for the core group
    resource: str  # plural, or plural/subresource
    verb: str
    namespaced: bool  # inside one namespace (a Role can grant it); False: needs a ClusterRole

    def describe(self) -> str:
        group = self.group or "core"
        where = "in a namespace" if self.namespaced else "cluster-wide"
        return f"{self.verb} {self.resource} (API group {group}, {where})"

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "resource": self.resource,
            "verb": self.verb,
            "namespaced": self.namespaced,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Call:
        return cls(str(data["group"]), str(data["resource"]), str(data["verb"]), bool(data["namespaced"]))


def kind_key(api_version: str, kind: str) -> str:
    """How the record names a watched kind: ``demo.example.com/v1alpha1/WebApp``."""
    return f"{api_version}/{kind}"


def watching(group: str, plural: str, namespaced: bool) -> list[Call]:
    """What the operator's dependent watch of a kind the jobs write needs (list, then watch);
    ``namespaced``: the kind is, so a namespaced operator watches it in its namespaces only."""
    return [Call(group, plural, verb, namespaced) for verb in ("list", "watch")]


def _truthy(query: Mapping[str, list[str]], key: str) -> bool:
    return any(v.lower() in ("1", "true") for v in query.get(key, []))


def calls_of(method: str, path: str, query: str = "", websocket: bool = False) -> list[Call]:
    """The RBAC checks of one request (``/api/v1/namespaces/ns/pods/p/exec``); [] for
    discovery and other non-resource paths."""
    parts = path.split("/")
    # the older /api/v1/watch/... and /apis/<group>/<version>/watch/... forms
    at = {"api": 3, "apis": 4}.get(parts[1] if len(parts) > 1 else "")
    watch_path = at is not None and len(parts) > at + 1 and parts[at] == "watch"
    if watch_path and at is not None:
        parts = parts[:at] + parts[at + 1 :]
    api = apipath.parse("/".join(parts))
    if api is None:
        return []
    resource = f"{api.plural}/{api.subresource}" if api.subresource else api.plural
    namespaced = api.namespace is not None
    params = parse_qs(query)
    method = method.upper()
    verbs: list[str]
    if method in ("GET", "HEAD"):
        if watch_path or _truthy(params, "watch"):
            verbs = ["watch"]
        elif api.is_collection:
            verbs = ["list"]
        else:
            verbs = ["get"]
        if websocket and api.subresource in UPGRADE_SUBRESOURCES:
            verbs.append("create")
    elif method == "POST":
        verbs = ["create"]
    elif method == "PUT":
        verbs = ["update"]
    elif method == "PATCH":
        verbs = ["patch"]
    elif method == "DELETE":
        verbs = ["deletecollection" if api.is_collection else "delete"]
    else:
        return []
    return [Call(api.group, resource, verb, namespaced) for verb in verbs]


# ---- the file
def load(path: Path) -> dict[str, set[Call]]:
    """kind key → calls; a missing file is empty. ValueError for a file that is not a record."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
        kinds = data["kinds"]
        return {str(kind): {Call.from_json(c) for c in calls} for kind, calls in kinds.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a record of the jobs' API calls ({exc})") from None


def dumps(calls: Mapping[str, Iterable[Call]]) -> str:
    """The record as JSON, one call a line, kinds and calls sorted (a stable diff)."""
    kinds = []
    for kind, cs in sorted(calls.items()):
        lines = ",\n".join(f"   {json.dumps(c.as_json())}" for c in sorted(set(cs)))
        kinds.append(f"  {json.dumps(kind)}: [\n{lines}\n  ]")
    body = ",\n".join(kinds)
    return f'{{\n "format": {FORMAT},\n "kinds": {{\n{body}\n }}\n}}\n'


def merge_into(path: Path, calls: Mapping[str, Iterable[Call]]) -> None:
    """Add ``calls`` to the record at ``path`` (created with its folder when missing), atomically."""
    try:
        merged = load(path)
    except ValueError:
        log.warning("%s was not a record of API calls: starting it afresh", path)
        merged = {}
    for kind, cs in calls.items():
        merged.setdefault(kind, set()).update(cs)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dumps(merged))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Recorder:
    """Collects the jobs' calls per watched kind and merges new ones into the record file
    (soon after they are first seen, and at shutdown)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.calls: dict[str, set[Call]] = {}
        self._pending: dict[str, set[Call]] = {}
        self._flush: asyncio.TimerHandle | None = None

    def record(self, kind: str, calls: Iterable[Call]) -> None:
        seen = self.calls.setdefault(kind, set())
        new = set(calls) - seen
        if not new:
            return
        seen.update(new)
        self._pending.setdefault(kind, set()).update(new)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        try:
            merge_into(self.path, pending)
        except OSError as exc:
            log.error("could not write the record of the jobs' API calls to %s: %s", self.path, exc)
