"""A job's request → the RBAC checks it meets; the record file merges runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runner.cluster import rbaccalls
from runner.cluster.rbaccalls import Call


@pytest.mark.parametrize(
    ("method", "path", "query", "websocket", "expected"),
    [
        ("GET", "/api/v1/namespaces/ns/configmaps/x", "", False, [Call("", "configmaps", "get", True)]),
        (
            "GET",
            "/api/v1/namespaces/ns/configmaps",
            "labelSelector=a",
            False,
            [Call("", "configmaps", "list", True)],
        ),
        ("GET", "/api/v1/configmaps", "", False, [Call("", "configmaps", "list", False)]),
        (
            "GET",
            "/apis/apps/v1/namespaces/ns/deployments",
            "watch=true",
            False,
            [Call("apps", "deployments", "watch", True)],
        ),
        ("GET", "/api/v1/watch/namespaces/ns/secrets", "", False, [Call("", "secrets", "watch", True)]),
        ("GET", "/apis/apps/v1/watch/deployments", "", False, [Call("apps", "deployments", "watch", False)]),
        (
            "POST",
            "/apis/apps/v1/namespaces/ns/deployments",
            "",
            False,
            [Call("apps", "deployments", "create", True)],
        ),
        (
            "PUT",
            "/apis/apps/v1/namespaces/ns/deployments/d",
            "",
            False,
            [Call("apps", "deployments", "update", True)],
        ),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/ns/deployments/d/scale",
            "",
            False,
            [Call("apps", "deployments/scale", "patch", True)],
        ),
        ("DELETE", "/api/v1/namespaces/ns/pods/p", "", False, [Call("", "pods", "delete", True)]),
        ("DELETE", "/api/v1/namespaces/ns/pods", "", False, [Call("", "pods", "deletecollection", True)]),
        (
            "GET",
            "/api/v1/namespaces/ns/pods/p/log",
            "follow=true&container=c",
            False,
            [Call("", "pods/log", "get", True)],
        ),
        (
            "GET",
            "/api/v1/namespaces/ns/pods/p/exec",
            "command=ls&stdout=true",
            True,
            [Call("", "pods/exec", "get", True), Call("", "pods/exec", "create", True)],
        ),
        (
            "POST",
            "/api/v1/namespaces/ns/pods/p/exec",
            "command=ls",
            False,
            [Call("", "pods/exec", "create", True)],
        ),
        ("GET", "/api/v1/namespaces/ns", "", False, [Call("", "namespaces", "get", False)]),
        (
            "PATCH",
            "/apis/x.io/v1/namespaces/ns/foos/f/status",
            "",
            False,
            [Call("x.io", "foos/status", "patch", True)],
        ),
        (
            "GET",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/r",
            "",
            False,
            [Call("rbac.authorization.k8s.io", "clusterroles", "get", False)],
        ),
        ("GET", "/api", "", False, []),
        ("GET", "/apis/apps/v1", "", False, []),
        ("GET", "/version", "", False, []),
        ("OPTIONS", "/api/v1/namespaces/ns/pods", "", False, []),
    ],
)
def test_a_request_is_the_rbac_check_the_api_server_makes(
    method: str, path: str, query: str, websocket: bool, expected: list[Call]
) -> None:
    assert rbaccalls.calls_of(method, path, query, websocket) == expected


def test_the_record_adds_up_runs_and_is_stable(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "calls.json"
    rbaccalls.merge_into(path, {"x.io/v1/Foo": [Call("", "configmaps", "get", True)]})
    first = path.read_text()
    rbaccalls.merge_into(path, {"x.io/v1/Foo": [Call("", "configmaps", "get", True)]})
    assert path.read_text() == first
    rbaccalls.merge_into(
        path,
        {
            "x.io/v1/Foo": [Call("apps", "deployments", "create", True)],
            "x.io/v1/Bar": [Call("", "pods/log", "get", True)],
        },
    )
    assert rbaccalls.load(path) == {
        "x.io/v1/Foo": {Call("", "configmaps", "get", True), Call("apps", "deployments", "create", True)},
        "x.io/v1/Bar": {Call("", "pods/log", "get", True)},
    }
    assert rbaccalls.load(tmp_path / "missing.json") == {}


def test_a_file_that_is_not_a_record_is_named(tmp_path: Path) -> None:
    path = tmp_path / "calls.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"calls\.json: not a record"):
        rbaccalls.load(path)


def test_the_recorder_writes_new_calls_once(tmp_path: Path) -> None:
    path = tmp_path / "calls.json"

    async def main() -> rbaccalls.Recorder:
        rec = rbaccalls.Recorder(path)
        rec.record("x.io/v1/Foo", [Call("", "configmaps", "get", True)])
        rec.record("x.io/v1/Foo", [Call("", "configmaps", "get", True)])
        rec.flush()
        return rec

    rec = asyncio.run(main())
    assert rbaccalls.load(path) == {"x.io/v1/Foo": {Call("", "configmaps", "get", True)}}
    assert rec._pending == {}
