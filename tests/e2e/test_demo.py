"""The README's first command: the demo reaches Successful=True, runs until Ctrl-C, leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.e2e.conftest import REPO


def demo_processes() -> list[str]:
    """Command lines of processes started by a demo (its kube-lite and its operator)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "ansible-operator-demo-" in cmd:
            found.append(cmd)
    return found


def test_demo_runs_until_ctrl_c_and_cleans_up() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    proc = subprocess.Popen(
        ["bash", str(REPO / "scripts" / "demo.sh")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if "press Ctrl-C" in line:
                break
        text = "".join(output)
        assert "all sample CRs are Successful=True" in text, text[-3000:]
        assert "Successful=True" in text and "deployment.apps/webapp-sample" in text
        assert demo_processes(), "the demo's cluster and operator should be running now"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # Everything is stopped before the demo exits; a process still exiting (its last threads, once
    # seen on a machine loaded far beyond its cores) is given a few seconds, not left running.
    deadline = time.monotonic() + 15
    while demo_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert demo_processes() == []
