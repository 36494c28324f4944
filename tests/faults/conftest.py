"""The fault-injection suite: each case injects one fault (a crash, an API outage, a hostile or
broken job) into a running operator and checks what a user would see afterwards.

Every case takes the ``fault`` fixture, says what it tried (``fault.tried``) and what it checked
(``fault.checked``); the run ends with ``faults: N survived / M tried`` and one line per case.

Cases that stop the API server get their own kube-lite (``outage_cluster``), started again on the
same data directory and port; against an external cluster ($KUBECONFIG) they are skipped, the
rest run there too.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from runner.cluster import devcluster
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


_FAULTS: list[Fault] = []


@pytest.fixture
def fault(request: pytest.FixtureRequest) -> Iterator[Fault]:
    f = Fault(request.node.nodeid.split("::", 1)[-1])
    _FAULTS.append(f)
    yield f
    rep = getattr(request.node, "rep_call", None)
    if rep is None:
        f.outcome = "error"
    elif rep.skipped:
        f.outcome = "skipped"
    else:
        f.outcome = "survived" if rep.passed else "FAILED"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _FAULTS:
        return
    tr = terminalreporter
    tried = [f for f in _FAULTS if f.outcome != "skipped"]
    survived = [f for f in tried if f.outcome == "survived"]
    tr.section("fault injection")
    for f in _FAULTS:
        tr.write_line(f"[{f.outcome}] {f.case}")
        for w in f.what:
            tr.write_line(f"    tried:   {w}")
        for c in f.checks:
            tr.write_line(f"    checked: {c}")
    tr.write_line(f"faults: {len(survived)} survived / {len(tried)} tried")


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
        self._port = self.api_port()
        devcluster.stop(self.state_dir, remove=False)

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
    k.apply(*(e2e_crd(kind) for kind in kinds))
    k.run("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    try:
        yield OutageCluster(d, c.kubeconfig)
    finally:
        devcluster.stop(d)
