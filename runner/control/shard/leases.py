"""The API edge of membership: this replica's own Lease (taken, renewed, released) and the listing
of the ring's Leases."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from kubernetes.client.exceptions import ApiException

from runner.cluster.kube import Kube
from runner.control.shard.members import LeaseView
from runner.control.shard.names import RING_LABEL

log = logging.getLogger("runner.control.shard")
BASE = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
RELEASE_ATTEMPTS = 3


def _micro(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _age(stamp: Any, now: datetime) -> float | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return (now - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds()
    except ValueError:
        return None


class MemberLease:
    def __init__(self, kube: Kube, namespace: str, ring: str, identity: str, duration: float) -> None:
        self.kube = kube
        self.namespace = namespace
        self.ring = ring
        self.identity = identity
        self.duration = duration
        self._path = BASE.format(ns=quote(namespace))
        self._own: dict[str, Any] | None = None

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.identity}"

    def _spec(self, acquire: bool) -> dict[str, Any]:
        now = _micro(datetime.now(UTC))
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.duration)),
            "renewTime": now,
        }
        if acquire:
            spec["acquireTime"] = now
        return spec

    async def take(self) -> bool:
        """Create or take this replica's Lease. False while another live process holds it."""
        try:
            lease = await self.kube.call("GET", f"{self._path}/{quote(self.identity)}")
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.identity, "labels": {RING_LABEL: self.ring}},
                "spec": {**self._spec(True), "leaseTransitions": 0},
            }
            try:
                self._own = await self.kube.call("POST", self._path, body)
                return True
            except ApiException as exc2:
                if exc2.status == 409:
                    return False
                raise
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        age = _age(spec.get("renewTime"), datetime.now(UTC))
        live = age is not None and age <= float(spec.get("leaseDurationSeconds") or self.duration)
        if holder and holder != self.identity and live:
            return False
        # The same name held by ourselves: a restarted pod of the same name; the old process is gone.
        lease.setdefault("metadata", {}).setdefault("labels", {})[RING_LABEL] = self.ring
        lease["spec"] = {**spec, **self._spec(True)}
        lease["spec"]["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (holder != self.identity)
        try:
            self._own = await self.kube.call("PUT", f"{self._path}/{quote(self.identity)}", lease)
            return True
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise

    async def renew(self) -> bool:
        lease = self._own
        if lease is None:
            return await self.take()
        lease = {**lease, "spec": {**(lease.get("spec") or {}), **self._spec(False)}}
        try:
            self._own = await self.kube.call("PUT", f"{self._path}/{quote(self.identity)}", lease)
            return True
        except ApiException as exc:
            if exc.status in (404, 409):  # deleted or written by someone else: take it again
                self._own = None
                return await self.take()
            raise

    async def release(self) -> None:
        """No holder: the other members take this replica's CRs at once.

        A renewal still in flight when the renew loop was stopped (its request runs on in a
        thread) changes the Lease after ``_own`` was read: the release then meets a conflict, and
        is made again from the Lease as it is, while this replica still holds it. Any other
        failure (the API server unreachable, a refusal) is logged and leaves the Lease to expire:
        the shutdown goes on."""
        if self._own is None:
            return
        lease, path = self._own, f"{self._path}/{quote(self.identity)}"
        try:
            for attempt in range(1, RELEASE_ATTEMPTS + 1):
                body = {**lease, "spec": {**(lease.get("spec") or {}), "holderIdentity": None}}
                try:
                    await self.kube.call("PUT", path, body)
                    return
                except ApiException as exc:
                    if exc.status != 409 or attempt == RELEASE_ATTEMPTS:
                        raise
                lease = await self.kube.call("GET", path)
                if (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                    return  # not ours any more: nothing to release
        except Exception as exc:
            reason = exc.reason if isinstance(exc, ApiException) else exc
            log.warning("could not release the lease %s (it expires on its own): %s", self.where, reason)

    async def delete(self, lease: LeaseView) -> None:
        """Delete a gone member's Lease, unless it was written meanwhile (it came back)."""
        body = {"preconditions": {"resourceVersion": lease.resource_version}}
        try:
            await self.kube.call("DELETE", f"{self._path}/{quote(lease.name)}", body)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    async def members(self) -> list[LeaseView]:
        selector = quote(f"{RING_LABEL}={self.ring}")
        listing = await self.kube.call("GET", f"{self._path}?labelSelector={selector}")
        now = datetime.now(UTC)
        out = []
        for item in listing.get("items") or []:
            spec = item.get("spec") or {}
            out.append(
                LeaseView(
                    name=item["metadata"]["name"],
                    holder=spec.get("holderIdentity") or "",
                    renew_time=str(spec.get("renewTime") or ""),
                    duration=float(spec.get("leaseDurationSeconds") or self.duration),
                    renew_age=_age(spec.get("renewTime"), now),
                    resource_version=str(item["metadata"].get("resourceVersion") or ""),
                )
            )
        return out
