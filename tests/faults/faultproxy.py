"""A small fault proxy in front of the API server, for the operator's own traffic.

It terminates TLS on loopback with a throw-away certificate, forwards every request to the real
API server with the credentials of the kubeconfig it was given (kube-lite's, or $KUBECONFIG's),
and on request answers chosen calls itself (409, 429 with ``Retry-After``, 5xx) or cuts the watch
streams that are open. The operator is started with the kubeconfig it writes.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

from runner.cluster import selfsigned
from runner.cluster.kube import load_api_client
from runner.cluster.upstream import Upstream

FORWARDED = ("Content-Type", "Accept", "Content-Encoding")
DROPPED = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"})


@dataclass
class Rule:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    retry_after: str | None = None
    hits: int = 0


@dataclass
class FaultProxy:
    upstream_kubeconfig: str
    rules: list[Rule] = field(default_factory=list)
    watches_cut: int = 0

    def start(self, directory: Path) -> str:
        """Start serving; returns the path of a kubeconfig that points at the proxy."""
        self._loop = asyncio.new_event_loop()
        self._watches: set[asyncio.Transport] = set()
        self._lock = threading.Lock()
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), daemon=True)
        self._thread.start()
        assert started.wait(30), "the fault proxy did not start"
        path = directory / "fault-proxy.kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "faults",
                    "clusters": [
                        {
                            "name": "faults",
                            "cluster": {
                                "server": f"https://127.0.0.1:{self.port}",
                                "insecure-skip-tls-verify": True,
                            },
                        }
                    ],
                    "users": [{"name": "faults", "user": {"token": "unused-the-proxy-has-its-own"}}],
                    "contexts": [{"name": "faults", "context": {"cluster": "faults", "user": "faults"}}],
                }
            )
        )
        return str(path)

    def inject(
        self, method: str, path: str, status: int, *, times: int = 1, retry_after: str | None = None
    ) -> Rule:
        """Answer the next ``times`` requests of ``method`` whose path matches ``path`` (a regex)
        with ``status`` instead of forwarding them."""
        rule = Rule(method, re.compile(path), status, times, retry_after)
        with self._lock:
            self.rules.append(rule)
        return rule

    def cut_watches(self) -> int:
        """Close every watch stream open now, mid-stream; returns how many."""
        done = threading.Event()
        count = [0]

        def cut() -> None:
            count[0] = len(self._watches)
            for transport in list(self._watches):
                transport.abort()
            self._watches.clear()
            done.set()

        self._loop.call_soon_threadsafe(cut)
        done.wait(10)
        self.watches_cut += count[0]
        return count[0]

    def stop(self) -> None:
        self.cut_watches()
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main(started))
        pending = asyncio.all_tasks(self._loop)  # streams still open when it stopped
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    async def _main(self, started: threading.Event) -> None:
        self._stop = asyncio.Event()
        upstream = Upstream(load_api_client(self.upstream_kubeconfig).configuration)
        self._upstream = upstream
        cert, key = selfsigned.loopback_certificate()
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "cert.pem").write_bytes(cert)
            (Path(d) / "key.pem").write_bytes(key)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(Path(d) / "cert.pem", Path(d) / "key.pem")
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        started.set()
        await self._stop.wait()
        await runner.cleanup()
        await upstream.close()

    def _match(self, request: web.Request) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if (
                    rule.hits < rule.times
                    and rule.method == request.method
                    and rule.path.search(request.path)
                ):
                    rule.hits += 1
                    return rule
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rule = self._match(request)
        if rule is not None:
            await request.read()
            headers = {"Retry-After": rule.retry_after} if rule.retry_after else {}
            body = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": f"injected by the fault proxy: {rule.status}",
                "code": rule.status,
            }
            return web.Response(
                status=rule.status, text=json.dumps(body), content_type="application/json", headers=headers
            )
        up = self._upstream
        headers = {h: request.headers[h] for h in FORWARDED if h in request.headers}
        headers.update(up.auth_headers())
        body = await request.read()
        async with up.session.request(
            request.method,
            up.base + request.path_qs,
            data=body or None,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        ) as resp:
            out = web.StreamResponse(
                status=resp.status,
                headers={k: v for k, v in resp.headers.items() if k.lower() not in DROPPED},
            )
            await out.prepare(request)
            watch = request.query.get("watch") in ("true", "1")
            transport = request.transport
            if watch and transport is not None:
                self._watches.add(transport)
            try:
                async for chunk in resp.content.iter_any():
                    await out.write(chunk)
                await out.write_eof()
            except (ConnectionResetError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError):
                pass  # the client went away, or the stream was cut
            finally:
                if transport is not None:
                    self._watches.discard(transport)
            return out
