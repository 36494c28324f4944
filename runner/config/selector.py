"""Kubernetes ``metav1.LabelSelector``: parsing from YAML, matching, and the query-string form."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DOES_NOT_EXIST",
    "EXISTS",
    "IN",
    "NOT_IN",
    "OPERATORS",
    "LabelSelector",
    "Requirement",
    "SelectorError",
]

IN = "In"
NOT_IN = "NotIn"
EXISTS = "Exists"
DOES_NOT_EXIST = "DoesNotExist"
OPERATORS = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST)

_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class SelectorError(ValueError):
    """An invalid selector; ``field`` is the wrong sub-field, e.g. ``matchExpressions[0].operator``."""

    def __init__(self, field: str | None, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


def _check_key(key: object, where: str) -> str:
    if not isinstance(key, str):
        raise SelectorError(where, f"label key must be a string, got {key!r}")
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        raise SelectorError(
            where, f"invalid label key {key!r}: prefix must be a DNS subdomain such as example.com"
        )
    if not name or len(name) > 63 or not _NAME.fullmatch(name):
        raise SelectorError(
            where,
            f"invalid label key {key!r}: name must be 1-63 characters, alphanumeric, '-', '_' or '.', "
            "starting and ending with an alphanumeric character",
        )
    return key


def _check_value(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise SelectorError(
            where, f"label value must be a string, got {value!r} (quote it in YAML: '{value}')"
        )
    if value and (len(value) > 63 or not _NAME.fullmatch(value)):
        raise SelectorError(
            where,
            f"invalid label value {value!r}: must be empty or 1-63 characters, alphanumeric, '-', '_' "
            "or '.', starting and ending with an alphanumeric character",
        )
    return value


@dataclass(frozen=True, slots=True)
class Requirement:
    """One ``matchExpressions`` entry."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise SelectorError(
                "operator", f"invalid operator {self.operator!r}: must be one of {', '.join(OPERATORS)}"
            )
        if self.operator in (IN, NOT_IN) and not self.values:
            raise SelectorError("values", f"operator {self.operator} needs a non-empty list of values")
        if self.operator in (EXISTS, DOES_NOT_EXIST) and self.values:
            raise SelectorError("values", f"operator {self.operator} takes no values")

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this requirement (Kubernetes semantics: NotIn matches a missing key)."""
        if self.operator == IN:
            return self.key in labels and labels[self.key] in self.values
        if self.operator == NOT_IN:
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return self.key in labels
        return self.key not in labels

    def to_query(self) -> str:
        """This requirement in ``labelSelector`` query form (``tier in (a,b)``, ``!gone``, ``has``)."""
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return f"!{self.key}"
        op = "in" if self.operator == IN else "notin"
        return f"{self.key} {op} ({','.join(sorted(set(self.values)))})"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A label selector; the empty selector matches every object."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[Requirement, ...] = ()

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.match_labels.items())), self.match_expressions))

    @property
    def is_empty(self) -> bool:
        """True when the selector has no constraint at all."""
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with ``labels`` is selected."""
        labels = labels or {}
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        return all(req.matches(labels) for req in self.match_expressions)

    def to_query(self) -> str:
        """The ``labelSelector`` query string, e.g. ``app=x,tier in (a,b),!gone,has`` (``""`` if empty)."""
        parts = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        parts.extend(req.to_query() for req in self.match_expressions)
        return ",".join(parts)

    @classmethod
    def parse(cls, data: Any) -> LabelSelector:
        """Build a selector from the YAML form ``{matchLabels: {...}, matchExpressions: [...]}``.

        Raises ``SelectorError`` (a ``ValueError``) whose ``field`` names the wrong sub-field.
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise SelectorError(
                None, f"must be a mapping with matchLabels and/or matchExpressions, got {data!r}"
            )
        for name in data:
            if name not in ("matchLabels", "matchExpressions"):
                raise SelectorError(
                    str(name), "unknown field; valid fields of a selector are matchLabels, matchExpressions"
                )
        labels = _parse_match_labels(data.get("matchLabels"))
        raw_exprs = data.get("matchExpressions")
        if raw_exprs is None:
            raw_exprs = []
        if not isinstance(raw_exprs, list):
            raise SelectorError(
                "matchExpressions", f"must be a list of {{key, operator, values}}, got {raw_exprs!r}"
            )
        exprs = tuple(_parse_requirement(item, f"matchExpressions[{i}]") for i, item in enumerate(raw_exprs))
        return cls(match_labels=labels, match_expressions=exprs)


def _parse_match_labels(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SelectorError("matchLabels", f"must be a mapping of label key to value, got {raw!r}")
    labels: dict[str, str] = {}
    for key, value in raw.items():
        where = f"matchLabels.{key}"
        labels[_check_key(key, where)] = _check_value(value, where)
    return labels


def _parse_requirement(item: Any, where: str) -> Requirement:
    if not isinstance(item, Mapping):
        raise SelectorError(where, f"must be a mapping with key, operator and values, got {item!r}")
    for name in item:
        if name not in ("key", "operator", "values"):
            raise SelectorError(
                f"{where}.{name}",
                "unknown field; valid fields of a match expression are key, operator, values",
            )
    if "key" not in item:
        raise SelectorError(f"{where}.key", "is required")
    key = _check_key(item["key"], f"{where}.key")
    if "operator" not in item:
        raise SelectorError(f"{where}.operator", f"is required (one of {', '.join(OPERATORS)})")
    operator = item["operator"]
    raw_values = item.get("values")
    if raw_values is None:
        raw_values = []
    if not isinstance(raw_values, list):
        raise SelectorError(f"{where}.values", f"must be a list of strings, got {raw_values!r}")
    values = tuple(_check_value(v, f"{where}.values[{i}]") for i, v in enumerate(raw_values))
    if not isinstance(operator, str):
        raise SelectorError(f"{where}.operator", f"must be one of {', '.join(OPERATORS)}, got {operator!r}")
    try:
        return Requirement(key=key, operator=operator, values=values)
    except SelectorError as exc:
        raise SelectorError(f"{where}.{exc.field}", exc.problem) from None
