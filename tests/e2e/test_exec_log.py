"""k8s_exec, k8s_cp and k8s_log from a job, through the job proxy.

Pods never run on kube-lite, so the API server here is a small local one that speaks the pod
protocols the kubernetes client uses: discovery, the Pod, ``pods/log`` (a plain GET), and
``pods/exec`` as a websocket with the ``v4.channel.k8s.io`` framing (a channel byte before each
frame: 0 stdin, 1 stdout, 2 stderr, 3 the exit status), running the command on this machine as a
container would. The real kubernetes.core modules run in ansible-playbook with the job's
kubeconfig, as a role does in the operator; the proxy relays with the operator's credentials and
records the RBAC the calls need.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from kubernetes import client as k8s_client

from runner.cluster.discovery import Discovery
from runner.cluster.ownership import Owner
from runner.cluster.proxy import Grant, Proxy
from runner.cluster.rbaccalls import Call, Recorder
from runner.cluster.upstream import Upstream

OPERATOR_TOKEN = "operator-secret"
LOG = "first line\nsecond line\n"
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "db", "namespace": "n", "uid": "pod-uid"},
    "spec": {"containers": [{"name": "main", "image": "postgres"}]},
    "status": {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "main",
                "started": True,
                "ready": True,
                "image": "postgres",
                "imageID": "postgres@sha256:0",
                "restartCount": 0,
            }
        ],
    },
}
API_V1 = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        {
            "name": "pods",
            "singularName": "pod",
            "namespaced": True,
            "kind": "Pod",
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
        },
        {
            "name": "pods/exec",
            "singularName": "",
            "namespaced": True,
            "kind": "PodExecOptions",
            "verbs": ["create", "get"],
        },
        {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
    ],
}
PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run a command in the pod
      kubernetes.core.k8s_exec:
        namespace: n
        pod: db
        command: sh -c 'echo out; echo err >&2; exit 3'
      register: executed
      failed_when: false

    - name: Copy content into the pod
      kubernetes.core.k8s_cp:
        namespace: n
        pod: db
        remote_path: "{{ pod_root }}/greeting"
        content: "copied through the proxy"

    - name: Copy it back out of the pod
      kubernetes.core.k8s_cp:
        namespace: n
        pod: db
        state: from_pod
        remote_path: "{{ pod_root }}/greeting"
        local_path: "{{ local_copy }}"

    - name: Read the pod's log
      kubernetes.core.k8s_log:
        namespace: n
        name: db
      register: logged

    - name: Hand the results to the test
      ansible.builtin.copy:
        dest: "{{ results }}"
        content: "{{ {'exec': executed, 'log': logged} | to_json }}"
"""


