"""How a job reaches the cluster: through the owner-injecting proxy, or directly.

``ProxyAccess`` (the default) gives each job a kubeconfig for the loopback proxy with a token for
its own CR, and turns the job's writes into dependent watches. ``DirectAccess``
(``--inject-owner-ref=false``) hands jobs the operator's own kubeconfig, as the Go operator's
proxy does without injection: no owner references and no dependent watches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from runner.cluster import apipath, ownership, rbaccalls
from runner.cluster.dependents import Dependents
from runner.cluster.discovery import ResourceInfo
from runner.cluster.kube import ResourceRef
from runner.cluster.proxy import Grant, Proxy
from runner.config.watches import GVK, Watch

Close = Callable[[], None]


class JobAccess(Protocol):
    def open(
        self, watch: Watch, ref: ResourceRef, obj: Mapping[str, Any], job_dir: Path
    ) -> tuple[dict[str, str], Close]: ...


class DirectAccess:
    def __init__(self, kubeconfig: str | None) -> None:
        self.kubeconfig = kubeconfig

    def open(
        self, watch: Watch, ref: ResourceRef, obj: Mapping[str, Any], job_dir: Path
    ) -> tuple[dict[str, str], Close]:
        env = (
            {"KUBECONFIG": self.kubeconfig, "K8S_AUTH_KUBECONFIG": self.kubeconfig} if self.kubeconfig else {}
        )
        return env, lambda: None


def dependents_allowed(watch: Watch, info: ResourceInfo) -> bool:
    """Whether changes to objects of this kind rerun the watch's CRs."""
    if not watch.watch_dependent_resources:
        return False
    if GVK(info.group, info.version, info.kind) in watch.blacklist:
        return False
    return info.namespaced or watch.watch_cluster_scoped_resources


def owner_of(watch: Watch, ref: ResourceRef, obj: Mapping[str, Any]) -> ownership.Owner:
    meta = obj["metadata"]
    return ownership.Owner(
        api_version=ref.api_version,
        kind=watch.gvk.kind,
        name=meta["name"],
        uid=meta.get("uid", ""),
        namespace=meta.get("namespace") if ref.namespaced else None,
    )


class ProxyAccess:
    def __init__(self, proxy: Proxy, dependents: Dependents) -> None:
        self.proxy = proxy
        self.dependents = dependents

    def open(
        self, watch: Watch, ref: ResourceRef, obj: Mapping[str, Any], job_dir: Path
    ) -> tuple[dict[str, str], Close]:
        owner = owner_of(watch, ref, obj)
        # A finalizer run cleans up after a CR that is going away: what it creates must outlive it.
        finalizing = bool(obj["metadata"].get("deletionTimestamp"))
        token = self.proxy.grant(Grant(owner, self._on_write(watch, owner), inject=not finalizing))
        path = job_dir / "kubeconfig"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.proxy.kubeconfig(token, owner.namespace))
        return {"KUBECONFIG": str(path), "K8S_AUTH_KUBECONFIG": str(path)}, lambda: self.proxy.revoke(token)

    def _on_write(self, watch: Watch, owner: ownership.Owner) -> Callable[..., None]:
        def on_write(
            api: apipath.ApiPath, info: ResourceInfo, obj: Mapping[str, Any] | None, method: str
        ) -> None:
            if method == "DELETE":
                uid = (obj or {}).get("metadata", {}).get("uid") or (obj or {}).get("details", {}).get("uid")
                if uid:
                    self.dependents.own_delete(uid)
                return
            if obj is None:
                return
            self.dependents.own_write(obj)
            if ownership.is_owned_by(obj, owner) and dependents_allowed(watch, info):
                self.dependents.track(info)
                if self.proxy.recorder is not None:
                    calls = rbaccalls.watching(info.group, info.plural, info.namespaced)
                    self.proxy.recorder.record(rbaccalls.kind_key(owner.api_version, owner.kind), calls)

        return on_write
