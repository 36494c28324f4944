"""Dependent resources end to end: owners, drift repair, dependent watches, role-facing modules (issue 3)."""

from __future__ import annotations

import re
import time
import urllib.request

from tests.e2e.conftest import E2E_GROUP, OperatorFactory, cr
from tests.e2e.kube import Kubectl, condition, wait_for
from tests.e2e.test_reconcile import echo_cm, successful


def owner_uids(obj: dict | None) -> list[str]:
    return [r["uid"] for r in ((obj or {}).get("metadata") or {}).get("ownerReferences") or []]


def test_owner_references_and_garbage_collection(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    operators.start(namespace)
    kubectl.apply(cr("Echo", "owner", namespace, {"replicas": 1}))
    obj = successful(kubectl, "echo", "owner", namespace)
    uid = obj["metadata"]["uid"]
    for kind in ("configmap", "deployment"):
        dep = kubectl.get(kind, "owner-echo", namespace)
        refs = dep["metadata"]["ownerReferences"]
        assert refs == [{"apiVersion": f"{E2E_GROUP}/v1", "kind": "Echo", "name": "owner", "uid": uid}]

    kubectl.delete("echo", "owner", namespace)
    for kind in ("configmap", "deployment"):
        wait_for(
            lambda k=kind: kubectl.get(k, "owner-echo", namespace) is None,
            f"the garbage collector to remove the {kind}",
        )


def test_cluster_scoped_and_cross_namespace_objects_get_annotations(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    other = f"{namespace}-other"
    made = f"{namespace}-made"
    kubectl.run("create", "namespace", other)
    try:
        operators.start(namespace)
        kubectl.apply(cr("Echo", "wide", namespace, {"clusterNamespace": made, "otherNamespace": other}))
        successful(kubectl, "echo", "wide", namespace)
        expected = {
            "operator-sdk/primary-resource": f"{namespace}/wide",
            "operator-sdk/primary-resource-type": f"Echo.{E2E_GROUP}",
        }
        for obj in (kubectl.get("namespace", made), kubectl.get("configmap", "wide-elsewhere", other)):
            annotations = obj["metadata"].get("annotations") or {}
            assert {k: annotations.get(k) for k in expected} == expected
            assert not obj["metadata"].get("ownerReferences")  # not valid across namespaces or scopes
    finally:
        kubectl.run("delete", "namespace", other, made, "--wait=false", "--ignore-not-found", check=False)


def test_deleted_dependent_is_recreated_and_edited_one_reverted(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    operators.start(namespace)
    kubectl.apply(cr("Echo", "drift", namespace, {"replicas": 1, "message": "desired"}))
    successful(kubectl, "echo", "drift", namespace)
    old_uid = echo_cm(kubectl, "drift", namespace)["metadata"]["uid"]

    kubectl.delete("configmap", "drift-echo", namespace)
    cm = wait_for(
        lambda: (c := echo_cm(kubectl, "drift", namespace)) and c["metadata"]["uid"] != old_uid and c,
        "the deleted ConfigMap to be recreated",
    )
    assert cm["data"]["message"] == "desired"

    kubectl.patch("deployment", "drift-echo", namespace, {"spec": {"replicas": 5}})
    wait_for(
        lambda: kubectl.get("deployment", "drift-echo", namespace)["spec"]["replicas"] == 1,
        "the edited Deployment to be put back",
    )
    kubectl.patch("configmap", "drift-echo", namespace, {"data": {"message": "tampered"}})
    wait_for(
        lambda: echo_cm(kubectl, "drift", namespace)["data"]["message"] == "desired",
        "the ConfigMap to be put back",
    )


def test_existing_object_is_adopted(kubectl: Kubectl, namespace: str, operators: OperatorFactory) -> None:
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "adopt-echo", "namespace": namespace},
            "data": {"message": "made by hand"},
        }
    )
    operators.start(namespace)
    kubectl.apply(cr("Echo", "adopt", namespace, {"message": "managed now"}))
    obj = successful(kubectl, "echo", "adopt", namespace)
    cm = echo_cm(kubectl, "adopt", namespace)
    assert cm["data"]["message"] == "managed now"
    assert owner_uids(cm) == [obj["metadata"]["uid"]]


