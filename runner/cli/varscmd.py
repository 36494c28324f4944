"""``ansible-operator vars CR.yaml``: the exact extra vars the operator would pass for a CR.

Same code path as the operator: the watch is found with :func:`runner.config.watches.load_watches`,
the job is planned with :func:`runner.jobs.plan.plan_job` (which calls
:func:`runner.jobs.extravars.build_extravars` and refuses reserved spec keys), and the default
``--format ansible`` output is :func:`runner.jobs.extravars.dump_extravars`, the file the runner
hands to ``ansible-playbook -e @file`` (YAML, spec strings tagged ``!unsafe``). So a role
author can run a role by hand, or in molecule, with exactly what the operator would give it::

    ansible-operator vars config/samples/demo_v1alpha1_webapp.yaml -n demo > /tmp/vars.yml
    ansible-playbook -e @/tmp/vars.yml my-play.yml

The CR is read as written. The operator sees it as the API server returns it (schema
defaults applied, ``metadata.uid`` set...): pipe ``kubectl get ... -o yaml`` (or
``kubectl create --dry-run=server -o yaml -f cr.yaml``) into ``ansible-operator vars -`` to get
those too.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

import yaml

UNSAFE_KEY = "__ansible_unsafe"


class VarsError(Exception):
    """A CR that cannot be rendered; the message is printed, the exit code is 1."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "vars",
        help="print the extra vars the operator would pass to the role or playbook for a CR",
        description=(
            "Print exactly the extra vars the operator would pass for the custom resource in CR "
            "(a YAML or JSON file; '-' reads standard input). The default format, 'ansible', is "
            "the file the runner passes to ansible-playbook -e @FILE."
        ),
    )
    p.add_argument("cr", metavar="CR", help="file with one custom resource ('-' = standard input)")
    p.add_argument(
        "--watches-file", default="./watches.yaml", help="path to watches.yaml (default ./watches.yaml)"
    )
    p.add_argument(
        "-n",
        "--namespace",
        default=None,
        help="namespace of the CR when the file has none (default 'default'; '' for a cluster-scoped kind)",
    )
    p.add_argument(
        "--finalizer",
        action="store_true",
        help="the vars of the deletion (finalizer) run instead of a normal reconcile",
    )
    p.add_argument(
        "--format",
        choices=("ansible", "yaml", "json"),
        default="ansible",
        help=(
            "ansible (default): the runner's extra vars file, YAML with !unsafe tags; "
            "yaml, json: the same values as plain data"
        ),
    )
    p.add_argument("-o", "--output", default="-", help="write to this file instead of standard output")
    return p


def read_cr(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
    except OSError as exc:
        raise VarsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise VarsError(f"{path}: invalid YAML: {exc}") from None
    if len(docs) == 1 and isinstance(docs[0], Mapping) and docs[0].get("kind") == "List":
        docs = list(docs[0].get("items") or [])
    if len(docs) != 1:
        raise VarsError(f"{path}: expected exactly one custom resource, found {len(docs)}")
    obj = docs[0]
    if not isinstance(obj, Mapping) or not obj.get("apiVersion") or not obj.get("kind"):
        raise VarsError(f"{path}: not a Kubernetes object (apiVersion and kind are required)")
    return dict(obj)


def _group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def render(
    obj: Mapping[str, Any],
    watches_file: str,
    *,
    namespace: str | None = None,
    finalizer: bool = False,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The extra vars for ``obj`` as :func:`runner.jobs.plan.plan_job` builds them."""
    from runner.cli.flags import config_from
    from runner.config.watches import WatchesError, load_watches
    from runner.jobs.plan import SpecError, plan_job

    environ = dict(os.environ if environ is None else environ)
    try:
        watches = load_watches(watches_file, environ=environ)
    except WatchesError as exc:
        raise VarsError(str(exc)) from None
    group, version = _group_version(str(obj["apiVersion"]))
    kind = str(obj["kind"])
    watch = next(
        (w for w in watches if (w.gvk.group, w.gvk.version, w.gvk.kind) == (group, version, kind)), None
    )
    if watch is None:
        known = ", ".join(f"{w.gvk.api_version} {w.gvk.kind}" for w in watches)
        raise VarsError(f"{watches_file} has no watch for {obj['apiVersion']} {kind} (it has: {known})")

    cr: dict[str, Any] = json.loads(json.dumps(obj, default=str))  # plain data, as the API returns it
    meta = cr.setdefault("metadata", {})
    if not isinstance(meta, dict) or not meta.get("name"):
        raise VarsError("the custom resource has no metadata.name")
    if not meta.get("namespace"):
        ns = "default" if namespace is None else namespace
        if ns:
            meta["namespace"] = ns
    elif namespace and namespace != meta["namespace"]:
        raise VarsError(f"the CR is in namespace {meta['namespace']!r}, not {namespace!r}")
    if finalizer:
        if watch.finalizer is None:
            raise VarsError(f"{watch.gvk} has no finalizer in {watches_file}: nothing runs on deletion")
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta.setdefault("deletionTimestamp", now)
        meta.setdefault("finalizers", [watch.finalizer.name])

    config = config_from([f"--watches-file={watches_file}"], environ)
    log = logging.LoggerAdapter(logging.getLogger("runner.vars"), {})
    try:
        plan = plan_job(cr, watch, config, log)
    except SpecError as exc:
        raise VarsError(str(exc)) from None
    return dict(plan.extravars)


def plain(value: Any) -> Any:
    """Drop the ``{"__ansible_unsafe": s}`` markers: the values as the role sees them."""
    if isinstance(value, Mapping):
        if len(value) == 1 and isinstance(value.get(UNSAFE_KEY), str):
            return str(value[UNSAFE_KEY])
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def format_vars(extravars: Mapping[str, Any], fmt: str) -> str:
    from runner.jobs.extravars import dump_extravars

    if fmt == "ansible":
        return dump_extravars(extravars)
    if fmt == "json":
        return json.dumps(plain(extravars), indent=2) + "\n"
    return yaml.safe_dump(plain(extravars), sort_keys=False, default_flow_style=False)


def run(args: argparse.Namespace) -> int:
    try:
        obj = read_cr(args.cr)
        extravars = render(obj, args.watches_file, namespace=args.namespace, finalizer=args.finalizer)
    except VarsError as exc:
        print(f"ansible-operator vars: {exc}", file=sys.stderr)
        return 1
    text = format_vars(extravars, args.format)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        # The vars may hold secrets from the CR: private file, as the runner's job directories.
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ansible-operator")
    add_parser(p.add_subparsers(dest="command", required=True))
    return run(p.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
