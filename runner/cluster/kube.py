"""The Kubernetes API edge: reads and writes of the watched custom resources.

Uses the official ``kubernetes`` client (blocking) in a small dedicated thread pool so the event loop
never waits on the network. Writes are read-modify-write with the object's resourceVersion, retried
on 409 Conflict, so a concurrent writer (a role calling k8s_status, kubectl) never loses data.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

MERGE_PATCH = "application/merge-patch+json"
CONFLICT_RETRIES = 8
REQUEST_TIMEOUT = 30


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """Where a kind lives in the API (plural resolved by discovery)."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            root += f"/namespaces/{namespace}"
        root += f"/{self.plural}"
        if name:
            root += f"/{name}"
        if sub:
            root += f"/{sub}"
        return root


class ConflictsExhausted(RuntimeError):
    """Every attempt of a write conflicted with another writer."""


class ResourceNotServed(RuntimeError):
    """A 404 that names no object: the API server does not serve the kind right now (a CRD that
    is not established yet, as for a moment after the API server restarts). Not "the object is
    gone": retried, never taken as a deletion."""


def gone(exc: ApiException) -> bool:
    """Whether a 404 says that the object is not there (its Status names it), rather than that the
    API server does not serve its kind at that path. Raises ResourceNotServed for the latter."""
    if exc.status != 404:
        return False
    try:
        details = (json.loads(exc.body or "{}") or {}).get("details") or {}
    except (TypeError, ValueError):
        details = {}
    if not details.get("name"):
        raise ResourceNotServed(f"the API server does not serve this kind right now ({exc.reason})") from exc
    return True


class Kube:
    def __init__(self, api_client: k8s_client.ApiClient, *, threads: int = 4) -> None:
        self._api = api_client
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="kube")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        method, url, headers, body, _post = self._api.param_serialize(
            method=method,
            resource_path=path,
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
        )
        resp = self._api.call_api(
            method, url, header_params=headers, body=body, _request_timeout=REQUEST_TIMEOUT
        )
        resp.read()  # type: ignore[no-untyped-call]
        if not 200 <= resp.status < 300:
            raise ApiException(http_resp=resp)
        return json.loads(resp.data) if resp.data else None

    async def call(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._call, method, path, body, content_type)

    async def get(self, ref: ResourceRef, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] | None = await self.call("GET", ref.path(namespace, name))
            return obj
        except ApiException as exc:
            if gone(exc):
                return None
            raise

    async def modify(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
        *,
        subresource: str | None = None,
        current: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Merge-patch ``change(obj)`` (None = nothing to do) guarded by resourceVersion; retried on 409.

        ``current``, the object as last seen, saves the first read: when it is stale, the write
        conflicts and is retried on a fresh read. Returns the updated object, or None when the object
        is gone or nothing changed.
        """
        if current is not None and not (current.get("metadata") or {}).get("resourceVersion"):
            current = None
        for _attempt in range(CONFLICT_RETRIES):
            obj = dict(current) if current is not None else await self.get(ref, namespace, name)
            current = None
            if obj is None:
                return None
            patch = change(obj)
            if patch is None:
                return None
            patch.setdefault("metadata", {})["resourceVersion"] = obj["metadata"]["resourceVersion"]
            try:
                written: dict[str, Any] | None = await self.call(
                    "PATCH", ref.path(namespace, name, subresource), patch, MERGE_PATCH
                )
                return written
            except ApiException as exc:
                if exc.status == 409:
                    continue
                if exc.status == 404 and subresource == "status":
                    # No status subresource (a CRD without one, a core kind): status is part of the
                    # object. A kind not served at all (a CRD not established yet) says so next.
                    subresource = None
                    continue
                if gone(exc):  # raises ResourceNotServed for a 404 that names no object
                    return None
                raise
        raise ConflictsExhausted(
            f"gave up writing {ref.kind} {namespace}/{name} after {CONFLICT_RETRIES} conflicts"
        )

    async def write_status(
        self,
        ref: ResourceRef,
        namespace: str | None,
        name: str,
        change: Callable[[Mapping[str, Any]], Mapping[str, Any] | None],
        *,
        current: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Apply ``change(current status) -> keys to merge into status``; other status keys are kept."""

        def patch(obj: dict[str, Any]) -> dict[str, Any] | None:
            keys = change(obj.get("status") or {})
            return None if keys is None else {"status": dict(keys)}

        return await self.modify(ref, namespace, name, patch, subresource="status", current=current)

    async def set_finalizer(
        self, ref: ResourceRef, namespace: str | None, name: str, finalizer: str, present: bool
    ) -> bool:
        """Add or remove ``finalizer``; returns whether the object still exists."""

        def patch(obj: dict[str, Any]) -> dict[str, Any] | None:
            current = list(obj.get("metadata", {}).get("finalizers") or [])
            if (finalizer in current) == present:
                return None
            wanted = [*current, finalizer] if present else [f for f in current if f != finalizer]
            return {"metadata": {"finalizers": wanted}}

        try:
            await self.modify(ref, namespace, name, patch)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True


def load_api_client(kubeconfig: str | None) -> k8s_client.ApiClient:
    from kubernetes import config as k8s_config

    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, client_configuration=configuration
        )
    except (k8s_config.ConfigException, FileNotFoundError, TypeError):
        if kubeconfig:
            raise
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return k8s_client.ApiClient(configuration)
