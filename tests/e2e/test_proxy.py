"""The job API proxy against the real API server: authentication, owner claims, streams, websockets."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web
from kubernetes import client as k8s_client

from runner.cluster.discovery import Discovery
from runner.cluster.kube import load_api_client
from runner.cluster.ownership import Owner
from runner.cluster.proxy import Grant, Proxy
from runner.cluster.upstream import Upstream
from tests.e2e.conftest import E2E_GROUP, OperatorFactory, cr
from tests.e2e.kube import Kubectl, wait_for

PRIMARIES = frozenset({(E2E_GROUP, "Echo")})


class Running:
    """A proxy served from its own event loop thread, as the operator does."""

    def __init__(self, configuration: k8s_client.Configuration) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.upstream = Upstream(configuration)
        self.proxy = Proxy(self.upstream, Discovery(self.upstream), PRIMARIES)
        self.call(self.proxy.start())

    def call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def close(self) -> None:
        self.call(self.proxy.stop())
        self.call(self.upstream.close())
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def proxy(kubectl: Kubectl) -> Iterator[Running]:
    running = Running(load_api_client(kubectl.kubeconfig).configuration)
    yield running
    running.close()


def job_kubectl(proxy: Running, owner: Owner, tmp_path: Path, writes: list | None = None) -> Kubectl:
    token = proxy.proxy.grant(Grant(owner, lambda *a: (writes if writes is not None else []).append(a)))
    path = tmp_path / f"kubeconfig-{owner.name}"
    path.write_text(proxy.proxy.kubeconfig(token, owner.namespace))
    return Kubectl(str(path))


def make_owner(kubectl: Kubectl, namespace: str, name: str) -> Owner:
    kubectl.apply(cr("Echo", name, namespace))
    obj = kubectl.get("echo", name, namespace)
    return Owner(f"{E2E_GROUP}/v1", "Echo", name, obj["metadata"]["uid"], namespace)


def test_requests_without_a_job_token_are_refused(proxy: Running, tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(proxy.proxy.kubeconfig("not-a-token", None))
    out = Kubectl(str(config)).run("get", "configmaps", check=False)
    assert out.returncode != 0 and "provide credentials" in out.stderr


def test_a_job_owns_what_it_creates_and_cannot_claim_another_cr(
    kubectl: Kubectl, namespace: str, proxy: Running, tmp_path: Path
) -> None:
    mine, theirs = make_owner(kubectl, namespace, "mine"), make_owner(kubectl, namespace, "theirs")
    writes: list = []
    job = job_kubectl(proxy, mine, tmp_path, writes)
    forged = {"apiVersion": f"{E2E_GROUP}/v1", "kind": "Echo", "name": "theirs", "uid": theirs.uid}
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "made", "namespace": namespace}}
    out = job.run(
        "apply",
        "-f",
        "-",
        input=json.dumps({**manifest, "metadata": {**manifest["metadata"], "ownerReferences": [forged]}}),
        check=False,
    )
    assert out.returncode != 0 and "may only name its own Echo" in out.stderr
    assert kubectl.get("configmap", "made", namespace) is None
    job.apply(manifest)
    made = kubectl.get("configmap", "made", namespace)
    assert [r["uid"] for r in made["metadata"]["ownerReferences"]] == [mine.uid]
    assert writes and writes[-1][2]["metadata"]["name"] == "made"

    patch = json.dumps([{"op": "add", "path": "/metadata/ownerReferences/-", "value": forged}])
    out = job.run("patch", "configmap", "made", "-n", namespace, "--type=json", "-p", patch, check=False)
    assert out.returncode != 0 and "may only name its own Echo" in out.stderr


def test_watch_streams_are_relayed(kubectl: Kubectl, namespace: str, proxy: Running, tmp_path: Path) -> None:
    job = job_kubectl(proxy, make_owner(kubectl, namespace, "watcher"), tmp_path)
    watch = subprocess.Popen(
        [
            "kubectl",
            "--kubeconfig",
            job.kubeconfig,
            "--cache-dir",
            job.cache_dir,
            "get",
            "configmaps",
            "-n",
            namespace,
            "-w",
            "--output-watch-events",
            "-o",
            "jsonpath={.type} {.object.metadata.name}{'\\n'}",
            "--request-timeout=20s",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1)
        kubectl.run("create", "configmap", "streamed", "-n", namespace)
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "ADDED streamed" not in lines:
            lines.append(watch.stdout.readline().strip())
        assert "ADDED streamed" in lines
    finally:
        watch.kill()
        watch.wait()


def test_websocket_upgrades_are_relayed(tmp_path: Path) -> None:
    """exec, attach and port-forward are websockets: relay frames and the negotiated subprotocol."""

    async def main() -> None:
        async def echo(request: web.Request) -> web.WebSocketResponse:
            assert request.headers["Authorization"] == "Bearer operator-secret"
            ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io",))
            await ws.prepare(request)
            async for msg in ws:
                await ws.send_bytes(b"echo:" + msg.data)
            return ws

        app = web.Application()
        app.router.add_get("/api/v1/namespaces/n/pods/p/exec", echo)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        conf = k8s_client.Configuration(
            host=f"http://127.0.0.1:{port}",
            api_key={"authorization": "operator-secret"},
            api_key_prefix={"authorization": "Bearer"},
        )
        upstream = Upstream(conf)
        proxy = Proxy(upstream, Discovery(upstream), PRIMARIES)
        await proxy.start()
        token = proxy.grant(Grant(Owner("g/v1", "K", "n", "u", "n"), lambda *a: None))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
            url = f"https://127.0.0.1:{proxy.port}/api/v1/namespaces/n/pods/p/exec?command=sh"
            async with session.ws_connect(
                url, headers={"Authorization": f"Bearer {token}"}, protocols=("v5.channel.k8s.io",)
            ) as ws:
                assert ws.protocol == "v5.channel.k8s.io"
                await ws.send_bytes(b"\x00ls")
                msg = await ws.receive()
                assert msg.data == b"echo:\x00ls"
        await proxy.stop()
        await upstream.close()
        await runner.cleanup()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_proxy_port_flag_fixes_the_jobs_port(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, tmp_path: Path
) -> None:
    port = _free_port()
    operators.start(namespace, f"--proxy-port={port}")
    kubectl.apply(cr("Echo", "fixed", namespace, {"message": "hi"}))
    made = wait_for(lambda: kubectl.get("configmap", "fixed-echo", namespace), "the role's ConfigMap", 120)
    assert made["metadata"]["ownerReferences"][0]["name"] == "fixed"  # written through the proxy
    (job_config,) = (tmp_path / "runner").glob(f"*/v1/Echo/{namespace}/fixed/kubeconfig")
    server = yaml.safe_load(job_config.read_text())["clusters"][0]["cluster"]["server"]
    assert server == f"https://127.0.0.1:{port}"


def test_a_taken_proxy_port_stops_the_operator_with_one_clear_line(
    namespace: str, operators: OperatorFactory
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        op = operators.start(namespace, f"--proxy-port={port}")
        code = op.proc.wait(timeout=120)
    logs = op.logs()
    assert code != 0
    assert f"ansible-operator: --proxy-port={port}: cannot listen on 127.0.0.1:{port}" in logs
    assert "Traceback" not in logs
