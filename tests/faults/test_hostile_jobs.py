"""Hostile jobs: a job that tries to make an object point at another CR, or to act for one.

Each case sends what a malicious or broken role could send through its own kubeconfig (the job
proxy, in-process, against the real API server), then checks the answer the job gets and what the
API server finally stores.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from runner.cluster.kube import load_api_client
from runner.cluster.ownership import Owner
from runner.cluster.proxy import Grant
from tests.e2e.conftest import E2E_GROUP
from tests.e2e.kube import Kubectl
from tests.e2e.test_proxy import Running, make_owner
from tests.faults.conftest import Fault

OWNERS = "primary-resource"


def noop(*_: Any) -> None:
    pass


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))


class Job:
    """Raw HTTPS requests with one job's token, as any client a role runs could send them."""

    def __init__(self, running: Running, owner: Owner) -> None:
        self.running = running
        self.owner = owner
        self.token = running.proxy.grant(Grant(owner, noop))
        config = yaml.safe_load(running.proxy.kubeconfig(self.token, owner.namespace))
        cluster = config["clusters"][0]["cluster"]
        self.server = cluster["server"]
        with tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False) as ca:
            ca.write(base64.b64decode(cluster["certificate-authority-data"]))
        self.ssl = ssl.create_default_context(cafile=ca.name)

    def send(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Answer:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ssl, timeout=30) as resp:
                return Answer(resp.status, json.loads(resp.read() or b"{}"))
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return Answer(err.code, json.loads(raw or b"{}"))
            except ValueError:
                return Answer(err.code, {"message": raw.decode(errors="replace")})


@dataclass
class Scene:
    kubectl: Kubectl
    namespace: str
    mine: Owner
    theirs: Owner
    job: Job

    @property
    def cms(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/configmaps"

    def ref(self, owner: Owner) -> dict[str, Any]:
        return {"apiVersion": f"{E2E_GROUP}/v1", "kind": "Echo", "name": owner.name, "uid": owner.uid}

    def made_by_job(self, name: str) -> dict[str, Any]:
        """A ConfigMap the job created (so owned by its CR, as the proxy sets)."""
        answer = self.job.send(
            "POST", self.cms, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
        )
        assert answer.status == 201, answer
        return answer.body

    def stored(self, name: str) -> dict[str, Any] | None:
        return self.kubectl.get("configmap", name, self.namespace)

    def names_no_other_cr(self, name: str) -> bool:
        obj = self.stored(name) or {}
        meta = obj.get("metadata") or {}
        refs = {r["uid"] for r in meta.get("ownerReferences") or []}
        annotations = meta.get("annotations") or {}
        return self.theirs.uid not in refs and "theirs" not in str(annotations.get("operator-sdk/" + OWNERS))


@pytest.fixture
def scene(kubectl: Kubectl, namespace: str) -> Iterator[Scene]:
    running = Running(load_api_client(kubectl.kubeconfig).configuration)
    try:
        mine, theirs = make_owner(kubectl, namespace, "mine"), make_owner(kubectl, namespace, "theirs")
        yield Scene(kubectl, namespace, mine, theirs, Job(running, mine))
    finally:
        running.close()


def refused(fault: Fault, answer: Answer, code: int = 403) -> None:
    assert answer.status == code, answer
    fault.checked(f"the job got HTTP {code}: {answer.message}")


def test_json_patch_replacing_metadata_whole(scene: Scene, fault: Fault) -> None:
    scene.made_by_job("whole")
    fault.tried("a JSON patch that replaces /metadata with one naming another CR as owner")
    patch = [
        {
            "op": "replace",
            "path": "/metadata",
            "value": {"name": "whole", "ownerReferences": [scene.ref(scene.theirs)]},
        }
    ]
    answer = scene.job.send("PATCH", f"{scene.cms}/whole", patch, "application/json-patch+json")
    refused(fault, answer)
    assert "theirs" in answer.message
    assert scene.names_no_other_cr("whole")
    fault.checked("the stored ConfigMap still names only the job's own CR")


def test_json_patch_rewriting_the_owner_uid_and_name(scene: Scene, fault: Fault) -> None:
    scene.made_by_job("rewired")
    fault.tried("a JSON patch replacing /metadata/ownerReferences/0/uid and /name with another CR's")
    patch = [
        {"op": "replace", "path": "/metadata/ownerReferences/0/uid", "value": scene.theirs.uid},
        {"op": "replace", "path": "/metadata/ownerReferences/0/name", "value": "theirs"},
    ]
    refused(fault, scene.job.send("PATCH", f"{scene.cms}/rewired", patch, "application/json-patch+json"))
    stored = scene.stored("rewired") or {}
    assert [r["uid"] for r in stored["metadata"]["ownerReferences"]] == [scene.mine.uid]
    fault.checked("the stored owner reference is still the job's own CR")


def test_json_patch_adding_the_primary_resource_annotation(scene: Scene, fault: Fault) -> None:
    scene.made_by_job("annotated")
    fault.tried(
        "a JSON patch adding /metadata/annotations with operator-sdk/primary-resource naming another CR"
    )
    value = {
        "operator-sdk/primary-resource": f"{scene.namespace}/theirs",
        "operator-sdk/primary-resource-type": f"Echo.{E2E_GROUP}",
    }
    patch = [{"op": "add", "path": "/metadata/annotations", "value": value}]
    refused(fault, scene.job.send("PATCH", f"{scene.cms}/annotated", patch, "application/json-patch+json"))
    assert scene.names_no_other_cr("annotated")
    fault.checked("the stored ConfigMap has no primary-resource annotation naming the other CR")


def test_yaml_post_and_put_with_a_foreign_owner(scene: Scene, fault: Fault) -> None:
    forged = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "yamled", "ownerReferences": [scene.ref(scene.theirs)]},
    }
    fault.tried("a POST sent as application/yaml whose object names another CR as owner")
    refused(fault, scene.job.send("POST", scene.cms, yaml.safe_dump(forged).encode(), "application/yaml"))
    assert scene.stored("yamled") is None
    fault.checked("nothing was created")

    current = scene.made_by_job("yamled")
    fault.tried("a PUT sent as application/yaml that replaces the owners with another CR")
    current["metadata"]["ownerReferences"] = [scene.ref(scene.theirs)]
    refused(
        fault,
        scene.job.send("PUT", f"{scene.cms}/yamled", yaml.safe_dump(current).encode(), "application/yaml"),
    )
    assert scene.names_no_other_cr("yamled")
    fault.checked("the stored ConfigMap still names only the job's own CR")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ],
)
def test_patches_adding_a_foreign_owner(scene: Scene, fault: Fault, content_type: str) -> None:
    scene.made_by_job("patched")
    fault.tried(f"a {content_type} patch that adds another CR as owner")
    patch: dict[str, Any] = {"metadata": {"ownerReferences": [scene.ref(scene.theirs)]}}
    query = ""
    if content_type.startswith("application/apply-patch"):
        patch = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "patched", **patch["metadata"]},
        }
        query = "?fieldManager=hostile&force=true"
    answer = scene.job.send("PATCH", f"{scene.cms}/patched{query}", patch, content_type)
    refused(fault, answer)
    assert scene.names_no_other_cr("patched")
    fault.checked("the stored ConfigMap still names only the job's own CR")


