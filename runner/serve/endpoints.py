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

REASONS = {401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error"}


def split_address(address: str) -> tuple[str, int] | None:
    """``":6789"`` → ("0.0.0.0", 6789); ``"127.0.0.1:0"`` → ("127.0.0.1", 0); ``"0"`` or "" → disabled."""
    if address in ("", "0"):
        return None
    host, _, port = address.rpartition(":")
    return (host or "0.0.0.0", int(port))


Authorize = Callable[[str], Awaitable[int]]
"""A bearer token → the HTTP status for it: 200 allowed, 401 not authenticated, 403 denied, 500 the
authorization itself failed (controller-runtime's authn/authz filter answers the same)."""

CACHE_SECONDS = 60
CACHE_SIZE = 1024


def metrics_authorizer(api_client: Any) -> Authorize:
    """--metrics-require-rbac: the caller's bearer token must be valid (TokenReview) and allowed to
    GET /metrics (SubjectAccessReview), as controller-runtime's authn/authz filter does."""
    from kubernetes import client as k8s_client

    authn = k8s_client.AuthenticationV1Api(api_client)
    authz = k8s_client.AuthorizationV1Api(api_client)
    cache: dict[str, tuple[float, int]] = {}

    def check(token: str) -> tuple[int, bool]:
        """(status, whether to cache it): failed API calls are not cached."""
        # The client serializes plain dicts as they are (typed here as Any for its models).
        token_review: Any = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token},
        }
        try:
            review = authn.create_token_review(token_review)
        except Exception as exc:
            log.warning("metrics: the TokenReview failed: %s", exc)
            return 401, False
        if not (review.status and review.status.authenticated and review.status.user):
            return 401, True
        user = review.status.user
        access_review: Any = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user.username,
                "groups": user.groups,
                "uid": user.uid,
                "extra": user.extra,
                "nonResourceAttributes": {"path": "/metrics", "verb": "get"},
            },
        }
        try:
            access = authz.create_subject_access_review(access_review)
        except Exception as exc:
            log.warning("metrics: the SubjectAccessReview for %s failed: %s", user.username, exc)
            return 500, False
        if access.status and access.status.allowed:
            return 200, True
        log.info("metrics: %s may not GET /metrics", user.username)
        return 403, True

    async def authorize(token: str) -> int:
        now = time.monotonic()
        hit = cache.get(token)
        if hit and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        status, keep = await asyncio.to_thread(check, token)
        if keep:
            if len(cache) >= CACHE_SIZE:
                for old in [t for t, (at, _) in cache.items() if now - at >= CACHE_SECONDS] or list(cache):
                    del cache[old]
            cache[token] = (now, status)
        return status

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
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            status = (
                await self.authorize(token.strip()) if scheme.lower() == "bearer" and token.strip() else 401
            )
            if status != 200:
                return web.Response(status=status, text=REASONS.get(status, "Error"))
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
