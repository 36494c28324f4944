"""End-to-end fixtures: one real API server for the session (kube-lite, or $KUBECONFIG when
RUNNER_USE_KUBECONFIG=1), a namespace per test, and the operator run as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.cluster import devcluster
from tests.e2e.kube import Kubectl, wait_for

REPO = Path(__file__).resolve().parents[2]
E2E_OPERATOR = Path(__file__).resolve().parent / "operator"
E2E_GROUP = "e2e.runner.example.com"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def e2e_crd(kind: str) -> dict[str, Any]:
    return devcluster.open_crd(E2E_GROUP, "v1", kind, kind.lower() + "es")


@pytest.fixture(scope="session")
def cluster() -> Iterator[devcluster.Cluster]:
    with devcluster.cluster() as c:
        yield c


@pytest.fixture(scope="session")
def rbac_cluster() -> Iterator[devcluster.Cluster]:
    """A second API server, one that enforces RBAC (kube-lite with KUBE_LITE_RBAC=1), for the tests
    that run the operator as its ServiceAccount; with RUNNER_USE_KUBECONFIG=1 the same real cluster."""
    with devcluster.cluster(rbac=True) as c:
        yield c


@pytest.fixture(scope="session")
def rbac_admin(rbac_cluster: devcluster.Cluster) -> Kubectl:
    return Kubectl(rbac_cluster.kubeconfig)


@pytest.fixture(scope="session")
def kubectl(cluster: devcluster.Cluster) -> Kubectl:
    k = Kubectl(cluster.kubeconfig)
    kinds = [w["kind"] for w in yaml.safe_load((E2E_OPERATOR / "watches.yaml").read_text())]
    k.apply(*(e2e_crd(kind) for kind in kinds))
    k.run("apply", "-f", str(REPO / "config" / "crd" / "bases"))
    k.run("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    return k


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    ns = f"e2e-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", ns)
    yield ns
    kubectl.run("delete", "namespace", ns, "--wait=false", check=False)


@dataclass
class OperatorProcess:
    proc: subprocess.Popen[str]
    log_path: Path
    args: list[str] = field(default_factory=list)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class OperatorFactory:
    def __init__(self, kubeconfig: str, tmp: Path) -> None:
        self.kubeconfig = kubeconfig
        self.tmp = tmp
        self.started: list[OperatorProcess] = []

    def start(
        self,
        namespace: str,
        *extra: str,
        watches: Path | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        entrypoint: str | None = None,
    ) -> OperatorProcess:
        """Start the operator; ``entrypoint`` is a shell script run instead, as an image's
        entrypoint would be, with the operator's command line as ``"$@"``."""
        cwd = cwd or E2E_OPERATOR
        n = len(self.started)
        log_path = self.tmp / f"operator-{n}.log"
        args = [
            sys.executable,
            "-m",
            "runner",
            "run",
            f"--watches-file={watches or cwd / 'watches.yaml'}",
            "--log-format=text",
            "--health-probe-bind-address=127.0.0.1:0",
            "--metrics-bind-address=0",
            f"--runner-dir={self.tmp / 'runner'}",
            "--ansible-verbosity=0",
            f"--executor={os.environ.get('RUNNER_E2E_EXECUTOR', 'fast')}",
            *extra,
        ]
        if entrypoint is not None:
            args = ["/bin/sh", "-c", entrypoint, "entrypoint", *args]
        full_env = {
            **os.environ,
            "KUBECONFIG": self.kubeconfig,
            "WATCH_NAMESPACE": namespace,
            "ANSIBLE_LOCAL_TEMP": str(self.tmp / "ansible-tmp"),
            **(env or {}),
        }
        log = open(log_path, "w")  # noqa: SIM115 - handed to the child process
        proc = subprocess.Popen(args, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT, text=True)
        op = OperatorProcess(proc, log_path, args)
        self.started.append(op)
        return op

    def stop_all(self) -> None:
        for op in self.started:
            op.stop()


@pytest.fixture
def operators(
    cluster: devcluster.Cluster, kubectl: Kubectl, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[OperatorFactory]:
    factory = OperatorFactory(cluster.kubeconfig, tmp_path)
    yield factory
    factory.stop_all()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for i, op in enumerate(factory.started):
            sys.stderr.write(f"\n----- operator {i} log -----\n{op.logs()[-20000:]}\n")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def cr(
    kind: str, name: str, namespace: str, spec: dict[str, Any] | None = None, **meta: Any
) -> dict[str, Any]:
    """A custom resource of the e2e test group."""
    return {
        "apiVersion": f"{E2E_GROUP}/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, **meta},
        "spec": spec or {},
    }


__all__ = ["OperatorFactory", "cr", "wait_for"]