def test_protobuf_bodies_are_refused(scene: Scene, fault: Fault) -> None:
    fault.tried("a POST with an application/vnd.kubernetes.protobuf body the proxy cannot read")
    body = b"k8s\x00\n\x0f\n\x02v1\x12\tConfigMap\x12\x10\n\x0e\n\x06protoc"
    answer = scene.job.send("POST", scene.cms, body, "application/vnd.kubernetes.protobuf")
    refused(fault, answer, 415)
    assert "JSON or YAML" in answer.message
    assert scene.stored("protoc") is None
    fault.checked("nothing was created")


def test_a_token_is_useless_after_its_job(scene: Scene, fault: Fault) -> None:
    fault.tried("a request with the token of a job that has ended")
    scene.job.running.proxy.revoke(scene.job.token)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}}
    refused(fault, scene.job.send("POST", scene.cms, body), 401)
    assert scene.stored("late") is None
    fault.checked("nothing was created")


def test_writing_another_crs_status(scene: Scene, fault: Fault) -> None:
    path = f"/apis/{E2E_GROUP}/v1/namespaces/{scene.namespace}/echoes/theirs"
    fault.tried("a merge patch of another CR's status subresource")
    answer = scene.job.send(
        "PATCH", f"{path}/status", {"status": {"forged": "yes"}}, "application/merge-patch+json"
    )
    refused(fault, answer)
    theirs = scene.kubectl.get("echo", "theirs", scene.namespace) or {}
    assert "forged" not in (theirs.get("status") or {})
    fault.checked("the other CR's status is unchanged")
    assert scene.job.send("GET", path).status == 200
    fault.checked("reading the other CR is still allowed")
    mine = f"/apis/{E2E_GROUP}/v1/namespaces/{scene.namespace}/echoes/mine/status"
    own = scene.job.send("PATCH", mine, {"status": {"phase": "ok"}}, "application/merge-patch+json")
    assert own.status == 200, own
    fault.checked("the job can still write its own CR's status")


def test_a_job_keeps_foreign_owners_it_found(scene: Scene, fault: Fault) -> None:
    """Owners another party set stay writable around: a job may keep them, only not add new ones."""
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "shared",
            "namespace": scene.namespace,
            "ownerReferences": [scene.ref(scene.theirs)],
        },
    }
    scene.kubectl.apply(body)
    fault.tried("a JSON merge patch of data on an object another CR already owns")
    answer = scene.job.send(
        "PATCH", f"{scene.cms}/shared", {"data": {"k": "v"}}, "application/merge-patch+json"
    )
    assert answer.status == 200, answer
    stored = scene.stored("shared") or {}
    assert stored["data"] == {"k": "v"}
    assert scene.theirs.uid in [r["uid"] for r in stored["metadata"]["ownerReferences"]]
    fault.checked("the write went through and the existing owner is kept")
