"""The fault-injection suite: each case injects one fault (a crash, an API outage, a hostile or
broken job) into a running operator and checks what a user would see afterwards.

Every case takes the ``fault`` fixture, says what it tried (``fault.tried``) and what it checked
(``fault.checked``); the run ends with ``faults: N survived / M tried`` and one line per case.

Cases that stop the API server get their own kube-lite (``outage_cluster``), started again on the
same data directory and port; against an external cluster ($KUBECONFIG) they are skipped, the
rest run there too.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.cluster import devcluster
from tests.conftest import FAULT_PROPERTY
from tests.e2e.conftest import (  # noqa: F401 - fixtures shared with the e2e suite
    E2E_OPERATOR,
    REPO,
    OperatorFactory,
    cluster,
    e2e_crd,
    kubectl,
    namespace,
    operators,
    pytest_runtest_makereport,
)
from tests.e2e.kube import Kubectl


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@dataclass
class Fault:
    case: str
    what: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    outcome: str = "not run"

    def tried(self, what: str) -> None:
        self.what.append(what)

    def checked(self, what: str) -> None:
        self.checks.append(what)


@pytest.fixture
def fault(request: pytest.FixtureRequest) -> Iterator[Fault]:
    f = Fault(request.node.nodeid.split("::", 1)[-1])
    yield f
    rep = getattr(request.node, "rep_call", None)
    if rep is None:
        f.outcome = "error"
    elif rep.skipped:
        f.outcome = "skipped"
    else:
        f.outcome = "survived" if rep.passed else "FAILED"
    # Carried on the teardown report, so the summary (tests/conftest.py) sees it also when the
    # case ran in a pytest-xdist worker.
    request.node.user_properties.append((FAULT_PROPERTY, asdict(f)))


FAULTS_OPERATOR = Path(__file__).resolve().parent / "operator"
FAULTS_GROUP = "faults.runner.example.com"


def fault_crds() -> list[dict[str, Any]]:
    kinds = [w["kind"] for w in yaml.safe_load((FAULTS_OPERATOR / "watches.yaml").read_text())]
    return [devcluster.open_crd(FAULTS_GROUP, "v1", k, k.lower() + "s") for k in kinds]


def fault_cr(kind: str, name: str, ns: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{FAULTS_GROUP}/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": ns},
        "spec": spec or {},
    }


@dataclass
class OutageCluster:
    """A kube-lite of its own that can be stopped and started again with the same data and port."""

    state_dir: str
    kubeconfig: str

    def api_port(self) -> str:
        server = yaml.safe_load(Path(self.kubeconfig).read_text())["clusters"][0]["cluster"]["server"]
        m = re.search(r":(\d+)$", server)
        assert m, server
        return m.group(1)

    def stop_api(self) -> None:
        """Kill the API server and etcd at once (SIGKILL: no graceful shutdown, like a crash)."""
        self._port = self.api_port()
        subprocess.run(
            ["bash", str(devcluster.kube_lite_dir() / "stop.sh"), self.state_dir],
            check=True,
            env={**os.environ, "KUBE_LITE_STOP_TIMEOUT": "0"},
        )

    def start_api(self) -> None:
        env = {**os.environ, "KUBE_LITE_KEEP_DATA": "1", "KUBE_LITE_API_PORT": self._port}
        subprocess.run(
            ["bash", str(devcluster.kube_lite_dir() / "start.sh"), self.state_dir],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )


@pytest.fixture(scope="module")
def outage_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OutageCluster]:
    if devcluster.use_external():
        pytest.skip("stops the API server: runs on kube-lite only")
    d = str(tmp_path_factory.mktemp("outage-kube-lite"))
    c = devcluster.start(d)
    k = Kubectl(c.kubeconfig)
    kinds = [w["kind"] for w in yaml.safe_load((E2E_OPERATOR / "watches.yaml").read_text())]
    k.apply(*(e2e_crd(kind) for kind in kinds), *fault_crds())
    k.run("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    try:
        yield OutageCluster(d, c.kubeconfig)
    finally:
        devcluster.stop(d)


@dataclass
class Outage:
    """An operator test bed on ``outage_cluster``: kubectl, a fresh namespace, operators to start."""

    cluster: OutageCluster
    kubectl: Kubectl
    namespace: str
    operators: OperatorFactory


@pytest.fixture
def outage(outage_cluster: OutageCluster, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Outage]:
    k = Kubectl(outage_cluster.kubeconfig)
    ns = f"faults-{uuid.uuid4().hex[:8]}"
    k.run("create", "namespace", ns)
    factory = OperatorFactory(outage_cluster.kubeconfig, tmp_path)
    yield Outage(outage_cluster, k, ns, factory)
    factory.stop_all()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for i, op in enumerate(factory.started):
            sys.stderr.write(f"\n----- operator {i} log -----\n{op.logs()[-20000:]}\n")
    with contextlib.suppress(Exception):
        k.run("delete", "namespace", ns, "--wait=false", check=False)
