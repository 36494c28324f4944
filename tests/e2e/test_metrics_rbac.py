"""--metrics-require-rbac end to end, against an API server that enforces RBAC (kube-lite with
KUBE_LITE_RBAC=1, or the real cluster of RUNNER_USE_KUBECONFIG=1): the operator runs as a
ServiceAccount with the shipped roles from config/rbac/, a ServiceAccount bound to the shipped
metrics-reader ClusterRole reads /metrics, any other caller is turned away."""

from __future__ import annotations

import re
import ssl
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.cluster import devcluster
from tests.e2e.conftest import E2E_GROUP, E2E_OPERATOR, REPO, OperatorFactory, OperatorProcess, cr, e2e_crd
from tests.e2e.kube import Kubectl, wait_for
from tests.e2e.test_reconcile import successful

RBAC = REPO / "config" / "rbac"


@dataclass
class Setup:
    kubectl: Kubectl  # the cluster admin
    namespace: str
    operator: OperatorProcess
    port: int
    tokens: dict[str, str]  # ServiceAccount name -> bearer token


def shipped(filename: str, prefix: str) -> dict[str, Any]:
    """The ClusterRole of config/rbac/<filename>, renamed with ``prefix`` as kustomize's namePrefix
    does (the test's objects must not collide with an installed operator's)."""
    (role,) = [
        d for d in yaml.safe_load_all((RBAC / filename).read_text()) if d and d["kind"] == "ClusterRole"
    ]
    role["metadata"]["name"] = f"{prefix}-{role['metadata']['name']}"
    return role


def binding(kind: str, name: str, role: dict[str, Any], namespace: str, sa: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if kind == "RoleBinding":
        meta["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role["kind"],
            "name": role["metadata"]["name"],
        },
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}],
    }


def e2e_kinds_role(namespace: str) -> dict[str, Any]:
    """What `ansible-operator create api` adds to role.yaml for each kind, for the e2e operator's kinds."""
    kinds = [w["kind"] for w in yaml.safe_load((E2E_OPERATOR / "watches.yaml").read_text())]
    plurals = [e2e_crd(k)["spec"]["names"]["plural"] for k in kinds]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "e2e-kinds", "namespace": namespace},
        "rules": [
            {
                "apiGroups": [E2E_GROUP],
                "resources": plurals,
                "verbs": ["get", "list", "watch", "patch", "update"],
            },
            {
                "apiGroups": [E2E_GROUP],
                "resources": [f"{p}/status" for p in plurals],
                "verbs": ["get", "patch", "update"],
            },
            {
                "apiGroups": [E2E_GROUP],
                "resources": [f"{p}/finalizers" for p in plurals],
                "verbs": ["update"],
            },
        ],
    }


def sa_kubeconfig(admin: Kubectl, token: str, namespace: str, path: Path) -> str:
    """The admin kubeconfig's server and CA with the ServiceAccount's token as the only credentials."""
    view = yaml.safe_load(admin.run("config", "view", "--raw", "--minify", "--flatten").stdout)
    (c,) = view["clusters"]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [c],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [
                    {"name": "sa", "context": {"cluster": c["name"], "user": "sa", "namespace": namespace}}
                ],
                "current-context": "sa",
            }
        )
    )
    return str(path)


