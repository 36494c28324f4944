"""A cluster for tests, the demo and molecule: kube-lite started on demand, or the cluster of $KUBECONFIG.

Used by every end-to-end path through ``cluster()`` (Python) or ``python -m runner.cluster.devcluster``
(shell):

* ``RUNNER_USE_KUBECONFIG=1`` with ``KUBECONFIG`` set: use that cluster (kind, k3s, OpenShift...),
  start and stop nothing.
* otherwise: start kube-lite (``KUBE_LITE_DIR``, default ``../shared/kube-lite`` next to this
  checkout) in a fresh directory and stop it afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Cluster:
    kubeconfig: str
    kind: str  # "kube-lite" or "external"
    state_dir: str | None = None


def use_external() -> bool:
    return os.environ.get("RUNNER_USE_KUBECONFIG", "") in ("1", "true", "yes") and bool(
        os.environ.get("KUBECONFIG")
    )


def kube_lite_dir() -> Path:
    explicit = os.environ.get("KUBE_LITE_DIR")
    candidates = (
        [Path(explicit)]
        if explicit
        else [REPO.parent / "shared" / "kube-lite", REPO / "shared" / "kube-lite"]
    )
    for c in candidates:
        if (c / "start.sh").is_file():
            return c
    where = ", ".join(str(c) for c in candidates)
    raise RuntimeError(
        f"kube-lite not found (looked in {where}); set KUBE_LITE_DIR or RUNNER_USE_KUBECONFIG=1"
    )


START_ATTEMPTS = 3


def start(state_dir: str | None = None, *, rbac: bool = False) -> Cluster:
    """``rbac``: kube-lite enforces RBAC and takes ServiceAccount tokens (``sa_token``); a real
    cluster does both anyway."""
    if use_external():
        return Cluster(os.environ["KUBECONFIG"], "external")
    d = state_dir or tempfile.mkdtemp(prefix="kube-lite-")
    env = {**os.environ, "KUBE_LITE_RBAC": "1"} if rbac else None
    for attempt in range(1, START_ATTEMPTS + 1):
        proc = subprocess.run(
            ["bash", str(kube_lite_dir() / "start.sh"), d], capture_output=True, text=True, env=env
        )
        sys.stderr.write(proc.stderr)
        if proc.returncode == 0:
            return Cluster(proc.stdout.strip().splitlines()[-1], "kube-lite", d)
        # A server that died while starting (seen on a machine loaded far beyond its cores) is
        # started again on the same directory, as after a restart; anything else is final.
        if attempt == START_ATTEMPTS or "exited during startup" not in proc.stderr:
            raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        sys.stderr.write(f"kube-lite: starting again ({attempt + 1}/{START_ATTEMPTS})\n")
    raise AssertionError("unreachable")


def stop(cluster_or_dir: Cluster | str, *, remove: bool = True) -> None:
    d = cluster_or_dir.state_dir if isinstance(cluster_or_dir, Cluster) else cluster_or_dir
    if not d:
        return
    subprocess.run(["bash", str(kube_lite_dir() / "stop.sh"), d], check=False)
    if remove:
        shutil.rmtree(d, ignore_errors=True)


def sa_token(cluster: Cluster, namespace: str, name: str) -> str:
    """A bearer token for a ServiceAccount: kube-lite's ``sa-token.sh`` (started with ``rbac``), or a
    TokenRequest (``kubectl create token``) on a real cluster."""
    if cluster.state_dir is None:
        cmd = ["kubectl", "--kubeconfig", cluster.kubeconfig, "create", "token", name, "-n", namespace]
    else:
        cmd = ["bash", str(kube_lite_dir() / "sa-token.sh"), cluster.state_dir, namespace, name]
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout.strip()


def sa_kubeconfig(admin_kubeconfig: str, token: str, namespace: str) -> str:
    """A kubeconfig with the server and CA of the admin kubeconfig's current context and the
    ServiceAccount's token as its only credentials."""
    view = subprocess.run(
        ["kubectl", "--kubeconfig", admin_kubeconfig, "config", "view", "--raw", "--minify", "--flatten"],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    (c,) = yaml.safe_load(view)["clusters"]
    context = {"cluster": c["name"], "user": "sa", "namespace": namespace}
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [c],
            "users": [{"name": "sa", "user": {"token": token}}],
            "contexts": [{"name": "sa", "context": context}],
            "current-context": "sa",
        }
    )


@contextlib.contextmanager
def cluster(*, rbac: bool = False) -> Iterator[Cluster]:
    c = start(rbac=rbac)
    try:
        yield c
    finally:
        stop(c)


def open_crd(group: str, version: str, kind: str, plural: str) -> dict[str, Any]:
    """A namespaced CRD with a status subresource whose objects take any fields (test kinds)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m runner.cluster.devcluster")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser(
        "start", help="start kube-lite in DIR (or use $KUBECONFIG); prints the kubeconfig path"
    )
    s.add_argument("dir")
    s.add_argument("--rbac", action="store_true", help="kube-lite enforces RBAC (KUBE_LITE_RBAC=1)")
    t = sub.add_parser("stop", help="stop the kube-lite started in DIR and remove DIR")
    t.add_argument("dir")
    k = sub.add_parser(
        "sa-kubeconfig",
        help="print a kubeconfig for a ServiceAccount of the cluster started in DIR (or of $KUBECONFIG's)",
    )
    k.add_argument("dir")
    k.add_argument("namespace")
    k.add_argument("name")
    args = p.parse_args(argv)
    if args.cmd == "start":
        print(start(args.dir, rbac=args.rbac).kubeconfig)
    elif args.cmd == "stop":
        stop(args.dir)
    else:
        d = Path(args.dir)
        if (d / "env").is_file():
            c = Cluster(str(d / "kubeconfig"), "kube-lite", str(d))
        else:
            c = Cluster(os.environ["KUBECONFIG"], "external")
        token = sa_token(c, args.namespace, args.name)
        sys.stdout.write(sa_kubeconfig(c.kubeconfig, token, args.namespace))
    return 0


if __name__ == "__main__":
    sys.exit(main())
