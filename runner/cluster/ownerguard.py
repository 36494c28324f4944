"""Whether a job's write would make an object point at another CR (pure).

The job proxy decides on a write's effect, not its shape: it reads the body (JSON or YAML, nothing
else), works out the object as the API server would store it (a POST, PUT or server-side apply
states it; a JSON, merge or strategic-merge patch is applied to the current object), and compares
its owners with the stored object's:

* an ownerReference to one of the operator's kinds must name the job's own CR (kind, name and uid),
  or be one the object already had, unchanged (another party's owner may be kept, not added);
* the ``operator-sdk/primary-resource`` annotations must be absent, unchanged, or name the job's CR.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import jsonpatch
import yaml

from runner.cluster.ownership import PRIMARY_RESOURCE, PRIMARY_RESOURCE_TYPE, Owner, PrimaryKinds

JSON = "application/json"
YAML = "application/yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
BODY_TYPES = frozenset({JSON, YAML})
PATCH_TYPES = frozenset({JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH})


class Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ---- reading bodies
class _StrictLoader(yaml.SafeLoader):
    """YAML as the API server reads it: timestamps stay strings, duplicate keys are an error."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(k, deep=True) for k, _ in node.value]
        if len(keys) != len(set(map(repr, keys))):
            raise yaml.constructor.ConstructorError(None, None, "duplicate key", node.start_mark)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def read(content_type: str, body: bytes, *, patch: bool) -> Any:
    """The body as data, for the content types the proxy can check; Refused(415) for any other."""
    allowed = PATCH_TYPES if patch else BODY_TYPES
    if content_type not in allowed:
        raise Refused(
            415,
            f"the job proxy cannot read a {content_type or 'body without a content type'}: it checks every"
            f" write and only relays JSON or YAML ({', '.join(sorted(allowed))})",
        )
    try:
        if content_type in (YAML, APPLY_PATCH):
            data = yaml.load(body, Loader=_StrictLoader)
            json.dumps(data)  # only what JSON can carry (no binary, no Python objects)
            return data
        return json.loads(body, object_pairs_hook=_no_duplicates)
    except (ValueError, TypeError, yaml.YAMLError) as exc:
        raise Refused(400, f"the job proxy cannot read this {content_type} body: {exc}") from exc


# ---- what a patch would store
def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


_GUARDED = ("ownerReferences", "annotations")


