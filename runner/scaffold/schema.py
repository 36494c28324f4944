"""A CRD ``spec`` OpenAPI schema from a role's ``meta/argument_specs.yml`` (pure).

The runner passes each spec key to the role snake_cased (:func:`runner.jobs.snake.to_snake_case`,
nested keys too), so an option ``extra_labels`` is the spec field ``extraLabels``. Every option
name is mapped to the camelCase field whose snake_case is that name again (checked, so the
schema can never name a field the role would not get under the option's name).

| argument_specs | OpenAPI |
|---|---|
| ``type: str`` / ``path`` | ``type: string`` |
| ``int`` / ``float`` / ``bool`` | ``integer`` / ``number`` / ``boolean`` |
| ``list`` + ``elements`` | ``type: array`` with ``items`` of the element type |
| ``dict`` + ``options`` | ``type: object`` with ``properties`` (nested options, recursively) |
| ``dict`` without options | ``type: object``, ``x-kubernetes-preserve-unknown-fields: true`` |
| ``raw``, ``json``, no ``elements`` | ``x-kubernetes-preserve-unknown-fields: true`` (any value) |
| ``bytes``, ``bits`` | ``x-kubernetes-int-or-string: true`` |
| ``required``, ``default``, ``choices``, ``description`` | the same; ``choices`` is ``enum`` |
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from runner.jobs.extravars import OPERATOR_META_VAR, RESERVED_MAGIC
from runner.jobs.snake import to_snake_case

_SCALARS = {
    "str": "string",
    "path": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
}
_PRESERVE: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}
_DOC_MARKUP = re.compile(r"\b([CIBMLUOVE])\(([^()]*)\)")
_TEMPLATED = re.compile(r"{{|{%")


class SchemaError(ValueError):
    """An argument spec that cannot become a CRD schema; the message names the option."""


def to_camel_case(name: str) -> str:
    """``extra_labels`` -> ``extraLabels`` (leading and doubled underscores are kept)."""
    head, *rest = name.split("_")
    out = head
    for part in rest:
        out += part[:1].upper() + part[1:] if part else "_"
    return out


def field_name(option: str, snake_case: bool = True) -> str:
    """The spec field that the runner passes to the role as ``option``.

    Raises SchemaError when no field maps back to ``option`` (for example ``Name`` or ``a__b``).
    """
    if not snake_case:
        return option
    for candidate in (to_camel_case(option), option):
        if to_snake_case(candidate) == option:
            return candidate
    raise SchemaError(
        f"option {option!r}: no spec field becomes this variable when snake_cased "
        f"({to_camel_case(option)!r} becomes {to_snake_case(to_camel_case(option))!r}); "
        "rename the option or set snakeCaseParameters: false"
    )


def _description(value: Any) -> str | None:
    if value is None:
        return None
    parts = [str(p).strip() for p in (value if isinstance(value, list) else [value])]
    text = " ".join(p for p in parts if p)
    # Ansible doc markup: C(code) -> `code`, I(x)/B(x)/... -> x.
    text = _DOC_MARKUP.sub(lambda m: f"`{m.group(2)}`" if m.group(1) in "CV" else m.group(2), text)
    return text or None


def _fits(value: Any, schema: Mapping[str, Any]) -> bool:
    """Is ``value`` a valid ``default`` for ``schema`` (structurally, one level deep)?"""
    if isinstance(value, str) and _TEMPLATED.search(value):
        return False  # a Jinja default: the role evaluates it, the API server cannot
    kind = schema.get("type")
    if kind is None:
        return value is not None
    checks: dict[str, Any] = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    return bool(checks[kind](value))


def _type_schema(type_name: str, where: str) -> dict[str, Any]:
    if type_name in _SCALARS:
        return {"type": _SCALARS[type_name]}
    if type_name in ("bytes", "bits"):
        return {"x-kubernetes-int-or-string": True}
    if type_name == "dict":
        return {"type": "object", **_PRESERVE}
    if type_name in ("raw", "json", "jsonarg"):
        return dict(_PRESERVE)
    raise SchemaError(f"option {where}: unsupported type {type_name!r}")


def option_schema(
    name: str, spec: Mapping[str, Any], *, snake_case: bool = True, where: str = ""
) -> dict[str, Any]:
    """The OpenAPI schema of one option (``where`` is the dotted path used in messages)."""
    where = where or name
    if not isinstance(spec, Mapping):
        raise SchemaError(f"option {where}: expected a mapping, got {type(spec).__name__}")
    type_name = str(spec.get("type") or "str")
    nested = spec.get("options")
    out: dict[str, Any] = {}
    desc = _description(spec.get("description"))
    if desc:
        out["description"] = desc
    if type_name == "list":
        elements = str(spec.get("elements") or "raw")
        if elements == "dict" and nested:
            items = options_schema(nested, snake_case=snake_case, where=where + "[]")
        else:
            items = _type_schema(elements, where + "[]")
        if spec.get("choices") is not None and "type" in items:
            items["enum"] = list(spec["choices"])
        out.update({"type": "array", "items": items})
    elif type_name == "dict" and nested:
        out.update(options_schema(nested, snake_case=snake_case, where=where))
    else:
        out.update(_type_schema(type_name, where))
        if spec.get("choices") is not None and "type" in out:
            out["enum"] = [c for c in spec["choices"] if _fits(c, out)]
    default = spec.get("default")
    if default is not None and not spec.get("required") and _fits(default, out):
        out["default"] = default
    return out


def options_schema(
    options: Any, *, snake_case: bool = True, where: str = "", skip: Iterable[str] = ()
) -> dict[str, Any]:
    """``type: object`` with one property per option (names mapped to spec fields)."""
    if not isinstance(options, Mapping):
        raise SchemaError(f"{where or 'options'}: expected a mapping of options")
    props: dict[str, Any] = {}
    required: list[str] = []
    skipped = set(skip)
    for name, spec in options.items():
        name = str(name)
        if name in skipped:
            continue
        path = f"{where}.{name}" if where else name
        fname = field_name(name, snake_case)
        if fname in props:
            raise SchemaError(f"option {path}: two options map to the spec field {fname!r}")
        props[fname] = option_schema(name, spec, snake_case=snake_case, where=path)
        if isinstance(spec, Mapping) and spec.get("required"):
            required.append(fname)
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


def operator_vars(group: str, kind: str) -> set[str]:
    """Variables the runner sets itself: never spec fields."""
    obj = re.sub(r"[.-]", "_", f"_{group}_{kind.lower()}")
    return {OPERATOR_META_VAR, obj, obj + "_spec"}


def spec_schema(
    argument_specs: Mapping[str, Any] | None,
    *,
    group: str,
    kind: str,
    snake_case: bool = True,
    watch_vars: Iterable[str] = (),
    entry_point: str = "main",
) -> dict[str, Any]:
    """The CRD ``spec`` schema for a role (an open object when the role has no argument specs).

    Options the CR cannot set are left out: ``ansible_operator_meta`` and the other variables the
    runner sets, the watch's ``vars``, ``ansible_*`` and Ansible's special variables.
    """
    entry = ((argument_specs or {}).get("argument_specs") or {}).get(entry_point)
    options = entry.get("options") if isinstance(entry, Mapping) else None
    reserved = operator_vars(group, kind) | set(watch_vars)
    skip = [
        n
        for n in options or {}
        if n in reserved or str(n).lower().startswith("ansible_") or n in RESERVED_MAGIC
    ]
    if not isinstance(entry, Mapping) or not options or len(skip) == len(options):
        return {
            "description": f"Desired state of the {kind}: passed to the role as extra vars.",
            "type": "object",
            **_PRESERVE,
        }
    schema = options_schema(entry["options"], snake_case=snake_case, skip=skip)
    desc = _description(entry.get("short_description")) or f"Desired state of the {kind}."
    out: dict[str, Any] = {"description": desc, **schema}
    if "required" not in schema:
        out["default"] = {}  # so the field defaults also apply when spec is left out
    return out


def load_argument_specs(role_dir: Path) -> dict[str, Any] | None:
    """``meta/argument_specs.yml`` (or ``.yaml``) of a role directory, or None."""
    for name in ("argument_specs.yml", "argument_specs.yaml"):
        path = role_dir / "meta" / name
        if path.is_file():
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if data is not None and not isinstance(data, Mapping):
                raise SchemaError(f"{path}: expected a mapping with 'argument_specs'")
            return dict(data or {})
    return None


def sample_spec(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A spec for the sample CR: every default, and a placeholder for every required field."""
    placeholders = {"string": "CHANGE-ME", "integer": 1, "number": 1.0, "boolean": False}
    out: dict[str, Any] = {}
    required = set(schema.get("required") or [])
    for name, prop in (schema.get("properties") or {}).items():
        if "default" in prop:
            out[name] = prop["default"]
        elif name in required:
            if prop.get("enum"):
                out[name] = prop["enum"][0]
            elif prop.get("type") == "object":
                out[name] = sample_spec(prop)
            elif prop.get("type") == "array":
                out[name] = []
            else:
                out[name] = placeholders.get(str(prop.get("type")), "CHANGE-ME")
    return out


def fill_required(schema: Mapping[str, Any], spec: Any, path: str = "spec") -> tuple[Any, list[str]]:
    """``spec`` with a placeholder (as :func:`sample_spec` makes them) for every required field it
    lacks, nested objects too; and the paths of the fields added. ``spec`` is not changed."""
    if not isinstance(spec, Mapping):
        return spec, []
    out = dict(spec)
    added: list[str] = []
    required = set(schema.get("required") or [])
    for name, prop in (schema.get("properties") or {}).items():
        if name not in out:
            if name in required and "default" not in prop:
                out[name] = sample_spec({"properties": {name: prop}, "required": [name]})[name]
                added.append(f"{path}.{name}")
        elif prop.get("type") == "object" and prop.get("properties"):
            out[name], more = fill_required(prop, out[name], f"{path}.{name}")
            added += more
    return out, added
