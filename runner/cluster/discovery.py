"""API discovery through the operator's own credentials: is a resource namespaced, what kind is it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from runner.cluster.upstream import Upstream

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: frozenset[str]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def watchable(self) -> bool:
        return {"list", "watch", "get"} <= self.verbs


class Discovery:
    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self._cache: dict[tuple[str, str], dict[str, ResourceInfo]] = {}
        self._lock = asyncio.Lock()

    async def _load(self, group: str, version: str) -> dict[str, ResourceInfo]:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            data = await self._upstream.get_json(path)
        except Exception as exc:
            log.warning("discovery of %s failed: %s", path, exc)
            return {}
        out: dict[str, ResourceInfo] = {}
        for r in data.get("resources") or []:
            name = r.get("name", "")
            if "/" in name:
                continue
            out[name] = ResourceInfo(
                group,
                version,
                name,
                r.get("kind", ""),
                bool(r.get("namespaced")),
                frozenset(r.get("verbs") or ()),
            )
        return out

    async def resource(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        key = (group, version)
        found = self._cache.get(key, {}).get(plural)
        if found is not None:
            return found
        async with self._lock:  # a new CRD since the last look: read the group again, once
            self._cache[key] = await self._load(group, version)
        return self._cache[key].get(plural)
