"""An operator project installed as it ships (its config/ overlay, minus the Deployment) on an API
server that enforces RBAC, and the operator run from the checkout as the overlay's ServiceAccount:
what its rules do not grant fails the run, and the failure names the call."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runner.cluster import devcluster
from tests.e2e.conftest import OperatorProcess
from tests.e2e.kube import Kubectl, condition, wait_for

# What the runner and its job proxy log when the API server refuses a call (a 403).
FORBIDDEN = re.compile(r"forbid|forbade|Not enough permissions", re.IGNORECASE)


@dataclass
class Installed:
    namespace: str  # the operator's namespace (config/namespaced: also the watched one)
    service_account: str
    kubeconfig: str  # the ServiceAccount's token, nothing else
    cluster_scoped: list[dict[str, Any]]


def render(project: Path, overlay: str, namespace: str, prefix: str, tmp: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize`` of the project's overlay, moved to ``namespace`` with ``prefix`` on
    every name (so that it collides with no other install on a shared cluster)."""
    wrapper = tmp / f"kustomize-{prefix}"
    wrapper.mkdir(parents=True, exist_ok=True)
    base = os.path.relpath(project / "config" / overlay, wrapper)
    (wrapper / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [base], "namespace": namespace, "namePrefix": prefix})
    )
    out = subprocess.run(
        ["kubectl", "kustomize", str(wrapper)], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def install(admin: Kubectl, cluster: devcluster.Cluster, project: Path, overlay: str, tmp: Path) -> Installed:
    """Apply the overlay without its Deployment (the operator runs from the checkout instead)."""
    tag = uuid.uuid4().hex[:6]
    ns = f"lp-{overlay[:4]}-{tag}"
    objs = [o for o in render(project, overlay, ns, f"lp{tag}-", tmp) if o["kind"] != "Deployment"]
    admin.apply(*objs)
    admin.run("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    (sa,) = [o["metadata"]["name"] for o in objs if o["kind"] == "ServiceAccount"]
    token = devcluster.sa_token(cluster, ns, sa)
    kubeconfig = tmp / f"{sa}.kubeconfig"
    kubeconfig.write_text(devcluster.sa_kubeconfig(admin.kubeconfig, token, ns))
    crd = next(o for o in objs if o["kind"] == "CustomResourceDefinition")
    who = f"--as=system:serviceaccount:{ns}:{sa}"
    plural = f"{crd['spec']['names']['plural']}.{crd['spec']['group']}"
    # RBAC takes effect shortly after the write (the API server's informers).
    wait_for(
        lambda: (
            admin.run("auth", "can-i", "watch", plural, "-n", ns, who, check=False).stdout.strip() == "yes"
        ),
        f"the ServiceAccount's rules to take effect ({plural})",
    )
    cluster_scoped = [o for o in objs if "namespace" not in o["metadata"] and o["kind"] != "Namespace"]
    cluster_scoped = [o for o in cluster_scoped if o["kind"] != "CustomResourceDefinition"]
    return Installed(ns, sa, str(kubeconfig), cluster_scoped)


def uninstall(admin: Kubectl, installed: Installed) -> None:
    for obj in installed.cluster_scoped:
        admin.delete(obj["kind"].lower(), obj["metadata"]["name"])
    admin.run("delete", "namespace", installed.namespace, "--wait=false", check=False)


def forbidden(op: OperatorProcess) -> list[str]:
    return [line for line in op.logs().splitlines() if FORBIDDEN.search(line)]


def refused(op: OperatorProcess) -> None:
    """Fail, naming the calls, when the operator's log shows a call the API server refused."""
    lines = forbidden(op)
    assert not lines, "the operator's ServiceAccount lacks permissions:\n" + "\n".join(lines[:20])


def reconciled(admin: Kubectl, op: OperatorProcess, resource: str, name: str, ns: str) -> dict[str, Any]:
    """Wait for Successful=True; fail at once on a refused call (naming it) or a Failure."""

    def check() -> dict[str, Any] | None:
        refused(op)
        obj = admin.get(resource, name, ns)
        failure = condition(obj, "Failure")
        message = str((failure or {}).get("message", ""))
        assert not (failure and failure.get("status") == "True"), f"{resource} {ns}/{name} failed: {message}"
        successful = condition(obj, "Successful")
        return obj if successful and successful.get("status") == "True" else None

    return wait_for(check, f"{resource} {ns}/{name} Successful=True", timeout=120)
