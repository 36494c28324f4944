"""Faults inside a job: a role that hangs, daemonizes, kills its own ansible-playbook; an operator
stopped or SIGKILLed under a running job. What a user must see: the CR gets a result, and no
process of the job outlives it (found by the namespace, unique per test, in a process's command
line or in the FAULT_JOB variable the ``faulty`` role gives every task)."""

from __future__ import annotations

import os
import signal
import stat
from datetime import datetime
from pathlib import Path

import pytest

from runner.control.operator import process_started_at
from tests.e2e.conftest import OperatorFactory, cr
from tests.e2e.kube import Kubectl, condition, is_true, wait_for
from tests.e2e.test_reconcile import successful
from tests.faults.conftest import Fault

EXECUTORS = [pytest.param("--executor=plain", id="plain"), pytest.param("--executor=fast", id="fast")]
HANG = {"fault": "hang"}


def job_processes(ns: str, started_before: float | None = None) -> list[str]:
    """Live processes of the jobs of namespace ``ns``: "pid command line" each; with
    ``started_before``, only those started before that time (epoch seconds)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/environ", "rb") as fh:
                environ = fh.read().split(b"\0")
        except (OSError, IndexError):
            continue
        if ns in cmdline or f"FAULT_JOB={ns}".encode() in environ:
            # a process gone meanwhile reads as started now: not a leftover
            if started_before is not None and process_started_at(entry) >= started_before:
                continue
            found.append(f"{entry} {cmdline}")
    return found


def none_left(ns: str, timeout: float = 20) -> None:
    """Wait (bounded) until no process of the namespace's jobs is left."""
    wait_for(lambda: not job_processes(ns) or None, f"no process left of the jobs in {ns}", timeout=timeout)
    # wait_for reports the last value on failure; say which processes were left
    assert job_processes(ns) == []


def running_task(ns: str, count: int = 1) -> list[str]:
    """Wait for ``count`` processes running `sleep` in the jobs of namespace ``ns``."""

    def sleeping() -> list[str] | None:
        found = [p for p in job_processes(ns) if "sleep" in p]
        return found if len(found) >= count else None

    return wait_for(sleeping, "the hanging task to run", timeout=120)


def failure_message(kubectl: Kubectl, name: str, ns: str) -> str:
    def check():
        obj = kubectl.get("faultecho", name, ns)
        return obj if obj and is_true(obj, "Failure") else None

    return condition(wait_for(check, f"faultecho {ns}/{name} Failure=True"), "Failure")["message"]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_job_timeout_kills_the_whole_job(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, fault: Fault, executor: str
) -> None:
    fault.tried(f"a task running `sleep 600`, stopped by --job-timeout=8s ({executor})")
    operators.start(namespace, executor, "--job-timeout=8s")  # the "fine" CR must finish within it under load
    kubectl.apply(cr("FaultEcho", "hang", namespace, HANG))
    assert "timed out after 8s" in failure_message(kubectl, "hang", namespace)
    fault.checked("the CR shows Failure: the job timed out")
    # The CR is retried (a back-off of at least 1 s), so a new job of it may be running already:
    # the processes of the stopped job are those started before the failure (its time is in whole
    # seconds, and the retry starts a second after the failure at the earliest).
    failed = condition(kubectl.get("faultecho", "hang", namespace), "Failure")["lastTransitionTime"]
    failed_at = datetime.fromisoformat(failed.replace("Z", "+00:00")).timestamp() + 1
    assert job_processes(namespace, started_before=failed_at) == []
    fault.checked("no process of the job is left once the CR shows the failure")
    kubectl.apply(cr("FaultEcho", "fine", namespace))
    successful(kubectl, "faultecho", "fine", namespace)
    fault.checked("another CR is served")


@pytest.mark.parametrize("executor", EXECUTORS)
def test_sigterm_during_a_job_leaves_nothing(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, fault: Fault, executor: str
) -> None:
    fault.tried(f"SIGTERM with --graceful-shutdown-timeout=1s while a task runs `sleep 600` ({executor})")
    op = operators.start(namespace, executor, "--graceful-shutdown-timeout=1s")
    kubectl.apply(cr("FaultEcho", "hang", namespace, HANG))
    running_task(namespace)
    op.stop(signal.SIGTERM)
    none_left(namespace)
    fault.checked("no process of the job is left after the operator stopped")
    running = condition(kubectl.get("faultecho", "hang", namespace), "Running")
    assert (running["status"], running["reason"]) == ("False", "Interrupted"), running
    fault.checked("the CR says the job was interrupted by the shutdown")


