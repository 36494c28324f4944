"""``ansible-operator rbac``: the RBAC rules the jobs' recorded API calls need.

The operator records its jobs' calls with ``ansible-operator run --rbac-record=FILE`` (molecule's
default scenario does, into ``.ansible-operator/rbac-calls.json``). This command prints the rules
those calls need that ``config/rbac/role.yaml`` does not already grant outside its generated
block; ``--write`` puts them into that block (``rbac/job-calls``); ``--check`` fails, naming each
call, when the role file does not grant every recorded call.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_RECORD = ".ansible-operator/rbac-calls.json"
DEFAULT_ROLE = "config/rbac/role.yaml"


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "rbac",
        help="the RBAC rules the jobs' recorded API calls need (print, --write into role.yaml, --check)",
        description=(
            "Turn the API calls the jobs made (recorded by `ansible-operator run --rbac-record=FILE`)"
            " into ClusterRole rules. Without options, print the rules that config/rbac/role.yaml does"
            " not grant already outside its generated block."
        ),
    )
    p.add_argument("--project-dir", default=".", help="the project (default: current directory)")
    p.add_argument(
        "--record", default=None, help=f"the record of calls (default: <project>/{DEFAULT_RECORD})"
    )
    p.add_argument("--role", default=None, help=f"the manager role file (default: <project>/{DEFAULT_ROLE})")
    p.add_argument(
        "--kind", action="append", default=[], help="only the calls of this watched kind (repeatable)"
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--write", action="store_true", help="rewrite the generated block rbac/job-calls of the role file"
    )
    what.add_argument(
        "--check",
        action="store_true",
        help="exit 1, naming each call, when the role file does not grant every call",
    )


def _fail(message: str) -> int:
    print(f"ansible-operator rbac: {message}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace) -> int:
    from runner.cluster import rbaccalls
    from runner.scaffold import rbacrules

    root = Path(args.project_dir)
    record_path = Path(args.record) if args.record else root / DEFAULT_RECORD
    role_path = Path(args.role) if args.role else root / DEFAULT_ROLE
    try:
        record = rbaccalls.load(record_path)
    except ValueError as exc:
        return _fail(str(exc))
    if not record_path.is_file():
        return _fail(
            f"{record_path}: no record of API calls; run the operator with --rbac-record={record_path}"
            " (molecule's default scenario does) and let its jobs run first"
        )
    if args.kind:
        unknown = [k for k in args.kind if k not in {rbacrules.kind_name(key) for key in record}]
        if unknown:
            known = ", ".join(sorted(rbacrules.kind_name(k) for k in record)) or "none"
            return _fail(f"no calls recorded for {', '.join(unknown)} (recorded kinds: {known})")
        record = {k: v for k, v in record.items() if rbacrules.kind_name(k) in args.kind}
    role_text = role_path.read_text(encoding="utf-8") if role_path.is_file() else None
    if (args.write or args.check) and role_text is None:
        return _fail(f"{role_path}: no such file")
    try:
        if args.check:
            assert role_text is not None
            return _check(record, role_text, role_path)
        granted = rbacrules.role_rules(rbacrules.without_block(role_text)) if role_text else []
        rules = rbacrules.merge(rbacrules.needed(record, granted))
        body = rbacrules.block_body(rules)
        if not args.write:
            sys.stdout.write(body)
            return 0
        assert role_text is not None
        new = rbacrules.rewrite(role_text, body)
    except rbacrules.RoleFileError as exc:
        return _fail(f"{role_path}: {exc}")
    if new == role_text:
        print(f"unchanged  {role_path} ({len(rules)} rules in block {rbacrules.BLOCK_ID})")
    else:
        role_path.write_text(new, encoding="utf-8")
        print(f"  updated  {role_path} ({len(rules)} rules in block {rbacrules.BLOCK_ID})")
    return 0


def _check(record: dict[str, Any], role_text: str, role_path: Path) -> int:
    from runner.scaffold import rbacrules

    lacking = rbacrules.missing(record, role_text)
    if not lacking:
        print(f"{role_path} grants every recorded call ({sum(len(v) for v in record.values())} calls)")
        return 0
    print(f"ansible-operator rbac: {role_path} does not grant these calls of the jobs:", file=sys.stderr)
    for call in sorted(lacking):
        print(f"  {call.describe()}, made by {', '.join(sorted(lacking[call]))}", file=sys.stderr)
    print("run `ansible-operator rbac --write` to add them", file=sys.stderr)
    return 1
