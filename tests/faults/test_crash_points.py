"""Crash points in the style of Sieve: the operator is SIGKILLed at each phase of a reconcile and
started again; every CR converges, none is left ``Running=True`` (reason ``Running``), and no two
runs of one CR ever overlap (the role records each run's start and end in a file)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.e2e.conftest import OperatorFactory, OperatorProcess
from tests.e2e.kube import Kubectl, condition, wait_for
from tests.faults.conftest import FAULTS_OPERATOR, Fault, Outage, fault_cr, fault_crds
from tests.faults.test_api_outage import in_progress


def start(operators: OperatorFactory, namespace: str) -> OperatorProcess:
    return operators.start(namespace, watches=FAULTS_OPERATOR / "watches.yaml", cwd=FAULTS_OPERATOR)


def runs(record: Path, name: str) -> list[tuple[str, str, str]]:
    """(event, kind of run, run id) for ``name``, in the order they happened (events: start,
    napped, end)."""
    if not record.exists():
        return []
    out = []
    for line in record.read_text().splitlines():
        event, cr, kind, run_id = line.split()
        if cr == name:
            out.append((event, kind, run_id))
    return out


def assert_no_overlap(record: Path, name: str) -> list[str]:
    """Nothing of a run (its nap's end, its end) happens after another run of the same CR started;
    returns the ids of the runs that ended."""
    events = runs(record, name)
    ended = []
    for i, (event, _kind, run_id) in enumerate(events):
        if event == "start":
            continue
        started = next(j for j, e in enumerate(events) if e[0] == "start" and e[2] == run_id)
        others = [e for e in events[started + 1 : i] if e[0] == "start"]
        assert not others, f"run {run_id} of {name} was still running when {others} started: {events}"
        if event == "end":
            ended.append(run_id)
    return ended


def converged(k: Kubectl, resource: str, name: str, ns: str) -> dict[str, Any] | None:
    obj = k.get(resource, name, ns)
    if not obj or in_progress(obj) is not False:
        return None
    done = condition(obj, "Successful")
    if not done or done["status"] != "True":
        return None
    if (obj.get("status") or {}).get("observedGeneration") != obj["metadata"]["generation"]:
        return None
    return obj


def crash(op: OperatorProcess, fault: Fault, phase: str) -> None:
    op.stop(signal.SIGKILL)
    fault.tried(f"SIGKILLed the operator {phase}")


def test_crash_before_the_running_write(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, tmp_path: Path, fault: Fault
) -> None:
    kubectl.apply(*fault_crds())
    record = tmp_path / "runs"
    op = start(operators, namespace)
    kubectl.apply(fault_cr("Nap", "early", namespace, {"seconds": 2, "record": str(record)}))
    wait_for(lambda: "[Nap " + namespace + "/early] reconcile started" in op.logs(), "the reconcile to start")
    crash(op, fault, "as the reconcile started (before or while its Running condition is written)")
    start(operators, namespace)
    wait_for(lambda: converged(kubectl, "nap", "early", namespace), "the CR to converge after a restart")
    assert assert_no_overlap(record, "early")
    fault.checked("the CR is Successful for its generation and not Running; its runs never overlapped")


def test_crash_during_the_job(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, tmp_path: Path, fault: Fault
) -> None:
    kubectl.apply(*fault_crds())
    record = tmp_path / "runs"
    op = start(operators, namespace)
    kubectl.apply(fault_cr("Nap", "mid", namespace, {"seconds": 6, "record": str(record)}))
    wait_for(lambda: runs(record, "mid"), "the job to start")
    crash(op, fault, "while the CR's job ran")
    start(operators, namespace)
    wait_for(
        lambda: converged(kubectl, "nap", "mid", namespace), "the CR to converge after a restart", timeout=120
    )
    ended = assert_no_overlap(record, "mid")
    first = runs(record, "mid")[0][2]
    assert first not in ended, "the job of the killed operator went on and finished"
    fault.checked("the killed operator's job never finished; the rerun did; no overlap; not Running")


def test_crash_during_a_finalizer_run(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, tmp_path: Path, fault: Fault
) -> None:
    kubectl.apply(*fault_crds())
    record = tmp_path / "runs"
    op = start(operators, namespace)
    kubectl.apply(fault_cr("NapFinal", "fin", namespace, {"seconds": 4, "record": str(record)}))
    wait_for(lambda: converged(kubectl, "napfinal", "fin", namespace), "the CR to be Successful")
    kubectl.delete("napfinal", "fin", namespace)
    wait_for(
        lambda: any(e[:2] == ("start", "finalizer") for e in runs(record, "fin")), "the finalizer to run"
    )
    crash(op, fault, "while the CR's finalizer ran")
    assert kubectl.get("napfinal", "fin", namespace) is not None
    start(operators, namespace)
    wait_for(lambda: kubectl.get("napfinal", "fin", namespace) is None, "the CR to be gone", timeout=120)
    ended = assert_no_overlap(record, "fin")
    finalizers = [e for e in runs(record, "fin") if e[:2] == ("start", "finalizer")]
    assert finalizers[-1][2] in ended, "the finalizer did not run to its end before the CR went"
    fault.checked("the finalizer ran again after the restart, to its end, and only then did the CR go")


def test_crash_during_a_dependent_triggered_run(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, tmp_path: Path, fault: Fault
) -> None:
    kubectl.apply(*fault_crds())
    record = tmp_path / "runs"
    op = start(operators, namespace)
    kubectl.apply(fault_cr("NapMaker", "maker", namespace, {"seconds": 6, "record": str(record)}))
    wait_for(lambda: converged(kubectl, "napmaker", "maker", namespace), "the CR to be Successful")
    kubectl.patch("configmap", "maker-made", namespace, {"data": {"by": "someone else"}})
    wait_for(
        lambda: len([e for e in runs(record, "maker") if e[0] == "start"]) >= 2, "a dependent-triggered run"
    )
    crash(op, fault, "during a run started by a change to the CR's ConfigMap")
    start(operators, namespace)
    wait_for(
        lambda: (cm := kubectl.get("configmap", "maker-made", namespace)) and cm["data"]["by"] == "maker",
        "the ConfigMap to be put right",
        timeout=120,
    )
    wait_for(lambda: converged(kubectl, "napmaker", "maker", namespace), "the CR to converge")
    assert_no_overlap(record, "maker")
    fault.checked("the change to the dependent was undone after the restart; no overlap; not Running")


def test_crash_between_the_job_and_its_status_write(outage: Outage, tmp_path: Path, fault: Fault) -> None:
    k, ns = outage.kubectl, outage.namespace
    record = tmp_path / "runs"
    op = start(outage.operators, ns)
    k.apply(fault_cr("Nap", "late", ns, {"seconds": 2, "record": str(record)}))
    wait_for(lambda: runs(record, "late"), "the job to start")
    outage.cluster.stop_api()
    try:
        wait_for(
            lambda: any(
                "could not write status" in line and "/late]" in line for line in op.logs().splitlines()
            ),
            "the job to end and its status write to fail",
            timeout=60,
        )
        crash(op, fault, "after the job ended, while its status write waited for the API server")
    finally:
        outage.cluster.start_api()
    start(outage.operators, ns)
    wait_for(lambda: converged(k, "nap", "late", ns), "the CR to converge", timeout=120)
    assert len(assert_no_overlap(record, "late")) >= 2  # the run whose status was lost ran again
    fault.checked("the run whose status was lost ran again and its status landed; no overlap")
