"""Helpers for the tests that run the Go project's test operators (tests/e2e/go_operators/): one
namespace and one operator process per test module, shared by its cases."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from runner.cluster import devcluster
from tests.e2e.conftest import OperatorFactory
from tests.e2e.kube import Kubectl, condition, wait_for

GO_OPERATORS = Path(__file__).resolve().parent / "go_operators"

__all__ = ["FIRST_RUN_TIMEOUT", "GO_OPERATORS", "install_crds", "module_operators", "running", "succeeded"]

# The first runs of a module start the warm workers and, on the plain executor or a busy machine,
# a role of 25 tasks takes minutes: the first waits are generous (they end as soon as it is done).
FIRST_RUN_TIMEOUT = 300.0


def install_crds(kubectl: Kubectl, group: str, version: str, kinds: list[str]) -> None:
    """Namespaced CRDs with a status subresource and an open schema, as `create api` makes them."""
    kubectl.apply(*(devcluster.open_crd(group, version, kind, kind.lower() + "s") for kind in kinds))
    for kind in kinds:
        kubectl.run("wait", "--for=condition=Established", "--timeout=60s", f"crd/{kind.lower()}s.{group}")


@contextmanager
def module_operators(
    kubectl: Kubectl, kubeconfig: str, tmp: Path, prefix: str, request: pytest.FixtureRequest
) -> Iterator[tuple[str, OperatorFactory]]:
    """A namespace of the module's own and the factory of its operator processes; the operators'
    logs are shown when a case of the module failed."""
    ns = f"{prefix}-{uuid.uuid4().hex[:6]}"
    kubectl.run("create", "namespace", ns)
    factory = OperatorFactory(kubeconfig, tmp)
    failed_before = request.session.testsfailed
    try:
        yield ns, factory
    finally:
        factory.stop_all()
        if request.session.testsfailed > failed_before:
            for i, op in enumerate(factory.started):
                sys.stderr.write(f"\n----- {prefix} operator {i} log -----\n{op.logs()[-30000:]}\n")
        kubectl.run("delete", "namespace", ns, "--wait=false", check=False)


def running(
    kubectl: Kubectl, resource: str, name: str, ns: str, timeout: float = FIRST_RUN_TIMEOUT
) -> dict[str, Any]:
    """Wait for ``Running=True`` reason ``Successful`` (what several Go molecule tests wait for)."""

    def check() -> dict[str, Any] | None:
        obj = kubectl.get(resource, name, ns)
        cond = condition(obj, "Running")
        return obj if cond and cond.get("status") == "True" and cond.get("reason") == "Successful" else None

    return wait_for(check, f"{resource} {ns}/{name} Running=True reason Successful", timeout=timeout)


def succeeded(
    kubectl: Kubectl, resource: str, name: str, ns: str, timeout: float = FIRST_RUN_TIMEOUT
) -> dict[str, Any]:
    """Wait for ``Successful=True`` (what the Go molecule tests wait for after creating a CR)."""

    def check() -> dict[str, Any] | None:
        obj = kubectl.get(resource, name, ns)
        cond = condition(obj, "Successful")
        return obj if cond and cond.get("status") == "True" else None

    return wait_for(check, f"{resource} {ns}/{name} Successful=True", timeout=timeout)
