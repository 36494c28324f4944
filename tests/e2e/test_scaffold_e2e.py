"""A kind scaffolded from a role's argument specs: the API server validates CRs before any role runs,
and the scaffolded project runs as an operator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.scaffold import create_api, init_project
from tests.e2e.conftest import OperatorFactory
from tests.e2e.kube import Kubectl, is_true, wait_for

GROUP = "scaffold.e2e.runner.example.com"
ARGUMENT_SPECS = """\
argument_specs:
  main:
    short_description: A key-value store.
    options:
      size:
        type: int
        required: true
        description: Number of shards.
      mode:
        type: str
        choices: [fast, safe]
        default: safe
      ratio:
        type: float
        default: 0.5
      debug_logging:
        type: bool
        default: false
      tags:
        type: list
        elements: str
        default: []
      tls_config:
        type: dict
        options:
          secret_name:
            type: str
            required: true
          min_version:
            type: str
            default: "1.2"
      ansible_operator_meta:
        type: dict
        required: true
        options:
          name: {type: str, required: true}
          namespace: {type: str}
"""
TASKS = """\
- name: Record what the role got
  kubernetes.core.k8s:
    state: present
    definition:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: "{{ ansible_operator_meta.name }}-seen"
        namespace: "{{ ansible_operator_meta.namespace }}"
      data:
        vars: "{{ {'size': size, 'mode': mode, 'ratio': ratio, 'debug_logging': debug_logging,
                   'tags': tags, 'tls_config': tls_config | default(None)} | to_json }}"
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, kubectl: Kubectl) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("scaffold") / "kv-operator"
    init_project(root, domain="e2e.runner.example.com")
    role = root / "roles" / "kvstore"
    (role / "meta").mkdir(parents=True)
    (role / "tasks").mkdir()
    (role / "meta" / "argument_specs.yml").write_text(ARGUMENT_SPECS)
    (role / "tasks" / "main.yml").write_text(TASKS)
    w = create_api(root, group="scaffold", version="v1", kind="KVStore", generate_role=True)
    assert not w.warnings
    kubectl.run("apply", "-f", str(root / "config/crd/bases"))
    kubectl.run("wait", "--for=condition=Established", "--timeout=60s", "-f", str(root / "config/crd/bases"))
    yield root
    kubectl.run("delete", "-f", str(root / "config/crd/bases"), "--wait=false", check=False)


def kv(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "KVStore",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def apply(kubectl: Kubectl, obj: dict[str, Any]) -> tuple[int, str]:
    proc = kubectl.run("apply", "-f", "-", input=yaml.safe_dump(obj), check=False)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"size": "three"}, "spec.size"),  # wrong type
        ({"mode": "fast"}, "spec.size"),  # required field missing
        ({"size": 1, "mode": "slow"}, "spec.mode"),  # not one of the choices
        ({"size": 1, "tags": "a"}, "spec.tags"),  # a list expected
        ({"size": 1, "tlsConfig": {"minVersion": "1.3"}}, "spec.tlsConfig.secretName"),  # nested required
        ({"size": 1, "debugLoging": True}, "debugLoging"),  # unknown field (a typo)
    ],
)
def test_the_api_server_rejects_bad_crs(
    project: Path, kubectl: Kubectl, namespace: str, spec: dict[str, Any], error: str
) -> None:
    rc, err = apply(kubectl, kv("bad", namespace, spec))
    assert rc != 0, f"accepted {spec}"
    assert error in err, err
    assert kubectl.get(f"kvstores.{GROUP}", "bad", namespace) is None


def test_a_valid_cr_gets_the_defaults_and_reconciles(
    project: Path, kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    spec = {"size": 3, "tlsConfig": {"secretName": "kv-tls"}, "debugLogging": True}
    rc, err = apply(kubectl, kv("good", namespace, spec))
    assert rc == 0, err
    op = operators.start(namespace, cwd=project)
    resource = f"kvstores.{GROUP}"
    obj = wait_for(
        lambda: (o := kubectl.get(resource, "good", namespace)) and is_true(o, "Successful") and o,
        "KVStore good Successful=True",
        timeout=120,
    )
    assert obj["spec"]["mode"] == "safe" and obj["spec"]["ratio"] == 0.5  # CRD defaults
    seen = kubectl.get("configmap", "good-seen", namespace)
    assert seen is not None, op.logs()[-3000:]
    assert json.loads(seen["data"]["vars"]) == {
        "size": 3,
        "mode": "safe",
        "ratio": 0.5,
        "debug_logging": True,
        "tags": [],
        "tls_config": {"secret_name": "kv-tls", "min_version": "1.2"},
    }
    table = kubectl.run("get", resource, "good", "-n", namespace).stdout
    assert table.split()[:4] == ["NAME", "SUCCESSFUL", "FAILURE", "AGE"] and "True" in table
