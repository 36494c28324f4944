"""The proxy and the dependent watches reach the API server with the operator's own credentials,
however the kubernetes client loaded them."""

from __future__ import annotations

from pathlib import Path

import yaml
from kubernetes import client as k8s_client

from runner.cluster.kube import load_api_client
from runner.cluster.upstream import Upstream


def test_a_kubeconfig_token_is_sent(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "sa", "user": {"token": "sa-token"}}],
                "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa"}}],
                "current-context": "sa",
            }
        )
    )
    upstream = Upstream(load_api_client(str(kubeconfig)).configuration)
    assert upstream.auth_headers() == {"Authorization": "Bearer sa-token"}


def test_a_configuration_built_by_hand_is_sent() -> None:
    conf = k8s_client.Configuration(
        host="https://127.0.0.1:6443",
        api_key={"authorization": "secret"},
        api_key_prefix={"authorization": "Bearer"},
    )
    assert Upstream(conf).auth_headers() == {"Authorization": "Bearer secret"}
