"""The jobs' door to the cluster: a loopback HTTP proxy that sets owners on what a job creates.

Each job gets its own kubeconfig with a random bearer token that is valid only while the job runs;
the token names the one CR the job runs for (TLS on loopback with a certificate made at start-up:
kubectl sends no credentials over plain HTTP), so a job (or any other local process) can only ever
make objects owned by that CR. The proxy forwards with the operator's credentials, which never
appear in a job's files. Every request is relayed (watch and log streams chunk by chunk,
websocket upgrades such as exec and port-forward frame by frame), and:

* every write is checked first (``writeguard``): one that would make an object point at another CR
  (an owner reference or primary-resource annotation), or write another CR's status, gets 403;
* a create (POST) of an object gets the CR as owner (``ownership.claim``), as does a server-side
  apply (its body is the whole intent);
* an object that already exists and that the job writes in full (PUT, or a patch that states
  apiVersion, kind and name, as ``kubernetes.core.k8s`` and ``kubectl apply`` send) is adopted,
  unless another controller owns it or the write itself sets ``ownerReferences``;
* a finalizer run's writes get no owner (what it creates must outlive the CR being deleted);
* every successful write is reported to the operator (dependent watches, own-write filtering);
* every call is noted for RBAC (``rbaccalls``, with ``--rbac-record``), and a call the API server
  forbids is logged with the verb and resource a rule must grant.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from runner.cluster import apipath, ownership, rbaccalls, selfsigned
from runner.cluster.discovery import Discovery, ResourceInfo
from runner.cluster.ownerguard import APPLY_PATCH, Refused
from runner.cluster.ownership import Owner
from runner.cluster.upstream import Upstream
from runner.cluster.writeguard import Checked, WriteGuard

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
log = logging.getLogger("runner.cluster.proxy")

HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "authorization",
        "content-length",
        "accept-encoding",
        "content-encoding",  # the body is read (and decompressed) here, then relayed as is
    }
)
RESPONSE_DROP = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"}
)
WRITES = frozenset({"POST", "PUT", "PATCH"})

# (request path, resource, the object after the write or None, HTTP method)
WriteCallback = Callable[[apipath.ApiPath, ResourceInfo, Mapping[str, Any] | None, str], None]


@dataclass
class Grant:
    owner: Owner
    on_write: WriteCallback
    inject: bool = True

    @property
    def kind(self) -> str:
        """The watched kind the job runs for, as the RBAC record names it (group/version/Kind)."""
        return rbaccalls.kind_key(self.owner.api_version, self.owner.kind)


class ProxyPortError(RuntimeError):
    """The job proxy's port (``--proxy-port``) cannot be bound."""


def _status(code: int, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}
    return web.json_response(body, status=code)


