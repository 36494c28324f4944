# Pure status / condition logic of operator_sdk.util.k8s_status (no Ansible, no Kubernetes imports),
# so it can be unit-tested on its own.
"""Compute the status that ``k8s_status`` writes, from the current status and the requested one.

Semantics (compatible with operator-sdk-ansible-util 0.5.0):

* merge (default): ``status`` keys are merged into the current status like a JSON merge patch:
  dicts are merged recursively, ``None`` removes a key, scalars replace.  A list replaces the current
  list, except that a requested list whose items are all already in the current list leaves the
  current list alone (``replace_lists: false``, the upstream default); with ``replace_lists: true``
  any different list is replaced.
* ``status.conditions`` (or the ``conditions`` parameter) is merged by condition ``type``: unknown
  types are appended, known ones are replaced when any field other than ``lastTransitionTime``
  differs, otherwise the current condition is kept as is.
* replace (``force``/``replace``): the requested status becomes the whole status.
* ``lastTransitionTime``: when a condition does not give one, it is set to *now* if the condition is
  new or its ``status`` changed, and kept from the current condition otherwise.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

CONDITION_FIELDS = ("type", "status", "reason", "message", "lastHeartbeatTime", "lastTransitionTime")
CONDITION_STATUSES = ("True", "False", "Unknown")
TIME_FIELDS = ("lastHeartbeatTime", "lastTransitionTime")

# metav1.Condition's reason pattern: accepts every single CamelCase word (and a bit more).
_REASON = re.compile(r"^[A-Za-z](?:[A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
# RFC 3339 date-time; like upstream also a space instead of "T" and minutes-only precision.
_DATETIME = re.compile(
    r"^(?P<date>\d{4}-\d\d-\d\d)[Tt ](?P<hm>\d\d:\d\d)(?P<sec>:\d\d)?(?P<frac>\.\d+)?"
    r"(?P<zone>[Zz]|[+-]\d\d:\d\d)$",
    re.ASCII,
)


def now_rfc3339() -> str:
    """The current UTC time the way Kubernetes writes metav1.Time (seconds precision)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_datetime(value: str) -> str | None:
    """``value`` in canonical RFC 3339 form (``T`` separator, seconds), or None if it is not one."""
    match = _DATETIME.match(value.strip()) if isinstance(value, str) else None
    if not match:
        return None
    zone = match["zone"].upper()
    return f"{match['date']}T{match['hm']}{match['sec'] or ':00'}{match['frac'] or ''}{zone}"


def validate_conditions(conditions: list[Any] | None) -> list[dict[str, Any]]:
    """Check the ``conditions`` parameter and return cleaned copies.

    Cleaning drops keys whose value is None (Ansible fills unset sub-options with None), turns a
    boolean status into "True"/"False" and normalizes the timestamps.  Raises ValueError with a
    message that says what is wrong.
    """
    cleaned: list[dict[str, Any]] = []
    for index, raw in enumerate(conditions or []):
        if not isinstance(raw, dict):
            raise ValueError(f"`conditions` must be a list of objects (item {index} is {type(raw).__name__})")
        condition = {key: value for key, value in raw.items() if value is not None}
        unknown = sorted(set(condition) - set(CONDITION_FIELDS))
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)} is not a valid field for a condition, "
                f"accepted fields are {list(CONDITION_FIELDS)}"
            )
        if isinstance(condition.get("status"), bool):
            condition["status"] = "True" if condition["status"] else "False"
        for key in ("type", "status"):
            if not condition.get(key):
                raise ValueError(f"Condition '{key}' must be set")
        if not isinstance(condition["type"], str):
            raise ValueError("Condition 'type' must be a string")
        if condition["status"] not in CONDITION_STATUSES:
            raise ValueError(
                f'Condition \'status\' must be one of ["True", "False", "Unknown"], not {condition["status"]}'
            )
        reason = condition.get("reason")
        if reason is not None and (not isinstance(reason, str) or not _REASON.fullmatch(reason)):
            raise ValueError("Condition 'reason' must be a single, CamelCase word")
        for key in TIME_FIELDS:
            if key in condition:
                normalized = normalize_datetime(condition[key])
                if normalized is None:
                    raise ValueError(f"'{key}' must be an RFC3339 compliant datetime string")
                condition[key] = normalized
        cleaned.append(condition)
    return cleaned