def test_blacklisted_kind_is_not_watched(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    operators.start(namespace)
    kubectl.apply(cr("BlindEcho", "blind", namespace), cr("Echo", "seeing", namespace))
    successful(kubectl, "blindecho", "blind", namespace)
    successful(kubectl, "echo", "seeing", namespace)
    before = condition(kubectl.get("blindecho", "blind", namespace), "Running")["ansibleResult"]["completion"]
    kubectl.delete("configmap", "blind-echo", namespace)
    kubectl.delete("configmap", "seeing-echo", namespace)
    wait_for(lambda: echo_cm(kubectl, "seeing", namespace), "the watched kind's ConfigMap to be recreated")
    time.sleep(2)  # the blacklisted one would have been handled in the same pass
    assert echo_cm(kubectl, "blind", namespace) is None
    assert (
        condition(kubectl.get("blindecho", "blind", namespace), "Running")["ansibleResult"]["completion"]
        == before
    )


def test_dependents_are_watched_again_after_a_restart(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    first = operators.start(namespace)
    kubectl.apply(cr("Echo", "again", namespace))
    successful(kubectl, "echo", "again", namespace)
    assert first.stop() == 0
    second = operators.start(namespace)
    wait_for(lambda: "reconcile succeeded" in second.logs(), "the start-up reconcile")
    log = second.logs()
    assert log.index("watching dependents of kind ConfigMap") < log.index("reconcile started")
    old_uid = echo_cm(kubectl, "again", namespace)["metadata"]["uid"]
    kubectl.delete("configmap", "again-echo", namespace)
    wait_for(
        lambda: (c := echo_cm(kubectl, "again", namespace)) and c["metadata"]["uid"] != old_uid,
        "the ConfigMap to be recreated after the restart",
    )


def test_role_facing_modules(kubectl: Kubectl, namespace: str, operators: OperatorFactory) -> None:
    op = operators.start(namespace, "--metrics-bind-address=127.0.0.1:0")
    kubectl.apply(cr("CountEcho", "counter", namespace, {"target": 3}))

    def done():
        obj = kubectl.get("countecho", "counter", namespace)
        status = (obj or {}).get("status") or {}
        ok, running = condition(obj, "Successful"), condition(obj, "Running")
        finished = ok and ok["status"] == "True" and running and running["reason"] == "Successful"
        return obj if finished and str(status.get("count")) == "3" else None

    obj = wait_for(done, "the counter to reach 3 and end Successful")
    assert obj["status"]["note"] == "counted by the role"
    types = {c["type"]: c for c in obj["status"]["conditions"]}
    assert set(types) == {"Counted", "Running", "Successful", "Failure"}
    assert types["Counted"]["status"] == "True" and types["Counted"]["message"] == "3 of 3"
    assert types["Running"]["reason"] == "Successful"

    reasons = kubectl.run(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "reason=Counted",
        "-o",
        "jsonpath={range .items[*]}{.message}{'\\n'}{end}",
    ).stdout.split("\n")
    assert {"run 1 of 3", "run 2 of 3", "run 3 of 3"} <= set(reasons)

    port = re.search(r"serving (?:probes\+)?metrics on 127\.0\.0\.1:(\d+)", op.logs()).group(1)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert re.search(r"^e2e_counter_runs 3$", metrics, re.M), metrics  # the Go name: no _total


def test_inject_owner_ref_false(kubectl: Kubectl, namespace: str, operators: OperatorFactory) -> None:
    operators.start(namespace, "--inject-owner-ref=false")
    kubectl.apply(cr("Echo", "plain", namespace))
    successful(kubectl, "echo", "plain", namespace)
    assert owner_uids(echo_cm(kubectl, "plain", namespace)) == []
