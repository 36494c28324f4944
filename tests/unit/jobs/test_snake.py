"""snake_case conversion: the Go operator's paramconv test table, ported verbatim, plus extras."""

from __future__ import annotations

from typing import Any

import pytest

from runner.jobs.snake import snake_case_keys, to_snake_case

# TestToSnake in internal/ansible/paramconv/paramconv_test.go (operator-framework/ansible-operator-plugins).
GO_TO_SNAKE_TABLE: list[tuple[str, str, str]] = [
    ("should keep the same", "var", "var"),
    ("should convert to Snake when is only numbers", "888", "888"),
    ("should convert to Snake when has numbers and _", "k8s_var", "k8s_var"),
    ("should convert to Snake when start with _", "_k8s_var", "_k8s_var"),
    ("should convert to Snake and replace the space for _", "k8s var", "k8s_var"),
    (
        "should handle Camel and add _ prefix when starts with",
        "ThisShouldHaveUnderscores",
        "_this_should_have_underscores",
    ),
    ("should convert to snake when has Camel and numbers", "sizeK8sBuckets", "size_k8s_buckets"),
    ("should be able to handle mixed vars", "_CanYou_Handle_mixedVars", "_can_you_handle_mixed_vars"),
    ("should be a noop", "this_should_be_a_noop", "this_should_be_a_noop"),
    ("should handle special plural word at end", "egressIPs", "egress_ips"),
    ("should handle special plural word in middle", "egressIPsEgress", "egress_ips_egress"),
    (
        "should handle special plural word in middle followed by lowercase letter",
        "egressIPsegress",
        "egress_ips_egress",
    ),
    ("should handle special plural word at the start", "IPsegress", "_ips_egress"),
    ("should handle special word at the end", "egressIP", "egress_ip"),
    ("should handle special word in the middle", "egressIPEgress", "egress_ip_egress"),
    ("should handle special word in the middle followed by lowercase", "egressIPegress", "egress_ip_egress"),
    ("should handle multiple special words", "URLegressIPEgressHTTP", "url_egress_ip_egress_http"),
    (
        "should handle multiple plural special words",
        "URLsegressIPsEgressHTTPs",
        "_urls_egress_ips_egress_https",
    ),
    (
        "should not interpret special word when entire word is uppercase",
        "THIS_IS_SKIP_NOT_SK_IP",
        "_this_is_skip_not_sk_ip",
    ),
]

# Further vectors: the reference document, old digit-mangling regressions (operator-sdk#1366/#2604)
# and behaviour derived by hand from the Go code.
EXTRA_TABLE: list[tuple[str, str, str]] = [
    ("no digit mangling", "pg1_repo_path", "pg1_repo_path"),
    ("digits inside a word", "k8sVersion", "k8s_version"),
    ("letter digits letter digits gets boundaries", "a1b2", "a_1_b2"),
    ("dash becomes underscore", "my-field", "my_field"),
    ("surrounding spaces trimmed", "  fooBar  ", "foo_bar"),
    ("acronym followed by word", "JSONData", "_json_data"),
    ("camel case", "appService", "app_service"),
    ("special word at the start, singular", "IPAddress", "ip_address"),
    ("special word lower case is not special", "httpPort", "http_port"),
    ("special word https at the end", "useHTTPs", "use_https"),
    ("only first occurrence of a special word", "IPFromIPs", "ip_from_i_ps"),
    ("single upper case letter", "A", "_a"),
    ("one lower-case letter before a capital is not split", "aB", "ab"),
    ("single lower case letter", "a", "a"),
    ("already snake with trailing underscore", "app_8sk_", "app_8sk_"),
    ("empty string (Go panics)", "", ""),
    ("non-ascii characters kept", "größeWert", "größe_wert"),
]


@pytest.mark.parametrize(
    ("name", "given", "want"),
    GO_TO_SNAKE_TABLE,
    ids=[row[0] for row in GO_TO_SNAKE_TABLE],
)
def test_to_snake_go_table(name: str, given: str, want: str) -> None:
    assert to_snake_case(given) == want


@pytest.mark.parametrize(("name", "given", "want"), EXTRA_TABLE, ids=[row[0] for row in EXTRA_TABLE])
def test_to_snake_extra(name: str, given: str, want: str) -> None:
    assert to_snake_case(given) == want


def test_map_to_snake_go_table() -> None:
    # TestMapToSnake in paramconv_test.go.
    given = {"var": "value", "var_var": "value", "size_k8s_test": "value", "888": "value"}
    assert snake_case_keys(given) == given


def test_snake_case_keys_nested() -> None:
    given: dict[str, Any] = {
        "sizeK8sBuckets": 3,
        "egressIPs": ["10.0.0.1", {"hostIP": "1.2.3.4", "portMappings": [{"containerPort": 80}]}],
        "deepMap": {"innerKey": {"innerMostKey": "camelValue"}, "emptyList": [], "emptyMap": {}},
        "nullValue": None,
        "listOfLists": [[{"keyB": 1}], "plainString"],
    }
    want = {
        "size_k8s_buckets": 3,
        "egress_ips": ["10.0.0.1", {"host_ip": "1.2.3.4", "port_mappings": [{"container_port": 80}]}],
        "deep_map": {"inner_key": {"inner_most_key": "camelValue"}, "empty_list": [], "empty_map": {}},
        "null_value": None,
        "list_of_lists": [[{"key_b": 1}], "plainString"],
    }
    got = snake_case_keys(given)
    assert got == want
    assert list(got) == list(want)  # order kept


def test_snake_case_keys_returns_new_objects() -> None:
    inner = {"keyB": 1}
    lst = [inner]
    given = {"myList": lst, "k": {"m": 1}}
    got = snake_case_keys(given)
    assert got is not given
    assert got["my_list"] is not lst
    assert got["my_list"][0] is not inner
    assert got["k"] is not given["k"]
    assert given == {"myList": [{"keyB": 1}], "k": {"m": 1}}  # input untouched


def test_snake_case_keys_scalars_and_tuples() -> None:
    assert snake_case_keys("someString") == "someString"
    assert snake_case_keys(5) == 5
    assert snake_case_keys(None) is None
    assert snake_case_keys(({"keyB": 1},)) == [{"key_b": 1}]


def test_snake_case_keys_collision_later_wins() -> None:
    got = snake_case_keys({"fooBar": 1, "foo_bar": 2})
    assert got == {"foo_bar": 2}
