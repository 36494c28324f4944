"""Starting without a cluster: one clear line, retries with one line each, a bounded wait, a
non-zero exit; and an API server (or a CRD) that comes late is waited for (issue 12, item 4)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from tests.e2e.conftest import E2E_OPERATOR
from tests.e2e.kube import Kubectl, is_true, wait_for
from tests.faults.conftest import FAULTS_OPERATOR, Fault, Outage, fault_cr


def run_operator(
    tmp: Path, *flags: str, env: dict[str, str], cwd: Path = E2E_OPERATOR
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "run",
            "--log-format=text",
            "--metrics-bind-address=0",
            "--health-probe-bind-address=127.0.0.1:0",
            f"--runner-dir={tmp / 'runner'}",
            *flags,
        ],
        cwd=cwd,
        env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
        capture_output=True,
        text=True,
        timeout=120,
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_missing_credentials_are_one_line(tmp_path: Path, fault: Fault) -> None:
    missing = tmp_path / "nope.kubeconfig"
    env = {"HOME": str(tmp_path), "KUBECONFIG": str(missing), "KUBERNETES_SERVICE_HOST": ""}
    proc = run_operator(tmp_path, env=env)
    fault.tried("started the operator with KUBECONFIG naming a file that does not exist")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"ansible-operator: kubeconfig {missing} does not exist: "
        "set --kubeconfig or KUBECONFIG to a kubeconfig file"
    )
    assert "Traceback" not in proc.stderr
    fault.checked("exit 1 and one line naming the file and what to set, no traceback")

    proc = run_operator(tmp_path, env={**env, "KUBECONFIG": ""})
    fault.tried("started the operator with no KUBECONFIG, no ~/.kube/config, outside a pod")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "no cluster credentials" in proc.stderr and "set KUBECONFIG or --kubeconfig" in proc.stderr
    fault.checked("exit 1 and one line saying there are no credentials and what to set")


def test_an_api_server_that_never_answers_is_retried_then_given_up(tmp_path: Path, fault: Fault) -> None:
    server = f"https://127.0.0.1:{closed_port()}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    proc = run_operator(tmp_path, "--cluster-wait-timeout=4s", env={"KUBECONFIG": str(kubeconfig)})
    fault.tried(
        f"started the operator against {server}, where nothing listens, with --cluster-wait-timeout=4s"
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "never retrieved" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    retries = [line for line in lines if "trying again in" in line]
    assert retries and all(f"cannot reach the API server at {server}" in line for line in retries)
    assert all(f"credentials: kubeconfig {kubeconfig}" in line for line in retries)
    assert lines[-1].startswith(f"ansible-operator: cannot reach the API server at {server}")
    assert "gave up after" in lines[-1] and "--cluster-wait-timeout" in lines[-1]
    assert len(lines) <= len(retries) + 3  # probes line, one line per attempt, the last word
    fault.checked("one line per attempt naming the URL and the credentials, then exit 1 with one line")


def test_a_watched_kind_without_its_crd_is_named(kubectl: Kubectl, tmp_path: Path, fault: Fault) -> None:
    watches = tmp_path / "watches.yaml"
    watches.write_text(
        yaml.safe_dump(
            [
                {
                    "group": "absent.runner.example.com",
                    "version": "v1",
                    "kind": "Ghost",
                    "role": str(E2E_OPERATOR / "roles" / "echo"),
                }
            ]
        )
    )
    proc = run_operator(
        tmp_path,
        f"--watches-file={watches}",
        "--cluster-wait-timeout=3s",
        env={"KUBECONFIG": kubectl.kubeconfig},
    )
    fault.tried("started the operator for a kind whose CRD is not installed")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "does not serve the watched kind(s) Ghost.v1.absent.runner.example.com" in last
    assert "is the CRD installed?" in last
    fault.checked("exit 1 with one line naming the kind and asking whether its CRD is installed")


def test_an_api_server_that_comes_late_is_waited_for(outage: Outage, fault: Fault) -> None:
    outage.cluster.stop_api()
    try:
        op = outage.operators.start(
            outage.namespace, watches=FAULTS_OPERATOR / "watches.yaml", cwd=FAULTS_OPERATOR
        )
        fault.tried("started the operator while its API server was down")
        wait_for(lambda: "trying again in" in op.logs(), "the operator to say it is waiting")
    finally:
        outage.cluster.start_api()
    fault.tried("started the API server")
    outage.kubectl.apply(fault_cr("Nap", "late", outage.namespace))
    wait_for(
        lambda: is_true(outage.kubectl.get("nap", "late", outage.namespace), "Successful"),
        "a CR created after the API server came up to be Successful",
    )
    assert op.proc.poll() is None and "Traceback" not in op.logs()
    fault.checked("the operator waited, then served a new CR; no traceback in its log")
