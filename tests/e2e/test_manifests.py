"""config/ renders and applies (server-side dry run against kube-lite), the Deployment is locked down,
RBAC is least-privilege, the Dockerfile lints and the image's install steps work
(scripts/check-manifests.sh)."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.config.watches import load_watches

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check-manifests.sh"


def check(*steps: str, timeout: float = 300) -> str:
    proc = subprocess.run(
        ["bash", str(SCRIPT), *steps],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"check-manifests.sh {' '.join(steps)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stderr


@cache
def rendered(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "config" / overlay)], check=True, capture_output=True, text=True
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def test_kustomize_renders() -> None:
    assert "passed" in check("render")


def test_server_side_dry_run_apply_against_kube_lite() -> None:
    out = check("apply")
    assert "server-side dry-run apply of config/default: ok" in out
    assert "server-side dry-run apply of config/namespaced: ok" in out
    assert "server-side dry-run apply of config/sharded: ok" in out


def test_dockerfile_lints_with_hadolint() -> None:
    assert "hadolint Dockerfile: ok" in check("hadolint")


def test_the_image_install_steps_work() -> None:
    assert "the image's install steps work" in check("image", timeout=900)


@pytest.mark.parametrize("overlay", ["default", "namespaced"])
def test_the_manager_is_locked_down(overlay: str) -> None:
    (deploy,) = of_kind(rendered(overlay), "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(c["resources"]["requests"]) == set(c["resources"]["limits"]) == {"cpu", "memory"}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]  # the writable work dir
    env = {e["name"]: e for e in c["env"]}
    if overlay == "namespaced":
        assert env["WATCH_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    else:
        assert env["WATCH_NAMESPACE"]["value"] == ""
    # The image's entrypoint is `ansible-operator run --watches-file=./watches.yaml`.
    assert "run" not in c["args"] and all(a.startswith("--") for a in c["args"])


def test_rbac_is_least_privilege() -> None:
    objs = rendered("default")
    role = named(objs, "ClusterRole", "manager-role")
    rules = role["rules"]
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
    granted = {
        (g, r, v)
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }
    for w in load_watches(REPO / "watches.yaml", environ={}, cwd=str(REPO)):
        plural = w.gvk.kind.lower() + "s"
        for verb in ("get", "list", "watch", "patch", "update"):
            assert (w.gvk.group, plural, verb) in granted
        assert (w.gvk.group, f"{plural}/status", "patch") in granted
        assert (w.gvk.group, f"{plural}/finalizers", "update") in granted
        assert (w.gvk.group, plural, "delete") not in granted  # the operator never deletes CRs
    groups = {g for g, _, _ in granted}
    assert groups == {"", "apps", "demo.example.com"}
    assert not {r for _, r, _ in granted} & {"secrets", "pods/exec", "clusterroles", "leases"}
    binding = named(objs, "ClusterRoleBinding", "manager-rolebinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["namespace"] == "ansible-operator-system"
    assert_only_reads_crds(named(objs, "ClusterRole", "crd-reader-role"))
    assert_only_reviews(named(objs, "ClusterRole", "metrics-auth-role"))
    assert named(objs, "ClusterRoleBinding", "metrics-auth-rolebinding")["subjects"] == binding["subjects"]
    assert_only_reads_metrics(named(objs, "ClusterRole", "metrics-reader"))
    lease_role = named(objs, "Role", "leader-election-role")
    assert lease_role["metadata"]["namespace"] == "ansible-operator-system"
    assert {(g, r) for rule in lease_role["rules"] for g in rule["apiGroups"] for r in rule["resources"]} == {
        ("coordination.k8s.io", "leases")
    }


def named(objs: list[dict], kind: str, suffix: str) -> dict:
    (obj,) = [o for o in of_kind(objs, kind) if o["metadata"]["name"].endswith(suffix)]
    return obj


def assert_only_reads_crds(role: dict) -> None:
    assert role["rules"] == [
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "verbs": ["get", "list", "watch"],
        }
    ]


def assert_only_reviews(role: dict) -> None:
    assert role["rules"] == [
        {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
    ]


def assert_only_reads_metrics(role: dict) -> None:
    assert role["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]


def test_namespaced_overlay_grants_nothing_cluster_wide() -> None:
    objs = rendered("namespaced")
    assert {o["kind"] for o in objs} - {"CustomResourceDefinition", "Namespace"} == {
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
    }
    # The only cluster-wide grants: reading CRDs (kopf's discovery) and, for --metrics-require-rbac,
    # creating TokenReviews and SubjectAccessReviews; the metrics-reader role is bound to nobody.
    assert_only_reads_crds(named(objs, "ClusterRole", "crd-reader-role"))
    assert_only_reviews(named(objs, "ClusterRole", "metrics-auth-role"))
    assert_only_reads_metrics(named(objs, "ClusterRole", "metrics-reader"))
    assert len(of_kind(objs, "ClusterRole")) == 3
    assert {b["roleRef"]["name"] for b in of_kind(objs, "ClusterRoleBinding")} == {
        "ansible-operator-crd-reader-role",
        "ansible-operator-metrics-auth-role",
    }
    role = named(objs, "Role", "manager-role")
    binding = named(objs, "RoleBinding", "manager-rolebinding")
    (deploy,) = of_kind(objs, "Deployment")
    ns = deploy["metadata"]["namespace"]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == ns
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert role["rules"] == named(rendered("default"), "ClusterRole", "manager-role")["rules"]
