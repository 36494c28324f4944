"""API server faults on the operator's own traffic, injected by a fault proxy in front of the API
server: conflicts, 429 with Retry-After and 5xx on status writes, and watch streams cut
mid-stream. Every CR still converges; nothing is reported done before its status landed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import OperatorFactory, OperatorProcess
from tests.e2e.kube import Kubectl, wait_for
from tests.faults.conftest import FAULTS_OPERATOR, Fault, fault_cr, fault_crds
from tests.faults.faultproxy import FaultProxy
from tests.faults.test_crash_points import converged


@pytest.fixture  # first in each test's arguments, so that it stops after the operators
def faulty_api(kubectl: Kubectl, tmp_path: Path) -> Iterator[tuple[FaultProxy, str]]:
    kubectl.apply(*fault_crds())
    proxy = FaultProxy(kubectl.kubeconfig)
    kubeconfig = proxy.start(tmp_path)
    yield proxy, kubeconfig
    proxy.stop()


def start(operators: OperatorFactory, namespace: str, kubeconfig: str) -> OperatorProcess:
    return operators.start(
        namespace,
        watches=FAULTS_OPERATOR / "watches.yaml",
        cwd=FAULTS_OPERATOR,
        env={"KUBECONFIG": kubeconfig},
    )


@pytest.mark.parametrize(
    ("status", "retry_after", "times"),
    [
        pytest.param(409, None, 12, id="409-conflicts"),
        pytest.param(429, "1", 2, id="429-retry-after"),
        pytest.param(503, None, 3, id="503"),
        pytest.param(500, None, 3, id="500"),
    ],
)
def test_status_writes_answered_with_errors_are_retried_until_they_land(
    faulty_api: tuple[FaultProxy, str],
    kubectl: Kubectl,
    namespace: str,
    operators: OperatorFactory,
    fault: Fault,
    status: int,
    retry_after: str | None,
    times: int,
) -> None:
    proxy, kubeconfig = faulty_api
    name = f"status-{status}"
    rule = proxy.inject("PATCH", rf"/naps/{name}/status$", status, times=times, retry_after=retry_after)
    start(operators, namespace, kubeconfig)
    kubectl.apply(fault_cr("Nap", name, namespace))
    wait_for(lambda: rule.hits == times, f"{times} status writes to be answered {status}")
    fault.tried(
        f"answered the first {times} status writes of a CR with {status}"
        + (f", Retry-After {retry_after}" if retry_after else "")
    )
    wait_for(lambda: converged(kubectl, "nap", name, namespace), "the CR to converge", timeout=120)
    fault.checked("the CR is Successful for its generation and not Running once the writes got through")


def test_watch_streams_cut_mid_stream_are_resumed(
    faulty_api: tuple[FaultProxy, str],
    kubectl: Kubectl,
    namespace: str,
    operators: OperatorFactory,
    fault: Fault,
) -> None:
    proxy, kubeconfig = faulty_api
    start(operators, namespace, kubeconfig)
    kubectl.apply(fault_cr("Nap", "cut", namespace, {"label": "first"}))
    wait_for(lambda: converged(kubectl, "nap", "cut", namespace), "the CR to converge")
    for round_ in range(2):
        wait_for(lambda: proxy.cut_watches() > 0 or None, "an open watch stream to cut")
        fault.tried(f"cut every open watch stream of the operator (round {round_ + 1})")
        kubectl.patch("nap", "cut", namespace, {"spec": {"label": f"changed-{round_}"}})
        generation = round_ + 2
        wait_for(
            lambda g=generation: (
                (o := converged(kubectl, "nap", "cut", namespace)) and o["status"]["observedGeneration"] == g
            ),
            f"the change after the cut (generation {generation}) to be applied",
            timeout=120,
        )
    kubectl.apply(fault_cr("Nap", "after-cut", namespace))
    wait_for(
        lambda: converged(kubectl, "nap", "after-cut", namespace), "a CR created after the cuts to converge"
    )
    fault.checked("spec changes made after each cut and a CR created after them were all served")
