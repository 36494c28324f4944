"""Before the operator starts: which credentials, is the API server there, are the watched kinds served.

A problem is said once, in one line that names the API server's URL and where the credentials came
from. What may pass (no answer yet, a 5xx, a CRD about to be installed) is tried again with
back-off, one log line per attempt, for at most ``--cluster-wait-timeout`` (default 2 minutes);
then, or at once for what cannot pass (no credentials, a missing kubeconfig file, 401), the
operator exits non-zero with :class:`ClusterUnavailable`'s message instead of a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from runner.cluster.kube import Kube
from runner.config.watches import Watch

log = logging.getLogger("runner.cluster.preflight")

FIRST_DELAY = 1.0
MAX_DELAY = 15.0
ATTEMPT_TIMEOUT = 10.0


class ClusterUnavailable(Exception):
    """The operator cannot reach its cluster; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Credentials:
    api_client: k8s_client.ApiClient
    source: str  # "kubeconfig /path", "in-cluster service account"
    server: str


def load_credentials(kubeconfig: str | None, environ: dict[str, str] | None = None) -> Credentials:
    """The operator's API client, as kubectl would find it: ``--kubeconfig`` / ``$KUBECONFIG``,
    else ``~/.kube/config``, else the pod's service account."""
    from kubernetes import config as k8s_config

    env = os.environ if environ is None else environ
    configuration = k8s_client.Configuration()
    paths = [p for p in (kubeconfig or "").split(os.pathsep) if p]
    if not paths:
        default = Path(env.get("HOME") or "~").expanduser() / ".kube" / "config"
        if default.is_file():
            paths = [str(default)]
    if paths:
        existing = [p for p in paths if Path(p).is_file()]
        if not existing:
            raise ClusterUnavailable(
                f"kubeconfig {os.pathsep.join(paths)} does not exist: "
                "set --kubeconfig or KUBECONFIG to a kubeconfig file"
            )
        source = f"kubeconfig {os.pathsep.join(existing)}"
        try:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=existing[0] if len(existing) == 1 else os.pathsep.join(existing),
                client_configuration=configuration,
            )
        except (k8s_config.ConfigException, OSError, TypeError, ValueError) as exc:
            raise ClusterUnavailable(f"{source} cannot be used: {one_line(exc)}") from None
    elif env.get("KUBERNETES_SERVICE_HOST"):
        source = "in-cluster service account"
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except (k8s_config.ConfigException, OSError) as exc:
            raise ClusterUnavailable(f"the pod's service account cannot be used: {one_line(exc)}") from None
    else:
        raise ClusterUnavailable(
            "no cluster credentials: no --kubeconfig, KUBECONFIG is unset, there is no ~/.kube/config, "
            "and this is not a pod (KUBERNETES_SERVICE_HOST is unset); set KUBECONFIG or --kubeconfig"
        )
    return Credentials(k8s_client.ApiClient(configuration), source, str(configuration.host))


def one_line(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason or ''}".strip()
    text = " ".join(str(exc).split()) or type(exc).__name__
    # urllib3 wraps the cause in long sentences: keep what a person acts on.
    for pattern in (r"\[Errno -?\d+\] ([^'\")(]+)", r"(certificate verify failed[^'\")(]*)", r"(timed out)"):
        m = re.search(pattern, text)
        if m:
            return m.group(1).strip().rstrip(".:")
    return text[:200]


def missing_kinds(watches: Iterable[Watch], served: dict[tuple[str, str], set[str] | None]) -> list[str]:
    """The watched kinds the API server does not serve (``served[(group, version)]`` = its kinds,
    None when the group/version itself is unknown). Pure."""
    out = []
    for w in watches:
        kinds = served.get((w.gvk.group, w.gvk.version))
        if kinds is None or w.gvk.kind not in kinds:
            out.append(str(w.gvk))
    return out


def backoff(attempt: int) -> float:
    return float(min(FIRST_DELAY * 2.0**attempt, MAX_DELAY))


async def wait_for_cluster(kube: Kube, creds: Credentials, watches: Sequence[Watch], timeout: float) -> None:
    """Return once the API server answers and serves every watched kind; raise ClusterUnavailable
    when it does not within ``timeout`` seconds, or at once when it refuses the credentials."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    where = f"the API server at {creds.server} (credentials: {creds.source})"
    attempt = 0
    while True:
        problem = await _check(kube, where, watches)
        if problem is None:
            if attempt:
                log.info("%s answers and serves every watched kind", where)
            return
        delay = backoff(attempt)
        waited = loop.time() - started
        if waited + delay > timeout:
            raise ClusterUnavailable(f"{problem}; gave up after {waited:.0f}s (--cluster-wait-timeout)")
        log.warning("%s; trying again in %.0fs", problem, delay)
        await asyncio.sleep(delay)
        attempt += 1


async def _check(kube: Kube, where: str, watches: Sequence[Watch]) -> str | None:
    try:
        await asyncio.wait_for(kube.call("GET", "/version"), ATTEMPT_TIMEOUT)
    except ApiException as exc:
        if exc.status == 401:
            raise ClusterUnavailable(f"{where} refused the credentials (HTTP 401 Unauthorized)") from None
        return f"{where} answered {one_line(exc)}"
    except Exception as exc:  # no connection, TLS, timeout: all may pass
        return f"cannot reach {where}: {one_line(exc) if str(exc) else 'no answer'}"
    served: dict[tuple[str, str], set[str] | None] = {}
    for group, version in sorted({(w.gvk.group, w.gvk.version) for w in watches}):
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            doc = await asyncio.wait_for(kube.call("GET", path), ATTEMPT_TIMEOUT)
            served[(group, version)] = {r.get("kind", "") for r in (doc or {}).get("resources", [])}
        except ApiException as exc:
            if exc.status != 404:
                return f"{where} answered {one_line(exc)} for {path}"
            served[(group, version)] = None
        except Exception as exc:
            return f"cannot reach {where}: {one_line(exc)}"
    missing = missing_kinds(watches, served)
    if missing:
        groups = sorted({m.split(".", 2)[2] for m in missing if m.count(".") >= 2})
        hint = f" (kubectl get crds | grep {groups[0]})" if len(groups) == 1 else ""
        return f"{where} does not serve the watched kind(s) {', '.join(missing)}: is the CRD installed?{hint}"
    return None