def is_condition_list(value: Any) -> bool:
    """True when ``value`` can be merged by type: a list of objects that each have a ``type``."""
    return isinstance(value, list) and all(isinstance(c, dict) and c.get("type") for c in value)


def _find(conditions: list[dict[str, Any]], type_: Any) -> int | None:
    for index, condition in enumerate(conditions):
        if isinstance(condition, dict) and condition.get("type") == type_:
            return index
    return None


def _changed_besides_transition_time(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(key != "lastTransitionTime" and old.get(key) != value for key, value in new.items())


def _with_transition_time(new: dict[str, Any], old: dict[str, Any] | None, now: str) -> dict[str, Any]:
    result = copy.deepcopy(new)
    if not result.get("lastTransitionTime"):
        if old is not None and old.get("status") == result.get("status") and old.get("lastTransitionTime"):
            result["lastTransitionTime"] = old["lastTransitionTime"]
        else:
            result["lastTransitionTime"] = now
    return result


def merge_conditions(current: Any, desired: list[dict[str, Any]], now: str) -> list[dict[str, Any]]:
    """Merge ``desired`` conditions into ``current`` by ``type`` (see the module docstring)."""
    merged: list[dict[str, Any]] = copy.deepcopy(current) if isinstance(current, list) else []
    for raw in desired:
        condition = {key: value for key, value in raw.items() if value is not None}
        index = _find(merged, condition.get("type"))
        if index is None:
            merged.append(_with_transition_time(condition, None, now))
            continue
        old = merged[index]
        if _changed_besides_transition_time(old, condition):
            merged[index] = _with_transition_time(condition, old, now)
    return merged


def _list_is_covered(current: Any, desired: list[Any]) -> bool:
    return isinstance(current, list) and all(item in current for item in desired)


def _merge_dict(current: dict[str, Any], desired: dict[str, Any], replace_lists: bool) -> dict[str, Any]:
    result = copy.deepcopy(current)
    for key, value in desired.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge_dict(result[key], value, replace_lists)
        elif isinstance(value, dict):
            result[key] = _merge_dict({}, value, replace_lists)
        elif isinstance(value, list):
            if replace_lists or not _list_is_covered(result.get(key), value):
                result[key] = copy.deepcopy(value)
        else:
            result[key] = value
    return result


def merge_status(
    current: dict[str, Any] | None,
    desired: dict[str, Any],
    *,
    now: str,
    replace_lists: bool = False,
) -> dict[str, Any]:
    """The status after merging ``desired`` into ``current``; neither argument is modified."""
    current = current if isinstance(current, dict) else {}
    rest = {key: value for key, value in desired.items() if key != "conditions"}
    result = _merge_dict(current, rest, replace_lists)
    if "conditions" in desired:
        conditions = desired["conditions"]
        if conditions is None:
            result.pop("conditions", None)
        elif is_condition_list(conditions):
            result["conditions"] = merge_conditions(current.get("conditions"), conditions, now)
        else:  # not mergeable by type: treat it like any other list
            result = _merge_dict(result, {"conditions": conditions}, replace_lists)
    return result


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _drop_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_drop_none(item) for item in value]
    return value


def replace_status(current: dict[str, Any] | None, desired: dict[str, Any], *, now: str) -> dict[str, Any]:
    """The status that fully replaces ``current`` (``force``/``replace``): ``desired`` itself, with
    keys set to None dropped and transition times filled in for its conditions."""
    current = current if isinstance(current, dict) else {}
    result = _drop_none(copy.deepcopy(desired))
    conditions = result.get("conditions")
    if is_condition_list(conditions):
        old_list = current.get("conditions") if isinstance(current.get("conditions"), list) else []
        filled = []
        for condition in conditions:
            index = _find(old_list, condition["type"])
            filled.append(_with_transition_time(condition, None if index is None else old_list[index], now))
        result["conditions"] = filled
    return result
