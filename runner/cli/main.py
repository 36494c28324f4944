"""The ``ansible-operator`` command: ``run`` and ``version``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

from runner import __version__
from runner.cli.flags import add_run_flags, build_config, sharding_problem
from runner.cli.scaffold import add_parsers, dispatch

__all__ = ["build_config", "main", "parser"]

log = logging.getLogger("runner.cli")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ansible-operator", description="Run Ansible roles as Kubernetes operators."
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    add_run_flags(sub.add_parser("run", help="run the operator for the kinds in watches.yaml"))
    sub.add_parser("version", help="print the version")
    add_parsers(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "version":
        print(f"ansible-operator-runner {__version__}")
        return 0
    if args.command == "run":
        return run(args)
    code = dispatch(args)
    return 2 if code is None else code


def log_settings(args: argparse.Namespace) -> tuple[str, int]:
    """--log-format wins; else the zap flags (--zap-devel: text at debug; --zap-encoder console: text)."""
    fmt = args.log_format or ("text" if args.zap_devel or args.zap_encoder == "console" else "json")
    names = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
    raw = str(args.zap_log_level).lower()
    if raw in names:
        level = names[raw]
    elif raw.lstrip("-").isdigit():
        level = logging.DEBUG if int(raw) > 0 else logging.INFO  # zap: higher numbers are more verbose
    else:
        level = logging.INFO
    return fmt, logging.DEBUG if args.zap_devel else level


def run(args: argparse.Namespace) -> int:
    from runner.config.watches import WatchesError, load_watches
    from runner.serve import logs

    fmt, level = log_settings(args)
    logs.setup(fmt, level)
    if args.metrics_require_rbac and not args.metrics_secure:
        print("ansible-operator: --metrics-require-rbac needs --metrics-secure", file=sys.stderr)
        return 2
    environ: dict[str, str] = dict(os.environ)
    if args.ansible_roles_path:
        environ["ANSIBLE_ROLES_PATH"] = os.environ["ANSIBLE_ROLES_PATH"] = args.ansible_roles_path
    if args.ansible_collections_path:
        environ["ANSIBLE_COLLECTIONS_PATH"] = os.environ["ANSIBLE_COLLECTIONS_PATH"] = (
            args.ansible_collections_path
        )
    config = build_config(args, environ)
    problem = sharding_problem(config, args, environ)
    if problem:
        print(f"ansible-operator: {problem}", file=sys.stderr)
        return 2
    if config.sharding:
        logs.name_replica(config.shard_identity)
    try:
        watches = load_watches(config.watches_file, environ=environ)
    except WatchesError as exc:
        print(f"ansible-operator: {exc}", file=sys.stderr)
        return 2
    if config.kubeconfig:
        os.environ["KUBECONFIG"] = config.kubeconfig
    from runner.cluster import lazyimports

    lazyimports.install()  # before the kubernetes client is imported: 5 MiB less (see the module)
    from runner.cluster.preflight import ClusterUnavailable
    from runner.cluster.proxy import ProxyPortError
    from runner.control.app import serve

    try:
        return asyncio.run(serve(config, watches))
    except (ProxyPortError, ClusterUnavailable) as exc:
        print(f"ansible-operator: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