def strategic_merge(target: Any, patch: Any) -> Any:
    """A strategic merge patch (and a server-side apply's effect) as far as owners go: maps merge,
    ``ownerReferences`` merge by uid, other lists are replaced; directives are honoured, and refused
    where they would act on owners or annotations in a way this does not model."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    patch = dict(patch)
    directive = patch.pop("$patch", None)
    if directive == "delete":
        return None
    out = {} if directive == "replace" or not isinstance(target, Mapping) else dict(target)
    if directive not in (None, "merge", "replace", "delete"):
        raise Refused(403, f"the job proxy does not understand the patch directive $patch: {directive}")
    retain = patch.pop("$retainKeys", None)
    for key, value in patch.items():
        if key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$"):
            field = key.partition("/")[2]
            if field in _GUARDED or not field:
                raise Refused(403, f"the job proxy refuses the patch directive {key}")
            continue
        if value is None:
            out.pop(key, None)
        elif key == "ownerReferences" and isinstance(value, list):
            out[key] = _merge_by_uid(out.get(key), value)
        else:
            merged = strategic_merge(out.get(key), value)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_by_uid(current: Any, patch: list[Any]) -> list[Any]:
    refs = [r for r in current or [] if isinstance(r, Mapping)] if isinstance(current, list) else []
    items = [p for p in patch if not (isinstance(p, Mapping) and set(p) == {"$patch"})]
    if len(items) != len(patch):  # {"$patch": "replace"} as a list element: the list is replaced
        if not all(isinstance(p, Mapping) and p.get("$patch") == "replace" for p in patch if p not in items):
            raise Refused(403, "the job proxy refuses this $patch directive in ownerReferences")
        refs = []
    for item in items:
        if not isinstance(item, Mapping):
            refs.append(item)
            continue
        same = [i for i, r in enumerate(refs) if r.get("uid") == item.get("uid")]
        if item.get("$patch") == "delete":
            refs = [r for i, r in enumerate(refs) if i not in same]
        elif same:
            refs[same[0]] = strategic_merge(refs[same[0]], item)
        else:
            refs.append(strategic_merge({}, item))
    return refs


def apply(content_type: str, current: Any, patch: Any) -> Any:
    """The object a patch of ``current`` would store."""
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise Refused(400, "a JSON patch is a list of operations")
        try:
            return jsonpatch.apply_patch(current, patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
            raise Refused(422, f"the JSON patch does not apply to the current object: {exc}") from exc
    if content_type == MERGE_PATCH:
        return merge_patch(current, patch)
    return strategic_merge(current, patch)  # strategic merge, and server-side apply's merge by uid


# ---- the decision
def _meta(obj: Any) -> Mapping[str, Any]:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    return meta if isinstance(meta, Mapping) else {}


def _key(ref: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        ref.get("apiVersion"),
        ref.get("kind"),
        ref.get("name"),
        ref.get("uid"),
        bool(ref.get("controller")),
        bool(ref.get("blockOwnerDeletion")),
    )


def _is_primary(ref: Mapping[str, Any], primaries: PrimaryKinds) -> bool:
    group = str(ref.get("apiVersion", "")).rpartition("/")[0].lower()
    kind = str(ref.get("kind", "")).lower()
    return any(group == g.lower() and kind == k.lower() for g, k in primaries)


def _is_mine(ref: Mapping[str, Any], owner: Owner) -> bool:
    group = str(ref.get("apiVersion", "")).rpartition("/")[0]
    return (group, ref.get("kind"), ref.get("name"), ref.get("uid")) == (
        owner.group,
        owner.kind,
        owner.name,
        owner.uid,
    )


def _ambiguous(obj: Any) -> str | None:
    """Keys a lenient decoder could read as metadata, ownerReferences or annotations."""
    if isinstance(obj, Mapping) and any(k != "metadata" and str(k).lower() == "metadata" for k in obj):
        return "metadata"
    meta = _meta(obj)
    for k in meta:
        if str(k).lower() in ("ownerreferences", "annotations") and k not in _GUARDED:
            return str(k)
    return None


def foreign_refs(stored: Any, result: Any, owner: Owner, primaries: PrimaryKinds) -> list[Mapping[str, Any]]:
    """Owner references in ``result`` that point at another of the operator's CRs and were not
    on ``stored`` already."""
    before = {_key(r) for r in _meta(stored).get("ownerReferences") or [] if isinstance(r, Mapping)}
    refs = _meta(result).get("ownerReferences")
    if refs is None:
        return []
    if not isinstance(refs, list) or not all(isinstance(r, Mapping) for r in refs):
        return [{"ownerReferences": refs}]
    return [r for r in refs if _is_primary(r, primaries) and not _is_mine(r, owner) and _key(r) not in before]


def _primary_pair(obj: Any) -> tuple[Any, Any]:
    ann = _meta(obj).get("annotations")
    ann = ann if isinstance(ann, Mapping) else {}
    return ann.get(PRIMARY_RESOURCE), ann.get(PRIMARY_RESOURCE_TYPE)


def refusal(stored: Any, result: Any, owner: Owner, primaries: PrimaryKinds) -> str | None:
    """Why storing ``result`` over ``stored`` would make it point at another CR; None when it may."""
    bad_key = _ambiguous(result)
    if bad_key is not None:
        return f"the field name {bad_key!r} is ambiguous"
    ann = _meta(result).get("annotations")
    if ann is not None and not isinstance(ann, Mapping):
        return "metadata.annotations is not a map"
    foreign = foreign_refs(stored, result, owner, primaries)
    if foreign:
        names = ", ".join(f"{r.get('kind')} {r.get('name')} (uid {r.get('uid')})" for r in foreign)
        return f"an owner reference to another CR: {names}"
    pair = _primary_pair(result)
    mine = owner.annotations()
    if pair[0] is None or pair == _primary_pair(stored):
        return None
    if pair in ((mine[PRIMARY_RESOURCE], mine[PRIMARY_RESOURCE_TYPE]), (mine[PRIMARY_RESOURCE], None)):
        return None
    return f"the annotation {PRIMARY_RESOURCE}={pair[0]} ({PRIMARY_RESOURCE_TYPE}={pair[1]})"


def repair(stored: Any, result: Any, owner: Owner, primaries: PrimaryKinds) -> list[dict[str, Any]]:
    """A JSON patch that takes what ``refusal`` objects to back out of a stored ``result``."""
    meta = _meta(result)
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}
    ]
    foreign = foreign_refs(stored, result, owner, primaries)
    if foreign:
        kept = [r for r in meta.get("ownerReferences") or [] if r not in foreign]
        ops.append({"op": "replace", "path": "/metadata/ownerReferences", "value": kept})
    before = _primary_pair(stored)
    if _primary_pair(result) != before and isinstance(meta.get("annotations"), Mapping):
        ann = dict(meta["annotations"])
        for key, value in zip((PRIMARY_RESOURCE, PRIMARY_RESOURCE_TYPE), before, strict=True):
            if value is None:
                ann.pop(key, None)
            else:
                ann[key] = value
        ops.append({"op": "replace", "path": "/metadata/annotations", "value": ann})
    return ops
