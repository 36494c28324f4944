"""The Go project's memcached molecule test operator, run unchanged on the runner.

operator-framework/ansible-operator-plugins keeps `testdata/memcached-molecule-operator`: kinds
Memcached (a playbook importing a role; a finalizer role `memfin`; ConfigMaps blacklisted as
dependents), Foo, Memfin, and a watch on core Secrets with `manageStatus: false`. Its
`molecule/default/tasks/memcached_test.yml` checks, in order, what the cases below check;
`tests/e2e/go_operators/memcached` is that operator written anew (same watches.yaml options,
variables and module calls). One operator process serves every case of this module (a second one
only for the restart case).

Cases of the Go test and how they run here:

- the Memcached sample becomes `Successful=True`: as in Go;
- "wait for the memcached Deployment": the Go test waits for its pods to be available; kube-lite
  runs no pods, so the Deployment object is checked (label `app=memcached`, `replicas` = `size`);
- the custom status `test: hello world` written by `k8s_status`: as in Go;
- `test-service` made by the Secret role (a Secret watch with `manageStatus: false`, run for the
  Secret the Memcached role creates): as in Go;
- the OpenShift Project `testing-foo`: only on clusters serving `project.openshift.io`, as in Go;
  kube-lite does not, so the role's `cluster_info` lookup (with `K8S_AUTH_KUBECONFIG`) and its
  `when` are exercised, not the Project;
- the custom metrics: the Go test reads `/metrics` with `curl` through `k8s_exec` in the operator's
  pod; here the same text is read from the operator's `/metrics` directly (exec is out of scope on
  kube-lite: no pods run);
- the `test-local` scenario's restart (the Go test kills the operator pod): the operator process is
  stopped and started again; once its start-up runs are over, `test-service` is deleted and must
  be made again (by the dependent watch, restored from the runner directory);
- deleting the CR: the finalizer role runs (it removes the `deleteme` ConfigMap the test made,
  which the Go test makes too), the CR goes, and the Deployment is garbage-collected;
- Foo and Memfin (their scaffolded tests): the samples become `Successful=True`.

Adapted: the Go roles write `test-service` and delete `deleteme` in namespace `default`; here in
the CR's namespace, so the test can see them in its own. The role's once-only metrics marker
(`/tmp/metricsbumped` in Go) is a file per operator run (`METRICS_MARKER`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.cluster import devcluster
from tests.e2e.conftest import OperatorFactory, OperatorProcess
from tests.e2e.goproject import FIRST_RUN_TIMEOUT, GO_OPERATORS, install_crds, module_operators, succeeded
from tests.e2e.kube import Kubectl, condition, wait_for
from tests.e2e.test_metrics import scrape

PROJECT = GO_OPERATORS / "memcached"
GROUP = "cache.example.com"
KINDS = ["Memcached", "Foo", "Memfin"]


class Memcached:
    """The module's shared state: its namespace, the operator, the sample CR once it ran."""

    def __init__(self, ns: str, factory: OperatorFactory, kubectl: Kubectl, marker: Path) -> None:
        self.ns, self.factory, self.kubectl, self.marker = ns, factory, kubectl, marker
        self.op: OperatorProcess = self.start()

    def start(self) -> OperatorProcess:
        return self.factory.start(
            self.ns,
            "--metrics-bind-address=127.0.0.1:0",
            cwd=PROJECT,
            env={"METRICS_MARKER": str(self.marker)},
        )

    def get(self, resource: str, name: str) -> dict[str, Any] | None:
        return self.kubectl.get(resource, name, self.ns)


def sample(kind: str, name: str, ns: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": ns, "labels": {"app.kubernetes.io/name": kind.lower()}},
        "spec": spec,
    }


@pytest.fixture(scope="module")
def memcached(
    cluster: devcluster.Cluster,
    kubectl: Kubectl,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Memcached]:
    install_crds(kubectl, GROUP, "v1alpha1", KINDS)
    tmp = tmp_path_factory.mktemp("go-memcached")
    with module_operators(kubectl, cluster.kubeconfig, tmp, "go-memcached", request) as (ns, factory):
        env = Memcached(ns, factory, kubectl, tmp / "metricsbumped")
        kubectl.apply(sample("Memcached", "memcached-sample", ns, {"size": 1}))
        succeeded(kubectl, "memcached", "memcached-sample", ns)
        yield env


def test_memcached_deployment_is_made(memcached: Memcached) -> None:
    deployments = memcached.kubectl.run(
        "get", "deployments", "-n", memcached.ns, "-l", "app=memcached", "-o", "name"
    ).stdout.split()
    assert deployments == ["deployment.apps/memcached-sample-memcached"]
    deploy = memcached.get("deployment", "memcached-sample-memcached")
    assert deploy["spec"]["replicas"] == 1
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/memcached:1.4.36-alpine"
    cr = memcached.get("memcached", "memcached-sample")
    assert [o["uid"] for o in deploy["metadata"]["ownerReferences"]] == [cr["metadata"]["uid"]]


def test_custom_status_written_by_the_role(memcached: Memcached) -> None:
    cr = memcached.get("memcached", "memcached-sample")
    assert cr["status"]["test"] == "hello world"
    assert condition(cr, "Successful")["status"] == "True"  # the runner's conditions are kept beside it


