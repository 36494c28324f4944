"""An aiohttp session to the real API server with the operator's credentials (for the proxy and
the dependent watches). Credentials come from the same kubernetes client configuration as every
other API call of the operator and never leave this process."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
from kubernetes import client as k8s_client


class Upstream:
    def __init__(self, configuration: k8s_client.Configuration) -> None:
        self.configuration = configuration
        self.base = configuration.host.rstrip("/")
        self._ssl: ssl.SSLContext | bool = self._ssl_context(configuration)
        self._session: aiohttp.ClientSession | None = None

    @staticmethod
    def _ssl_context(c: k8s_client.Configuration) -> ssl.SSLContext | bool:
        if not c.host.startswith("https"):
            return False
        ctx = (
            ssl.create_default_context(cafile=c.ssl_ca_cert)
            if c.ssl_ca_cert
            else ssl.create_default_context()
        )
        if not c.verify_ssl:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if c.cert_file:
            ctx.load_cert_chain(c.cert_file, c.key_file)
        return ctx

    def auth_headers(self) -> dict[str, str]:
        c = self.configuration
        if c.refresh_api_key_hook is not None:
            c.refresh_api_key_hook(c)
        # The kubeconfig and in-cluster loaders keep the token (with its "Bearer " prefix) under
        # "BearerToken"; "authorization" is the key of configurations built by hand.
        token = c.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            return {"Authorization": token}
        if c.username and c.password:
            return {"Authorization": aiohttp.BasicAuth(c.username, c.password).encode()}
        return {}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=64)
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self._session

    @property
    def ssl(self) -> ssl.SSLContext | bool:
        return self._ssl

    async def get_json(self, path: str, **params: Any) -> Any:
        async with self.session.get(
            self.base + path, params=params or None, headers=self.auth_headers()
        ) as resp:
            resp.raise_for_status()
            return await resp.json(content_type=None)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
