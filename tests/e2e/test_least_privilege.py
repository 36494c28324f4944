"""Least privilege for real: the sample operator and a freshly scaffolded project, installed from
their own config/ (the generated rules of config/default, and config/namespaced's Role) on an API
server that enforces RBAC, reconcile as their ServiceAccount. A rule missing from the manifests
fails the test with the call the API server refused (verb, resource, namespace)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import yaml

from runner.cli.main import main as cli
from runner.cluster import devcluster
from runner.scaffold import create_api, init_project
from tests.e2e import leastpriv
from tests.e2e.conftest import REPO, OperatorFactory, OperatorProcess
from tests.e2e.kube import Kubectl, wait_for


def samples(project: Path) -> list[dict]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(project / "config" / "samples")],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def in_namespace(objs: list[dict], ns: str) -> list[dict]:
    return [{**o, "metadata": {**o["metadata"], "namespace": ns}} for o in objs]


def show_logs_on_failure(ops: OperatorFactory) -> None:
    if sys.exc_info()[0] is not None:
        for i, op in enumerate(ops.started):
            sys.stderr.write(f"\n----- operator {i} log -----\n{op.logs()[-15000:]}\n")


def start_as(
    installed: leastpriv.Installed, tmp: Path, watch: str, *extra: str, cwd: Path = REPO
) -> tuple[OperatorFactory, OperatorProcess]:
    ops = OperatorFactory(installed.kubeconfig, tmp)
    # as config/manager/manager.yaml runs it: with leader election (a Lease in its namespace)
    op = ops.start(
        watch, "--leader-elect", f"--leader-election-namespace={installed.namespace}", *extra, cwd=cwd
    )
    return ops, op


def test_the_sample_operator_runs_cluster_wide_as_its_service_account(
    rbac_cluster: devcluster.Cluster, rbac_admin: Kubectl, tmp_path: Path
) -> None:
    installed = leastpriv.install(rbac_admin, rbac_cluster, REPO, "default", tmp_path)
    apps = f"{installed.namespace}-apps"  # the CRs live elsewhere: WATCH_NAMESPACE empty, all namespaces
    rbac_admin.run("create", "namespace", apps)
    record = tmp_path / "calls.json"
    ops, op = start_as(installed, tmp_path, "", f"--rbac-record={record}")
    try:
        rbac_admin.apply(*in_namespace(samples(REPO), apps))
        leastpriv.reconciled(rbac_admin, op, "webapp", "webapp-sample", apps)
        leastpriv.reconciled(rbac_admin, op, "backup", "backup-sample", apps)
        assert rbac_admin.get("deployment", "webapp-sample", apps) is not None
        # a change: the role patches what it made
        rbac_admin.patch("webapp", "webapp-sample", apps, {"spec": {"replicas": 3, "message": "changed"}})
        wait_for(
            lambda: (d := rbac_admin.get("deployment", "webapp-sample", apps)) and d["spec"]["replicas"] == 3,
            "the Deployment scaled to 3",
        )
        leastpriv.reconciled(rbac_admin, op, "webapp", "webapp-sample", apps)
        # the finalizer playbook runs, then the operator removes the finalizer
        rbac_admin.run("delete", "backup", "backup-sample", "-n", apps, "--timeout=90s")
        leastpriv.refused(op)
    finally:
        ops.stop_all()
        show_logs_on_failure(ops)
        leastpriv.uninstall(rbac_admin, installed)
        rbac_admin.run("delete", "namespace", apps, "--wait=false", check=False)
    # What the jobs called is what config/rbac/role.yaml grants
    assert cli(["rbac", f"--record={record}", f"--role={REPO / 'config/rbac/role.yaml'}", "--check"]) == 0


def test_the_sample_operator_runs_in_its_namespace_with_the_namespaced_role(
    rbac_cluster: devcluster.Cluster, rbac_admin: Kubectl, tmp_path: Path
) -> None:
    installed = leastpriv.install(rbac_admin, rbac_cluster, REPO, "namespaced", tmp_path)
    ns = installed.namespace
    # config/namespaced grants nothing on Namespaces: kopf must not need to list them
    ops, op = start_as(installed, tmp_path, ns)
    try:
        rbac_admin.apply(*in_namespace(samples(REPO), ns))
        leastpriv.reconciled(rbac_admin, op, "webapp", "webapp-sample", ns)
        leastpriv.reconciled(rbac_admin, op, "backup", "backup-sample", ns)
        leastpriv.refused(op)
    finally:
        ops.stop_all()
        show_logs_on_failure(ops)
        leastpriv.uninstall(rbac_admin, installed)


TASKS = """\
- name: Read the other stores' ConfigMaps
  kubernetes.core.k8s_info:
    kind: ConfigMap
    namespace: "{{ ansible_operator_meta.namespace }}"
    label_selectors: [app=store]
  register: others

