"""What the start-up check says about a missing cluster or kind (pure parts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError, NewConnectionError

from runner.cluster.preflight import ClusterUnavailable, backoff, load_credentials, missing_kinds, one_line
from runner.config.watches import GVK, Watch


def watch(group: str, version: str, kind: str) -> Watch:
    return Watch(index=0, gvk=GVK(group, version, kind), role="/roles/x", playbook=None, vars={})


def test_kinds_missing_from_discovery_are_named() -> None:
    ws = [
        watch("a.example.com", "v1", "Foo"),
        watch("a.example.com", "v1", "Bar"),
        watch("", "v1", "ConfigMap"),
    ]
    served = {("a.example.com", "v1"): {"Foo"}, ("", "v1"): {"ConfigMap", "Secret"}}
    assert missing_kinds(ws, served) == ["Bar.v1.a.example.com"]
    assert missing_kinds(ws, {("a.example.com", "v1"): None, ("", "v1"): {"ConfigMap"}}) == [
        "Foo.v1.a.example.com",
        "Bar.v1.a.example.com",
    ]


def test_errors_are_said_in_a_few_words() -> None:
    refused = MaxRetryError(
        None,  # type: ignore[arg-type]
        "/version",
        NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused"),  # type: ignore[arg-type]
    )
    assert one_line(refused) == "Connection refused"
    assert one_line(ApiException(status=503, reason="Service Unavailable")) == "HTTP 503 Service Unavailable"
    assert one_line(ValueError("x" * 500)) == "x" * 200


def test_back_off_grows_to_a_cap() -> None:
    assert [backoff(a) for a in range(6)] == [1, 2, 4, 8, 15, 15]


def test_credentials_that_cannot_be_found_say_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ClusterUnavailable, match="does not exist: set --kubeconfig or KUBECONFIG"):
        load_credentials(str(tmp_path / "missing"), {"HOME": str(tmp_path)})
    with pytest.raises(ClusterUnavailable, match="no cluster credentials"):
        load_credentials(None, {"HOME": str(tmp_path)})
    broken = tmp_path / "broken"
    broken.write_text("apiVersion: v1\nkind: Config\n")
    with pytest.raises(ClusterUnavailable, match=f"kubeconfig {broken} cannot be used"):
        load_credentials(str(broken), {"HOME": str(tmp_path)})
