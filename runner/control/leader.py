"""Leader election on a coordination.k8s.io Lease, as controller-runtime does (``--leader-elect``).

Only the leader watches and reconciles. A replica that cannot renew its lease within the renew
deadline stops (and is restarted by its Deployment), so two replicas never run jobs for the same
CRs at once. On a clean shutdown the lease is released so another replica takes over at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("runner.control.leader")
SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


@dataclass(frozen=True, slots=True)
class LeaseConfig:
    name: str
    namespace: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = field(default_factory=lambda: identity())


def default_namespace() -> str | None:
    try:
        with open(SA_NAMESPACE_FILE) as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def _now() -> datetime:
    return datetime.now(UTC)


def _micro(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(ts: Any) -> datetime | None:
    if isinstance(ts, datetime):
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    if isinstance(ts, str):
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return None


class LeaderElector:
    def __init__(self, api_client: k8s_client.ApiClient, config: LeaseConfig) -> None:
        self.api = k8s_client.CoordinationV1Api(api_client)
        self.config = config
        self.lost = asyncio.Event()

    def _try(self) -> bool:
        """One attempt to take or renew the lease (blocking: call in a thread)."""
        c, now = self.config, _now()
        try:
            lease = self.api.read_namespaced_lease(c.name, c.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            body: Any = {  # the client serializes plain dicts as they are
                "metadata": {"name": c.name, "namespace": c.namespace},
                "spec": {
                    "holderIdentity": c.identity,
                    "leaseDurationSeconds": int(c.lease_duration),
                    "acquireTime": _micro(now),
                    "renewTime": _micro(now),
                    "leaseTransitions": 0,
                },
            }
            try:
                self.api.create_namespaced_lease(c.namespace, body)
                return True
            except ApiException as exc2:
                if exc2.status == 409:
                    return False
                raise
        spec = lease.spec = lease.spec or k8s_client.V1LeaseSpec()
        holder = spec.holder_identity or ""
        renewed = _parse(spec.renew_time)
        duration = spec.lease_duration_seconds or int(c.lease_duration)
        expired = renewed is None or (now - renewed).total_seconds() > duration
        if holder and holder != c.identity and not expired:
            return False
        if holder != c.identity:
            spec.lease_transitions = (spec.lease_transitions or 0) + 1
            spec.acquire_time = now
        spec.holder_identity = c.identity
        spec.lease_duration_seconds = int(c.lease_duration)
        spec.renew_time = now
        try:
            self.api.replace_namespaced_lease(c.name, c.namespace, lease)  # resourceVersion guards races
            return True
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise

    async def acquire(self) -> None:
        c = self.config
        log.info(
            "waiting to become the leader", extra={"lease": f"{c.namespace}/{c.name}", "identity": c.identity}
        )
        while not await asyncio.to_thread(self._safe_try):
            await asyncio.sleep(c.retry_period)
        log.info("became the leader", extra={"lease": f"{c.namespace}/{c.name}", "identity": c.identity})

    def _safe_try(self) -> bool:
        try:
            return self._try()
        except Exception as exc:
            log.warning("lease attempt failed: %s", exc)
            return False

    async def keep(self) -> None:
        """Renew until the lease is lost (then ``lost`` is set) or the task is cancelled."""
        c = self.config
        last_ok = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(c.retry_period)
            if await asyncio.to_thread(self._safe_try):
                last_ok = asyncio.get_running_loop().time()
            elif asyncio.get_running_loop().time() - last_ok > c.renew_deadline:
                log.error("lost the leader lease; stopping", extra={"lease": f"{c.namespace}/{c.name}"})
                self.lost.set()
                return

    async def release(self) -> None:
        def release() -> None:
            c = self.config
            lease = self.api.read_namespaced_lease(c.name, c.namespace)
            if lease.spec and lease.spec.holder_identity == c.identity:
                lease.spec.holder_identity = None
                lease.spec.lease_duration_seconds = 1
                self.api.replace_namespaced_lease(c.name, c.namespace, lease)

        try:
            await asyncio.to_thread(release)
        except Exception as exc:
            log.warning("could not release the lease: %s", exc)


def identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}_{uuid.uuid4()}"