def can_i(admin: Kubectl, namespace: str, sa: str, *what: str) -> bool:
    proc = admin.run("auth", "can-i", *what, f"--as=system:serviceaccount:{namespace}:{sa}", check=False)
    return proc.stdout.strip() == "yes"


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, rbac_cluster: devcluster.Cluster
) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("metrics-rbac")
    cluster = rbac_cluster
    admin = Kubectl(cluster.kubeconfig)
    kinds = [w["kind"] for w in yaml.safe_load((E2E_OPERATOR / "watches.yaml").read_text())]
    admin.apply(*(e2e_crd(kind) for kind in kinds))
    admin.run("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    ns = f"e2e-rbac-{uuid.uuid4().hex[:8]}"
    admin.run("create", "namespace", ns)
    for sa in ("operator", "reader", "stranger"):
        admin.run("create", "serviceaccount", sa, "-n", ns)

    crd_reader = shipped("crd_reader_role.yaml", ns)
    metrics_auth = shipped("metrics_auth_role.yaml", ns)
    metrics_reader = shipped("metrics_reader_role.yaml", ns)
    manager = shipped("role.yaml", ns)  # events, and the ConfigMaps the echo role writes
    kinds_role = e2e_kinds_role(ns)
    # No access to Namespaces: watching a named namespace, the operator does not list them.
    cluster_scoped = [
        crd_reader,
        metrics_auth,
        metrics_reader,
        manager,
        binding("ClusterRoleBinding", f"{ns}-crd-reader", crd_reader, ns, "operator"),
        binding("ClusterRoleBinding", f"{ns}-metrics-auth", metrics_auth, ns, "operator"),
        binding("ClusterRoleBinding", f"{ns}-metrics-reader", metrics_reader, ns, "reader"),
    ]
    admin.apply(
        *cluster_scoped,
        kinds_role,
        binding("RoleBinding", "manager", manager, ns, "operator"),
        binding("RoleBinding", "e2e-kinds", kinds_role, ns, "operator"),
    )
    # RBAC takes effect shortly after the write (informers), and the operator caches answers.
    wait_for(lambda: can_i(admin, ns, "reader", "get", "/metrics"), "reader's binding to take effect")
    wait_for(
        lambda: can_i(admin, ns, "operator", "create", "tokenreviews.authentication.k8s.io"), "operator's"
    )
    wait_for(lambda: can_i(admin, ns, "operator", "watch", f"echoes.{E2E_GROUP}", "-n", ns), "operator's")
    assert not can_i(admin, ns, "stranger", "get", "/metrics")

    tokens = {sa: devcluster.sa_token(cluster, ns, sa) for sa in ("operator", "reader", "stranger")}
    operators = OperatorFactory(
        sa_kubeconfig(admin, tokens["operator"], ns, tmp / "operator.kubeconfig"), tmp
    )
    op = operators.start(
        ns, "--metrics-bind-address=127.0.0.1:0", "--metrics-secure", "--metrics-require-rbac"
    )
    failures = request.session.testsfailed
    try:
        port = wait_for(
            lambda: re.search(r"serving metrics on 127\.0\.0\.1:(\d+)", op.logs()), "the metrics port"
        ).group(1)
        yield Setup(admin, ns, op, int(port), tokens)
    finally:
        operators.stop_all()
        if request.session.testsfailed != failures or sys.exc_info()[0] is not None:
            sys.stderr.write(f"\n----- operator log -----\n{op.logs()[-20000:]}\n")
        for obj in cluster_scoped:
            admin.delete(obj["kind"].lower(), obj["metadata"]["name"])
        admin.delete("namespace", ns)


def scrape(port: int, headers: dict[str, str]) -> tuple[int, str]:
    insecure = ssl.create_default_context()  # the operator's self-signed loopback certificate
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(f"https://127.0.0.1:{port}/metrics", headers=headers)
    try:
        with urllib.request.urlopen(request, context=insecure, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_operator_reconciles_as_its_service_account(setup: Setup) -> None:
    setup.kubectl.apply(cr("Echo", "as-sa", setup.namespace, {"message": "hi"}))
    successful(setup.kubectl, "echo", "as-sa", setup.namespace)
    assert setup.kubectl.get("configmap", "as-sa-echo", setup.namespace)["data"]["message"] == "hi"


def test_a_metrics_reader_reads_metrics(setup: Setup) -> None:
    status, body = scrape(setup.port, {"Authorization": f"Bearer {setup.tokens['reader']}"})
    assert status == 200, body
    assert re.search(r"^ansible_operator_build_info\{.*\} 1(\.0)?$", body, re.M), body


def test_a_service_account_without_the_role_is_forbidden(setup: Setup) -> None:
    status, body = scrape(setup.port, {"Authorization": f"Bearer {setup.tokens['stranger']}"})
    assert (status, body.strip()) == (403, "Forbidden")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer not-a-valid-token"}, id="garbage-token"),
        pytest.param({"Authorization": "Basic cmVhZGVyOnNlY3JldA=="}, id="basic-auth"),
    ],
)
def test_callers_without_a_valid_token_are_unauthorized(setup: Setup, headers: dict[str, str]) -> None:
    status, body = scrape(setup.port, headers)
    assert (status, body.strip()) == (401, "Unauthorized")
    assert "ansible_operator_build_info" not in body
