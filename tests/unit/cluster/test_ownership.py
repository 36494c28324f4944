"""Owner injection decisions and API path parsing (pure)."""

from __future__ import annotations

import pytest

from runner.cluster import apipath, ownership
from runner.cluster.ownership import Owner

NS_OWNER = Owner("demo.example.com/v1", "WebApp", "shop", "uid-1", "prod")
CLUSTER_OWNER = Owner("demo.example.com/v1", "Tenant", "acme", "uid-2", None)
REF = {"apiVersion": "demo.example.com/v1", "kind": "WebApp", "name": "shop", "uid": "uid-1"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/namespaces/prod/configmaps", apipath.ApiPath("", "v1", "configmaps", "prod")),
        ("/api/v1/namespaces/prod/configmaps/x", apipath.ApiPath("", "v1", "configmaps", "prod", "x")),
        (
            "/apis/apps/v1/namespaces/p/deployments/d/scale",
            apipath.ApiPath("apps", "v1", "deployments", "p", "d", "scale"),
        ),
        ("/api/v1/namespaces", apipath.ApiPath("", "v1", "namespaces")),
        ("/api/v1/namespaces/prod", apipath.ApiPath("", "v1", "namespaces", None, "prod")),
        ("/api/v1/namespaces/prod/status", apipath.ApiPath("", "v1", "namespaces", None, "prod", "status")),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles?x=1",
            apipath.ApiPath("rbac.authorization.k8s.io", "v1", "clusterroles"),
        ),
        ("/api", None),
        ("/apis/apps/v1", None),
        ("/version", None),
    ],
)
def test_parse(path: str, expected: apipath.ApiPath | None) -> None:
    assert apipath.parse(path) == expected


def test_same_namespace_gets_an_owner_reference() -> None:
    out = ownership.claim({"metadata": {"name": "c"}}, NS_OWNER, "prod")
    assert out["metadata"]["ownerReferences"] == [REF]
    assert "annotations" not in out["metadata"]


def test_other_namespace_and_cluster_scoped_get_annotations() -> None:
    for target in ("other", None):
        out = ownership.claim({"metadata": {"name": "c", "annotations": {"keep": "me"}}}, NS_OWNER, target)
        assert "ownerReferences" not in out["metadata"]
        assert out["metadata"]["annotations"] == {
            "keep": "me",
            "operator-sdk/primary-resource": "prod/shop",
            "operator-sdk/primary-resource-type": "WebApp.demo.example.com",
        }


def test_cluster_scoped_owner_owns_anything() -> None:
    for target in ("any", None):
        out = ownership.claim({"metadata": {}}, CLUSTER_OWNER, target)
        assert out["metadata"]["ownerReferences"][0]["uid"] == "uid-2"


def test_claim_keeps_other_owners_and_is_idempotent() -> None:
    other = {"apiVersion": "v1", "kind": "X", "name": "x", "uid": "other"}
    once = ownership.claim({"metadata": {"ownerReferences": [other]}}, NS_OWNER, "prod")
    twice = ownership.claim(once, NS_OWNER, "prod")
    assert twice["metadata"]["ownerReferences"] == [other, REF]


def test_adoption_patch() -> None:
    obj = {"metadata": {"name": "c", "resourceVersion": "7"}}
    patch = ownership.adoption_patch(obj, NS_OWNER, "prod")
    assert patch == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
        {"op": "add", "path": "/metadata/ownerReferences", "value": [REF]},
    ]
    owned = {"metadata": {"ownerReferences": [REF]}}
    assert ownership.adoption_patch(owned, NS_OWNER, "prod") is None
    annotated = {"metadata": {"resourceVersion": "1", "annotations": {"a": "b"}}}
    ops = ownership.adoption_patch(annotated, NS_OWNER, None)
    assert {
        "op": "add",
        "path": "/metadata/annotations/operator-sdk~1primary-resource",
        "value": "prod/shop",
    } in ops


def test_adoptable_writes() -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
    assert ownership.adoptable_write(manifest)
    assert not ownership.adoptable_write({"data": {"k": "v"}})  # a targeted patch
    assert not ownership.adoptable_write({**manifest, "metadata": {"name": "c", "ownerReferences": None}})


def test_owners_of_reads_references_and_annotations() -> None:
    obj = {
        "metadata": {
            "namespace": "prod",
            "ownerReferences": [REF],
            "annotations": ownership.Owner("g.io/v1", "Thing", "t", "u", "ns2").annotations(),
        }
    }
    hints = ownership.owners_of(obj)
    assert hints[0] == ownership.OwnerHint("demo.example.com", "WebApp", "prod", "shop", "uid-1")
    assert hints[1] == ownership.OwnerHint("g.io", "Thing", "ns2", "t", None)
    assert ownership.is_owned_by(obj, NS_OWNER)
    assert not ownership.is_owned_by({"metadata": {}}, NS_OWNER)
