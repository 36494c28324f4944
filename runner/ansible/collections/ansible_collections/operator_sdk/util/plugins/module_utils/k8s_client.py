# A small REST layer over the ``kubernetes`` client for the operator_sdk.util modules.
"""Connect to the API server, find a resource by kind, and make JSON requests.

Credentials come from the module parameters, then the ``K8S_AUTH_*`` environment variables (the
names kubernetes.core reads), then ``$KUBECONFIG``, then the in-cluster service account, then
``~/.kube/config``.  Discovery reads a single group-version document per lookup (no cache file).
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ansible_collections.operator_sdk.util.plugins.module_utils.args_common import AUTH_ARG_SPEC, AUTH_ENV

KUBERNETES_IMPORT_ERROR = None
try:
    import kubernetes
    from kubernetes.client.rest import ApiException
    from kubernetes.config.config_exception import ConfigException
except ImportError:  # reported by connect()
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

REQUEST_TIMEOUT = (10, 60)  # connect, read (seconds)


class KubeError(Exception):
    """The API server could not be used (configuration, connection, unexpected reply)."""


class ApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        self.status = status
        self.reason = reason or ""
        self.body = body or ""
        super().__init__(f"{status} {self.reason}: {self.message}")

    @property
    def message(self) -> str:
        """The ``message`` of the Status object the server sent, else the raw body."""
        try:
            decoded = json.loads(self.body)
        except ValueError:
            return self.body.strip()
        if isinstance(decoded, dict) and decoded.get("message"):
            return str(decoded["message"])
        return self.body.strip()

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "body": self.body}


@dataclass(frozen=True)
class Resource:
    """One API resource as discovery describes it."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool
    subresources: frozenset[str] = field(default_factory=frozenset)

    @property
    def base_path(self) -> str:
        return "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"

    def path(
        self, name: str | None = None, namespace: str | None = None, subresource: str | None = None
    ) -> str:
        path = self.base_path
        if self.namespaced and namespace:
            path += f"/namespaces/{quote(namespace, safe='')}"
        path += f"/{self.plural}"
        if name:
            path += f"/{quote(name, safe='')}"
            if subresource:
                path += f"/{subresource}"
        return path


def auth_settings(params: dict[str, Any]) -> dict[str, Any]:
    """The connection settings: module parameters first, then the K8S_AUTH_* variables."""
    auth: dict[str, Any] = {}
    for name, env_names in AUTH_ENV.items():
        value = params.get(name)
        if value is None:
            for env_name in env_names:
                if os.environ.get(env_name):
                    value = os.environ[env_name]
                    if AUTH_ARG_SPEC[name].get("type") == "bool":
                        value = value.strip().lower() not in ("0", "false", "no", "off")
                    elif AUTH_ARG_SPEC[name].get("type") == "path":
                        value = os.path.expanduser(value)
                    break
        if value is not None:
            auth[name] = value
    return auth


def _load_defaults(auth: dict[str, Any], configuration: Any) -> None:
    """Fill ``configuration`` from a kubeconfig or the in-cluster service account."""
    persist = bool(auth.get("persist_config"))
    host = auth.get("host")
    if host and (
        auth.get("api_key")
        or (auth.get("username") and auth.get("password"))
        or (auth.get("client_cert") and auth.get("client_key"))
    ):
        return  # the parameters are enough, like kubernetes.core
    if auth.get("kubeconfig") or auth.get("context"):
        kubernetes.config.load_kube_config(
            config_file=auth.get("kubeconfig"),
            context=auth.get("context"),
            client_configuration=configuration,
            persist_config=persist,
        )
        return
    if os.environ.get("KUBECONFIG"):
        kubernetes.config.load_kube_config(
            config_file=os.environ["KUBECONFIG"], client_configuration=configuration, persist_config=persist
        )
        return
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
        return
    except ConfigException as in_cluster_error:
        default = os.path.expanduser("~/.kube/config")
        if not os.path.exists(default):
            raise KubeError(
                "no Kubernetes credentials: set kubeconfig/host (or K8S_AUTH_KUBECONFIG, KUBECONFIG), "
                f"run in a pod, or create {default} (in-cluster: {in_cluster_error})"
            ) from None
    kubernetes.config.load_kube_config(
        config_file=default, client_configuration=configuration, persist_config=persist
    )


