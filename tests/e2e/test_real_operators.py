"""What real operators moved from the Go ansible-operator rely on (issue 13 §1): a watch on a core
kind, a watches file picked by an env var at start, the operator's own ansible.cfg, and a rerun
forced by touching an annotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import E2E_GROUP, E2E_OPERATOR, OperatorFactory, cr
from tests.e2e.kube import Kubectl, wait_for
from tests.e2e.test_reconcile import echo_cm, successful

SOURCE_LABEL = "e2e.runner.example.com/source"


def write_watches(path: Path, *entries: dict) -> Path:
    path.write_text(yaml.safe_dump(list(entries)))
    return path


def configmap(name: str, namespace: str, data: dict[str, str], labels: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": data,
    }


@pytest.mark.parametrize("manage_status", [False, True])
def test_core_kind_watch_gets_the_go_variable_names(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, tmp_path: Path, manage_status: bool
) -> None:
    watches = write_watches(
        tmp_path / "watches.yaml",
        {
            "group": "",
            "version": "v1",
            "kind": "ConfigMap",
            "role": "corecopy",
            "manageStatus": manage_status,
            "selector": {"matchLabels": {SOURCE_LABEL: "yes"}},
        },
    )
    operators.start(namespace, watches=watches)
    kubectl.apply(
        configmap("greeter", namespace, {"greeting": "hello"}, {SOURCE_LABEL: "yes"}),
        configmap("bystander", namespace, {"greeting": "ignored"}, {}),
    )
    copy = wait_for(lambda: kubectl.get("configmap", "greeter-copy", namespace), "the role to copy greeter")
    assert copy["data"]["greeting"] == "hello"
    assert copy["data"]["source_kind"] == "ConfigMap"
    assert copy["data"]["source_labels"] == f"{SOURCE_LABEL}=yes"
    assert json.loads(copy["data"]["spec"]) == {}  # a ConfigMap has no spec: {} as in Go

    kubectl.patch("configmap", "greeter", namespace, {"data": {"greeting": "bonjour"}})
    wait_for(
        lambda: kubectl.get("configmap", "greeter-copy", namespace)["data"]["greeting"] == "bonjour",
        "a data change to rerun the role",
    )
    # The selector kept the unlabelled ConfigMap out, and the copies (unlabelled) too.
    assert kubectl.get("configmap", "bystander-copy", namespace) is None
    assert kubectl.get("configmap", "greeter-copy-copy", namespace) is None
    # A ConfigMap has no status: with manageStatus the conditions are dropped, the role still runs.
    assert "status" not in kubectl.get("configmap", "greeter", namespace)


def test_watches_file_chosen_by_an_env_var_in_the_entrypoint(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, tmp_path: Path
) -> None:
    # Kiali's pattern: one image, several watches files, the Deployment picks one by env
    # (`--watches-file=$(WATCHES_FILE)` in its args, or an entrypoint script as here).
    write_watches(
        tmp_path / "watches-k8s.yaml",
        {"group": E2E_GROUP, "version": "v1", "kind": "Echo", "role": "echo"},
    )
    write_watches(
        tmp_path / "watches-os.yaml",
        {"group": E2E_GROUP, "version": "v1", "kind": "QuietEcho", "role": "echo", "vars": {"pinned": "os"}},
    )
    operators.start(
        namespace,
        entrypoint='exec "$@" --watches-file="$WATCHES_FILE"',
        env={"WATCHES_FILE": str(tmp_path / "watches-os.yaml")},
    )
    kubectl.apply(cr("QuietEcho", "chosen", namespace), cr("Echo", "not-chosen", namespace))
    mirrored = wait_for(lambda: echo_cm(kubectl, "chosen", namespace), "the chosen file's kind to run")
    assert mirrored["data"]["pinned"] == "os"
    # Only the chosen file's kinds are served: the Echo (in the other file) never ran.
    assert echo_cm(kubectl, "not-chosen", namespace) is None
    assert not kubectl.get("echo", "not-chosen", namespace).get("status")

    # The same entrypoint with the variable unset: one line says so (a usage error, exit code 2).
    unset = operators.start(namespace, entrypoint='exec "$@" --watches-file="$WATCHES_FILE"')
    assert unset.proc.wait(timeout=60) == 2
    assert "--watches-file: the path is empty" in unset.logs()


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
@pytest.mark.parametrize("executor", ["plain", "fast"])
def test_ansible_config_of_the_operator_is_honoured(
    kubectl: Kubectl,
    namespace: str,
    operators: OperatorFactory,
    tmp_path: Path,
    executor: str,
    relative: bool,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "ansible.cfg").write_text(
        "[defaults]\ntimeout = 37\ncallbacks_enabled = ansible.builtin.junit\n"
    )
    reports = tmp_path / "junit"
    watches = write_watches(
        tmp_path / "watches.yaml",
        {
            "group": E2E_GROUP,
            "version": "v1",
            "kind": "Echo",
            "role": str(E2E_OPERATOR / "roles" / "settings"),
        },
    )
    # The operator runs in its project directory; ANSIBLE_CONFIG names the project's ansible.cfg,
    # as an absolute path or relative to that directory.
    operators.start(
        namespace,
        f"--executor={executor}",
        watches=watches,
        cwd=project,
        env={
            "ANSIBLE_CONFIG": "ansible.cfg" if relative else str(project / "ansible.cfg"),
            "JUNIT_OUTPUT_DIR": str(reports),
        },
    )
    kubectl.apply(cr("Echo", "configured", namespace))
    successful(kubectl, "echo", "configured", namespace)
    settings = kubectl.get("configmap", "configured-settings", namespace)
    assert settings["data"]["timeout"] == "timeout=37"
    assert settings["data"]["callbacks"] == "ansible.builtin.junit"
    assert settings["data"]["config_file"] == str(project / "ansible.cfg")
    # The callback enabled there ran: the junit report of the job is written.
    report = wait_for(lambda: sorted(reports.glob("*.xml")), "the junit callback's report")
    assert "write the settings the job sees" in report[0].read_text()


def test_touching_an_annotation_reruns_when_the_watch_asks(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    # Users force a run by stamping an existing annotation with a new value (a timestamp).
    operators.start(namespace)
    kubectl.apply(cr("NoteEcho", "touched", namespace, annotations={"example.com/touched": "t0"}))
    successful(kubectl, "noteecho", "touched", namespace)
    for stamp in ("t1", "t2"):
        before = echo_cm(kubectl, "touched", namespace)["data"]["run_at"]
        kubectl.run(
            "annotate", "--overwrite", "noteecho", "touched", "-n", namespace, f"example.com/touched={stamp}"
        )
        wait_for(
            lambda before=before: echo_cm(kubectl, "touched", namespace)["data"]["run_at"] != before,
            f"touching the annotation ({stamp}) to rerun the role",
        )
