"""Load and validate ``watches.yaml`` (the operator-sdk Ansible operator format).

Pure parsing: the only filesystem access is reading the file and checking that roles and playbooks
exist. Every problem is reported as one ``WatchesError`` naming the file, entry, GVK and field.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

import yaml

from runner.config.durations import parse_duration
from runner.config.rolepaths import resolve_role
from runner.config.selector import LabelSelector, SelectorError

__all__ = ["GVK", "Finalizer", "Watch", "WatchesError", "load_watches", "parse_watches"]

DEFAULT_MAX_RUNNER_ARTIFACTS = 20

# camelCase YAML name -> (Watch attribute, default)
_BOOL_FIELDS: dict[str, tuple[str, bool]] = {
    "manageStatus": ("manage_status", True),
    "watchDependentResources": ("watch_dependent_resources", True),
    "watchClusterScopedResources": ("watch_cluster_scoped_resources", False),
    "snakeCaseParameters": ("snake_case_parameters", True),
    "watchAnnotationsChanges": ("watch_annotations_changes", False),
    "markUnsafe": ("mark_unsafe", True),
}
_GVK_FIELDS = ("group", "version", "kind")
_TOP_FIELDS = (
    *_GVK_FIELDS,
    *("role", "playbook", "vars", "maxRunnerArtifacts", "reconcilePeriod"),
    *_BOOL_FIELDS,
    *("selector", "blacklist", "finalizer"),
)
_FINALIZER_FIELDS = ("name", "role", "playbook", "vars")

_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_VERSION = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_GROUP = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DROPPED_TAGS = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")


@dataclass(frozen=True, slots=True)
class GVK:
    """Group, version and kind of a Kubernetes resource type."""

    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def var_name(self) -> str:
        """Extra-var name holding the whole CR, e.g. ``_cache_example_com_memcached`` or ``__secret``."""
        return re.sub(r"[.-]", "_", f"_{self.group}_{self.kind.lower()}")

    @property
    def env_suffix(self) -> str:
        """Suffix of per-GVK env vars, e.g. ``MEMCACHED_CACHE_EXAMPLE_COM`` (``SECRET_`` for core)."""
        return re.sub(r"[.-]", "_", f"{self.kind}_{self.group}").upper()

    def __str__(self) -> str:
        return f"{self.kind}.{self.version}.{self.group}" if self.group else f"{self.kind}.{self.version}"


@dataclass(frozen=True, slots=True)
class Finalizer:
    """What to run when a watched resource is deleted; role/playbook None = run the watch's own."""

    name: str
    role: str | None
    playbook: str | None
    vars: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Watch:
    """One validated ``watches.yaml`` entry (role/playbook resolved; at most one of them is set)."""

    index: int
    gvk: GVK
    role: str | None
    playbook: str | None
    vars: Mapping[str, Any] = field(hash=False)
    max_runner_artifacts: int = DEFAULT_MAX_RUNNER_ARTIFACTS
    reconcile_period: float | None = None
    manage_status: bool = True
    watch_dependent_resources: bool = True
    watch_cluster_scoped_resources: bool = False
    snake_case_parameters: bool = True
    watch_annotations_changes: bool = False
    mark_unsafe: bool = True
    selector: LabelSelector = field(default_factory=LabelSelector)
    blacklist: tuple[GVK, ...] = ()
    finalizer: Finalizer | None = None


class WatchesError(Exception):
    """An invalid watches file. ``index`` is 0-based; the message shows it 1-based (``entry 1`` = first)."""

    def __init__(
        self,
        path: str,
        problem: str,
        *,
        index: int | None = None,
        gvk: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.path = path
        self.problem = problem
        self.index = index
        self.gvk = gvk
        self.field = field
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [self.path]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.index is not None:
            parts.append(f"entry {self.index + 1}" + (f" ({self.gvk})" if self.gvk else ""))
        if self.field:
            parts.append(f"field '{self.field}'")
        parts.append(self.problem)
        return ": ".join(parts)


# --- YAML ---


class _Loader(yaml.SafeLoader):
    """Safe loader that rejects duplicate keys and keeps timestamps as strings (like Go's YAML)."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED_TAGS]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _expand_env(text: str, environ: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` by its value; undefined variables stay as written."""
    return _ENV_REF.sub(lambda m: environ.get(m.group(1), m.group(0)), text)


# --- entry parsing ---

_Fail = Callable[[str | None, str], NoReturn]


def _type_name(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), f"a {type(value).__name__}")


