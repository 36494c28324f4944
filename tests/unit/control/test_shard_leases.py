"""Releasing this replica's Lease on shutdown when the API server cannot be reached."""

from __future__ import annotations

import asyncio
import logging

import kubernetes.client
import pytest

from runner.cluster.kube import Kube
from runner.control.shard.leases import MemberLease


def test_a_release_that_cannot_reach_the_api_server_is_logged_and_shutdown_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing listens on the address: the release must not raise out of the shutdown (the
    operator's clean-ups still run); the Lease is left to expire, and the log says so."""
    config = kubernetes.client.Configuration()
    config.host = "https://127.0.0.1:9"  # the discard port: connection refused
    config.retries = 0
    kube = Kube(kubernetes.client.ApiClient(config))
    lease = MemberLease(kube, "ns", "ring", "r1", 15.0)
    lease._own = {"metadata": {"name": "r1", "resourceVersion": "5"}, "spec": {"holderIdentity": "r1"}}
    try:
        with caplog.at_level(logging.WARNING, logger="runner.control.shard"):
            asyncio.run(lease.release())
    finally:
        kube.close()
    assert "could not release the lease ns/r1" in caplog.text
    assert "expires on its own" in caplog.text
