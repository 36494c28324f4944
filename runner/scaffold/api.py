"""``ansible-operator create api``: add a kind to a project, or regenerate its generated blocks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from runner.scaffold import rbacrules, templates
from runner.scaffold.blocks import Writer, block, insert_before_marker
from runner.scaffold.crd import (
    VERSION_MARKER,
    Resource,
    crd_bodies,
    crd_template,
    crd_versions,
    dump,
    version_entry,
)
from runner.scaffold.schema import SchemaError, fill_required, load_argument_specs, sample_spec, spec_schema

WATCH_MARKER = "# +kubebuilder:scaffold:watch"
CRD_MARKER = "# +kubebuilder:scaffold:crdkustomizeresource"
SAMPLES_MARKER = "# +kubebuilder:scaffold:manifestskustomizesamples"
RULES_MARKER = "# +kubebuilder:scaffold:rules"


class ScaffoldError(Exception):
    """The scaffold cannot run (bad names, a broken project file); nothing was written."""


def project_domain(root: Path) -> str | None:
    path = root / "PROJECT"
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return str(data["domain"]) if isinstance(data, dict) and data.get("domain") else None


def _watches(root: Path) -> list[dict[str, Any]]:
    path = root / "watches.yaml"
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScaffoldError(f"watches.yaml: invalid YAML: {exc}") from None
    return [w for w in data or [] if isinstance(w, dict)]


def _find_watch(watches: list[dict[str, Any]], res: Resource) -> dict[str, Any] | None:
    for w in watches:
        if (str(w.get("group", "")), str(w.get("version")), str(w.get("kind"))) == (
            res.group,
            res.version,
            res.kind,
        ):
            return w
    return None


def watch_entry(res: Resource, playbook: bool) -> str:
    target = f"playbook: {res.playbook_file}" if playbook else f"role: {res.role_name}"
    return (
        f"- group: {res.group}\n"
        f"  version: {res.version}\n"
        f"  kind: {res.kind}\n"
        f"  {target}\n"
        "  # snakeCaseParameters: true   # spec keys reach the role snake_cased (fooBar -> foo_bar)\n"
        "  # reconcilePeriod: 10h        # periodic resync\n"
        "  # finalizer: {name: " + f"{res.group}/finalizer, vars: {{state: absent}}}}\n"
    )


def rbac_rules(res: Resource) -> str:
    group = res.group
    rules = [
        {
            "apiGroups": [group],
            "resources": [res.plural],
            "verbs": ["get", "list", "watch", "patch", "update"],
        },
        {"apiGroups": [group], "resources": [f"{res.plural}/status"], "verbs": ["get", "patch", "update"]},
        {"apiGroups": [group], "resources": [f"{res.plural}/finalizers"], "verbs": ["update"]},
    ]
    head = f"# {res.kind}: watch the CRs, add/remove finalizers, write status conditions.\n"
    return head + dump(rules)


def schema_source(root: Path, res: Resource, watch: Mapping[str, Any] | None) -> tuple[str, Path]:
    """What the kind runs (for descriptions) and the role whose argument specs give the schema."""
    role = res.role_name
    if watch and isinstance(watch.get("role"), str) and "." not in str(watch["role"]).strip("/"):
        role = str(watch["role"]).rstrip("/").rsplit("/", 1)[-1]
    if watch and watch.get("playbook"):
        return f"the playbook {watch['playbook']}", root / "roles" / role
    if watch is None or watch.get("role"):
        return f"the role {role}", root / "roles" / role
    return "its playbook", root / "roles" / role


def sample_text(res: Resource, spec: Mapping[str, Any]) -> str:
    obj = {
        "apiVersion": res.api_version,
        "kind": res.kind,
        "metadata": {
            "name": f"{res.singular}-sample",
            "labels": {"app.kubernetes.io/managed-by": "kustomize"},
        },
        "spec": sample_spec(spec),
    }
    return dump(obj)


def _keep_sample_valid(w: Writer, rel: str, schema: Mapping[str, Any]) -> None:
    """Add placeholders for required fields the existing sample lacks. A sample with comments is
    the user's own writing: it is not rewritten, and a warning names what to add."""
    text = w.read(rel) or ""
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        w.warnings.append(f"{rel}: not valid YAML ({exc}); the CRD's required fields were not checked")
        return
    if not isinstance(obj, dict):
        return
    spec, added = fill_required(schema, obj.get("spec") or {})
    if not added:
        return
    fields = ", ".join(added)
    if any(line.lstrip().startswith("#") for line in text.splitlines()):
        w.warnings.append(
            f"{rel}: the CRD now requires {fields}, which this sample does not set, so the API server "
            "will refuse it; add them (the file has comments, so it was left as it is)"
        )
        return
    w.update(rel, dump({**obj, "spec": spec}))
    w.warnings.append(f"{rel}: added placeholders for {fields}, which the CRD now requires; set real values")