def _check_fields(data: Mapping[Any, Any], valid: tuple[str, ...], prefix: str, of: str, fail: _Fail) -> None:
    for key in data:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            fail(f"{prefix}{key}", f"unknown field{hint}; valid fields of {of} are: {', '.join(valid)}")


def _gvk_label(data: Mapping[Any, Any]) -> str | None:
    group, version, kind = (data.get(k) for k in _GVK_FIELDS)
    if isinstance(group, str | None) and all(isinstance(v, str) and v for v in (version, kind)):
        return str(GVK(group or "", str(version), str(kind)))
    return None


def _parse_gvk(data: Mapping[Any, Any], prefix: str, fail: _Fail) -> GVK:
    group = data.get("group")
    if group is None:
        group = ""
    if not isinstance(group, str):
        fail(f"{prefix}group", f"must be a string, got {_type_name(group)}")
    if group and not _GROUP.fullmatch(group):
        fail(
            f"{prefix}group", f"invalid API group {group!r}: must be a lower-case DNS name like a.example.com"
        )
    version, kind = data.get("version"), data.get("kind")
    if not isinstance(version, str) or not version:
        fail(f"{prefix}version", "is required (a non-empty string such as v1alpha1)")
    if not _VERSION.fullmatch(version):
        fail(f"{prefix}version", f"invalid version {version!r}: must be lower-case alphanumeric like v1beta1")
    if not isinstance(kind, str) or not kind:
        fail(f"{prefix}kind", "is required (a non-empty string such as Memcached)")
    if not _KIND.fullmatch(kind):
        fail(f"{prefix}kind", f"invalid kind {kind!r}: must start with a letter and be alphanumeric")
    return GVK(group, version, kind)


def _parse_target(data: Mapping[Any, Any], prefix: str, ctx: _Context) -> tuple[str | None, str | None]:
    """Resolve role/playbook (None or "" = not given); the playbook wins when both are given."""
    role, playbook = data.get("role"), data.get("playbook")
    for name, value in (("role", role), ("playbook", playbook)):
        if value is not None and not isinstance(value, str):
            ctx.fail(f"{prefix}{name}", f"must be a string, got {_type_name(value)}")
    if playbook:
        path = os.path.normpath(os.path.join(ctx.cwd, os.path.expanduser(playbook)))
        if not os.path.isfile(path):
            ctx.fail(f"{prefix}playbook", f"playbook {playbook!r} not found (looked for {path})")
        return None, path
    if role:
        resolved, tried = resolve_role(role, ctx.environ, ctx.cwd)
        if resolved is None:
            ctx.fail(f"{prefix}role", f"role {role!r} not found; looked in: {', '.join(tried)}")
        return resolved, None
    return None, None


def _parse_vars(value: Any, where: str, fail: _Fail) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        fail(where, f"must be a mapping of variable names to values, got {_type_name(value)}")
    for key in value:
        if not isinstance(key, str):
            fail(where, f"variable names must be strings, got {key!r}")
    return dict(value)


@dataclass(slots=True)
class _Context:
    path: str
    environ: Mapping[str, str]
    cwd: str
    index: int | None = None
    gvk: str | None = None

    def fail(self, field: str | None, problem: str) -> NoReturn:
        raise WatchesError(self.path, problem, index=self.index, gvk=self.gvk, field=field)


def _parse_finalizer(raw: Any, ctx: _Context) -> Finalizer:
    if not isinstance(raw, Mapping):
        ctx.fail(
            "finalizer", f"must be a mapping with name and role, playbook or vars, got {_type_name(raw)}"
        )
    _check_fields(raw, _FINALIZER_FIELDS, "finalizer.", "a finalizer", ctx.fail)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        ctx.fail("finalizer.name", "is required (a non-empty string such as cache.example.com/finalizer)")
    if any(c.isspace() for c in name):
        ctx.fail("finalizer.name", f"invalid finalizer name {name!r}: must not contain whitespace")
    role, playbook = _parse_target(raw, "finalizer.", ctx)
    if role is None and playbook is None and raw.get("vars") is None:
        ctx.fail("finalizer", "needs a role, playbook or vars besides its name (what to run on deletion)")
    return Finalizer(name, role, playbook, _parse_vars(raw.get("vars"), "finalizer.vars", ctx.fail))


