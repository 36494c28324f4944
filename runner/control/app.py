"""The running operator, assembled: API client, job access (proxy + dependent watches), executor,
reconciler, kopf, endpoints, and leader election; and its orderly shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from runner import __version__
from runner.cluster.access import DirectAccess, JobAccess, ProxyAccess
from runner.cluster.dependents import Dependents
from runner.cluster.discovery import Discovery
from runner.cluster.kube import Kube
from runner.cluster.preflight import load_credentials, wait_for_cluster
from runner.cluster.proxy import Proxy
from runner.cluster.rbaccalls import Recorder
from runner.cluster.upstream import Upstream
from runner.config.settings import Config
from runner.config.watches import Watch
from runner.control import memory
from runner.control.leader import LeaderElector, LeaseConfig, default_namespace
from runner.control.operator import Operator, run_operator
from runner.control.reconciler import Reconciler
from runner.control.shard.coordinator import Coordinator
from runner.control.shard.leases import MemberLease
from runner.jobs import jobdir
from runner.jobs.executor import AnsibleRunnerExecutor, Executor
from runner.serve.endpoints import Endpoints, metrics_authorizer
from runner.status.events import EventRecorder

log = logging.getLogger("runner.control.app")


async def serve(config: Config, watches: list[Watch]) -> int:
    os.umask(0o077)  # every file of the operator and of its jobs (artifacts too) is private
    memory.limit_arenas()  # before the API and job threads start (runner/control/memory.py)
    jobdir.ensure_base(config.runner_dir)
    creds = load_credentials(config.kubeconfig)
    api_client = creds.api_client
    kube = Kube(api_client)
    ready = asyncio.Event()
    stop: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    authorize = metrics_authorizer(api_client) if config.metrics_require_rbac else None
    endpoints = Endpoints(ready, metrics_tls=config.metrics_secure, authorize=authorize)
    await endpoints.start_all(config.health_probe_bind_address, config.metrics_bind_address)
    try:  # /healthz answers meanwhile; /readyz only once the operator runs
        await wait_for_cluster(kube, creds, watches, config.cluster_wait_timeout)
    except BaseException:
        await endpoints.stop()
        kube.close()
        raise
    executor = make_executor(config)
    elector = await _lead(config, api_client, stop)
    if elector is None and config.leader_elect:
        await endpoints.stop()
        kube.close()
        executor.shutdown()
        return 2
    code = 0
    shard = _ring_member(config, api_client, kube) if config.sharding else None
    lease_kube = shard.lease.kube if shard is not None else None
    events = EventRecorder(kube, config.operator_name)
    events.start()  # before kopf starts (see EventRecorder.start)
    try:
        if shard is not None:
            await shard.start(on_fenced=lambda: None if stop.done() else stop.set_result(None))
        async with _job_access(config, api_client, watches) as (access, dependents):
            reconciler = Reconciler(config, kube, executor, events.post, access)
            operator = Operator(config, watches, reconciler, shard)
            if dependents is not None:
                dependents.bind(operator.dependent_owners, operator.dependent_changed)
                await dependents.start()
                operator.cleanups.append(dependents.stop)
            log.info(
                "operator starting",
                extra={
                    "version": __version__,
                    "kinds": [str(w.gvk) for w in watches],
                    "namespaces": list(config.namespaces) or "all",
                    "runner_dir": str(config.runner_dir),
                    "owner_injection": config.inject_owner_ref,
                },
            )
            await run_operator(config, operator, ready, stop)
            if elector is not None and elector.lost.is_set():
                code = 1
            if shard is not None and shard.lost.is_set():
                code = 1
    finally:
        if shard is not None:
            await shard.stop()  # after the last job: the other members take its CRs at once
        await events.close()  # the last Events (a shutdown's, a finalizer's) still land
        if elector is not None:
            await elector.release()
        await endpoints.stop()
        kube.close()
        if lease_kube is not None:
            lease_kube.close()
        executor.shutdown()
    log.info("operator stopped")
    return code


def make_executor(config: Config) -> Executor:
    plain = AnsibleRunnerExecutor(max_workers=config.max_concurrent_jobs)
    if config.executor == "plain":
        return plain
    from runner.fastexec.auto import AutoExecutor
    from runner.fastexec.executor import FastExecutor

    fast = FastExecutor(max_workers=config.max_concurrent_jobs, idle_timeout=config.warm_idle_timeout)
    log.info("fast executor: warm Ansible workers (--executor=plain turns them off)")
    return AutoExecutor(fast, plain)


async def _lead(config: Config, api_client: Any, stop: asyncio.Future[Any]) -> LeaderElector | None:
    """With --leader-elect: wait for the lease, and stop the operator if it is ever lost."""
    if not config.leader_elect:
        return None
    namespace = config.leader_election_namespace or default_namespace()
    if not namespace:
        log.error("--leader-elect needs --leader-election-namespace when running outside a cluster")
        return None
    lease = LeaseConfig(
        config.leader_election_id,
        namespace,
        lease_duration=config.lease_duration,
        renew_deadline=config.renew_deadline,
    )
    elector = LeaderElector(api_client, lease)
    await elector.acquire()

    async def watch_lease() -> None:
        await elector.keep()
        if elector.lost.is_set() and not stop.done():
            stop.set_result(None)

    task = asyncio.get_running_loop().create_task(watch_lease())
    stop.add_done_callback(lambda _: task.cancel())
    return elector


def _ring_member(config: Config, api_client: Any, kube: Kube) -> Coordinator:
    """With --sharding: this replica's Lease (on a client of its own, so renewals never queue
    behind status writes) and its place in the ring. ``main`` has checked the settings."""
    namespace = config.leader_election_namespace or default_namespace() or ""
    identity = config.shard_identity
    lease = MemberLease(
        Kube(api_client, threads=2), namespace, config.shard_ring, identity, config.shard_lease_duration
    )
    return Coordinator(
        kube, lease, ring_name=config.shard_ring, by=config.shard_by, duration=config.shard_lease_duration
    )


@contextlib.asynccontextmanager
async def _job_access(
    config: Config, api_client: Any, watches: list[Watch]
) -> AsyncIterator[tuple[JobAccess, Dependents | None]]:
    """The proxy and the dependent watches (owner injection on), or direct access (off)."""
    if not config.inject_owner_ref:
        log.warning(
            "--inject-owner-ref=false: no owner references on what roles create, no dependent watches"
        )
        if config.rbac_record is not None:
            log.warning("--rbac-record: the jobs' calls are not recorded with --inject-owner-ref=false")
        yield DirectAccess(config.kubeconfig), None
        return
    upstream = Upstream(api_client.configuration)
    primaries = frozenset((w.gvk.group, w.gvk.kind) for w in watches)
    recorder = Recorder(config.rbac_record) if config.rbac_record is not None else None
    proxy = Proxy(upstream, Discovery(upstream), primaries, recorder)
    dependents = Dependents(upstream, config.namespaces, config.runner_dir / "dependent-kinds.json")
    await proxy.start(config.proxy_port)
    try:
        yield ProxyAccess(proxy, dependents), dependents
    finally:
        await dependents.stop()
        await proxy.stop()
        await upstream.close()
        if recorder is not None:
            recorder.flush()
