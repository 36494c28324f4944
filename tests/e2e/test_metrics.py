"""/metrics of a running operator has the series the Go ansible-operator serves, as it writes them:
``resource_created_at_seconds`` for every watched CR (gone with the CR) and the runner's own
``ansible_operator_*`` series with the Go names, types and labels."""

from __future__ import annotations

import re
import urllib.request
from datetime import datetime

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import E2E_GROUP, OperatorFactory, OperatorProcess, cr
from tests.e2e.kube import Kubectl, wait_for
from tests.e2e.test_reconcile import successful


def scrape(op: OperatorProcess) -> str:
    port = wait_for(
        lambda: re.search(r"serving (?:probes\+)?metrics on 127\.0\.0\.1:(\d+)", op.logs()),
        "the metrics port",
    ).group(1)
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()


def created_at_line(namespace: str, name: str) -> str:
    """The start of the line operator-lib's handler serves for one CR (labels in Go's order)."""
    return (
        f'resource_created_at_seconds{{group="{E2E_GROUP}",kind="Echo",name="{name}",'
        f'namespace="{namespace}",version="v1"}} '
    )


def test_resource_created_at_seconds_follows_the_cr(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    op = operators.start(namespace, "--metrics-bind-address=127.0.0.1:0")
    kubectl.apply(cr("Echo", "gone", namespace), cr("Echo", "kept", namespace))
    obj = successful(kubectl, "echo", "gone", namespace)
    successful(kubectl, "echo", "kept", namespace)

    text = scrape(op)
    lines = text.splitlines()
    assert "# TYPE resource_created_at_seconds gauge" in lines
    gone_line = next((line for line in lines if line.startswith(created_at_line(namespace, "gone"))), None)
    assert gone_line is not None, text
    stamp = datetime.fromisoformat(obj["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    assert float(gone_line.rsplit(" ", 1)[1]) == stamp.timestamp()

    kubectl.run("delete", "echo", "gone", "-n", namespace, "--wait=true", "--timeout=60s")

    def without_gone() -> str | None:
        text = scrape(op)
        return text if created_at_line(namespace, "gone") not in text else None

    after = wait_for(without_gone, "resource_created_at_seconds of the deleted CR to go")
    assert created_at_line(namespace, "kept") in after


def test_runner_series_have_the_go_names_types_and_labels(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    op = operators.start(namespace, "--metrics-bind-address=127.0.0.1:0")
    kubectl.apply(cr("Echo", "r", namespace))
    successful(kubectl, "echo", "r", namespace)

    text = scrape(op)
    lines = text.splitlines()
    gvk = f'GVK="{E2E_GROUP}/v1, Kind=Echo"'
    assert "# HELP ansible_operator_reconcile_result Gauge of reconciles and their results." in lines
    assert "# TYPE ansible_operator_reconcile_result gauge" in lines
    assert re.search(
        rf'^ansible_operator_reconcile_result\{{{gvk},result="succeeded"\}} [1-9]\d*$', text, re.M
    )
    assert "# HELP ansible_operator_reconciles How long in seconds a reconcile takes." in lines
    assert "# TYPE ansible_operator_reconciles histogram" in lines
    assert re.search(rf'^ansible_operator_reconciles_bucket\{{{gvk},le="0\.005"\}} \d+$', text, re.M)
    assert re.search(rf'^ansible_operator_reconciles_bucket\{{{gvk},le="\+Inf"\}} [1-9]\d*$', text, re.M)
    assert re.search(rf"^ansible_operator_reconciles_count\{{{gvk}\}} [1-9]\d*$", text, re.M)
    assert re.search(rf"^ansible_operator_reconciles_sum\{{{gvk}\}} \S+$", text, re.M)
    assert "# TYPE ansible_operator_build_info gauge" in lines
    assert re.search(r'^ansible_operator_build_info\{commit="[^"]*",version="[^"]+"\} 1$', text, re.M)
    # no prometheus_client-only series: no _total on a gauge, no _created anywhere
    assert not re.search(r"^ansible_operator_\w+_(total|created)", text, re.M)
    assert not re.search(r"^\w+_created[{ ]", text, re.M)
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert types["ansible_operator_reconcile_result"] == "gauge"
    assert types["ansible_operator_reconciles"] == "histogram"