def build_configuration(params: dict[str, Any]) -> Any:
    auth = auth_settings(params)
    configuration = kubernetes.client.Configuration()
    try:
        _load_defaults(auth, configuration)
    except KubeError:
        raise
    except Exception as exc:
        raise KubeError(f"Failed to load kubeconfig due to {exc}") from exc
    if auth.get("host"):
        configuration.host = auth["host"].rstrip("/")
    if auth.get("api_key"):
        configuration.api_key = {"authorization": f"Bearer {auth['api_key']}"}
        configuration.api_key_prefix = {}
        configuration.refresh_api_key_hook = None
    if auth.get("username") is not None:
        configuration.username = auth["username"]
    if auth.get("password") is not None:
        configuration.password = auth["password"]
    if auth.get("validate_certs") is not None:
        configuration.verify_ssl = auth["validate_certs"]
    if auth.get("ca_cert"):
        configuration.ssl_ca_cert = auth["ca_cert"]
    if auth.get("client_cert"):
        configuration.cert_file = auth["client_cert"]
    if auth.get("client_key"):
        configuration.key_file = auth["client_key"]
    if auth.get("proxy"):
        configuration.proxy = auth["proxy"]
    if not configuration.host:
        raise KubeError("no API server address: set host or a kubeconfig")
    return configuration


class Kube:
    """JSON requests to one API server."""

    def __init__(self, configuration: Any) -> None:
        self.configuration = configuration
        self.api = kubernetes.client.ApiClient(configuration)

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        cfg = self.configuration
        has_token = bool((cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken"))
        if not has_token and cfg.username and cfg.password:
            headers["Authorization"] = cfg.get_basic_auth_token()
        return headers

    def _send(self, method: str, path: str, query: list[tuple[str, str]], headers: dict, body: Any):
        """(status, reason, raw bytes) of one request, with either generation of the client."""
        if hasattr(self.api, "param_serialize"):  # kubernetes >= 34 (new generator)
            method, url, headers, body, _post = self.api.param_serialize(
                method,
                path,
                query_params=query or None,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(method, url, headers, body, _request_timeout=REQUEST_TIMEOUT)
            return response.status, response.reason, response.read()
        try:  # older clients raise on error statuses
            response = self.api.call_api(
                path,
                method,
                query_params=query,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            body_text = exc.body.decode() if isinstance(exc.body, bytes) else exc.body
            return exc.status, exc.reason, (body_text or "").encode()
        return response.status, response.reason, response.data

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str | None = None,
        query: dict[str, str] | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON reply (None when empty), raise ApiError/KubeError."""
        if body is not None and content_type is None:
            content_type = "application/json"
        query_list = list((query or {}).items())
        try:
            status, reason, data = self._send(method, path, query_list, self._headers(content_type), body)
        except ApiException as exc:
            raise KubeError(
                f"cannot reach the API server at {self.configuration.host}: {exc.reason}"
            ) from exc
        except Exception as exc:  # urllib3 connection errors and the like
            raise KubeError(f"cannot reach the API server at {self.configuration.host}: {exc}") from exc
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")
        if not 200 <= int(status) <= 299:
            raise ApiError(int(status), reason, text)
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise KubeError(f"{method} {path}: the API server did not answer JSON: {text[:200]}") from exc

    def find_resource(self, api_version: str, kind: str) -> Resource | None:
        """The resource of ``api_version`` whose kind, plural, singular or short name is ``kind``."""
        if api_version != "v1" and api_version.count("/") != 1:
            return None  # core is "v1", everything else is "group/version"
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            document = self.request("GET", base)
        except ApiError as exc:
            if exc.status in (404, 503):
                return None
            raise
        entries = [
            e for e in (document or {}).get("resources") or [] if isinstance(e, dict) and e.get("name")
        ]
        top = [e for e in entries if "/" not in e["name"]]
        chosen = None
        for attribute in ("kind", "name", "singularName"):
            matches = [e for e in top if e.get(attribute) == kind]
            if len(matches) == 1:
                chosen = matches[0]
                break
        if chosen is None:
            matches = [e for e in top if kind in (e.get("shortNames") or [])]
            if len(matches) != 1:
                return None
            chosen = matches[0]
        prefix = chosen["name"] + "/"
        subresources = frozenset(e["name"][len(prefix) :] for e in entries if e["name"].startswith(prefix))
        return Resource(
            api_version, chosen["kind"], chosen["name"], bool(chosen.get("namespaced")), subresources
        )


def connect(module: Any) -> Kube:
    """A Kube for ``module``'s connection parameters; fails the module when that is impossible."""
    if KUBERNETES_IMPORT_ERROR is not None:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    try:
        return Kube(build_configuration(module.params))
    except KubeError as exc:
        module.fail_json(msg=str(exc))
    raise AssertionError("unreachable")


def backoff(attempt: int) -> None:
    """Sleep a little longer after each conflicting write (50 ms, 100 ms, ... at most 1 s)."""
    time.sleep(min(1.0, 0.05 * (2**attempt)))
