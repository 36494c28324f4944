"""Small kubectl helpers for the end-to-end tests (the real kubectl against the real API server)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class Kubectl:
    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        # A discovery cache of its own: ~/.kube/cache is keyed by host and port, and the tests start
        # many servers and proxies on random loopback ports, so a shared one can describe another.
        self.cache_dir = tempfile.mkdtemp(prefix="kubectl-cache-")
        weakref.finalize(self, shutil.rmtree, self.cache_dir, True)

    def run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["kubectl", "--kubeconfig", self.kubeconfig, "--cache-dir", self.cache_dir, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def apply(self, *objs: Mapping[str, Any]) -> None:
        self.run("apply", "-f", "-", input=yaml.safe_dump_all([dict(o) for o in objs]))

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", resource, name, "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        proc = self.run(*args, check=False)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr or "not found" in proc.stderr:
                return None
            raise AssertionError(f"kubectl get {resource} {name}: {proc.stderr.strip()}")
        return json.loads(proc.stdout)

    def delete(self, resource: str, name: str, namespace: str | None = None, wait: bool = False) -> None:
        args = ["delete", resource, name, "--ignore-not-found", f"--wait={'true' if wait else 'false'}"]
        if namespace:
            args += ["-n", namespace]
        self.run(*args)

    def patch(
        self, resource: str, name: str, namespace: str, patch: Mapping[str, Any], *, status: bool = False
    ) -> None:
        args = ["patch", resource, name, "-n", namespace, "--type=merge", "-p", json.dumps(patch)]
        if status:
            args.append("--subresource=status")
        self.run(*args)


def condition(obj: Mapping[str, Any] | None, ctype: str) -> Mapping[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return None


def is_true(obj: Mapping[str, Any] | None, ctype: str) -> bool:
    cond = condition(obj, ctype)
    return bool(cond and cond.get("status") == "True")


def wait_for(fn: Callable[[], T | None], what: str, timeout: float = 90.0, interval: float = 0.3) -> T:
    """Poll ``fn`` until it returns something truthy; fail with ``what`` and the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")
        time.sleep(interval)