- name: One ConfigMap per store
  kubernetes.core.k8s:
    state: present
    definition:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: "{{ ansible_operator_meta.name }}-store"
        namespace: "{{ ansible_operator_meta.namespace }}"
        labels: {app: store}
      data:
        others: "seen {{ others.resources | length }}"
"""


def store(name: str, ns: str) -> dict:
    return {
        "apiVersion": "kv.lp.runner.example.com/v1",
        "kind": "Store",
        "metadata": {"name": name, "namespace": ns},
        "spec": {},
    }


def test_a_scaffolded_project_records_writes_and_runs_with_its_rules(
    rbac_cluster: devcluster.Cluster, rbac_admin: Kubectl, tmp_path: Path
) -> None:
    root = tmp_path / "kv-operator"
    init_project(root, domain="lp.runner.example.com")
    assert not create_api(root, group="kv", version="v1", kind="Store", generate_role=True).warnings
    (root / "roles" / "store" / "tasks" / "main.yml").write_text(TASKS)
    rbac_admin.run("apply", "-f", str(root / "config/crd/bases"))
    rbac_admin.run(
        "wait", "--for=condition=Established", "--timeout=60s", "-f", str(root / "config/crd/bases")
    )

    # 1. molecule's way: a run with --rbac-record, here as the cluster admin
    rec_ns = f"lp-rec-{uuid.uuid4().hex[:6]}"
    rbac_admin.run("create", "namespace", rec_ns)
    ops = OperatorFactory(rbac_cluster.kubeconfig, tmp_path / "rec")
    (tmp_path / "rec").mkdir()
    op = ops.start(rec_ns, f"--rbac-record={root / '.ansible-operator/rbac-calls.json'}", cwd=root)
    try:
        rbac_admin.apply(store("first", rec_ns))
        leastpriv.reconciled(rbac_admin, op, "stores.kv.lp.runner.example.com", "first", rec_ns)
    finally:
        ops.stop_all()
        show_logs_on_failure(ops)
        rbac_admin.run("delete", "namespace", rec_ns, "--wait=false", check=False)

    # 2. the rules into role.yaml's generated block
    assert cli(["rbac", f"--project-dir={root}", "--write"]) == 0
    role = yaml.safe_load((root / "config/rbac/role.yaml").read_text())
    assert {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "verbs": ["create", "get", "list", "watch"],
    } in role["rules"]

    # 3. installed from its config/default, as its ServiceAccount
    installed = leastpriv.install(rbac_admin, rbac_cluster, root, "default", tmp_path / "sa")
    ops, op = start_as(installed, tmp_path / "sa", installed.namespace, cwd=root)
    try:
        rbac_admin.apply(store("second", installed.namespace))
        leastpriv.reconciled(rbac_admin, op, "stores.kv.lp.runner.example.com", "second", installed.namespace)
        assert rbac_admin.get("configmap", "second-store", installed.namespace) is not None
        leastpriv.refused(op)
    finally:
        ops.stop_all()
        show_logs_on_failure(ops)
        leastpriv.uninstall(rbac_admin, installed)
        rbac_admin.run("delete", "-f", str(root / "config/crd/bases"), "--wait=false", check=False)
