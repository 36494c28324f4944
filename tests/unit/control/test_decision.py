"""Which watch events start a reconcile (GenerationChanged OR NoGeneration [+ AnnotationChanged])."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from runner.control.decision import fingerprint, trigger


def cr(**meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": "mc",
        "namespace": "ns1",
        "uid": "uid-1",
        "generation": 1,
        "resourceVersion": "100",
        "labels": {"app": "mc"},
        "annotations": {"note": "a"},
    }
    metadata.update(meta)
    return {
        "apiVersion": "cache.example.com/v1alpha1",
        "kind": "Memcached",
        "metadata": metadata,
        "spec": {"size": 1},
        "status": {"conditions": []},
    }


def configmap(**meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": "cm",
        "namespace": "ns1",
        "uid": "uid-cm",
        "resourceVersion": "5",
        "managedFields": [{"manager": "kubectl"}],
    }
    metadata.update(meta)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}}


def why(
    before: dict[str, Any] | None, after: dict[str, Any], *, watch_annotations: bool = False
) -> str | None:
    prev = fingerprint(before) if before is not None else None
    return trigger(prev, fingerprint(after), watch_annotations=watch_annotations)


def test_new_resource_triggers() -> None:
    assert why(None, cr()) == "new resource"
    assert why(None, configmap()) == "new resource"


def test_same_object_does_not_trigger() -> None:
    assert why(cr(), cr()) is None
    assert why(configmap(), configmap()) is None


def test_recreated_resource_with_new_uid_triggers() -> None:
    # Same name, same generation, but a different object.
    assert why(cr(), cr(uid="uid-2")) == "new resource"


def test_generation_change_triggers() -> None:
    after = cr(generation=2, resourceVersion="101")
    after["spec"]["size"] = 3
    assert why(cr(), after) == "spec changed"


def test_status_only_change_does_not_trigger() -> None:
    after = cr(resourceVersion="102")
    after["status"] = {"conditions": [{"type": "Running", "status": "True"}], "custom": 1}
    assert why(cr(), after) is None
    assert why(cr(), after, watch_annotations=True) is None


def test_label_only_change_does_not_trigger() -> None:
    after = cr(labels={"app": "mc", "tier": "cache"}, resourceVersion="103")
    assert why(cr(), after) is None
    assert why(cr(), after, watch_annotations=True) is None


def test_annotation_change_triggers_only_when_watched() -> None:
    after = cr(annotations={"note": "b"}, resourceVersion="104")
    assert why(cr(), after) is None
    assert why(cr(), after, watch_annotations=True) == "annotations changed"
    # Added or removed annotations count too.
    assert why(cr(annotations=None), after, watch_annotations=True) == "annotations changed"
    assert why(after, cr(annotations={}), watch_annotations=True) == "annotations changed"


def test_unchanged_annotations_do_not_trigger_when_watched() -> None:
    assert why(cr(), cr(resourceVersion="999"), watch_annotations=True) is None


def test_deletion_timestamp_appearing_triggers() -> None:
    after = cr(deletionTimestamp="2024-01-01T00:00:00Z", resourceVersion="105")
    assert why(cr(), after) == "deletion"
    # CRDs also bump the generation when deletion starts; still reported as a deletion.
    after2 = cr(deletionTimestamp="2024-01-01T00:00:00Z", generation=2)
    assert why(cr(), after2) == "deletion"


def test_deleting_object_status_update_does_not_trigger_again() -> None:
    before = cr(deletionTimestamp="2024-01-01T00:00:00Z")
    after = copy.deepcopy(before)
    after["status"] = {"conditions": [{"type": "Running"}]}
    after["metadata"]["resourceVersion"] = "200"
    assert why(before, after) is None


def test_fingerprint_fields() -> None:
    seen = fingerprint(cr(deletionTimestamp="x"))
    assert seen.uid == "uid-1"
    assert seen.generation == 1
    assert seen.deleting is True
    assert seen.content is None  # objects with a generation are judged by it
    assert fingerprint(configmap()).content is not None


def test_fingerprint_of_minimal_object() -> None:
    seen = fingerprint({})
    assert seen.uid == ""
    assert seen.deleting is False
    assert why(None, {}) == "new resource"


# --- kinds without a generation (ConfigMap, Secret) ---


def test_no_generation_data_change_triggers() -> None:
    after = configmap(resourceVersion="6")
    after["data"] = {"k": "changed"}
    assert why(configmap(), after) == "resource changed"


def test_no_generation_label_change_triggers() -> None:
    # NoGenerationPredicate passes every update of such kinds (only noise is filtered out).
    assert why(configmap(), configmap(labels={"x": "y"})) == "resource changed"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda o: o["metadata"].update(resourceVersion="77"), id="resourceVersion"),
        pytest.param(
            lambda o: o["metadata"].update(managedFields=[{"manager": "other", "time": "t"}]),
            id="managedFields",
        ),
        pytest.param(lambda o: o.update(status={"phase": "x"}), id="status"),
    ],
)
def test_no_generation_noise_does_not_trigger(change: Any) -> None:
    after = configmap()
    change(after)
    assert why(configmap(), after) is None


def test_no_generation_deletion_triggers() -> None:
    assert why(configmap(), configmap(deletionTimestamp="t")) == "deletion"


def test_key_order_does_not_matter() -> None:
    before = configmap()
    before["data"] = {"a": "1", "b": "2"}
    after = configmap()
    after["data"] = {"b": "2", "a": "1"}
    assert why(before, after) is None


def test_created_since_tells_new_work_from_the_start_up_backlog() -> None:
    from runner.control.decision import created_since

    started = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    assert created_since({"creationTimestamp": "2027-01-15T08:00:00Z"}, started)
    assert created_since({"creationTimestamp": "2027-01-15T08:00:03Z"}, started)
    assert not created_since({"creationTimestamp": "2027-01-15T07:59:59Z"}, started)
    assert not created_since({}, started)
    assert not created_since({"creationTimestamp": "yesterday"}, started)
