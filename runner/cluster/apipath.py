"""Kubernetes API request paths → what they address (pure parsing)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ApiPath:
    group: str  # "" for the core group
    version: str
    plural: str
    namespace: str | None = None  # from the URL (/namespaces/<ns>/...)
    name: str | None = None
    subresource: str | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def is_collection(self) -> bool:
        return self.name is None


def parse(path: str) -> ApiPath | None:
    """``/api/v1/namespaces/ns/configmaps/x`` → ApiPath; None for discovery and non-resource paths."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace = None
    if group == "" and rest[0] == "namespaces" and len(rest) == 3 and rest[2] in ("status", "finalize"):
        return ApiPath(group, version, "namespaces", None, rest[1], rest[2])
    if rest[0] == "namespaces" and len(rest) >= 3:
        # /namespaces/<ns>/<plural>[/<name>[/<sub>]] ; /namespaces/<ns> alone is the Namespace itself
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:
        return ApiPath(group, version, "namespaces", None, rest[1])
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = "/".join(rest[2:]) or None
    return ApiPath(group, version, plural, namespace, name, sub)


def object_path(api: ApiPath, obj: Mapping[str, Any]) -> str:
    """The path of the object ``obj`` that a request to ``api`` wrote (a create names it in the body)."""
    meta = obj.get("metadata") or {}
    root = f"/apis/{api.group}/{api.version}" if api.group else f"/api/{api.version}"
    ns = api.namespace or meta.get("namespace")
    if ns and api.plural != "namespaces":
        root += f"/namespaces/{ns}"
    return f"{root}/{api.plural}/{meta.get('name') or api.name}"
