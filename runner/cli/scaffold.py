"""The ``init``, ``create api``, ``vars`` and ``rbac`` commands of ``ansible-operator``.

``runner.cli.main`` calls :func:`add_parsers` on its sub-command parsers and :func:`dispatch` with
the parsed arguments (``None`` back means the command is not one of these).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

COMMANDS = ("init", "create", "vars", "rbac")


def add_parsers(subparsers: Any) -> None:
    from runner.cli import rbaccmd, varscmd

    p = subparsers.add_parser(
        "init",
        help="create a new operator project (watches.yaml, roles/, playbooks/, config/, molecule/...)",
        description="Create a new operator project with the layout of the runner's sample operator.",
    )
    p.add_argument("--domain", default="example.com", help="domain of the API groups (default example.com)")
    p.add_argument("--project-name", default=None, help="project name (default: the directory's name)")
    p.add_argument(
        "--project-dir", default=".", help="where to create the project (default: current directory)"
    )
    p.add_argument(
        "--image",
        default=None,
        help="base image of the project's Dockerfile (default: the runner image of this version)",
    )

    create = subparsers.add_parser("create", help="scaffold an API (create api)")
    create_sub = create.add_subparsers(dest="create_command", metavar="SUBCOMMAND")
    create_sub.required = True
    api = create_sub.add_parser(
        "api",
        help="add a kind: CRD, RBAC rules, watches.yaml entry, role or playbook, sample CR, molecule test",
        description=(
            "Add a kind to the project, or regenerate it: only the blocks between "
            "+ansible-operator:generated markers are rewritten; other files are created when missing."
        ),
    )
    api.add_argument(
        "--group",
        required=True,
        help="API group, e.g. cache (the project domain is appended) or cache.example.com",
    )
    api.add_argument("--version", required=True, help="API version, e.g. v1alpha1")
    api.add_argument("--kind", required=True, help="kind, e.g. Memcached")
    api.add_argument(
        "--plural", default=None, help="resource name (default: the lower-case plural of the kind)"
    )
    api.add_argument(
        "--cluster-scoped", action="store_true", help="a cluster-scoped kind (default: namespaced)"
    )
    what = api.add_mutually_exclusive_group()
    what.add_argument("--generate-role", action="store_true", help="map the kind to a new role roles/<kind>")
    what.add_argument(
        "--generate-playbook",
        action="store_true",
        help="map the kind to a new playbook playbooks/<kind>.yml that runs the role roles/<kind>",
    )
    api.add_argument("--project-dir", default=".", help="the project (default: current directory)")

    varscmd.add_parser(subparsers)
    rbaccmd.add_parser(subparsers)


def dispatch(args: argparse.Namespace) -> int | None:
    command = getattr(args, "command", None)
    if command not in COMMANDS:
        return None
    if command == "vars":
        from runner.cli import varscmd

        return varscmd.run(args)
    if command == "rbac":
        from runner.cli import rbaccmd

        return rbaccmd.run(args)

    from runner.scaffold import ScaffoldError, create_api, init_project

    try:
        if command == "init":
            writer = init_project(
                Path(args.project_dir), domain=args.domain, name=args.project_name, image=args.image
            )
        else:
            writer = create_api(
                Path(args.project_dir),
                group=args.group,
                version=args.version,
                kind=args.kind,
                plural=args.plural,
                namespaced=not args.cluster_scoped,
                generate_role=args.generate_role,
                generate_playbook=args.generate_playbook,
            )
    except ScaffoldError as exc:
        print(f"ansible-operator {command}: {exc}", file=sys.stderr)
        return 1
    for action, rel in writer.actions:
        print(f"{action:>9}  {rel}")
    for warning in writer.warnings:
        print(f"ansible-operator {command}: warning: {warning}", file=sys.stderr)
    return 0
