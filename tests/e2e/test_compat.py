"""Flags of existing operator-sdk projects' manifests: leader election, secure metrics, zap logging."""

from __future__ import annotations

import re
import ssl
import urllib.error
import urllib.request

from tests.e2e.conftest import OperatorFactory, cr
from tests.e2e.kube import Kubectl, wait_for
from tests.e2e.test_reconcile import successful


def test_leader_election_hands_over(kubectl: Kubectl, namespace: str, operators: OperatorFactory) -> None:
    flags = ("--leader-elect", "--leader-election-id=e2e-lock", f"--leader-election-namespace={namespace}")
    first = operators.start(namespace, *flags)
    wait_for(lambda: "became the leader" in first.logs(), "the first replica to lead")
    second = operators.start(namespace, *flags)
    wait_for(lambda: "waiting to become the leader" in second.logs(), "the second replica to wait")
    kubectl.apply(cr("Echo", "led", namespace))
    successful(kubectl, "echo", "led", namespace)
    assert "became the leader" not in second.logs()
    assert "reconcile started" not in second.logs()
    lease = kubectl.get("lease", "e2e-lock", namespace)
    assert lease["spec"]["holderIdentity"]

    assert first.stop() == 0  # releases the lease on the way out
    wait_for(lambda: "became the leader" in second.logs(), "the second replica to take over", timeout=60)
    kubectl.apply(cr("Echo", "after-handover", namespace))
    successful(kubectl, "echo", "after-handover", namespace)


def test_scaffolded_manager_flags(kubectl: Kubectl, namespace: str, operators: OperatorFactory) -> None:
    op = operators.start(
        namespace,
        "--metrics-bind-address=127.0.0.1:0",
        "--metrics-secure",
        "--metrics-require-rbac",
        "--zap-encoder=console",
        "--zap-log-level=info",
        "--enable-http2=false",
        "--leader-elect-resource-lock=leases",
    )
    kubectl.apply(cr("Echo", "compat", namespace))
    successful(kubectl, "echo", "compat", namespace)
    assert not op.logs().lstrip().startswith("{")  # console (text) logs
    port = re.search(r"serving metrics on 127\.0\.0\.1:(\d+)", op.logs()).group(1)
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    # kube-lite without KUBE_LITE_RBAC serves no TokenReview: no token can be authenticated
    # (test_metrics_rbac.py has the allowed and the forbidden callers).
    for headers in ({}, {"Authorization": "Bearer not-a-valid-token"}):
        request = urllib.request.Request(f"https://127.0.0.1:{port}/metrics", headers=headers)
        try:
            urllib.request.urlopen(request, context=insecure, timeout=10)
            raise AssertionError("metrics served without authorization")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
