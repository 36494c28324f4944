"""The ``ansible-operator`` command: ``run`` and ``version``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from runner import __version__
from runner.config import (
    DEFAULT_JOB_TIMEOUT,
    DEFAULT_RECONCILE_PERIOD,
    LOG_EVENT_LEVELS,
    Config,
    default_runner_dir,
    parse_namespaces,
)
from runner.durations import parse_duration

log = logging.getLogger("runner.cli")


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "t", "true", "yes", "on"):
        return True
    if value in ("0", "f", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _verbosity(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 0 to 7, got {text!r}") from None
    if not 0 <= value <= 7:
        raise argparse.ArgumentTypeError(f"expected 0 to 7, got {value}")
    return value


def _log_events(text: str) -> str:
    value = text.strip().lower()
    if value not in LOG_EVENT_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of Nothing, Tasks, Everything, got {text!r}")
    return value


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    cpus = os.cpu_count() or 1
    flag = p.add_argument
    flag("--watches-file", default="./watches.yaml", help="path to watches.yaml (default ./watches.yaml)")
    flag(
        "--max-concurrent-reconciles",
        type=_positive_int,
        default=cpus,
        help="jobs that may run at once for one kind (default: number of CPUs)",
    )
    flag(
        "--max-concurrent-jobs",
        type=_positive_int,
        default=None,
        help="jobs that may run at once over all kinds (default: 2 x CPUs, at least the per-kind limit)",
    )
    flag(
        "--reconcile-period",
        type=_duration,
        default=DEFAULT_RECONCILE_PERIOD,
        help="periodic resync of every CR, a Go duration (default 10h; 0 disables)",
    )
    flag("--ansible-verbosity", type=_verbosity, default=2, help="ansible-playbook -v level, 0-7 (default 2)")
    flag(
        "--ansible-args",
        default="",
        help="extra arguments for ansible-playbook, e.g. '--vault-password-file f'",
    )
    flag(
        "--ansible-roles-path", default="", help="colon-separated roles path (exported as ANSIBLE_ROLES_PATH)"
    )
    flag(
        "--ansible-collections-path",
        default="",
        help="collections path (exported as ANSIBLE_COLLECTIONS_PATH)",
    )
    flag(
        "--ansible-log-events",
        type=_log_events,
        default="tasks",
        help="job events to log: Nothing, Tasks (default) or Everything",
    )
    flag(
        "--inject-owner-ref",
        type=_bool,
        nargs="?",
        const=True,
        default=True,
        help="set owner references on what roles create (default true)",
    )
    flag(
        "--kubeconfig",
        default=None,
        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)",
    )
    flag(
        "--runner-dir",
        default=None,
        help="where job directories live (default $TMPDIR/ansible-operator-runner-<uid>)",
    )
    flag(
        "--job-timeout",
        type=_duration,
        default=DEFAULT_JOB_TIMEOUT,
        help="a job running longer is stopped and reported as a failure (default 1h)",
    )
    flag(
        "--health-probe-bind-address", default=":6789", help="address of /healthz and /readyz (default :6789)"
    )
    flag(
        "--metrics-bind-address",
        "--metrics-addr",
        default=":8080",
        help="address of /metrics (default :8080; 0 disables)",
    )
    flag("--log-format", choices=("json", "text"), default="json", help="log line format (default json)")


def _unquote(text: str) -> str:
    """Remove one pair of single quotes around the whole value (as the Go operator does)."""
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else text


def build_config(args: argparse.Namespace, environ: Mapping[str, str]) -> Config:
    kubeconfig = args.kubeconfig or environ.get("KUBECONFIG") or None
    per_kind = args.max_concurrent_reconciles
    total = args.max_concurrent_jobs or max(2 * (os.cpu_count() or 1), per_kind)
    return Config(
        watches_file=Path(args.watches_file),
        max_concurrent_reconciles=per_kind,
        max_concurrent_jobs=total,
        reconcile_period=args.reconcile_period,
        ansible_verbosity=args.ansible_verbosity,
        ansible_args=_unquote(args.ansible_args.strip()),
        roles_path=args.ansible_roles_path,
        collections_path=args.ansible_collections_path,
        inject_owner_ref=args.inject_owner_ref,
        kubeconfig=os.path.abspath(kubeconfig) if kubeconfig else None,
        namespaces=parse_namespaces(environ.get("WATCH_NAMESPACE")),
        runner_dir=Path(args.runner_dir) if args.runner_dir else default_runner_dir(environ),
        job_timeout=args.job_timeout,
        log_events=args.ansible_log_events,
        health_probe_bind_address=args.health_probe_bind_address,
        metrics_bind_address=args.metrics_bind_address,
        environ=dict(environ),
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ansible-operator", description="Run Ansible roles as Kubernetes operators."
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_run_flags(sub.add_parser("run", help="run the operator for the kinds in watches.yaml"))
    sub.add_parser("version", help="print the version")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "version":
        print(f"ansible-operator-runner {__version__}")
        return 0
    return run(args)


def run(args: argparse.Namespace) -> int:
    from runner import logs
    from runner.watches import WatchesError, load_watches

    logs.setup(args.log_format)
    environ: dict[str, str] = dict(os.environ)
    if args.ansible_roles_path:
        environ["ANSIBLE_ROLES_PATH"] = os.environ["ANSIBLE_ROLES_PATH"] = args.ansible_roles_path
    if args.ansible_collections_path:
        environ["ANSIBLE_COLLECTIONS_PATH"] = os.environ["ANSIBLE_COLLECTIONS_PATH"] = (
            args.ansible_collections_path
        )
    config = build_config(args, environ)
    try:
        watches = load_watches(config.watches_file, environ=environ)
    except WatchesError as exc:
        print(f"ansible-operator: {exc}", file=sys.stderr)
        return 2
    if config.kubeconfig:
        os.environ["KUBECONFIG"] = config.kubeconfig
    return asyncio.run(_serve(config, watches))


async def _serve(config: Config, watches: list[Any]) -> int:
    from runner import jobdir
    from runner.executor import AnsibleRunnerExecutor
    from runner.kube import Kube, load_api_client
    from runner.operator import Operator, post_event, run_operator
    from runner.reconciler import Reconciler
    from runner.serving import Endpoints

    jobdir.ensure_base(config.runner_dir)
    api_client = load_api_client(config.kubeconfig)
    kube = Kube(api_client)
    executor = AnsibleRunnerExecutor(max_workers=config.max_concurrent_jobs)
    async with _job_access(config, api_client, watches) as (access, dependents):
        operator = Operator(config, watches, Reconciler(config, kube, executor, post_event, access))
        if dependents is not None:
            dependents.bind(operator.dependent_owners, operator.dependent_changed)
            await dependents.start()
        ready = asyncio.Event()
        stop: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        endpoints = Endpoints(ready)
        await endpoints.start_all(config.health_probe_bind_address, config.metrics_bind_address)
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
        try:
            await run_operator(config, operator, ready, stop)
        finally:
            await endpoints.stop()
            kube.close()
            executor.shutdown()
    log.info("operator stopped")
    return 0


@contextlib.asynccontextmanager
async def _job_access(config: Config, api_client: Any, watches: list[Any]) -> AsyncIterator[tuple[Any, Any]]:
    """The proxy and the dependent watches (owner injection on), or direct access (off)."""
    from runner.access import DirectAccess, ProxyAccess
    from runner.dependents import Dependents
    from runner.discovery import Discovery
    from runner.proxy import Proxy
    from runner.upstream import Upstream

    if not config.inject_owner_ref:
        log.warning(
            "--inject-owner-ref=false: no owner references on what roles create, no dependent watches"
        )
        yield DirectAccess(config.kubeconfig), None
        return
    upstream = Upstream(api_client.configuration)
    primaries = frozenset((w.gvk.group, w.gvk.kind) for w in watches)
    proxy = Proxy(upstream, Discovery(upstream), primaries)
    dependents = Dependents(upstream, config.namespaces, config.runner_dir / "dependent-kinds.json")
    await proxy.start()
    try:
        yield ProxyAccess(proxy, dependents), dependents
    finally:
        await dependents.stop()
        await proxy.stop()
        await upstream.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