class Proxy:
    def __init__(
        self,
        upstream: Upstream,
        discovery: Discovery,
        primaries: ownership.PrimaryKinds,
        recorder: rbaccalls.Recorder | None = None,
    ) -> None:
        self.upstream = upstream
        self.recorder = recorder
        self.discovery = discovery
        self.primaries = primaries
        self.guard = WriteGuard(upstream, primaries)
        self._grants: dict[str, Grant] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._cert, self._key = selfsigned.loopback_certificate()

    # ---- lifecycle and grants
    async def start(self, port: int = 0) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a job that hangs up on a watch or log stream ends the upstream stream too
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, "127.0.0.1", port, ssl_context=selfsigned.server_context(self._cert, self._key)
        )
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ProxyPortError(
                f"--proxy-port={port}: cannot listen on 127.0.0.1:{port} ({exc.strerror or exc});"
                " choose a free port, or 0 for any"
            ) from exc
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("job API proxy listening on 127.0.0.1:%s", self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def grant(self, grant: Grant) -> str:
        token = secrets.token_urlsafe(32)
        self._grants[token] = grant
        return token

    def revoke(self, token: str) -> None:
        self._grants.pop(token, None)

    def kubeconfig(self, token: str, namespace: str | None) -> str:
        context: dict[str, Any] = {"cluster": "runner", "user": "job"}
        if namespace:
            context["namespace"] = namespace
        # libyaml's emitter when PyYAML has it: the same text, 2.7 → 0.17 ms per job (the CA's
        # base64 is most of it)
        return yaml.dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "runner",
                        "cluster": {
                            "server": f"https://127.0.0.1:{self.port}",
                            "certificate-authority-data": base64.b64encode(self._cert).decode(),
                        },
                    }
                ],
                "users": [{"name": "job", "user": {"token": token}}],
                "contexts": [{"name": "job", "context": context}],
                "current-context": "job",
            },
            Dumper=_Dumper,
        )

    # ---- relaying
    def _grant_of(self, request: web.Request) -> Grant | None:
        auth = request.headers.get("Authorization", "")
        return self._grants.get(auth[7:]) if auth.startswith("Bearer ") else None

    def _forward_headers(self, request: web.Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        headers.update(self.upstream.auth_headers())
        return headers

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        grant = self._grant_of(request)
        if grant is None:
            return _status(401, "this proxy only serves the jobs of the ansible-operator runner")
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        calls = rbaccalls.calls_of(request.method, request.path, request.query_string, websocket)
        if self.recorder is not None and calls:
            self.recorder.record(grant.kind, calls)
        if websocket:
            return await self._websocket(request, grant, calls)
        if "upgrade" in request.headers.get("Connection", "").lower():
            return _status(
                400, "only websocket upgrades are relayed (SPDY is not); use a websocket-capable client"
            )
        body = await request.read()
        api = apipath.parse(request.path)
        info = await self._resource(api)
        headers = self._forward_headers(request)
        checked: Checked | None = None
        if api is not None and body and request.method in WRITES:
            try:
                checked = await self.guard.before(
                    request.method, request.path, api, info, request.content_type, body, grant.owner
                )
            except Refused as exc:
                log.warning(
                    "refused a write of the job for %s %s: %s", grant.owner.kind, grant.owner.name, exc
                )
                return _status(exc.code, exc.message)
            body = checked.body
            headers.update({"Content-Type": checked.content_type, "Accept": "application/json"})
            if grant.inject and info:
                body = self._claim_body(request, api, info, grant.owner, checked.sent) or body
        url = self.upstream.base + request.path_qs
        async with self.upstream.session.request(
            request.method, url, headers=headers, data=body or None, allow_redirects=False
        ) as upstream:
            if upstream.status == 403:
                self._forbidden(grant, calls)
            if request.method == "GET":
                return await self._stream(request, upstream)
            data = await upstream.read()
            if upstream.status < 300 and api and checked is not None:
                refused = await self._recheck(api, info, grant, checked, data)
                if refused is not None:
                    return refused
            if upstream.status < 300 and api and info:
                data = await self._after_write(request, api, info, grant, checked, data)
            return web.Response(status=upstream.status, body=data, headers=self._response_headers(upstream))

    @staticmethod
    def _forbidden(grant: Grant, calls: list[rbaccalls.Call]) -> None:
        owner = grant.owner
        where = f"{owner.namespace}/{owner.name}" if owner.namespace else owner.name
        log.warning(
            "the API server forbade a call of the job for %s %s: %s; the operator's role needs that rule",
            owner.kind,
            where,
            " and ".join(c.describe() for c in calls) or "a non-resource request",
        )

    async def _recheck(
        self, api: apipath.ApiPath, info: ResourceInfo | None, grant: Grant, checked: Checked, data: bytes
    ) -> web.Response | None:
        """The API server's answer, checked again: the object may have changed since it was read."""
        try:
            answer = json.loads(data) if data else None
        except ValueError:
            answer = None
        reason = await self.guard.after(api, info, checked, answer, grant.owner)
        if reason is None:
            return None
        log.warning("undid a write of the job for %s %s: %s", grant.owner.kind, grant.owner.name, reason)
        return _status(403, f"refused: {reason}; a job may only name its own {grant.owner.kind} as owner")

    async def _resource(self, api: apipath.ApiPath | None) -> ResourceInfo | None:
        if api is None or (api.group, api.plural) in ownership.UNOWNED_RESOURCES:
            return None
        info = await self.discovery.resource(api.group, api.version, api.plural)
        return info if info is not None and info.watchable else None

    @staticmethod
    def _response_headers(upstream: aiohttp.ClientResponse) -> dict[str, str]:
        return {k: v for k, v in upstream.headers.items() if k.lower() not in RESPONSE_DROP}

    async def _stream(self, request: web.Request, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
        resp = web.StreamResponse(status=upstream.status, headers=self._response_headers(upstream))
        await resp.prepare(request)
        async for chunk in upstream.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    # ---- ownership
    @staticmethod
    def _target_namespace(api: apipath.ApiPath, info: ResourceInfo, obj: Mapping[str, Any]) -> str | None:
        if not info.namespaced:
            return None
        return api.namespace or (obj.get("metadata") or {}).get("namespace")

    def _claim_body(
        self, request: web.Request, api: apipath.ApiPath, info: ResourceInfo, owner: Owner, obj: Any
    ) -> bytes | None:
        """The body with the CR as owner, for a create or a server-side apply; None to leave it."""
        creating = request.method == "POST" and api.is_collection and not api.subresource
        applying = request.method == "PATCH" and request.content_type == APPLY_PATCH and not api.subresource
        if not (creating or applying) or not isinstance(obj, dict):
            return None
        if (obj.get("metadata") or {}).get("uid") == owner.uid:
            return None
        return json.dumps(ownership.claim(obj, owner, self._target_namespace(api, info, obj))).encode()

    async def _after_write(
        self,
        request: web.Request,
        api: apipath.ApiPath,
        info: ResourceInfo,
        grant: Grant,
        checked: Checked | None,
        data: bytes,
    ) -> bytes:
        try:
            obj = json.loads(data) if data else None
        except ValueError:
            return data
        if not isinstance(obj, dict) or (obj.get("kind") == "Status" and request.method != "DELETE"):
            obj = None
        writing = request.method in ("PUT", "PATCH") and checked is not None
        if obj is not None and writing and grant.inject and not api.subresource and checked is not None:
            adopted = await self._adopt(request, api, info, grant.owner, checked.sent, obj)
            if adopted is not None:
                obj, data = adopted, json.dumps(adopted).encode()
        try:
            grant.on_write(api, info, obj, request.method)
        except Exception:
            log.exception("write callback failed")
        return data

    async def _adopt(
        self,
        request: web.Request,
        api: apipath.ApiPath,
        info: ResourceInfo,
        owner: Owner,
        sent: Any,
        obj: dict[str, Any],
    ) -> dict[str, Any] | None:
        if (obj.get("metadata") or {}).get("uid") == owner.uid or ownership.has_controller(obj):
            return None
        targeted = not isinstance(sent, dict) or not ownership.adoptable_write(sent)
        if request.content_type != APPLY_PATCH and targeted:
            return None  # a targeted patch of someone else's object: never adopt
        patch = ownership.adoption_patch(obj, owner, self._target_namespace(api, info, obj))
        if patch is None:
            return None
        url = self.upstream.base + apipath.object_path(api, obj)
        headers = {**self.upstream.auth_headers(), "Content-Type": "application/json-patch+json"}
        async with self.upstream.session.patch(url, data=json.dumps(patch), headers=headers) as resp:
            if resp.status >= 300:
                log.warning("could not adopt %s %s: HTTP %s", info.kind, api.name, resp.status)
                return None
            adopted: dict[str, Any] = await resp.json(content_type=None)
            log.info("adopted existing %s %s for %s %s", info.kind, api.name, owner.kind, owner.name)
            return adopted

    # ---- websockets (exec, attach, port-forward)
    async def _websocket(
        self, request: web.Request, grant: Grant, calls: list[rbaccalls.Call]
    ) -> web.StreamResponse:
        protocols = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
        ]
        url = self.upstream.base + request.path_qs
        try:
            upstream = await self.upstream.session.ws_connect(
                url, protocols=protocols, headers=self.upstream.auth_headers(), max_msg_size=0
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 403:
                self._forbidden(grant, calls)
            return _status(exc.status or 502, f"upstream refused the websocket: {exc.message}")
        async with upstream:
            downstream = web.WebSocketResponse(
                protocols=[upstream.protocol] if upstream.protocol else (), max_msg_size=0
            )
            await downstream.prepare(request)
            await asyncio.gather(_pipe(downstream, upstream), _pipe(upstream, downstream))
        return downstream


async def _pipe(src: Any, dst: Any) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        async for msg in src:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await dst.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                await dst.send_str(msg.data)
            else:
                break
    await dst.close()
