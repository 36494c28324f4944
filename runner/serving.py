"""HTTP endpoints: ``/healthz`` and ``/readyz`` probes, and Prometheus ``/metrics``."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from runner.metrics import REGISTRY

log = logging.getLogger("runner.serving")


def split_address(address: str) -> tuple[str, int] | None:
    """``":6789"`` → ("0.0.0.0", 6789); ``"127.0.0.1:0"`` → ("127.0.0.1", 0); ``"0"`` or "" → disabled."""
    if address in ("", "0"):
        return None
    host, _, port = address.rpartition(":")
    return (host or "0.0.0.0", int(port))


class Endpoints:
    def __init__(self, ready: asyncio.Event) -> None:
        self.ready = ready
        self.runners: list[web.AppRunner] = []
        self.bound: dict[str, tuple[str, int]] = {}

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, _: web.Request) -> web.Response:
        if self.ready.is_set():
            return web.Response(text="ok")
        return web.Response(status=503, text="starting")

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self, name: str, address: str, routes: list[web.RouteDef]) -> None:
        where = split_address(address)
        if where is None:
            return
        app = web.Application()
        app.add_routes(routes)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, where[0], where[1])
        await site.start()
        self.runners.append(runner)
        sock = site._server.sockets[0] if site._server and site._server.sockets else None  # type: ignore[union-attr]
        self.bound[name] = sock.getsockname()[:2] if sock else where
        log.info("serving %s on %s:%s", name, *self.bound[name])

    async def start_all(self, probe_address: str, metrics_address: str) -> None:
        probes = [web.get("/healthz", self._healthz), web.get("/readyz", self._readyz)]
        metrics = [web.get("/metrics", self._metrics)]
        if probe_address == metrics_address:
            await self.start("probes+metrics", probe_address, probes + metrics)
            return
        await self.start("probes", probe_address, probes)
        await self.start("metrics", metrics_address, metrics)

    async def stop(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
