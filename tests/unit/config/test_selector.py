"""Label selectors: Kubernetes matching semantics, query form, parsing and validation."""

from __future__ import annotations

from typing import Any

import pytest

from runner.config.selector import LabelSelector, Requirement, SelectorError


def sel(**data: Any) -> LabelSelector:
    return LabelSelector.parse(data)


# --- matching ---


@pytest.mark.parametrize("labels", [None, {}, {"app": "x"}])
def test_empty_selector_matches_everything(labels: dict[str, str] | None) -> None:
    s = LabelSelector()
    assert s.is_empty
    assert s.matches(labels)
    assert s.to_query() == ""
    assert LabelSelector.parse(None) == s
    assert LabelSelector.parse({}) == s
    assert LabelSelector.parse({"matchLabels": None, "matchExpressions": None}).is_empty


def test_match_labels() -> None:
    s = sel(matchLabels={"app": "x", "tier": "web"})
    assert not s.is_empty
    assert s.matches({"app": "x", "tier": "web", "extra": "1"})
    assert not s.matches({"app": "x"})
    assert not s.matches({"app": "y", "tier": "web"})
    assert not s.matches(None)


def test_match_labels_empty_value_requires_the_key() -> None:
    s = sel(matchLabels={"app": ""})
    assert s.matches({"app": ""})
    assert not s.matches({})


@pytest.mark.parametrize(
    ("operator", "values", "labels", "expected"),
    [
        ("In", ["a", "b"], {"tier": "a"}, True),
        ("In", ["a", "b"], {"tier": "c"}, False),
        ("In", ["a", "b"], {}, False),
        ("NotIn", ["a", "b"], {"tier": "c"}, True),
        ("NotIn", ["a", "b"], {"tier": "a"}, False),
        ("NotIn", ["a", "b"], {}, True),  # a missing label is "not in"
        ("Exists", [], {"tier": ""}, True),
        ("Exists", [], {"other": "x"}, False),
        ("DoesNotExist", [], {"other": "x"}, True),
        ("DoesNotExist", [], {"tier": "a"}, False),
    ],
)
def test_operators(operator: str, values: list[str], labels: dict[str, str], expected: bool) -> None:
    expr: dict[str, Any] = {"key": "tier", "operator": operator}
    if values:
        expr["values"] = values
    s = sel(matchExpressions=[expr])
    assert s.matches(labels) is expected


def test_everything_must_match() -> None:
    s = sel(
        matchLabels={"app": "x"},
        matchExpressions=[
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "gone", "operator": "DoesNotExist"},
        ],
    )
    assert s.matches({"app": "x", "tier": "a"})
    assert not s.matches({"app": "x", "tier": "a", "gone": "1"})
    assert not s.matches({"app": "y", "tier": "a"})
    assert not s.matches({"app": "x", "tier": "z"})


# --- query form ---


def test_to_query() -> None:
    s = sel(
        matchLabels={"app": "x"},
        matchExpressions=[
            {"key": "tier", "operator": "In", "values": ["b", "a"]},
            {"key": "env", "operator": "NotIn", "values": ["prod"]},
            {"key": "gone", "operator": "DoesNotExist"},
            {"key": "has", "operator": "Exists"},
        ],
    )
    assert s.to_query() == "app=x,tier in (a,b),env notin (prod),!gone,has"


def test_to_query_sorts_match_labels() -> None:
    assert sel(matchLabels={"b": "2", "a": "1"}).to_query() == "a=1,b=2"


# --- construction ---


def test_requirement_validation() -> None:
    assert Requirement("k", "In", ("a",)).values == ("a",)
    with pytest.raises(SelectorError, match="needs a non-empty list"):
        Requirement("k", "In")
    with pytest.raises(SelectorError, match="needs a non-empty list"):
        Requirement("k", "NotIn", ())
    with pytest.raises(SelectorError, match="takes no values"):
        Requirement("k", "Exists", ("a",))
    with pytest.raises(SelectorError, match="takes no values"):
        Requirement("k", "DoesNotExist", ("a",))
    with pytest.raises(SelectorError, match="invalid operator 'Equals'"):
        Requirement("k", "Equals", ("a",))


def test_selector_is_hashable_and_comparable() -> None:
    a = sel(matchLabels={"app": "x"}, matchExpressions=[{"key": "k", "operator": "Exists"}])
    b = sel(matchLabels={"app": "x"}, matchExpressions=[{"key": "k", "operator": "Exists"}])
    assert a == b
    assert hash(a) == hash(b)
    assert a != LabelSelector()


def test_parse_keeps_prefixed_keys() -> None:
    s = sel(matchLabels={"app.kubernetes.io/name": "memcached"})
    assert s.match_labels == {"app.kubernetes.io/name": "memcached"}
    assert s.matches({"app.kubernetes.io/name": "memcached"})


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ("app=x", None, "must be a mapping"),
        ({"matchlabels": {}}, "matchlabels", "unknown field"),
        ({"matchLabels": ["a"]}, "matchLabels", "must be a mapping"),
        ({"matchLabels": {"app": 1}}, "matchLabels.app", "must be a string"),
        ({"matchLabels": {"app": True}}, "matchLabels.app", "must be a string"),
        ({"matchLabels": {"bad key": "x"}}, "matchLabels.bad key", "invalid label key"),
        ({"matchLabels": {"Bad_Prefix/k": "x"}}, "matchLabels.Bad_Prefix/k", "prefix must be a DNS"),
        ({"matchLabels": {"app": "has space"}}, "matchLabels.app", "invalid label value"),
        ({"matchLabels": {"app": "x" * 64}}, "matchLabels.app", "invalid label value"),
        ({"matchExpressions": {"key": "a"}}, "matchExpressions", "must be a list"),
        ({"matchExpressions": ["a"]}, "matchExpressions[0]", "must be a mapping"),
        ({"matchExpressions": [{"operator": "Exists"}]}, "matchExpressions[0].key", "is required"),
        ({"matchExpressions": [{"key": "a"}]}, "matchExpressions[0].operator", "is required"),
        (
            {
                "matchExpressions": [
                    {"key": "a", "operator": "Exists"},
                    {"key": "b", "operator": "in", "values": ["x"]},
                ]
            },
            "matchExpressions[1].operator",
            "invalid operator 'in': must be one of In, NotIn, Exists, DoesNotExist",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": 3}]},
            "matchExpressions[0].operator",
            "must be one of",
        ),
        ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "matchExpressions[0].values", "non-empty"),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "matchExpressions[0].values",
            "takes no values",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]},
            "matchExpressions[0].values",
            "list",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["x", 2]}]},
            "matchExpressions[0].values[1]",
            "must be a string",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "value": ["x"]}]},
            "matchExpressions[0].value",
            "unknown field",
        ),
    ],
)
def test_parse_errors(data: Any, field: str | None, message: str) -> None:
    with pytest.raises(ValueError) as info:
        LabelSelector.parse(data)
    err = info.value
    assert isinstance(err, SelectorError)
    assert err.field == field
    assert message in err.problem
    assert str(err) == (f"{field}: {err.problem}" if field else err.problem)