def _list_in_kustomization(w: Writer, path: str, marker: str, entry: str) -> None:
    """Add ``entry`` to the ``resources:`` of a kustomization.yaml, once."""
    w.insert(
        path,
        marker,
        f"- {entry}\n",
        present=entry in (w.read(path) or ""),
        fallback=f"resources:\n{marker}\n",
    )


def _job_calls_block(w: Writer) -> None:
    """The block `ansible-operator rbac --write` fills, in role files made before it existed."""
    rel = "config/rbac/role.yaml"
    text = w.read(rel)
    if w.dry_run or text is None or f"generated:begin {rbacrules.BLOCK_ID}" in text:
        return
    added = insert_before_marker(text, RULES_MARKER, block(rbacrules.BLOCK_ID, rbacrules.EMPTY_BODY))
    if added is not None:
        w.update(rel, added)


def create_api(
    root: Path,
    *,
    group: str,
    version: str,
    kind: str,
    plural: str | None = None,
    namespaced: bool = True,
    generate_role: bool = False,
    generate_playbook: bool = False,
    dry_run: bool = False,
) -> Writer:
    root = root.resolve()
    if not (root / "watches.yaml").is_file() and not (root / "config").is_dir():
        raise ScaffoldError(
            f"{root} is not an operator project (no watches.yaml): run `ansible-operator init` first"
        )
    domain = project_domain(root)
    if "." not in group and domain:
        group = f"{group}.{domain}"
    try:
        res = Resource.make(group, version, kind, plural, namespaced)
    except ValueError as exc:
        raise ScaffoldError(str(exc)) from None

    watches = _watches(root)
    watch = _find_watch(watches, res)
    snake = not (watch and watch.get("snakeCaseParameters") is False)
    w = Writer(root, dry_run)
    if generate_role or generate_playbook:
        templates.write_role(w, res)
    target = watch or ({"playbook": res.playbook_file} if generate_playbook else None)
    source, role_dir = schema_source(root, res, target)
    try:
        specs = load_argument_specs(role_dir)
        if specs is None and dry_run and (generate_role or generate_playbook):
            specs = yaml.safe_load(templates.role_files(res)["meta/argument_specs.yml"])
        watch_vars = list((watch or {}).get("vars") or {})
        spec = spec_schema(specs, group=res.group, kind=res.kind, snake_case=snake, watch_vars=watch_vars)
    except (SchemaError, yaml.YAMLError) as exc:
        raise ScaffoldError(f"{role_dir.relative_to(root)}/meta/argument_specs.yml: {exc}") from None

    # CRD: a new file, a new version in an existing file, or only the generated blocks.
    bodies = crd_bodies(res, spec)
    existing = w.read(res.crd_file)
    if existing is not None and crd_versions(existing) and res.version not in crd_versions(existing):
        entry = version_entry(res, source, storage=False)
        added = insert_before_marker(existing, VERSION_MARKER, entry)
        if added is None:
            w.warnings.append(
                f"{res.crd_file}: no {VERSION_MARKER!r} line; add version {res.version} yourself"
            )
        else:
            w.update(res.crd_file, added)
    w.generated(res.crd_file, crd_template(res, source), bodies)

    _list_in_kustomization(w, "config/crd/kustomization.yaml", CRD_MARKER, "bases/" + Path(res.crd_file).name)

    # RBAC: one generated block per kind in the manager's (Cluster)Role.
    block_id = f"rbac/{res.crd_name}"
    role_yaml = w.read("config/rbac/role.yaml")
    if role_yaml is not None and f"generated:begin {block_id}" in role_yaml:
        w.generated("config/rbac/role.yaml", "", {block_id: rbac_rules(res)})
    else:
        w.insert(
            "config/rbac/role.yaml",
            RULES_MARKER,
            block(block_id, rbac_rules(res)),
            present=False,
            fallback=templates.project_file("config/rbac/role.yaml", templates.Tokens()),
        )
    _job_calls_block(w)

    # watches.yaml: a new entry; an existing entry is the user's.
    if watch is None:
        w.insert(
            "watches.yaml",
            WATCH_MARKER,
            watch_entry(res, generate_playbook),
            present=False,
            fallback=f"---\n{WATCH_MARKER}\n",
        )
    else:
        w.actions.append(("unchanged", "watches.yaml"))

    # The sample CR, and its kustomization entry; a kept sample gets the fields the CRD now requires.
    if not w.create(res.sample_file, sample_text(res, spec)):
        _keep_sample_valid(w, res.sample_file, spec)
    _list_in_kustomization(w, "config/samples/kustomization.yaml", SAMPLES_MARKER, Path(res.sample_file).name)

    if generate_playbook:
        w.create(res.playbook_file, templates.api_file("playbook.yml", res))
    # molecule: a test of the kind in the default scenario, and a role scenario.
    w.create(f"molecule/default/tasks/{res.singular}_test.yml", templates.api_file("kind_test.yml", res))
    if generate_role or generate_playbook:
        for name in ("molecule.yml", "converge.yml", "verify.yml", "vars.yml"):
            w.create(
                f"molecule/{res.role_name}-role/{name}", templates.api_file(f"role-scenario/{name}", res)
            )
    return w
