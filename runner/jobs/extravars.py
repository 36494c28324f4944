"""Extra vars handed to the role/playbook for one custom resource.

Pure functions, no I/O.  The layout follows the Go ansible-operator's ``makeParameters``
(``internal/ansible/runner/runner.go``); later entries win:

1. every top-level ``spec`` key (keys snake_cased recursively when ``snake_case``; values wrapped
   unsafe when ``mark_unsafe``);
2. ``ansible_operator_meta: {name, namespace}`` (never wrapped);
3. ``_<group>_<kind>``: the whole object unmodified (wrapped when ``mark_unsafe``);
4. ``_<group>_<kind>_spec``: the spec unmodified (wrapped when ``mark_unsafe``);
5. the watch's ``vars`` (never wrapped);
6. on finalizer runs only, the finalizer's ``vars`` (never wrapped).

Deliberate differences from Go:

* a spec key that would set an ``ansible_*`` variable, one of the variables the operator sets
  itself, a variable pinned by the watch/finalizer ``vars`` or an Ansible special ("magic")
  variable is refused with :class:`ReservedVariableError` instead of silently overriding it (Go
  lets the spec override connection variables such as ``ansible_shell_executable``, which is
  code execution for anyone who can create the CR);
* the extra vars must be written with :func:`dump_extravars` (YAML with ``!unsafe`` tags), not
  as JSON -- see there for the JSON bypass in ansible-core 2.19;
* so :func:`wrap_unsafe` also marks mapping *keys* unsafe (as :class:`UnsafeStr`, which compares
  equal to ``str``): Ansible's YAML loader trusts keys (its JSON loader does not), and a trusted
  key is templated once it becomes a value, e.g. as ``item.key`` in a ``dict2items`` loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from runner.jobs.snake import snake_case_keys, to_snake_case

__all__ = [
    "OPERATOR_META_VAR",
    "RESERVED_MAGIC",
    "UNSAFE_KEY",
    "ReservedVariableError",
    "UnsafeStr",
    "build_extravars",
    "check_spec_keys",
    "dump_extravars",
    "operator_var_names",
    "wrap_unsafe",
]

OPERATOR_META_VAR = "ansible_operator_meta"
UNSAFE_KEY = "__ansible_unsafe"

# Ansible's special variables that do not start with ``ansible_`` (those are refused by prefix):
# the non-``ansible_`` names of ansible.constants.INTERNAL_STATIC_VARS ("magic variables" in
# Ansible's "Special Variables" reference), plus ``omit`` and the ``environment`` and ``vars``
# variables that ansible-core's VariableManager injects itself.
RESERVED_MAGIC: frozenset[str] = frozenset(
    {
        "environment",
        "group_names",
        "groups",
        "hostvars",
        "inventory_dir",
        "inventory_file",
        "inventory_hostname",
        "inventory_hostname_short",
        "omit",
        "play_hosts",
        "playbook_dir",
        "role_name",
        "role_names",
        "role_path",
        "role_uuid",
        "vars",
    }
)

REASON_ANSIBLE = "names an Ansible variable (ansible_*)"
REASON_WATCH = "is fixed by the watch's vars in watches.yaml"
REASON_FINALIZER = "is fixed by the finalizer's vars in watches.yaml"
REASON_MAGIC = "is an Ansible special variable"


def _reason_operator(var: str) -> str:
    return f"is set by the operator ({var})"


class ReservedVariableError(ValueError):
    """A top-level spec key would set a variable that a CR must not set."""

    key: str
    var: str
    reason: str

    def __init__(self, key: str, var: str, reason: str) -> None:
        self.key = key
        self.var = var
        self.reason = reason
        super().__init__(
            f"spec key {key!r} would set the reserved variable {var!r}, which {reason}; rename or remove it"
        )

    def __reduce__(self) -> tuple[Any, ...]:  # keep it picklable despite the custom __init__
        return (type(self), (self.key, self.var, self.reason))


class UnsafeStr(str):
    """A string that Ansible must never template; :func:`dump_extravars` tags it ``!unsafe``.

    Used for mapping keys (which cannot be ``{"__ansible_unsafe": ...}`` markers); it hashes and
    compares like the plain string, and ``json.dumps`` writes it as one.
    """

    __slots__ = ()


def wrap_unsafe(value: Any) -> Any:
    """Recursively wrap every string value as ``{"__ansible_unsafe": s}`` so Ansible never templates it.

    Mirrors Go's ``markUnsafe``; in addition, string keys of every mapping become
    :class:`UnsafeStr` (equal to the original keys).  Mappings and lists (tuples become lists)
    are copied; other scalars (numbers, booleans, None) are returned as they are.
    """
    if isinstance(value, str):
        return {UNSAFE_KEY: str(value)}
    if isinstance(value, Mapping):
        return {(UnsafeStr(k) if isinstance(k, str) else k): wrap_unsafe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [wrap_unsafe(v) for v in value]
    return value


def operator_var_names(group: str, kind: str) -> tuple[str, str]:
    """Names of the whole-object and spec variables, e.g. ``("_cache_example_com_memcached", ..._spec)``.

    ``"_" + group + "_" + lower(kind)`` with ``.`` and ``-`` replaced by ``_`` (the core group
    gives ``__secret``).
    """
    obj_var = f"_{group}_{kind.lower()}".replace(".", "_").replace("-", "_")
    return obj_var, f"{obj_var}_spec"


def _plain(value: Any) -> Any:
    """Deep copy into plain dicts and lists (e.g. from kopf's Body), so the result is JSON-ready."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _get_spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    # Go: a missing, null or non-object spec is treated as {}.
    return _plain(spec) if isinstance(spec, Mapping) else {}


def _var_name(key: str, snake_case: bool) -> str:
    return to_snake_case(key) if snake_case else key


def check_spec_keys(
    spec: Any,
    *,
    group: str,
    kind: str,
    snake_case: bool,
    watch_vars: Mapping[str, Any],
    finalizer_vars: Mapping[str, Any] | None = None,
) -> None:
    """Raise :class:`ReservedVariableError` for the first top-level spec key that is reserved.

    Keys are checked in the spec's order, by the variable name they would become; a missing or
    non-mapping spec has no keys.  :func:`build_extravars` calls this itself; a caller may also
    call it on normal (non-finalizer) runs with the finalizer's vars, so that a CR which could
    never be finalized is refused early instead of getting stuck on deletion.
    """
    if not isinstance(spec, Mapping):
        return
    operator_vars = (OPERATOR_META_VAR, *operator_var_names(group, kind))
    for key in spec:
        var = _var_name(key, snake_case)
        reason: str | None = None
        if var in operator_vars:
            reason = _reason_operator(var)
        elif var.lower().startswith("ansible_"):
            reason = REASON_ANSIBLE
        elif var in watch_vars:
            reason = REASON_WATCH
        elif finalizer_vars is not None and var in finalizer_vars:
            reason = REASON_FINALIZER
        elif var in RESERVED_MAGIC:
            reason = REASON_MAGIC
        if reason is not None:
            raise ReservedVariableError(key, var, reason)


def build_extravars(
    obj: Mapping[str, Any],
    *,
    group: str,
    kind: str,
    snake_case: bool,
    mark_unsafe: bool,
    watch_vars: Mapping[str, Any],
    finalizer_vars: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the extra vars for one run of the role/playbook for the custom resource ``obj``.

    ``finalizer_vars`` is given only for finalizer (deletion) runs.  Raises
    :class:`ReservedVariableError` (before building anything) when a spec key is reserved.
    """
    spec = _get_spec(obj)
    check_spec_keys(
        spec,
        group=group,
        kind=kind,
        snake_case=snake_case,
        watch_vars=watch_vars,
        finalizer_vars=finalizer_vars,
    )
    obj_var, spec_var = operator_var_names(group, kind)

    params: dict[str, Any] = snake_case_keys(spec) if snake_case else _plain(spec)
    if mark_unsafe:
        params = {k: wrap_unsafe(v) for k, v in params.items()}

    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        metadata = {}
    params[OPERATOR_META_VAR] = {
        "name": metadata.get("name") or "",
        "namespace": metadata.get("namespace") or "",
    }

    if mark_unsafe:
        params[obj_var] = wrap_unsafe(obj)
        params[spec_var] = wrap_unsafe(spec)
    else:
        params[obj_var] = _plain(obj)
        params[spec_var] = _plain(spec)

    params.update(_plain(watch_vars))
    if finalizer_vars is not None:
        params.update(_plain(finalizer_vars))
    return params


# --- serialisation ---------------------------------------------------------------------------

_YAML_HEADER = (
    "# Extra vars written by the ansible-operator runner. YAML, not JSON: strings tagged !unsafe\n"
    "# are never templated by Ansible.\n"
)
_STR_TAG = "tag:yaml.org,2002:str"

_SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _ExtravarsDumper(_SafeDumper):  # type: ignore[valid-type,misc]
    """Safe dumper that also writes :class:`UnsafeStr` strings as ``!unsafe "..."``."""


def _represent_unsafe(dumper: yaml.SafeDumper, data: UnsafeStr) -> yaml.ScalarNode:
    value = str(data)
    # Ansible's !unsafe constructor re-resolves the scalar as if it were plain, so !unsafe "123"
    # would load as an int, !unsafe "" as None and !unsafe "=" would not load at all.  Strings
    # that plain-resolve to another type consist only of digits, signs, dots, colons, words such
    # as true/null, or one of = << ! & * -- never a Jinja delimiter -- so they are written as
    # ordinary quoted strings instead, which keeps their type.
    if dumper.resolve(yaml.ScalarNode, value, (True, False)) != _STR_TAG:  # type: ignore[no-untyped-call]
        if any(c in value for c in "{%#"):  # cannot happen; fail closed
            raise ValueError(f"cannot write {value!r} as an unsafe string")
        return dumper.represent_str(value)
    return dumper.represent_scalar("!unsafe", value, style='"')


_ExtravarsDumper.add_representer(UnsafeStr, _represent_unsafe)


def _yaml_key(key: Any) -> Any:
    if isinstance(key, str) and not isinstance(key, UnsafeStr):
        return str(key)  # other str subclasses are not representable by the safe dumper
    return key


def _to_yaml_tree(value: Any) -> Any:
    if isinstance(value, UnsafeStr):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        if len(value) == 1 and isinstance(value.get(UNSAFE_KEY), str):
            return UnsafeStr(value[UNSAFE_KEY])
        return {_yaml_key(k): _to_yaml_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_yaml_tree(v) for v in value]
    return value


def dump_extravars(extravars: Mapping[str, Any]) -> str:
    """Serialise extra vars for ansible-runner's ``env/extravars`` (passed as ``-e @file``).

    Writes YAML in which every ``{"__ansible_unsafe": "<str>"}`` marker (see :func:`wrap_unsafe`)
    and every :class:`UnsafeStr` key becomes an ``!unsafe "<str>"`` scalar; all other data keeps
    its type and order.

    Do not write the extra vars as JSON (nor pass them through ansible-runner's ``extravars``
    argument, which does so): for ``-e`` ansible-core 2.19 first tries its JSON decoder, and if
    *any* object in the file has an ``__ansible_unsafe`` or ``__ansible_vault`` key with a
    non-string value -- which a CR author can put anywhere in the spec, e.g.
    ``{"__ansible_unsafe": []}`` -- that decoder raises and Ansible silently re-reads the whole
    file as plain YAML, dropping every unsafe marker.  JSON also turns a CR's
    ``{"__ansible_vault": ...}`` into vault data that Ansible would decrypt.  The header comment
    guarantees that the JSON attempt fails, so only the YAML loader, for which such keys are
    ordinary keys, reads this file.
    """
    body = yaml.dump(
        _to_yaml_tree(extravars),
        Dumper=_ExtravarsDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=False,
        width=2**31 - 1,
    )
    return _YAML_HEADER + body