def test_secret_watch_without_status_runs_its_role(memcached: Memcached) -> None:
    service = wait_for(lambda: memcached.get("service", "test-service"), "the Secret role's test-service")
    assert service["spec"]["ports"][0]["port"] == 8332
    secret = memcached.get("secret", "test-secret")
    # The Service belongs to the Secret that ran the role; the Secret got no status.
    assert [o["uid"] for o in service["metadata"]["ownerReferences"]] == [secret["metadata"]["uid"]]
    assert "status" not in secret


def test_openshift_project_only_where_projects_are_served(memcached: Memcached) -> None:
    groups = memcached.kubectl.run("api-versions").stdout
    if "project.openshift.io" in groups:
        assert memcached.kubectl.get("namespace", "testing-foo") is not None
    else:
        assert memcached.kubectl.get("namespace", "testing-foo") is None
    # Either way the role read the API groups through the job's kubeconfig and went on.
    cr = memcached.get("memcached", "memcached-sample")
    assert condition(cr, "Failure")["status"] == "False"


def test_custom_metrics_as_the_go_test_reads_them(memcached: Memcached) -> None:
    text = scrape(memcached.op)
    for line in (
        "sanity_counter 0",
        "sanity_gauge 0",
        "sanity_histogram_bucket",
        "sanity_summary summary",  # from `# TYPE sanity_summary summary`
        "counter_inc_test 1",
        "counter_add_test 2",
        "gauge_set_test 5",
        "gauge_add_test 7",
        "gauge_sub_test -7",
        "gauge_time_test 1",  # seconds since the epoch: starts with 1 until 2033
        "summary_test_sum 2",
        "histogram_test_sum 2",
    ):
        assert line in text, f"{line!r} not in /metrics"
    assert re.search(r"^# TYPE counter_inc_test counter$", text, re.M)


def test_blacklisted_configmap_does_not_rerun_the_cr(memcached: Memcached) -> None:
    kubectl, ns = memcached.kubectl, memcached.ns
    before = condition(memcached.get("memcached", "memcached-sample"), "Running")
    service_uid = memcached.get("service", "test-service")["metadata"]["uid"]
    # The blacklisted ConfigMap goes first, then a watched dependent of the Secret: by the time the
    # Service is back, a rerun of the Memcached CR caused by the ConfigMap would have started.
    kubectl.delete("configmap", "test-blacklist-watches", ns)
    kubectl.delete("service", "test-service", ns)
    wait_for(
        lambda: (s := memcached.get("service", "test-service")) and s["metadata"]["uid"] != service_uid,
        "the Secret's rerun to make test-service again",
    )
    assert memcached.get("configmap", "test-blacklist-watches") is None
    assert condition(memcached.get("memcached", "memcached-sample"), "Running") == before


def test_foo_and_memfin_samples_succeed(memcached: Memcached) -> None:
    memcached.kubectl.apply(
        sample("Foo", "foo-sample", memcached.ns, {"foo": "bar"}),
        sample("Memfin", "memfin-sample", memcached.ns, {"foo": "bar"}),
    )
    succeeded(memcached.kubectl, "foo", "foo-sample", memcached.ns)
    succeeded(memcached.kubectl, "memfin", "memfin-sample", memcached.ns)


def test_restarted_operator_makes_the_service_again(memcached: Memcached) -> None:
    # The Go test kills the operator's pod, waits, deletes test-service and waits for it again.
    assert memcached.op.stop() == 0
    memcached.op = memcached.start()
    # Once the start-up runs are over, only a dependent watch can bring the Service back.
    done = f"[Secret {memcached.ns}/test-secret] reconcile succeeded"
    wait_for(lambda: done in memcached.op.logs(), "the Secret's start-up run", timeout=FIRST_RUN_TIMEOUT)
    uid = memcached.get("service", "test-service")["metadata"]["uid"]
    memcached.kubectl.delete("service", "test-service", memcached.ns)
    wait_for(
        lambda: (s := memcached.get("service", "test-service")) and s["metadata"]["uid"] != uid,
        "test-service to be made again after the restart",
    )


def test_deleting_the_cr_runs_the_finalizer_and_collects_the_deployment(memcached: Memcached) -> None:
    kubectl, ns = memcached.kubectl, memcached.ns
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "deleteme", "namespace": ns},
            "data": {"delete": "me"},
        }
    )
    cr = memcached.get("memcached", "memcached-sample")
    assert "cache.example.com/finalizer" in cr["metadata"]["finalizers"]
    kubectl.delete("memcached", "memcached-sample", ns)
    wait_for(
        lambda: memcached.get("memcached", "memcached-sample") is None,
        "the CR to be deleted",
        timeout=FIRST_RUN_TIMEOUT,
    )
    assert memcached.get("configmap", "deleteme") is None  # the finalizer role removed it
    wait_for(
        lambda: (
            not kubectl.run(
                "get", "deployments", "-n", ns, "-l", "app=memcached", "-o", "name"
            ).stdout.strip()
        ),
        "the Deployment to be garbage-collected",
        timeout=30,
    )