def _parse_blacklist(raw: Any, ctx: _Context) -> tuple[GVK, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        ctx.fail("blacklist", f"must be a list of {{group, version, kind}}, got {_type_name(raw)}")
    out = []
    for i, item in enumerate(raw):
        where = f"blacklist[{i}]"
        if not isinstance(item, Mapping):
            ctx.fail(where, f"must be a mapping with group, version and kind, got {_type_name(item)}")
        _check_fields(item, _GVK_FIELDS, f"{where}.", "a blacklist entry", ctx.fail)
        out.append(_parse_gvk(item, f"{where}.", ctx.fail))
    return tuple(out)


def _parse_entry(data: Any, ctx: _Context) -> Watch:
    if not isinstance(data, Mapping):
        ctx.fail(
            None, f"must be a mapping with group, version, kind and role or playbook, got {_type_name(data)}"
        )
    ctx.gvk = _gvk_label(data)
    _check_fields(data, _TOP_FIELDS, "", "a watch", ctx.fail)
    gvk = _parse_gvk(data, "", ctx.fail)
    role, playbook = _parse_target(data, "", ctx)
    if role is None and playbook is None:
        ctx.fail(None, "either 'role' or 'playbook' is required")
    kwargs: dict[str, Any] = {}
    for name, (attr, default) in _BOOL_FIELDS.items():
        value = data.get(name)
        if value is not None and not isinstance(value, bool):
            hint = " (write true or false without quotes)" if isinstance(value, str) else ""
            ctx.fail(name, f"must be true or false, got {value!r}{hint}")
        kwargs[attr] = default if value is None else value
    artifacts = data.get("maxRunnerArtifacts")
    if artifacts is None:
        artifacts = DEFAULT_MAX_RUNNER_ARTIFACTS
    if isinstance(artifacts, bool) or not isinstance(artifacts, int) or artifacts < 0:
        ctx.fail("maxRunnerArtifacts", f"must be a whole number >= 0 (0 keeps all), got {artifacts!r}")
    period: float | None = None
    if data.get("reconcilePeriod") is not None:
        try:
            period = parse_duration(data["reconcilePeriod"]) or None
        except ValueError as exc:
            ctx.fail("reconcilePeriod", str(exc))
    try:
        selector = LabelSelector.parse(data.get("selector"))
    except SelectorError as exc:
        ctx.fail(f"selector.{exc.field}" if exc.field else "selector", exc.problem)
    raw_finalizer = data.get("finalizer")
    return Watch(
        index=ctx.index or 0,
        gvk=gvk,
        role=role,
        playbook=playbook,
        vars=_parse_vars(data.get("vars"), "vars", ctx.fail),
        max_runner_artifacts=artifacts,
        reconcile_period=period,
        selector=selector,
        blacklist=_parse_blacklist(data.get("blacklist"), ctx),
        finalizer=None if raw_finalizer is None else _parse_finalizer(raw_finalizer, ctx),
        **kwargs,
    )


# --- public entry points ---


def parse_watches(
    text: str, *, path: str, environ: Mapping[str, str] | None = None, cwd: str | None = None
) -> list[Watch]:
    """Parse watches YAML ``text`` (``path`` is only used in messages); raise ``WatchesError``."""
    environ = os.environ if environ is None else environ
    cwd = os.path.abspath(cwd if cwd is not None else os.getcwd())
    try:
        data = yaml.load(_expand_env(text, environ), Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = ": ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise WatchesError(path, problem, line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise WatchesError(path, f"invalid YAML: {exc}") from None
    if data is None or data == []:
        raise WatchesError(path, "no watches defined (expected a list of watch entries)")
    if not isinstance(data, list):
        raise WatchesError(path, f"top level must be a list of watch entries, got {_type_name(data)}")
    watches: list[Watch] = []
    seen: dict[GVK, int] = {}
    for index, entry in enumerate(data):
        ctx = _Context(path, environ, cwd, index)
        watch = _parse_entry(entry, ctx)
        if watch.gvk in seen:
            ctx.fail(None, f"duplicate watch: {watch.gvk} is already watched by entry {seen[watch.gvk] + 1}")
        seen[watch.gvk] = index
        watches.append(watch)
    return watches


def load_watches(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None, cwd: str | None = None
) -> list[Watch]:
    """Read and parse the watches file at ``path``; raise ``WatchesError`` on any problem."""
    shown = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise WatchesError(shown, "file not found") from None
    except IsADirectoryError:
        raise WatchesError(shown, "is a directory, not a watches file") from None
    except PermissionError:
        raise WatchesError(shown, "cannot read file: permission denied") from None
    except OSError as exc:
        raise WatchesError(shown, f"cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise WatchesError(shown, f"not valid UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_watches(text, path=shown, environ=environ, cwd=cwd)
