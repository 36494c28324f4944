"""The runner end to end: CR events → role runs → objects and status conditions (issue 2)."""

from __future__ import annotations

import signal
from pathlib import Path

import yaml

from tests.e2e.conftest import REPO, OperatorFactory, cr
from tests.e2e.kube import Kubectl, condition, is_true, wait_for


def sample(filename: str, namespace: str) -> dict:
    """A sample CR from config/samples, put in the test's namespace."""
    obj = yaml.safe_load((REPO / "config" / "samples" / filename).read_text())
    obj["metadata"]["namespace"] = namespace
    return obj


def echo_cm(kubectl: Kubectl, name: str, ns: str) -> dict | None:
    return kubectl.get("configmap", f"{name}-echo", ns)


def successful(kubectl: Kubectl, resource: str, name: str, ns: str, generation: int | None = None):
    def check():
        obj = kubectl.get(resource, name, ns)
        cond = condition(obj, "Successful")
        if not (cond and cond["status"] == "True"):
            return None
        if generation is not None and cond.get("observedGeneration") != generation:
            return None
        return obj

    return wait_for(check, f"{resource} {ns}/{name} Successful=True")


def test_sample_webapp_created_then_updated(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    operators.start(namespace, cwd=REPO)
    kubectl.apply(sample("demo_v1alpha1_webapp.yaml", namespace))
    obj = successful(kubectl, "webapp", "webapp-sample", namespace)

    running = condition(obj, "Running")
    assert running["reason"] == "Successful" and running["message"] == "Awaiting next reconciliation"
    assert running["ansibleResult"]["failures"] == 0 and running["ansibleResult"]["ok"] > 0
    assert condition(obj, "Failure")["status"] == "False"
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    deploy = kubectl.get("deployment", "webapp-sample", namespace)
    assert deploy is not None and deploy["spec"]["replicas"] == obj["spec"]["replicas"]
    assert kubectl.get("service", "webapp-sample", namespace) is not None
    config = kubectl.get("configmap", "webapp-sample-config", namespace)
    assert config["data"]["message"] == obj["spec"]["message"]

    kubectl.patch("webapp", "webapp-sample", namespace, {"spec": {"replicas": 3, "message": "changed"}})
    successful(kubectl, "webapp", "webapp-sample", namespace, generation=obj["metadata"]["generation"] + 1)
    assert kubectl.get("deployment", "webapp-sample", namespace)["spec"]["replicas"] == 3
    assert kubectl.get("configmap", "webapp-sample-config", namespace)["data"]["message"] == "changed"

    events = kubectl.run(
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        "involvedObject.name=webapp-sample",
        "-o",
        "jsonpath={range .items[*]}{.reason}{'\\n'}{end}",
    ).stdout.split()
    assert "Started" in events and "Succeeded" in events


def test_failing_role_reports_failure_and_others_stay_healthy(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    operators.start(namespace)
    kubectl.apply(
        cr("Echo", "broken", namespace, {"failWith": "the database is on fire"}),
        cr("Echo", "healthy", namespace, {"message": "fine"}),
    )
    successful(kubectl, "echo", "healthy", namespace)
    # A snapshot between the failed run and its retry (back-off restarts it within seconds).
    broken = wait_for(
        lambda: (
            (o := kubectl.get("echo", "broken", namespace))
            and is_true(o, "Failure")
            and condition(o, "Running")["reason"] == "Failed"
            and o
        ),
        "Failure=True on the broken CR",
    )
    failure = condition(broken, "Failure")
    assert failure["reason"] == "Failed"
    assert "the database is on fire" in failure["message"]
    assert "fail when asked" in failure["message"]  # the failed task is named
    assert failure["ansibleResult"]["failures"] == 1
    assert condition(broken, "Successful")["status"] == "False"
    assert condition(broken, "Running")["status"] == "False"

    # The operator keeps serving: a new CR still reconciles, and fixing the broken one heals it.
    kubectl.apply(cr("Echo", "later", namespace, {"message": "still here"}))
    successful(kubectl, "echo", "later", namespace)
    kubectl.run(
        "patch",
        "echo",
        "broken",
        "-n",
        namespace,
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/spec/failWith"}]',
    )
    healed = successful(kubectl, "echo", "broken", namespace)
    assert condition(healed, "Failure")["status"] == "False"


def test_backup_finalizer_runs_on_delete(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    operators.start(namespace, cwd=REPO)
    kubectl.apply(sample("demo_v1alpha1_backup.yaml", namespace))
    obj = successful(kubectl, "backup", "backup-sample", namespace)
    assert "demo.example.com/backup-cleanup" in obj["metadata"]["finalizers"]
    assert kubectl.get("configmap", "backup-sample-backup-plan", namespace) is not None

    kubectl.delete("backup", "backup-sample", namespace)
    wait_for(lambda: kubectl.get("backup", "backup-sample", namespace) is None, "the Backup to be gone")
    record = kubectl.get("configmap", "backup-finalized-backup-sample", namespace)
    assert record is not None and record["data"]["target"] == obj["spec"]["target"]
    assert kubectl.get("configmap", "backup-sample-backup-plan", namespace) is None


def test_label_selector_filters_crs(kubectl: Kubectl, namespace: str, operators: OperatorFactory) -> None:
    operators.start(namespace)
    kubectl.apply(
        cr("PickyEcho", "bronze", namespace, labels={"tier": "bronze"}),
        cr("PickyEcho", "retired", namespace, labels={"tier": "gold", "stage": "retired"}),
        cr("PickyEcho", "gold", namespace, labels={"tier": "gold"}),
    )
    successful(kubectl, "pickyecho", "gold", namespace)
    # The operator handled the CRs in one pass; the gold one is done, so the others were seen and skipped.
    for name in ("bronze", "retired"):
        assert kubectl.get("pickyecho", name, namespace).get("status") is None
        assert echo_cm(kubectl, name, namespace) is None
    kubectl.run("label", "pickyecho", "bronze", "-n", namespace, "tier=gold", "--overwrite")
    successful(kubectl, "pickyecho", "bronze", namespace)


def test_periodic_resync_puts_back_a_deleted_object(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    operators.start(namespace)
    kubectl.apply(cr("TickEcho", "tick", namespace, {"message": "tock"}))
    successful(kubectl, "tickecho", "tick", namespace)
    first = echo_cm(kubectl, "tick", namespace)["data"]["run_at"]
    kubectl.delete("configmap", "tick-echo", namespace)
    again = wait_for(lambda: echo_cm(kubectl, "tick", namespace), "the resync to recreate the ConfigMap")
    assert again["data"]["run_at"] != first


def test_restart_reconciles_existing_crs_and_none_stays_running(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    first = operators.start(namespace)
    kubectl.apply(*(cr("Echo", f"slow-{i}", namespace, {"sleepSeconds": 4}) for i in range(2)))
    wait_for(lambda: is_true(kubectl.get("echo", "slow-0", namespace), "Running"), "slow-0 to start running")
    assert first.stop(signal.SIGTERM) == 0
    # Stopping mid-job leaves no CR claiming to run: the job is interrupted (or had just finished).
    stopped = kubectl.get("echo", "slow-0", namespace)
    assert condition(stopped, "Running")["reason"] in ("Interrupted", "Successful")

    kubectl.apply(cr("Echo", "while-down", namespace, {"message": "created while the operator was down"}))
    operators.start(namespace)
    for name in ("slow-0", "slow-1", "while-down"):
        obj = successful(kubectl, "echo", name, namespace)
        assert condition(obj, "Running")["reason"] == "Successful"


def test_role_written_status_is_kept(kubectl: Kubectl, namespace: str, operators: OperatorFactory) -> None:
    operators.start(namespace)
    kubectl.apply(cr("Echo", "custom", namespace, {"writeStatus": "written by the role"}))
    obj = successful(kubectl, "echo", "custom", namespace)
    assert obj["status"]["custom"] == "written by the role"
    assert {c["type"] for c in obj["status"]["conditions"]} >= {"Running", "Successful", "Failure"}


def test_manage_status_false_never_writes_status(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    operators.start(namespace)
    kubectl.apply(cr("QuietEcho", "quiet", namespace, {"message": "shh"}))
    cm = wait_for(lambda: echo_cm(kubectl, "quiet", namespace), "the role to run")
    assert cm["data"]["message"] == "shh"
    assert kubectl.get("quietecho", "quiet", namespace).get("status") is None


def test_snake_case_parameters(kubectl: Kubectl, namespace: str, operators: OperatorFactory) -> None:
    operators.start(namespace)
    spec = {"someValue": "v", "nested": {"innerKey": 1, "otherKey": 2}}
    kubectl.apply(cr("Echo", "snaky", namespace, spec), cr("RawEcho", "raw", namespace, spec))
    successful(kubectl, "echo", "snaky", namespace)
    successful(kubectl, "rawecho", "raw", namespace)
    snaky = echo_cm(kubectl, "snaky", namespace)["data"]
    raw = echo_cm(kubectl, "raw", namespace)["data"]
    assert (snaky["some_value"], snaky["someValue"], snaky["nested_keys"]) == (
        "v",
        "absent",
        "inner_key,other_key",
    )
    assert (raw["some_value"], raw["someValue"], raw["nested_keys"]) == ("absent", "v", "innerKey,otherKey")


def test_template_injection_is_not_evaluated(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED"
    payload = "{{ lookup('pipe', 'touch " + str(marker) + "') }}"
    operators.start(namespace)
    kubectl.apply(cr("Echo", "evil", namespace, {"message": payload}))
    successful(kubectl, "echo", "evil", namespace)
    assert echo_cm(kubectl, "evil", namespace)["data"]["message"] == payload
    assert not marker.exists()


def test_reserved_variables_are_refused(kubectl: Kubectl, namespace: str, operators: OperatorFactory) -> None:
    operators.start(namespace)
    kubectl.apply(
        cr("Echo", "sneaky", namespace, {"ansibleShellExecutable": "/tmp/x.sh"}),
        cr("PinnedEcho", "override", namespace, {"pinned": "from-the-cr"}),
        cr("PinnedEcho", "honest", namespace, {"message": "hi"}),
    )
    successful(kubectl, "pinnedecho", "honest", namespace)
    assert echo_cm(kubectl, "honest", namespace)["data"]["pinned"] == "from-watches"
    for resource, name, key in (
        ("echo", "sneaky", "ansibleShellExecutable"),
        ("pinnedecho", "override", "pinned"),
    ):
        obj = wait_for(
            lambda r=resource, n=name: (o := kubectl.get(r, n, namespace)) and is_true(o, "Failure") and o,
            f"{name} refused",
        )
        failure = condition(obj, "Failure")
        assert failure["reason"] == "InvalidSpec"
        assert f"'{key}'" in failure["message"]
        assert echo_cm(kubectl, name, namespace) is None  # nothing ran


def test_annotation_changes_rerun_only_when_the_watch_asks(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    operators.start(namespace)
    kubectl.apply(cr("NoteEcho", "noted", namespace), cr("Echo", "unnoted", namespace))
    successful(kubectl, "noteecho", "noted", namespace)
    successful(kubectl, "echo", "unnoted", namespace)
    before = {n: echo_cm(kubectl, n, namespace)["data"]["run_at"] for n in ("noted", "unnoted")}
    kubectl.run("annotate", "noteecho", "noted", "-n", namespace, "team=web")
    kubectl.run("annotate", "echo", "unnoted", "-n", namespace, "team=web")
    wait_for(
        lambda: echo_cm(kubectl, "noted", namespace)["data"]["run_at"] != before["noted"],
        "the annotation change to rerun the NoteEcho",
    )
    # The Echo was annotated at the same time; its watch does not ask, so it did not run.
    assert echo_cm(kubectl, "unnoted", namespace)["data"]["run_at"] == before["unnoted"]
