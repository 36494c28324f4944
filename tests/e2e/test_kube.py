"""The operator's status writes against a real API server: guarded by resourceVersion, so a write
started from an object that changed since it was read never loses the other change."""

from __future__ import annotations

import asyncio

from runner.cluster import devcluster
from runner.cluster.kube import Kube, ResourceRef, load_api_client
from runner.control.shard.leases import MemberLease
from tests.e2e.conftest import E2E_GROUP, cr
from tests.e2e.kube import Kubectl

ECHO = ResourceRef(group=E2E_GROUP, version="v1", plural="echoes", kind="Echo", namespaced=True)


def _add_condition(kind: str):  # type: ignore[no-untyped-def]
    def change(status):  # type: ignore[no-untyped-def]
        return {"conditions": [*status.get("conditions", []), {"type": kind, "status": "True"}]}

    return change


def test_a_write_from_a_stale_object_is_retried_on_the_current_one(
    cluster: devcluster.Cluster, kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(cr("Echo", "stale", namespace, {"message": "hi"}))
    seen = kubectl.get("echo", "stale", namespace)
    assert seen is not None
    # someone else (a role's k8s_status, say) adds a condition after we read the object: a merge
    # patch of the list from our stale copy would drop it
    theirs = {"type": "Theirs", "status": "True"}
    kubectl.patch("echo", "stale", namespace, {"status": {"conditions": [theirs]}}, status=True)

    async def write() -> tuple[dict | None, dict | None]:
        kube = Kube(load_api_client(cluster.kubeconfig))
        try:
            first = await kube.write_status(ECHO, namespace, "stale", _add_condition("Running"), current=seen)
            # and the object the first write returned is current: the next write starts from it
            second = await kube.write_status(
                ECHO, namespace, "stale", _add_condition("Successful"), current=first
            )
            return first, second
        finally:
            kube.close()

    first, second = asyncio.run(write())
    assert first is not None and second is not None
    final = kubectl.get("echo", "stale", namespace)
    assert final is not None
    assert [c["type"] for c in final["status"]["conditions"]] == ["Theirs", "Running", "Successful"]
    assert final["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]


def test_a_lease_renewed_while_it_is_released_is_still_released(
    cluster: devcluster.Cluster, kubectl: Kubectl, namespace: str
) -> None:
    """A replica's last renewal can land after its renew loop was stopped (the request runs on in
    a thread): the release then starts from an old resourceVersion. It must still release, or the
    other members wait for the Lease to expire (CI saw a rolling restart wait so)."""

    async def scenario() -> None:
        kube = Kube(load_api_client(cluster.kubeconfig))
        try:
            lease = MemberLease(kube, namespace, "ring", "r1", 15.0)
            assert await lease.take()
            path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/r1"
            current = await kube.call("GET", path)
            current["spec"]["renewTime"] = "2026-12-07T21:20:22.000000Z"
            await kube.call("PUT", path, current)  # the renewal that was still on its way
            await lease.release()
        finally:
            kube.close()

    asyncio.run(scenario())
    stored = kubectl.get("lease", "r1", namespace)
    assert stored is not None
    assert not stored["spec"].get("holderIdentity"), stored["spec"]
