"""Jobs end to end: finalizer edge cases, time-outs, artifacts and job directories, inventories, args."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import E2E_OPERATOR, OperatorFactory, cr
from tests.e2e.kube import Kubectl, condition, is_true, wait_for
from tests.e2e.test_reconcile import echo_cm, successful


def failure(kubectl: Kubectl, resource: str, name: str, ns: str) -> dict:
    def check():
        obj = kubectl.get(resource, name, ns)
        return obj if is_true(obj, "Failure") else None

    return condition(wait_for(check, f"{resource} {ns}/{name} Failure=True"), "Failure")


def test_cr_deleted_during_its_reconcile_still_gets_its_finalizer(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    operators.start(namespace)
    kubectl.apply(cr("FinalEcho", "busy", namespace, {"sleepSeconds": 3}))
    wait_for(
        lambda: is_true(kubectl.get("finalecho", "busy", namespace), "Running"), "the first run to start"
    )
    obj = kubectl.get("finalecho", "busy", namespace)
    assert "e2e.runner.example.com/cleanup" in obj["metadata"]["finalizers"]
    kubectl.delete("finalecho", "busy", namespace)
    wait_for(lambda: kubectl.get("finalecho", "busy", namespace) is None, "the CR to be gone", timeout=120)
    record = kubectl.get("configmap", "busy-finalized", namespace)
    assert record is not None and record["data"]["state"] == "absent"
    assert echo_cm(kubectl, "busy", namespace) is None


def test_failing_finalizer_keeps_the_cr_until_it_succeeds(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    operators.start(namespace)
    kubectl.apply(cr("FinalEcho", "stubborn", namespace, {"failFinalizer": "the backup is still running"}))
    successful(kubectl, "finalecho", "stubborn", namespace)
    kubectl.delete("finalecho", "stubborn", namespace)
    message = failure(kubectl, "finalecho", "stubborn", namespace)["message"]
    assert "the backup is still running" in message
    obj = kubectl.get("finalecho", "stubborn", namespace)
    assert obj["metadata"].get("deletionTimestamp") and obj["metadata"]["finalizers"]

    kubectl.run(
        "patch",
        "finalecho",
        "stubborn",
        "-n",
        namespace,
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/spec/failFinalizer"}]',
    )
    wait_for(lambda: kubectl.get("finalecho", "stubborn", namespace) is None, "the CR to be gone")
    assert kubectl.get("configmap", "stubborn-finalized", namespace) is not None


def test_job_timeout_is_a_failure(kubectl: Kubectl, namespace: str, operators: OperatorFactory) -> None:
    # 10 s: long enough for the quick CR's whole job on the plain executor on a loaded 2-core CI
    # machine (4 s seen there), far below the sleepy CR's 60 s.
    operators.start(namespace, "--job-timeout=10s")
    kubectl.apply(cr("Echo", "sleepy", namespace, {"sleepSeconds": 60}), cr("Echo", "quick", namespace))
    assert "timed out after 10s" in failure(kubectl, "echo", "sleepy", namespace)["message"]
    successful(kubectl, "echo", "quick", namespace)


def test_artifacts_rotated_and_job_dir_removed_with_the_cr(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, tmp_path: Path
) -> None:
    operators.start(namespace)
    annotations = {"ansible.sdk.operatorframework.io/max-runner-artifacts": "2"}
    kubectl.apply(cr("Echo", "chatty", namespace, {"message": "0"}, annotations=annotations))
    obj = successful(kubectl, "echo", "chatty", namespace)
    for i in range(1, 4):
        kubectl.patch("echo", "chatty", namespace, {"spec": {"message": str(i)}})
        obj = successful(kubectl, "echo", "chatty", namespace, generation=obj["metadata"]["generation"] + 1)
    job_dir = tmp_path / "runner" / "e2e.runner.example.com" / "v1" / "Echo" / namespace / "chatty"
    artifacts = [p for p in (job_dir / "artifacts").iterdir() if p.is_dir()]
    assert len(artifacts) == 2  # four runs, two kept
    assert oct(job_dir.stat().st_mode & 0o777) == "0o700"
    assert oct((job_dir / "env" / "extravars").stat().st_mode & 0o777) == "0o600"

    kubectl.delete("echo", "chatty", namespace)
    wait_for(lambda: not job_dir.exists(), "the job directory to be removed")
    # no empty namespace directory left behind (removed right after, by the same clean-up)
    wait_for(lambda: not job_dir.parent.exists(), "the empty namespace directory to be removed")


def test_custom_inventory_counts_every_host(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    operators.start(namespace, env={"ANSIBLE_INVENTORY": str(E2E_OPERATOR / "inventory")})
    kubectl.apply(cr("FleetEcho", "fleet", namespace))
    obj = successful(kubectl, "fleetecho", "fleet", namespace)
    assert condition(obj, "Running")["ansibleResult"]["ok"] == 2  # one task on alpha and on beta


def test_ansible_args_reach_the_job(kubectl: Kubectl, namespace: str, operators: OperatorFactory) -> None:
    operators.start(namespace, "--ansible-args='--extra-vars from_args=yes'")
    kubectl.apply(cr("Echo", "argued", namespace))
    successful(kubectl, "echo", "argued", namespace)
    assert echo_cm(kubectl, "argued", namespace)["data"]["from_args"] == "yes"


def test_job_dir_of_a_cr_deleted_while_the_operator_was_down_is_removed(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, tmp_path: Path
) -> None:
    first = operators.start(namespace)
    kubectl.apply(cr("Echo", "ghost", namespace), cr("Echo", "alive", namespace))
    successful(kubectl, "echo", "ghost", namespace)
    successful(kubectl, "echo", "alive", namespace)
    jobs = tmp_path / "runner" / "e2e.runner.example.com" / "v1" / "Echo" / namespace
    assert first.stop() == 0
    kubectl.delete("echo", "ghost", namespace)
    operators.start(namespace)
    wait_for(lambda: not (jobs / "ghost").exists(), "the orphaned job directory to be swept", timeout=60)
    assert (jobs / "alive").is_dir()