def upstream_app(pod_root: Path, seen: list[tuple[str, str, str]]) -> web.Application:
    """A local API server for one running pod; ``seen``: (method, path, Authorization) of each request."""

    @web.middleware
    async def note(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append((request.method, request.path, request.headers.get("Authorization", "")))
        if request.headers.get("Authorization") != f"Bearer {OPERATOR_TOKEN}":
            return web.json_response({"kind": "Status", "code": 401}, status=401)
        resp: web.StreamResponse = await handler(request)
        return resp

    async def exec_(request: web.Request) -> web.WebSocketResponse:
        command = request.query.getall("command")
        ws = web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(request)
        stdin = request.query.get("stdin") in ("true", "1")
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=pod_root,
        )

        async def feed() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY and msg.data[:1] == b"\x00" and proc.stdin:
                    proc.stdin.write(msg.data[1:])
                    await proc.stdin.drain()
            if proc.stdin:  # the client hung up: end of stdin, as the kubelet does
                proc.stdin.close()

        async def pump(stream: asyncio.StreamReader | None, channel: int) -> None:
            while stream is not None and (chunk := await stream.read(65536)):
                if not ws.closed:
                    await ws.send_bytes(bytes([channel]) + chunk)

        feeder = asyncio.ensure_future(feed())
        await asyncio.gather(pump(proc.stdout, 1), pump(proc.stderr, 2))
        rc = await proc.wait()
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        if rc:
            status = {
                "metadata": {},
                "status": "Failure",
                "message": f"command terminated with non-zero exit code: exit status {rc}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(rc)}]},
            }
        if not ws.closed:
            await ws.send_bytes(b"\x03" + json.dumps(status).encode())
            await ws.close()
        feeder.cancel()
        return ws

    async def log(request: web.Request) -> web.Response:
        return web.Response(text=LOG, content_type="text/plain")

    def static(body: Any) -> Any:
        async def handler(_: web.Request) -> web.Response:
            return web.json_response(body)

        return handler

    app = web.Application(middlewares=[note])
    app.router.add_get("/version", static({"major": "1", "minor": "36", "gitVersion": "v1.36.4"}))
    app.router.add_get(
        "/api", static({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
    )
    app.router.add_get("/api/v1", static(API_V1))
    app.router.add_get("/apis", static({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}))
    app.router.add_get("/api/v1/namespaces/n/pods/db", static(POD))
    app.router.add_get("/api/v1/namespaces/n/pods/db/log", log)
    app.router.add_get("/api/v1/namespaces/n/pods/db/exec", exec_)
    return app


def test_k8s_exec_cp_and_log_work_through_the_job_proxy(tmp_path: Path) -> None:
    pod_root = tmp_path / "pod"
    pod_root.mkdir()
    seen: list[tuple[str, str, str]] = []
    record = tmp_path / "calls.json"

    async def main() -> tuple[int, str, dict[str, set[Call]]]:
        runner = web.AppRunner(upstream_app(pod_root, seen))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        conf = k8s_client.Configuration(
            host=f"http://127.0.0.1:{port}",
            api_key={"authorization": OPERATOR_TOKEN},
            api_key_prefix={"authorization": "Bearer"},
        )
        upstream = Upstream(conf)
        recorder = Recorder(record)
        proxy = Proxy(upstream, Discovery(upstream), frozenset({("g.example.com", "Db")}), recorder)
        await proxy.start()
        owner = Owner("g.example.com/v1", "Db", "mydb", "cr-uid", "n")
        token = proxy.grant(Grant(owner, lambda *a: None))
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(proxy.kubeconfig(token, "n"))
        (tmp_path / "job.yml").write_text(PLAYBOOK)
        extra = {
            "pod_root": str(pod_root),
            "local_copy": str(tmp_path / "back"),
            "results": str(tmp_path / "results.json"),
        }
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "ansible-playbook"),
            str(tmp_path / "job.yml"),
            "-e",
            json.dumps(extra),
            env={
                "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                "HOME": str(tmp_path),
                "K8S_AUTH_KUBECONFIG": str(kubeconfig),
                "KUBECONFIG": str(kubeconfig),
                "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
                "ANSIBLE_NOCOLOR": "1",
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        recorder.flush()
        await proxy.stop()
        await upstream.close()
        await runner.cleanup()
        return proc.returncode or 0, out.decode(errors="replace"), recorder.calls

    rc, out, calls = asyncio.run(main())
    assert rc == 0, out
    results = json.loads((tmp_path / "results.json").read_text())
    executed = results["exec"]
    assert (executed["stdout"], executed["stderr"], executed["rc"]) == ("out\n", "err\n", 3), executed
    assert (pod_root / "greeting").read_text() == "copied through the proxy"
    assert (tmp_path / "back").read_text() == "copied through the proxy"
    assert results["log"]["log"] == LOG and results["log"]["log_lines"][:2] == ["first line", "second line"]
    # the API server saw the operator's credentials only, never the job's token
    assert seen and {auth for _, _, auth in seen} == {f"Bearer {OPERATOR_TOKEN}"}
    assert ("GET", "/api/v1/namespaces/n/pods/db/exec") in {(m, p) for m, p, _ in seen}
    # ... and the RBAC record has what those calls need
    assert calls["g.example.com/v1/Db"] >= {
        Call("", "pods", "get", True),
        Call("", "pods/exec", "get", True),
        Call("", "pods/exec", "create", True),
        Call("", "pods/log", "get", True),
    }
    assert "pods/exec" in record.read_text()
