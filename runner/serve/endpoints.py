"""HTTP endpoints: ``/healthz`` and ``/readyz`` probes, and Prometheus ``/metrics``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from runner.cluster import selfsigned
from runner.serve import exposition
from runner.serve.metrics import REGISTRY

log = logging.getLogger("runner.serve.endpoints")


def split_address(address: str) -> tuple[str, int] | None:
    """``":6789"`` → ("0.0.0.0", 6789); ``"127.0.0.1:0"`` → ("127.0.0.1", 0); ``"0"`` or "" → disabled."""
    if address in ("", "0"):
        return None
    host, _, port = address.rpartition(":")
    return (host or "0.0.0.0", int(port))


Authorize = Callable[[str], Awaitable[bool]]


def metrics_authorizer(api_client: Any) -> Authorize:
    """--metrics-require-rbac: the caller's bearer token must be valid (TokenReview) and allowed to
    GET /metrics (SubjectAccessReview), as controller-runtime's authn/authz filter does."""
    from kubernetes import client as k8s_client

    authn = k8s_client.AuthenticationV1Api(api_client)
    authz = k8s_client.AuthorizationV1Api(api_client)
    cache: dict[str, tuple[float, bool]] = {}

    def check(token: str) -> bool:
        # The client serializes plain dicts as they are (typed here as Any for its models).
        token_review: Any = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        review = authn.create_token_review(token_review)
        if not (review.status and review.status.authenticated and review.status.user):
            return False
        user = review.status.user
        access_review: Any = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user.username,
                "groups": user.groups,
                "uid": user.uid,
                "nonResourceAttributes": {"path": "/metrics", "verb": "get"},
            },
        }
        access = authz.create_subject_access_review(access_review)
        return bool(access.status and access.status.allowed)

    async def authorize(token: str) -> bool:
        now = time.monotonic()
        hit = cache.get(token)
        if hit and now - hit[0] < 60:
            return hit[1]
        try:
            allowed = await asyncio.to_thread(check, token)
        except Exception as exc:
            log.warning("metrics authorization failed: %s", exc)
            return False
        cache[token] = (now, allowed)
        return allowed

    return authorize


class Endpoints:
    def __init__(
        self, ready: asyncio.Event, *, metrics_tls: bool = False, authorize: Authorize | None = None
    ) -> None:
        self.ready = ready
        self.metrics_tls = metrics_tls
        self.authorize = authorize
        self.runners: list[web.AppRunner] = []
        self.bound: dict[str, tuple[str, int]] = {}

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _readyz(self, _: web.Request) -> web.Response:
        if self.ready.is_set():
            return web.Response(text="ok")
        return web.Response(status=503, text="starting")

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.authorize is not None:
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or not await self.authorize(auth[7:]):
                return web.Response(status=403 if auth else 401, text="Forbidden" if auth else "Unauthorized")
        body = exposition.render([REGISTRY])
        return web.Response(body=body, headers={"Content-Type": exposition.CONTENT_TYPE})

    async def start(self, name: str, address: str, routes: list[web.RouteDef], tls: bool = False) -> None:
        where = split_address(address)
        if where is None:
            return
        app = web.Application()
        app.add_routes(routes)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        ssl_context = selfsigned.server_context(*selfsigned.loopback_certificate()) if tls else None
        site = web.TCPSite(runner, where[0], where[1], ssl_context=ssl_context)
        await site.start()
        self.runners.append(runner)
        server: Any = site._server
        sock = server.sockets[0] if server and server.sockets else None
        self.bound[name] = sock.getsockname()[:2] if sock else where
        log.info("serving %s on %s:%s", name, *self.bound[name])

    async def start_all(self, probe_address: str, metrics_address: str) -> None:
        probes = [web.get("/healthz", self._healthz), web.get("/readyz", self._readyz)]
        metrics = [web.get("/metrics", self._metrics)]
        if probe_address == metrics_address and not self.metrics_tls:
            await self.start("probes+metrics", probe_address, probes + metrics)
            return
        await self.start("probes", probe_address, probes)
        await self.start("metrics", metrics_address, metrics, tls=self.metrics_tls)

    async def stop(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
