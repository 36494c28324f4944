"""The plain executor's job guard, run as the executor runs it (a real process tree, no mocks)."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid

import pytest

from runner.jobs.executor import guarded
from tests.e2e.kube import wait_for


def job_processes(marker: str) -> list[str]:
    """Live processes with ``marker`` in their command line (every process of the test jobs)."""
    found = []
    for pid in (int(e) for e in os.listdir("/proc") if e.isdigit()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and pid != os.getpid():
            found.append(f"{pid} {cmdline}")
    return found


def run_guarded(script: str, marker: str) -> subprocess.CompletedProcess[str]:
    # the marker is in the command lines of the job's shells and sleeps
    command = ["sh", "-c", script, marker]
    return subprocess.run(guarded(command), capture_output=True, text=True, timeout=60)


@pytest.fixture
def marker() -> str:
    return f"guard-{uuid.uuid4().hex[:8]}"


def test_exit_code_and_output_are_the_commands(marker: str) -> None:
    done = run_guarded("echo hello; exit 3", marker)
    assert (done.returncode, done.stdout) == (3, "hello\n")


def test_a_daemon_of_the_job_ends_with_it(marker: str) -> None:
    done = run_guarded('setsid sh -c "sleep 600; : $0" "$0" >/dev/null 2>&1 & echo started', marker)
    assert (done.returncode, done.stdout) == (0, "started\n")
    assert job_processes(marker) == []


def test_a_command_killed_by_a_signal_is_reported_so(marker: str) -> None:
    done = run_guarded('setsid sh -c "sleep 600; : $0" "$0" & kill -9 $$', marker)
    assert done.returncode == -signal.SIGKILL
    assert job_processes(marker) == []


def test_the_job_ends_when_the_guard_is_killed_by_its_process_group(marker: str) -> None:
    """ansible-runner's timeout: SIGKILL to the guard's process group (as pexpect's session leader)."""
    proc = subprocess.Popen(
        guarded(["sh", "-c", 'setsid sh -c "sleep 600; : $0" "$0" & sleep 600', marker]),
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    wait_for(lambda: len(job_processes(marker)) >= 3 or None, "the job's processes to start")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.read()  # EOF once the guard's keeper let go: after it killed the job
    assert job_processes(marker) == []
