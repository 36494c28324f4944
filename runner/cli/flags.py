"""The ``run`` command's flags and environment → one ``Config`` (``add_run_flags``, ``config_from``).

Shared by ``ansible-operator run`` (``main``) and ``ansible-operator vars`` (``varscmd``), which
plans a job exactly as the operator would."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from runner.config.durations import parse_duration
from runner.config.settings import (
    DEFAULT_JOB_TIMEOUT,
    DEFAULT_RECONCILE_PERIOD,
    DEFAULT_WARM_IDLE_TIMEOUT,
    LOG_EVENT_LEVELS,
    Config,
    default_runner_dir,
    parse_namespaces,
)
from runner.control.shard.names import check_identity, check_ring, default_identity


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


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return int(text)


def _positive_duration(text: str) -> float:
    value = _duration(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration above zero, got {text!r}")
    return value


def _watches_file(text: str) -> str:
    if not text.strip():
        # `--watches-file=$WATCHES_FILE` in an entrypoint, with the variable not set.
        raise argparse.ArgumentTypeError(
            "the path is empty (a variable such as $WATCHES_FILE that is not set?)"
        )
    return text


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


def add_run_flags(p: argparse.ArgumentParser) -> None:
    cpus = os.cpu_count() or 1
    flag = p.add_argument
    flag(
        "--watches-file",
        type=_watches_file,
        default="./watches.yaml",
        help="path to watches.yaml (default ./watches.yaml)",
    )
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
        "--rbac-record",
        default=None,
        metavar="FILE",
        help="record every API call of the jobs (per watched kind) into FILE, for `ansible-operator rbac`"
        " (default: not recorded)",
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
    flag("--log-format", choices=("json", "text"), default=None, help="log line format (default json)")
    flag(
        "--metrics-secure", type=_bool, nargs="?", const=True, default=False, help="serve /metrics over HTTPS"
    )
    flag(
        "--metrics-require-rbac",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        help="only callers allowed to GET /metrics (TokenReview, SubjectAccessReview); with --metrics-secure",
    )
    flag(
        "--enable-http2",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        help="accepted for compatibility: the endpoints speak HTTP/1.1 only (the Go operator's default)",
    )
    flag(
        "--leader-elect",
        "--enable-leader-election",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        help="run only while holding a coordination.k8s.io Lease (for several replicas)",
    )
    flag(
        "--leader-election-id",
        default="",
        help="the Lease name (default $OPERATOR_NAME or ansible-operator-runner)",
    )
    flag(
        "--leader-election-namespace",
        default="",
        help="the Lease namespace (default: the pod's namespace; required when running outside a cluster)",
    )
    flag("--leader-elect-lease-duration", type=_duration, default=15.0, help="lease duration (default 15s)")
    flag("--leader-elect-renew-deadline", type=_duration, default=10.0, help="renew deadline (default 10s)")
    flag("--leader-elect-resource-lock", choices=("leases",), default="leases", help="always leases")
    flag(
        "--graceful-shutdown-timeout",
        type=_duration,
        default=30.0,
        help="on SIGTERM, how long running jobs may finish before they are stopped (default 30s)",
    )
    flag(
        "--cluster-wait-timeout",
        type=_duration,
        default=120.0,
        help="at start, how long to wait for the API server to answer and serve the watched kinds "
        "before exiting with an error (default 2m)",
    )
    flag(
        "--proxy-port",
        type=_port,
        default=0,
        help="loopback port of the job API proxy: 127.0.0.1:N (default 0: any free port)",
    )
    flag(
        "--executor",
        choices=("fast", "plain"),
        default=None,
        help="fast (default): warm Ansible workers, falling back to plain per job when a job needs it;"
        " plain: one ansible-playbook process per job (also env ANSIBLE_OPERATOR_EXECUTOR)",
    )
    flag(
        "--warm-worker-idle-timeout",
        type=_positive_duration,
        default=DEFAULT_WARM_IDLE_TIMEOUT,
        help="the fast executor's warm workers unused this long are stopped, giving their memory back;"
        " the next job starts them again in about a second (default 60s)",
    )
    shard = p.add_argument_group("scaling out (README: Scaling out)")
    shard.add_argument(
        "--sharding",
        type=_bool,
        nargs="?",
        const=True,
        default=None,
        help="share the CRs among all replicas, each holding a Lease of its own "
        "(also env ANSIBLE_OPERATOR_SHARDING=true); not with --leader-elect",
    )
    shard.add_argument(
        "--shard-identity",
        default="",
        help="this replica's name in the ring and its Lease's name "
        "(default: $POD_NAME, else host name and pid)",
    )
    shard.add_argument(
        "--shard-ring",
        default="",
        help="the ring's name (default: the operator name, as --leader-election-id)",
    )
    shard.add_argument(
        "--shard-by",
        choices=("name", "namespace"),
        default="name",
        help="what picks a CR's replica: its namespace and name (default), or its namespace only",
    )
    shard.add_argument(
        "--shard-lease-duration",
        type=_positive_duration,
        default=15.0,
        help="a replica that has not renewed its Lease for this long is gone and its CRs move (default 15s)",
    )
    zap = p.add_argument_group("logging (the Go operator's zap flags)")
    zap.add_argument(
        "--zap-devel", type=_bool, nargs="?", const=True, default=False, help="text logs at debug level"
    )
    zap.add_argument(
        "--zap-encoder", choices=("json", "console"), default=None, help="json or console (text) logs"
    )
    zap.add_argument(
        "--zap-log-level", default="info", help="debug, info, error, or a number (higher = more verbose)"
    )
    zap.add_argument(
        "--zap-stacktrace-level",
        default="error",
        help="accepted; errors are always logged with their traceback",
    )
    zap.add_argument(
        "--zap-time-encoding", default="iso8601", help="accepted; timestamps are always ISO 8601"
    )


def _env_bool(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip()
    try:
        return bool(raw) and _bool(raw)
    except argparse.ArgumentTypeError:
        return False


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
        metrics_secure=args.metrics_secure,
        metrics_require_rbac=args.metrics_require_rbac,
        leader_elect=args.leader_elect,
        leader_election_id=args.leader_election_id
        or environ.get("OPERATOR_NAME")
        or "ansible-operator-runner",
        leader_election_namespace=args.leader_election_namespace,
        lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline,
        graceful_shutdown_timeout=args.graceful_shutdown_timeout,
        cluster_wait_timeout=args.cluster_wait_timeout,
        proxy_port=args.proxy_port,
        executor=args.executor or environ.get("ANSIBLE_OPERATOR_EXECUTOR") or "fast",
        warm_idle_timeout=args.warm_worker_idle_timeout,
        sharding=args.sharding
        if args.sharding is not None
        else _env_bool(environ, "ANSIBLE_OPERATOR_SHARDING"),
        shard_identity=args.shard_identity or default_identity(dict(environ)),
        shard_ring=args.shard_ring or environ.get("OPERATOR_NAME") or "ansible-operator-runner",
        shard_by=args.shard_by,
        shard_lease_duration=args.shard_lease_duration,
        rbac_record=Path(args.rbac_record).absolute() if args.rbac_record else None,
        environ=dict(environ),
    )


def sharding_problem(config: Config, args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """What is wrong with the --sharding settings, in words (None: nothing)."""
    raw = environ.get("ANSIBLE_OPERATOR_SHARDING", "").strip()
    if args.sharding is None and raw:
        try:
            _bool(raw)
        except argparse.ArgumentTypeError:
            return f"ANSIBLE_OPERATOR_SHARDING={raw!r}: expected true or false"
    if not config.sharding:
        return None
    if config.leader_elect:
        return (
            "--sharding and --leader-elect cannot be used together: with --sharding every replica "
            "serves its share of the resources and none waits to lead; drop one of them"
        )
    from runner.control.leader import default_namespace

    if not (config.leader_election_namespace or default_namespace()):
        return (
            "--sharding needs --leader-election-namespace (where the replicas' Leases live) when "
            "running outside a cluster"
        )
    if config.shard_lease_duration < 3:
        return f"--shard-lease-duration {config.shard_lease_duration:g}s: use at least 3s"
    return check_identity(config.shard_identity) or check_ring(config.shard_ring)


def config_from(flags: Sequence[str], environ: Mapping[str, str]) -> Config:
    """The ``Config`` that ``ansible-operator run FLAGS`` would run with in ``environ``."""
    p = argparse.ArgumentParser(prog="ansible-operator run")
    add_run_flags(p)
    return build_config(p.parse_args(list(flags)), environ)
