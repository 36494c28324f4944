"""What a job's write would store, and whether it would point at another CR (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from runner.cluster import ownerguard
from runner.cluster.ownerguard import Refused
from runner.cluster.ownership import Owner

MINE = Owner("demo.example.com/v1", "WebApp", "shop", "uid-mine", "prod")
PRIMARIES = frozenset({("demo.example.com", "WebApp"), ("demo.example.com", "Tenant")})
MY_REF = {"apiVersion": "demo.example.com/v1", "kind": "WebApp", "name": "shop", "uid": "uid-mine"}
THEIR_REF = {"apiVersion": "demo.example.com/v1", "kind": "WebApp", "name": "other", "uid": "uid-other"}
DEPLOYMENT_REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": "uid-d"}


def obj(*refs: dict[str, Any], **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "c", "resourceVersion": "7"}
    if refs:
        meta["ownerReferences"] = list(refs)
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def refused(stored: Any, result: Any) -> str | None:
    return ownerguard.refusal(stored, result, MINE, PRIMARIES)


def test_own_and_unrelated_owners_are_allowed() -> None:
    assert refused(None, obj(MY_REF)) is None
    assert refused(None, obj(MY_REF, DEPLOYMENT_REF)) is None
    assert refused(obj(), obj()) is None


def test_another_crs_owner_is_refused_unless_it_was_already_there() -> None:
    assert "Echo" not in (refused(None, obj(THEIR_REF)) or "")
    assert "WebApp other (uid uid-other)" in (refused(None, obj(THEIR_REF)) or "")
    assert refused(obj(THEIR_REF), obj(THEIR_REF, MY_REF)) is None
    assert refused(obj(THEIR_REF), obj({**THEIR_REF, "controller": True})) is not None


def test_an_own_uid_with_another_name_or_a_changed_kind_case_is_refused() -> None:
    assert refused(None, obj({**MY_REF, "name": "other"})) is not None
    assert refused(None, obj({**THEIR_REF, "kind": "webapp"})) is not None


def test_primary_resource_annotations() -> None:
    mine = MINE.annotations()
    theirs = {
        "operator-sdk/primary-resource": "prod/other",
        "operator-sdk/primary-resource-type": "WebApp.demo.example.com",
    }
    assert refused(None, obj(**mine)) is None
    assert refused(None, obj(**{"operator-sdk/primary-resource-type": "x"})) is None
    assert "prod/other" in (refused(None, obj(**theirs)) or "")
    assert refused(obj(**theirs), obj(**theirs)) is None
    changed = {**theirs, "operator-sdk/primary-resource-type": "Tenant.demo.example.com"}
    assert refused(obj(**theirs), obj(**changed)) is not None


def test_ambiguous_or_malformed_metadata_is_refused() -> None:
    assert refused(None, {"metadata": {"name": "c", "OwnerReferences": [THEIR_REF]}}) is not None
    assert refused(None, {"Metadata": {"ownerReferences": [THEIR_REF]}}) is not None
    assert refused(None, {"metadata": {"ownerReferences": "uid-other"}}) is not None


def test_json_patches_are_applied_to_the_current_object() -> None:
    current = obj(MY_REF)
    rewired = [
        {"op": "replace", "path": "/metadata/ownerReferences/0/uid", "value": "uid-other"},
        {"op": "replace", "path": "/metadata/ownerReferences/0/name", "value": "other"},
    ]
    result = ownerguard.apply(ownerguard.JSON_PATCH, current, rewired)
    assert result["metadata"]["ownerReferences"] == [THEIR_REF]
    assert current["metadata"]["ownerReferences"] == [MY_REF]  # not changed in place
    whole = [{"op": "replace", "path": "/metadata", "value": {"ownerReferences": [THEIR_REF]}}]
    assert refused(current, ownerguard.apply(ownerguard.JSON_PATCH, current, whole)) is not None
    with pytest.raises(Refused) as exc:
        ownerguard.apply(ownerguard.JSON_PATCH, current, [{"op": "remove", "path": "/nothing"}])
    assert exc.value.code == 422


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    assert ownerguard.merge_patch(target, {"a": {"b": None, "d": 3}, "l": [3]}) == {
        "a": {"c": 2, "d": 3},
        "l": [3],
    }


def test_strategic_merge_merges_owner_references_by_uid() -> None:
    current = obj(THEIR_REF)
    added = ownerguard.apply(ownerguard.STRATEGIC_PATCH, current, {"metadata": {"ownerReferences": [MY_REF]}})
    assert added["metadata"]["ownerReferences"] == [THEIR_REF, MY_REF]
    assert refused(current, added) is None
    changed = {"metadata": {"ownerReferences": [{"uid": "uid-other", "name": "renamed"}]}}
    assert refused(current, ownerguard.apply(ownerguard.STRATEGIC_PATCH, current, changed)) is not None
    replaced = {"metadata": {"ownerReferences": [{"$patch": "replace"}, MY_REF]}}
    assert ownerguard.apply(ownerguard.STRATEGIC_PATCH, current, replaced)["metadata"]["ownerReferences"] == [
        MY_REF
    ]
    deleted = {"metadata": {"ownerReferences": [{"uid": "uid-other", "$patch": "delete"}]}}
    assert ownerguard.apply(ownerguard.STRATEGIC_PATCH, current, deleted)["metadata"]["ownerReferences"] == []
    whole = {"metadata": {"$patch": "replace", "ownerReferences": [THEIR_REF]}}
    assert refused(obj(), ownerguard.apply(ownerguard.STRATEGIC_PATCH, obj(), whole)) is not None


def test_strategic_merge_directives_on_owners_are_refused() -> None:
    for patch in (
        {"metadata": {"$deleteFromPrimitiveList/ownerReferences": ["x"]}},
        {"metadata": {"$patch": "frobnicate"}},
        {"metadata": {"ownerReferences": [{"$patch": "merge"}]}},
    ):
        with pytest.raises(Refused):
            ownerguard.apply(ownerguard.STRATEGIC_PATCH, obj(), patch)
    order = {
        "metadata": {"$setElementOrder/ownerReferences": [{"uid": "uid-mine"}], "ownerReferences": [MY_REF]}
    }
    assert ownerguard.apply(ownerguard.STRATEGIC_PATCH, obj(), order)["metadata"]["ownerReferences"] == [
        MY_REF
    ]


def test_bodies_are_json_or_yaml_only() -> None:
    assert ownerguard.read("application/yaml", b"metadata: {name: c}\nwhen: 2024-01-01\n", patch=False) == {
        "metadata": {"name": "c"},
        "when": "2024-01-01",
    }
    for content_type, body, code in (
        ("application/vnd.kubernetes.protobuf", b"k8s\x00", 415),
        ("application/cbor", b"\xa0", 415),
        ("application/json-patch+json", b"[]", 415),  # a patch type is not a body type
        ("application/json", b"{not json", 400),
        ("application/json", b'{"metadata": {}, "metadata": {"ownerReferences": []}}', 400),
        ("application/yaml", b"a: 1\na: 2\n", 400),
        ("application/yaml", b"a: !!binary aGk=\n", 400),
    ):
        with pytest.raises(Refused) as exc:
            ownerguard.read(content_type, body, patch=False)
        assert exc.value.code == code, content_type
    assert ownerguard.read("application/apply-patch+yaml", b"kind: ConfigMap\n", patch=True) == {
        "kind": "ConfigMap"
    }


def test_repair_backs_out_only_what_was_refused() -> None:
    stored = obj(DEPLOYMENT_REF)
    answer = obj(
        DEPLOYMENT_REF, THEIR_REF, MY_REF, **{"operator-sdk/primary-resource": "prod/other", "keep": "me"}
    )
    ops = ownerguard.repair(stored, answer, MINE, PRIMARIES)
    assert ops == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
        {"op": "replace", "path": "/metadata/ownerReferences", "value": [DEPLOYMENT_REF, MY_REF]},
        {"op": "replace", "path": "/metadata/annotations", "value": {"keep": "me"}},
    ]
