"""What a role written for the Go operator's ansible-core 2.18 meets on 2.19 (issue 13 §1).

ansible-core 2.19 templates natively: ``"{{ (count | int) + 1 }}"`` is the number 6, where 2.18
made it the string "6". Put in a ConfigMap's ``data`` (strings only), the number is refused by
the API server. The runner does not rewrite what a role sends (see README, "ansible-core 2.18 or
2.19"): on 2.19 the CR gets a Failure that names the task, the API server's words and the fix;
the same role with ``| string`` works on both. This file runs on whichever ansible-core is
installed next to the Python running it (CI runs it on both).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.e2e.conftest import OperatorFactory, cr, e2e_crd
from tests.e2e.kube import Kubectl, wait_for
from tests.e2e.test_failures import events_of
from tests.e2e.test_jobs import failure
from tests.e2e.test_reconcile import successful

ROLE = """
- name: write the next count
  when: not (ported | default(false))
  kubernetes.core.k8s:
    definition:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: "{{ ansible_operator_meta.name }}-next"
        namespace: "{{ ansible_operator_meta.namespace }}"
      data:
        next: "{{ (count | int) + 1 }}"
- name: write the next count as a string
  when: ported | default(false)
  kubernetes.core.k8s:
    definition:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: "{{ ansible_operator_meta.name }}-next"
        namespace: "{{ ansible_operator_meta.namespace }}"
      data:
        next: "{{ ((count | int) + 1) | string }}"
"""


def ansible_core() -> tuple[int, int]:
    from ansible.release import __version__

    major, minor = __version__.split(".")[:2]
    return int(major), int(minor)


def test_a_templated_number_in_a_configmap(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, tmp_path: Path
) -> None:
    kubectl.apply(e2e_crd("Bump"))
    kubectl.run("wait", "--for=condition=Established", "--timeout=60s", "crd/bumpes.e2e.runner.example.com")
    (tmp_path / "roles" / "bump" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "bump" / "tasks" / "main.yml").write_text(ROLE)
    (tmp_path / "watches.yaml").write_text(
        yaml.safe_dump([{"group": "e2e.runner.example.com", "version": "v1", "kind": "Bump", "role": "bump"}])
    )
    operators.start(namespace, cwd=tmp_path)

    kubectl.apply(cr("Bump", "ported", namespace, {"count": 5, "ported": True}))
    kubectl.apply(cr("Bump", "as-written", namespace, {"count": 5}))
    successful(kubectl, "bumpes", "ported", namespace)
    assert kubectl.get("configmap", "ported-next", namespace)["data"] == {"next": "6"}

    if ansible_core() < (2, 19):  # the Go operator's behaviour: the template's result is a string
        successful(kubectl, "bumpes", "as-written", namespace)
        assert kubectl.get("configmap", "as-written-next", namespace)["data"] == {"next": "6"}
        return
    message = failure(kubectl, "bumpes", "as-written", namespace)["message"]
    assert "write the next count" in message  # the task
    assert "cannot unmarshal number" in message and "of type string" in message  # the API server
    assert "| string" in message and "ansible-core 2.19" in message  # what to do
    assert '"kind"' not in message  # no Status JSON
    assert kubectl.get("configmap", "as-written-next", namespace) is None
    [event] = wait_for(lambda: events_of(kubectl, namespace, "as-written", "Failed"), "a Failed Event")
    assert "| string" in event["message"]