@pytest.mark.parametrize("executor", EXECUTORS)
def test_sigkill_of_the_operator_leaves_nothing(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, fault: Fault, executor: str
) -> None:
    fault.tried(
        f"SIGKILL of the operator while a task runs `sleep 600` after one started a daemon,"
        f" then a restart ({executor})"
    )
    op = operators.start(namespace, executor)
    kubectl.apply(cr("FaultEcho", "hang", namespace, {"fault": "daemon-hang"}))
    running_task(namespace, count=2)
    op.stop(signal.SIGKILL)
    none_left(namespace)
    fault.checked("no process of the dead operator's job is left")
    obj = kubectl.get("faultecho", "hang", namespace)
    kubectl.patch("faultecho", "hang", namespace, {"spec": {"fault": "none"}})
    operators.start(namespace, executor)
    successful(kubectl, "faultecho", "hang", namespace, generation=obj["metadata"]["generation"] + 1)
    fault.checked("after a restart the CR converges")


@pytest.mark.parametrize("executor", EXECUTORS)
def test_daemon_started_by_a_task_ends_with_the_job(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, fault: Fault, executor: str
) -> None:
    fault.tried(f"a task starting `nohup setsid sleep 600 &` ({executor})")
    operators.start(namespace, executor)
    kubectl.apply(cr("FaultEcho", "daemon", namespace, {"fault": "daemon"}))
    successful(kubectl, "faultecho", "daemon", namespace)
    fault.checked("the CR shows Successful")
    assert job_processes(namespace) == []
    fault.checked("the daemon is gone once the CR shows the result")


@pytest.mark.parametrize("executor", EXECUTORS)
def test_task_killing_ansible_playbook_is_a_failure(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, fault: Fault, executor: str
) -> None:
    fault.tried(f"a task that SIGKILLs ansible-playbook, then runs `sleep 600` ({executor})")
    operators.start(namespace, executor)
    kubectl.apply(cr("FaultEcho", "killer", namespace, {"fault": "kill-parent"}))
    message = failure_message(kubectl, "killer", namespace)
    assert message.startswith("ansible-playbook was killed before it finished"), message
    fault.checked(f"the CR shows Failure: {message!r}")
    assert job_processes(namespace) == []
    fault.checked("no process of the job is left")
    kubectl.apply(cr("FaultEcho", "next", namespace))
    successful(kubectl, "faultecho", "next", namespace)
    fault.checked("another CR is served afterwards")


@pytest.mark.parametrize("executor", EXECUTORS)
def test_job_files_are_private(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, fault: Fault, executor: str, tmp_path: Path
) -> None:
    fault.tried(f"a job run, then every file under --runner-dir looked at ({executor})")
    operators.start(namespace, executor)
    kubectl.apply(cr("FaultEcho", "files", namespace))
    successful(kubectl, "faultecho", "files", namespace)
    runner_dir = tmp_path / "runner"
    readable = []
    for root, dirs, files in os.walk(runner_dir):
        for name in dirs + files:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if not stat.S_ISLNK(mode) and mode & 0o077:
                readable.append(f"{oct(stat.S_IMODE(mode))} {os.path.relpath(path, runner_dir)}")
    assert any(Path(root).name == "artifacts" for root, _d, _f in os.walk(runner_dir))
    assert readable == []
    fault.checked("no file or directory of the job is readable by group or others")


def peak_memory_mib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    raise AssertionError(f"no VmHWM for {pid}")


# On the fast executor only: the plain path reads a job's output with ansible-runner's own loop,
# unchanged; the fast path with the runner's own pump (fastexec/jobrunner), which is what this case
# guards. 25 MB by default (RUNNER_FAULT_PRINT_MB to change it): Ansible's own cost of a task's
# output grows faster than its size (a bare `ansible-playbook` of this task: 25 MB 10.6 s, 100 MB
# 137 s, nearly all of it system time inside ansible-core), so 100 MB would cost CI over two
# minutes of Ansible and show nothing more about the runner, whose memory stays flat either way.
PRINT_MB = int(os.environ.get("RUNNER_FAULT_PRINT_MB", "25"))


@pytest.mark.parametrize("executor", [pytest.param("--executor=fast", id="fast")])
def test_job_printing_megabytes(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, fault: Fault, executor: str
) -> None:
    fault.tried(f"a task printing {PRINT_MB} MB ({executor})")
    op = operators.start(namespace, executor)
    spec = {"fault": "print", "printBytes": PRINT_MB * 1_000_000}
    kubectl.apply(cr("FaultEcho", "chatty", namespace, spec))

    def result():
        obj = kubectl.get("faultecho", "chatty", namespace)
        return obj if obj and (is_true(obj, "Successful") or is_true(obj, "Failure")) else None

    obj = wait_for(result, "a result for the chatty CR", timeout=300)
    outcome = "Successful" if is_true(obj, "Successful") else "Failure"
    fault.checked(f"the CR gets a result: {outcome} {condition(obj, outcome).get('message', '')[:200]!r}")
    kubectl.apply(cr("FaultEcho", "next", namespace))
    successful(kubectl, "faultecho", "next", namespace)
    assert op.proc.poll() is None
    fault.checked("the operator survives and serves another CR")
    peak = peak_memory_mib(op.proc.pid)
    assert peak < 1024, f"the operator's memory peaked at {peak} MiB"
    fault.checked(f"the operator's memory peaked at {peak} MiB (under 1 GiB)")
