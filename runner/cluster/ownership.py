"""Who owns what a job creates: owner references or primary-resource annotations (pure).

An object created by a CR's job gets an ``ownerReference`` to the CR when that is valid in
Kubernetes (the CR is cluster-scoped, or the object lives in the CR's namespace). Otherwise — a
cluster-scoped object created for a namespaced CR, or an object in another namespace — it gets the
Go operator's annotations ``operator-sdk/primary-resource`` and ``operator-sdk/primary-resource-type``
(the garbage collector ignores them: clean such objects up in a finalizer).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PRIMARY_RESOURCE = "operator-sdk/primary-resource"
PRIMARY_RESOURCE_TYPE = "operator-sdk/primary-resource-type"
# Never owned nor watched as dependents: high-churn records, not desired state.
UNOWNED_RESOURCES = frozenset({("", "events"), ("events.k8s.io", "events")})


@dataclass(frozen=True, slots=True)
class Owner:
    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str | None  # None for a cluster-scoped CR

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def reference(self) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "uid": self.uid}

    def annotations(self) -> dict[str, str]:
        return {
            PRIMARY_RESOURCE: f"{self.namespace or ''}/{self.name}",
            PRIMARY_RESOURCE_TYPE: f"{self.kind}.{self.group}",
        }


PrimaryKinds = frozenset[tuple[str, str]]  # (group, kind) of every kind in watches.yaml


def use_owner_reference(owner: Owner, target_namespace: str | None) -> bool:
    """An ownerReference is valid when the owner is cluster-scoped or both share a namespace."""
    return owner.namespace is None or (target_namespace is not None and target_namespace == owner.namespace)


def is_owned_by(obj: Mapping[str, Any], owner: Owner) -> bool:
    meta = obj.get("metadata") or {}
    if any(ref.get("uid") == owner.uid for ref in meta.get("ownerReferences") or []):
        return True
    ann = meta.get("annotations") or {}
    return (
        ann.get(PRIMARY_RESOURCE) == owner.annotations()[PRIMARY_RESOURCE]
        and ann.get(PRIMARY_RESOURCE_TYPE) == owner.annotations()[PRIMARY_RESOURCE_TYPE]
    )


def claim(obj: Mapping[str, Any], owner: Owner, target_namespace: str | None) -> dict[str, Any]:
    """A copy of ``obj`` (a full object body) that names ``owner`` as its owner."""
    out = copy.deepcopy(dict(obj))
    meta = out.setdefault("metadata", {})
    if use_owner_reference(owner, target_namespace):
        refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != owner.uid]
        meta["ownerReferences"] = [*refs, owner.reference()]
    else:
        meta["annotations"] = {**(meta.get("annotations") or {}), **owner.annotations()}
    return out


def adoption_patch(
    obj: Mapping[str, Any], owner: Owner, target_namespace: str | None
) -> list[dict[str, Any]] | None:
    """A JSON patch that adds ``owner`` to an existing object, or None when already owned."""
    if is_owned_by(obj, owner):
        return None
    meta = obj.get("metadata") or {}
    test = {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}
    if use_owner_reference(owner, target_namespace):
        if meta.get("ownerReferences"):
            return [test, {"op": "add", "path": "/metadata/ownerReferences/-", "value": owner.reference()}]
        return [test, {"op": "add", "path": "/metadata/ownerReferences", "value": [owner.reference()]}]
    if meta.get("annotations"):
        ops = [
            {
                "op": "add",
                "path": f"/metadata/annotations/{k.replace('~', '~0').replace('/', '~1')}",
                "value": v,
            }
            for k, v in owner.annotations().items()
        ]
        return [test, *ops]
    return [test, {"op": "add", "path": "/metadata/annotations", "value": owner.annotations()}]


def has_controller(obj: Mapping[str, Any]) -> bool:
    return any(r.get("controller") for r in (obj.get("metadata") or {}).get("ownerReferences") or [])


def adoptable_write(body: Mapping[str, Any]) -> bool:
    """A write that states the object's identity (apiVersion, kind, name) — an apply of a manifest,
    as kubernetes.core ``k8s`` and ``kubectl apply`` send, not a targeted ``kubectl patch`` — and
    that leaves ``ownerReferences`` alone (a role that sets or clears them decides ownership itself)."""
    meta = body.get("metadata") if isinstance(body, Mapping) else None
    if not isinstance(meta, Mapping) or "ownerReferences" in meta:
        return False
    return bool(body.get("apiVersion") and body.get("kind") and meta.get("name"))


@dataclass(frozen=True, slots=True)
class OwnerHint:
    """An object's claim to belong to a primary: an ownerReference (with uid) or the annotations."""

    group: str
    kind: str
    namespace: str | None  # for an ownerReference: the dependent's own namespace
    name: str
    uid: str | None


def owners_of(obj: Mapping[str, Any]) -> list[OwnerHint]:
    meta = obj.get("metadata") or {}
    out: list[OwnerHint] = []
    for ref in meta.get("ownerReferences") or []:
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        out.append(
            OwnerHint(
                group,
                str(ref.get("kind", "")),
                meta.get("namespace"),
                str(ref.get("name", "")),
                ref.get("uid"),
            )
        )
    ann = meta.get("annotations") or {}
    if PRIMARY_RESOURCE in ann and PRIMARY_RESOURCE_TYPE in ann:
        ns, _, name = str(ann[PRIMARY_RESOURCE]).rpartition("/")
        kind, _, group = str(ann[PRIMARY_RESOURCE_TYPE]).partition(".")
        out.append(OwnerHint(group, kind, ns or None, name, None))
    return out
