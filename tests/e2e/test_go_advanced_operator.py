"""The Go project's advanced molecule test operator, run unchanged on the runner.

operator-framework/ansible-operator-plugins generates it with
`hack/generate/samples/ansible/advanced_molecule.go` from `hack/generate/samples/ansible/testdata/`;
`tests/e2e/go_operators/advanced` is that operator written anew: the same watches.yaml options
(`vars: {meta: '{{ ansible_operator_meta }}'}` on every watch, a collection role by FQCN, a Secret
watch with `manageStatus: false`, a `selector`, `snakeCaseParameters: false`,
`watchClusterScopedResources`, a finalizer playbook), an inventory directory with group_vars, a
filter plugin and `roles_path` from the operator's ansible.cfg, a vaulted variable file. It runs
as the Go manager runs it: `--ansible-args='--vault-password-file .../pwd.yml'` as one argument
with its single quotes, `ANSIBLE_INVENTORY` naming the inventory directory, `ANSIBLE_DEBUG_LOGS=TRUE`
(every job's output in the operator log), the collection installed with `ansible-galaxy`. One
operator process serves every case.

The cases do what the Go `molecule/default/tasks/*_test.yml` check:

- inventorytest: the role runs on the inventory's group `test` with its group_vars and the
  operator's filter plugin; `Running=True` reason `Successful`; ConfigMap `sentinel: test`;
- collectiontest: a watch's role `operator_sdk.test_fixtures.dummy` from an installed collection;
- argstest: the vault password reaches ansible-playbook through `--ansible-args`;
- casetest (its scaffolded test only applies the sample): `snakeCaseParameters: false` passes
  `camelCaseVar` as written;
- reconciliationtest: `requeue_after: 1s` runs the CR again until its counter is 5;
- selectortest: only the labelled CR is served. The Go test waits 30 s to see the unlabelled one
  left alone; here the labelled one, created after it, is served first, and labelling the other
  then gets it served;
- secretstest: a Secret watch with `manageStatus: false` mirrors the Secret into a ConfigMap and
  follows its changes;
- clusterannotationtest: a Namespace and a ConfigMap in another namespace get the
  `operator-sdk/primary-resource` annotations, and a changed label of the Namespace is put back;
- finalizerconcurrencytest: a CR deleted while its reconcile is running gets its finalizer run
  once the reconcile ends, and then goes. (The Go test waits on `osdk-test`; here the module's
  namespace. Its reconcile waits for the ConfigMap the test then makes.)

Out of scope: subresourcestest. It runs a busybox Pod, `k8s_exec` in it and `k8s_log` of it, and
checks the command's output and the Pod's log in the status; kube-lite runs no pods, so there is
nothing to exec into or read logs from (the job proxy's exec and log streams are tested against a
local websocket server in test_proxy.py).

Adapted: the external namespace is `<namespace>-external` instead of `externalnamespace` (tests
must not share cluster-wide names); the counter of reconciliationtest is written with `| string`
(see the playbook: the Go playbook's number is refused by the API server on ansible-core 2.19).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.cluster import devcluster
from tests.e2e.conftest import OperatorFactory, OperatorProcess
from tests.e2e.goproject import (
    FIRST_RUN_TIMEOUT,
    GO_OPERATORS,
    install_crds,
    module_operators,
    running,
    succeeded,
)
from tests.e2e.kube import Kubectl, condition, wait_for

GROUP = "test.example.com"
KINDS = [
    "ArgsTest",
    "CaseTest",
    "CollectionTest",
    "ClusterAnnotationTest",
    "FinalizerConcurrencyTest",
    "InventoryTest",
    "ReconciliationTest",
    "SelectorTest",
]
BIN = Path(sys.executable).parent


class Advanced:
    def __init__(self, ns: str, kubectl: Kubectl, op: OperatorProcess) -> None:
        self.ns, self.kubectl, self.op = ns, kubectl, op

    def get(self, resource: str, name: str, ns: str | None = None) -> dict[str, Any] | None:
        return self.kubectl.get(resource, name, ns or self.ns)

    def data(self, configmap: str, ns: str | None = None) -> dict[str, str]:
        cm = wait_for(
            lambda: self.get("configmap", configmap, ns), f"ConfigMap {configmap}", FIRST_RUN_TIMEOUT
        )
        return dict(cm.get("data") or {})


def adv_cr(kind: str, name: str, ns: str, spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": ns, **meta},
        "spec": spec or {},
    }


def prepare_project(tmp: Path) -> tuple[Path, Path]:
    """The operator's directory as the Go Dockerfile builds it: a vault password file, a
    variable file encrypted with it, the fixture collection installed with ansible-galaxy."""
    project = tmp / "project"
    shutil.copytree(GO_OPERATORS / "advanced", project)
    (project / "pwd.yml").write_text("abc123\n")
    vaulted = subprocess.run(
        [
            BIN / "ansible-vault",
            "encrypt_string",
            "--vault-password-file",
            project / "pwd.yml",
            "thisisatest",
            "--name",
            "the_secret",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    (project / "vars.yml").write_text(vaulted.stdout)
    collections = tmp / "collections"
    subprocess.run(
        [BIN / "ansible-galaxy", "collection", "install", project / "fixture_collection", "-p", collections],
        capture_output=True,
        text=True,
        check=True,
    )
    return project, collections


@pytest.fixture(scope="module")
def advanced(
    cluster: devcluster.Cluster,
    kubectl: Kubectl,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Advanced]:
    install_crds(kubectl, GROUP, "v1alpha1", KINDS)
    tmp = tmp_path_factory.mktemp("go-advanced")
    project, collections = prepare_project(tmp)
    with module_operators(kubectl, cluster.kubeconfig, tmp, "go-advanced", request) as (ns, factory):
        op = start(factory, ns, project, collections)
        env = Advanced(ns, kubectl, op)
        # The CRs that do not depend on one another go in at once and run side by side.
        kubectl.apply(
            adv_cr(
                "InventoryTest",
                "inventorytest-sample",
                ns,
                {"size": 3},
                annotations={"ansible.sdk.operatorframework.io/verbosity": "0"},
            ),
            adv_cr("CollectionTest", "collection-test", ns),
            adv_cr("ArgsTest", "args-test", ns, {"field": "value"}),
            adv_cr("CaseTest", "casetest-sample", ns, {"camelCaseVar": "true"}),
            adv_cr("ReconciliationTest", "reconciliation-test", ns, {"field": "value"}),
            adv_cr("ClusterAnnotationTest", "clusterannotationtest-sample", ns),
            adv_cr("SelectorTest", "selector-test-fail", ns, {"field": "value"}),
            adv_cr(
                "SelectorTest", "selector-test", ns, {"field": "value"}, labels={"testLabel": "testValue"}
            ),
        )
        try:
            yield env
        finally:
            kubectl.run(
                "delete", "namespace", f"{ns}-external", "--ignore-not-found", "--wait=false", check=False
            )


def start(factory: OperatorFactory, ns: str, project: Path, collections: Path) -> OperatorProcess:
    return factory.start(
        ns,
        # As the Go manager.yaml passes it: one argument, the single quotes included.
        f"--ansible-args='--vault-password-file {project / 'pwd.yml'}'",
        cwd=project,
        env={
            "ANSIBLE_CONFIG": "ansible.cfg",
            "ANSIBLE_INVENTORY": str(project / "inventory"),
            "ANSIBLE_DEBUG_LOGS": "TRUE",
            "ANSIBLE_COLLECTIONS_PATH": str(collections),
        },
    )


def test_inventorytest_runs_on_the_inventory_group(advanced: Advanced) -> None:
    running(advanced.kubectl, "inventorytest", "inventorytest-sample", advanced.ns)
    data = advanced.data("inventory-cm")
    assert data["sentinel"] == "test"
    assert yaml.safe_load(data["groups"])["test"] == ["127.0.0.1"]


def test_debug_logs_show_each_jobs_output(advanced: Advanced) -> None:
    # ANSIBLE_DEBUG_LOGS=TRUE (the Go manager's test overlay sets it): every job's whole output.
    running(advanced.kubectl, "inventorytest", "inventorytest-sample", advanced.ns)
    logs = advanced.op.logs()
    start = logs.index("[InventoryTest")
    assert "Ansible Debug Result" in logs[start:]
    assert "PLAY [test]" in logs and "PLAY RECAP" in logs


def test_collectiontest_runs_a_collection_role(advanced: Advanced) -> None:
    running(advanced.kubectl, "collectiontest", "collection-test", advanced.ns)
    assert advanced.data("test-this-collection")["did_it_work"] == "indeed"


def test_argstest_decrypts_with_the_vault_password_from_ansible_args(advanced: Advanced) -> None:
    succeeded(advanced.kubectl, "argstest", "args-test", advanced.ns)
    assert advanced.data("args-test")["msg"] == "The decrypted value is thisisatest"


def test_casetest_keeps_camel_case_keys(advanced: Advanced) -> None:
    succeeded(advanced.kubectl, "casetest", "casetest-sample", advanced.ns)
    assert advanced.data("casetest-sample")["shouldBeCamel"] == "true"


def test_reconciliationtest_requeues_until_five(advanced: Advanced) -> None:
    succeeded(advanced.kubectl, "reconciliationtest", "reconciliation-test", advanced.ns)
    wait_for(
        lambda: advanced.data("reconciliation-test").get("iterations") == "5",
        "requeue_after to run the CR until its counter is 5",
        timeout=FIRST_RUN_TIMEOUT,
    )


def test_selectortest_serves_only_labelled_crs(advanced: Advanced) -> None:
    kubectl, ns = advanced.kubectl, advanced.ns
    running(kubectl, "selectortest", "selector-test", ns)
    assert advanced.data("selector-test")["hello"] == "world"
    # Created before the labelled one, and still untouched.
    assert advanced.get("configmap", "selector-test-fail") is None
    assert not advanced.get("selectortest", "selector-test-fail").get("status")
    kubectl.run("label", "selectortest", "selector-test-fail", "-n", ns, "testLabel=late")
    running(kubectl, "selectortest", "selector-test-fail", ns)
    assert advanced.data("selector-test-fail")["hello"] == "world"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_secretstest_mirrors_a_secret_without_status(advanced: Advanced) -> None:
    kubectl, ns = advanced.kubectl, advanced.ns
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "test-secret", "namespace": ns, "labels": {"reconcile": "yes"}},
            "data": {"test": b64("test")},
        }
    )
    assert advanced.data("test-secret")["test"] == "test"
    kubectl.patch("secret", "test-secret", ns, {"data": {"new": b64("content")}})
    wait_for(
        lambda: advanced.data("test-secret").get("new") == "content", "the Secret's new key in the ConfigMap"
    )
    assert "status" not in advanced.get("secret", "test-secret")


def test_clusterannotationtest_annotates_and_restores_cluster_scoped_dependents(advanced: Advanced) -> None:
    kubectl, ns = advanced.kubectl, advanced.ns
    succeeded(kubectl, "clusterannotationtest", "clusterannotationtest-sample", ns)
    external = f"{ns}-external"
    cm = wait_for(
        lambda: advanced.get("configmap", "clusterannotationtest-sample", external), "the external ConfigMap"
    )
    annotations = cm["metadata"]["annotations"]
    assert annotations["operator-sdk/primary-resource"] == f"{ns}/clusterannotationtest-sample"
    assert annotations["operator-sdk/primary-resource-type"] == "ClusterAnnotationTest.test.example.com"
    namespace = kubectl.get("namespace", external)
    assert (
        namespace["metadata"]["annotations"]["operator-sdk/primary-resource"]
        == f"{ns}/clusterannotationtest-sample"
    )

    kubectl.run("label", "--overwrite", "namespace", external, "foo=baz")
    wait_for(
        lambda: kubectl.get("namespace", external)["metadata"]["labels"]["foo"] == "bar",
        "the operator to put the Namespace's label back",
    )


def test_finalizerconcurrencytest_finalizer_runs_after_the_running_reconcile(advanced: Advanced) -> None:
    kubectl, ns, op = advanced.kubectl, advanced.ns, advanced.op
    kubectl.apply(adv_cr("FinalizerConcurrencyTest", "finalizer-concurrency-test", ns))
    wait_for(
        lambda: (
            "[FinalizerConcurrencyTest" in op.logs() and "task started: wait for the ConfigMap" in op.logs()
        ),
        "the reconcile to wait for the ConfigMap",
    )
    cr = advanced.get("finalizerconcurrencytest", "finalizer-concurrency-test")
    assert "test.example.com/finalizer" in cr["metadata"]["finalizers"]
    assert condition(cr, "Running")["reason"] == "Running"
    kubectl.delete("finalizerconcurrencytest", "finalizer-concurrency-test", ns)
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "finalizer-concurrency-results", "namespace": ns},
        }
    )
    wait_for(
        lambda: advanced.get("finalizerconcurrencytest", "finalizer-concurrency-test") is None,
        "the CR to be deleted once its finalizer ran",
        timeout=FIRST_RUN_TIMEOUT,
    )
    assert advanced.data("finalizer-concurrency-results")["finalizer"] == "success"
