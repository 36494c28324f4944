"""Recorded calls → merged, sorted ClusterRole rules in role.yaml's generated block."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from runner.cli.main import main as cli
from runner.cluster.rbaccalls import Call, merge_into
from runner.scaffold import create_api, init_project, rbacrules

ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: manager-role
rules:
  # mine
  - apiGroups: [""]
    resources: [events]
    verbs: [create, patch]
  # +ansible-operator:generated:begin rbac/foos.x.io
  - apiGroups: [x.io]
    resources: [foos/status]
    verbs: [get, patch, update]
  # +ansible-operator:generated:end rbac/foos.x.io
  # +kubebuilder:scaffold:rules
"""

RECORD = {
    "x.io/v1/Foo": {
        Call("", "configmaps", "get", True),
        Call("", "configmaps", "create", True),
        Call("", "services", "get", True),
        Call("", "services", "create", True),
        Call("apps", "deployments", "patch", True),
        Call("", "events", "create", True),  # granted by the user's rule
        Call("x.io", "foos/status", "patch", True),  # granted by the kind's block
        Call("", "namespaces", "get", False),
    },
    "x.io/v1/Bar": {
        Call("", "pods/exec", "create", True),
        Call("", "pods/exec", "get", True),
        Call("", "configmaps", "get", True),
    },
}


def test_rules_are_merged_sorted_and_leave_out_what_is_granted() -> None:
    rules = rbacrules.merge(rbacrules.needed(RECORD, rbacrules.role_rules(ROLE)))
    assert [r.as_yaml() for r in rules] == [
        {"apiGroups": [""], "resources": ["configmaps", "pods/exec", "services"], "verbs": ["create", "get"]},
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]},
    ]
    assert rules[0].kinds == ("Bar", "Foo")
    assert rules[1].cluster_wide == ("namespaces",)
    # the same calls in another order give the same text
    again = {k: set(sorted(v, reverse=True)) for k, v in reversed(list(RECORD.items()))}
    assert rbacrules.block_body(rbacrules.merge(rbacrules.needed(again, rbacrules.role_rules(ROLE)))) == (
        rbacrules.block_body(rules)
    )


def test_write_adds_the_block_before_the_marker_then_rewrites_only_it() -> None:
    rules = rbacrules.merge(rbacrules.needed(RECORD, rbacrules.role_rules(ROLE)))
    first = rbacrules.rewrite(ROLE, rbacrules.block_body(rules))
    assert first.index("generated:end rbac/job-calls") < first.index("+kubebuilder:scaffold:rules")
    assert first.startswith(ROLE.split("  # +kubebuilder")[0])  # the user's rules and other blocks kept
    (doc,) = yaml.safe_load_all(first)
    assert {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]} in doc["rules"]
    assert "  # Bar, Foo\n" in first
    assert "# cluster-wide calls (namespaces): a Role (config/namespaced) cannot grant them" in first
    # a second write with fewer calls replaces the block and nothing else
    fewer = rbacrules.merge(rbacrules.needed({"x.io/v1/Foo": {Call("", "secrets", "list", True)}}))
    second = rbacrules.rewrite(first, rbacrules.block_body(fewer))
    assert "deployments" not in second and "secrets" in second
    assert second.count("generated:begin rbac/job-calls") == 1
    assert rbacrules.without_block(second) == rbacrules.without_block(first)


def test_a_role_file_without_block_or_marker_is_refused_with_what_to_add() -> None:
    with pytest.raises(rbacrules.RoleFileError, match="generated:begin rbac/job-calls"):
        rbacrules.rewrite(ROLE.replace("  # +kubebuilder:scaffold:rules\n", ""), "# x\n")


def test_check_names_the_calls_the_role_does_not_grant() -> None:
    lacking = rbacrules.missing(RECORD, ROLE)
    assert Call("apps", "deployments", "patch", True) in lacking
    assert Call("", "events", "create", True) not in lacking
    assert lacking[Call("", "configmaps", "get", True)] == {"Foo", "Bar"}
    assert (
        Call("", "pods/exec", "create", True).describe()
        == "create pods/exec (API group core, in a namespace)"
    )


@pytest.mark.parametrize(
    ("rule", "call", "granted"),
    [
        (
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            Call("apps", "deployments", "get", True),
            True,
        ),
        (
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            Call("", "pods/log", "get", True),
            False,
        ),
        (
            {"apiGroups": [""], "resources": ["*/log"], "verbs": ["get"]},
            Call("", "pods/log", "get", True),
            True,
        ),
        (
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"], "resourceNames": ["p"]},
            Call("", "pods", "get", True),
            False,
        ),
        (
            {"apiGroups": ["apps"], "resources": ["pods"], "verbs": ["get"]},
            Call("", "pods", "get", True),
            False,
        ),
    ],
)
def test_what_a_rule_grants(rule: dict[str, object], call: Call, granted: bool) -> None:
    assert rbacrules.grants(rule, call) is granted


# ---- the scaffolded block and the command
def _project(tmp_path: Path) -> Path:
    root = tmp_path / "kv"
    init_project(root, domain="example.com")
    create_api(root, group="cache", version="v1", kind="Memcached", generate_role=True)
    return root


def test_init_and_create_api_scaffold_the_block_once(tmp_path: Path) -> None:
    root = _project(tmp_path)
    create_api(root, group="cache", version="v1", kind="Redis", generate_role=True)
    text = (root / "config/rbac/role.yaml").read_text()
    assert text.count("generated:begin rbac/job-calls") == 1
    assert text.index("generated:end rbac/job-calls") < text.index("+kubebuilder:scaffold:rules")
    # a project made before the block existed gets it from create api
    old = rbacrules.without_block(text)
    old = "".join(line for line in old.splitlines(keepends=True) if "rbac/job-calls" not in line)
    (root / "config/rbac/role.yaml").write_text(old)
    create_api(root, group="cache", version="v1", kind="Redis", generate_role=True)
    assert (root / "config/rbac/role.yaml").read_text().count("generated:begin rbac/job-calls") == 1


def test_the_rbac_command_prints_writes_and_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _project(tmp_path)
    assert cli(["rbac", f"--project-dir={root}"]) == 1
    assert "--rbac-record=" in capsys.readouterr().err  # says how to make the record
    merge_into(root / ".ansible-operator/rbac-calls.json", RECORD)
    assert cli(["rbac", f"--project-dir={root}", "--check"]) == 1
    err = capsys.readouterr().err
    assert "patch deployments (API group apps, in a namespace), made by Foo" in err
    assert cli(["rbac", f"--project-dir={root}"]) == 0
    printed = capsys.readouterr().out
    assert "- apps" in printed and "memcacheds" not in printed
    assert cli(["rbac", f"--project-dir={root}", "--write"]) == 0
    assert "updated" in capsys.readouterr().out
    assert cli(["rbac", f"--project-dir={root}", "--check"]) == 0
    assert cli(["rbac", f"--project-dir={root}", "--write"]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert cli(["rbac", f"--project-dir={root}", "--kind=Nope"]) == 1
    assert "recorded kinds: Bar, Foo" in capsys.readouterr().err
