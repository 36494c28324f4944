"""The bundled ``operator_sdk.util`` collection (runner/ansible/collections), without a cluster.

The modules run through real ``ansible-playbook`` with the collection on ``ANSIBLE_COLLECTIONS_PATH``
(one playbook per test module, results written to a JSON file); the pure status-merge and duration
logic is loaded straight from ``plugins/module_utils``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
COLLECTIONS = REPO / "runner" / "ansible" / "collections"
COLLECTION = COLLECTIONS / "ansible_collections" / "operator_sdk" / "util"
MODULE_UTILS = COLLECTION / "plugins" / "module_utils"
BIN_DIR = Path(sys.executable).parent
MODULES = ("k8s_status", "k8s_event", "requeue_after", "osdk_metric")
UNREACHABLE = {"host": "https://127.0.0.1:9", "api_key": "not-a-token"}  # nothing listens on port 9


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"osdk_util_{name}", MODULE_UTILS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


status_merge = _load("status_merge")
duration = _load("duration")

NOW = "2030-01-01T00:00:00Z"
EARLIER = "2020-01-01T00:00:00Z"


# --------------------------------------------------------------------------------------------
# Running the modules through ansible-playbook
# --------------------------------------------------------------------------------------------


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("K8S_AUTH_") and k != "KUBECONFIG"}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-local"),
        ANSIBLE_REMOTE_TEMP=str(tmp / "ansible-remote"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
    )
    return env


def run_tasks(tmp: Path, tasks: dict[str, dict[str, Any]], *, short_names: bool = False) -> dict[str, Any]:
    """Run each task (a module call, ``ignore_errors`` on) and return its registered result by key."""
    play_tasks: list[dict[str, Any]] = []
    for key, call in tasks.items():
        task = dict(call)
        task.update(register=key, ignore_errors=True)
        play_tasks.append(task)
    results_file = tmp / "results.json"
    keys = ", ".join(f"'{key}': {key}" for key in tasks)
    play_tasks.append(
        {
            "name": "save the results",
            "ansible.builtin.copy": {"content": "{{ {" + keys + "} | to_json }}", "dest": str(results_file)},
        }
    )
    play: dict[str, Any] = {"hosts": "localhost", "gather_facts": False, "tasks": play_tasks}
    if short_names:
        play["collections"] = ["operator_sdk.util"]
    playbook = tmp / "play.yml"
    playbook.write_text(json.dumps([play], indent=1))  # JSON is YAML
    proc = subprocess.run(
        [
            str(BIN_DIR / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(playbook),
        ],
        env=_env(tmp),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads(results_file.read_text())


@pytest.fixture(scope="module")
def requeue(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    def call(time: str) -> dict[str, Any]:
        return {"operator_sdk.util.requeue_after": {"time": time}}

    tasks = {
        "seconds": call("30s"),
        "mixed": call("1h30m"),
        "fraction": call("1.5h"),
        "millis": call("500ms"),
        "micro": call("250\u00b5s"),
        "plain": call("30"),
        "words": call("10 minutes"),
        "days": call("1d"),
        "negative": call("-5s"),
        "empty": call(""),
        "missing": {"operator_sdk.util.requeue_after": {}},
    }
    tasks["short"] = {"requeue_after": {"time": "45s"}}
    return run_tasks(tmp_path_factory.mktemp("requeue"), tasks, short_names=True)


@pytest.mark.parametrize(
    ("key", "period"),
    [
        ("seconds", "30s"),
        ("mixed", "1h30m"),
        ("fraction", "1.5h"),
        ("millis", "500ms"),
        ("micro", "250\u00b5s"),
    ],
)
def test_requeue_after_returns_the_period(requeue: dict[str, Any], key: str, period: str) -> None:
    result = requeue[key]
    assert not result.get("failed"), result
    assert result["period"] == period
    assert result["changed"] is False


def test_requeue_after_accepts_plain_seconds_like_upstream(requeue: dict[str, Any]) -> None:
    assert requeue["plain"]["period"] == "30"
    assert not requeue["plain"].get("failed")


def test_requeue_after_short_name_with_collections_keyword(requeue: dict[str, Any]) -> None:
    assert requeue["short"]["period"] == "45s"


@pytest.mark.parametrize("key", ["words", "days", "negative", "empty"])
def test_requeue_after_rejects_bad_durations(requeue: dict[str, Any], key: str) -> None:
    result = requeue[key]
    assert result["failed"] is True
    assert result["msg"].startswith("invalid time input: invalid duration")
    assert "period" in result


def test_requeue_after_requires_time(requeue: dict[str, Any]) -> None:
    assert requeue["missing"]["failed"] is True
    assert "missing required arguments: time" in requeue["missing"]["msg"]


@pytest.fixture(scope="module")
def metric(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    def call(**params: Any) -> dict[str, Any]:
        return {"operator_sdk.util.osdk_metric": {"description": "help text", **params}}

    tasks = {
        "create_counter": call(name="my_counter_total", counter={}),
        "increment": call(name="my_counter_total", counter={"increment": True}),
        "add": call(name="ns:my_counter", counter={"add": "3.14"}),
        "gauge": call(
            name="my_gauge",
            gauge={"set": 2, "subtract": 0.5, "set_to_current_time": False},
            address="http://x",
        ),
        "histogram": call(name="my_histogram", histogram={"observe": 2}),
        "summary": call(name="_my_summary", summary={"observe": 0.25}),
        "bad_name": call(name="9lives", counter={}),
        "dash_name": call(name="my-metric", counter={}),
        "no_kind": call(name="ok"),
        "two_kinds": call(name="ok", counter={}, gauge={"set": 1}),
        "negative_add": call(name="ok", counter={"add": -1}),
        "bad_suboption": call(name="ok", gauge={"observe": 1}),
        "no_description": {"operator_sdk.util.osdk_metric": {"name": "ok", "counter": {}}},
    }
    return run_tasks(tmp_path_factory.mktemp("metric"), tasks)


def test_osdk_metric_returns_its_parameters(metric: dict[str, Any]) -> None:
    result = metric["create_counter"]
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["name"] == "my_counter_total"
    assert result["description"] == "help text"
    assert result["counter"] == {"increment": None, "add": None}
    assert result["gauge"] is None and result["histogram"] is None and result["summary"] is None
    assert set(result) >= {"name", "description", "address", "counter", "gauge", "histogram", "summary"}
    assert metric["increment"]["counter"] == {"increment": True, "add": None}
    assert metric["add"]["counter"]["add"] == pytest.approx(3.14)


def test_osdk_metric_gauge_histogram_summary(metric: dict[str, Any]) -> None:
    gauge = metric["gauge"]
    assert gauge["gauge"] == {
        "set": 2.0,
        "increment": None,
        "decrement": None,
        "add": None,
        "subtract": 0.5,
        "set_to_current_time": False,
    }
    assert gauge["address"] == "http://x"
    assert gauge["counter"] is None
    assert metric["histogram"]["histogram"] == {"observe": 2.0}
    assert metric["summary"]["summary"] == {"observe": 0.25}


@pytest.mark.parametrize("key", ["bad_name", "dash_name"])
def test_osdk_metric_rejects_invalid_names(metric: dict[str, Any], key: str) -> None:
    assert metric[key]["failed"] is True
    assert "invalid metric name" in metric[key]["msg"]


def test_osdk_metric_needs_exactly_one_kind(metric: dict[str, Any]) -> None:
    assert metric["no_kind"]["failed"] is True
    assert (
        "exactly one of counter, gauge, histogram, summary is required (given: none)"
        in metric["no_kind"]["msg"]
    )
    assert metric["two_kinds"]["failed"] is True
    assert "(given: counter, gauge)" in metric["two_kinds"]["msg"]


def test_osdk_metric_other_validation(metric: dict[str, Any]) -> None:
    assert "counter.add must not be negative" in metric["negative_add"]["msg"]
    assert metric["bad_suboption"]["failed"] is True
    assert "observe" in metric["bad_suboption"]["msg"]
    assert "missing required arguments: description" in metric["no_description"]["msg"]


CR = {"api_version": "apps.example.com/v1alpha1", "kind": "TestCR", "name": "my-test", "namespace": "testing"}


@pytest.fixture(scope="module")
def k8s(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    def status(**params: Any) -> dict[str, Any]:
        return {"operator_sdk.util.k8s_status": {**CR, **params}}

    def event(**params: Any) -> dict[str, Any]:
        base = {"name": "ev", "namespace": "testing", "message": "hello", "reason": "Tested"}
        return {"operator_sdk.util.k8s_event": {**base, **params}}

    cond = {"type": "Available", "status": "False", "reason": "PingFailed", "message": "no answer"}
    tasks = {
        "bad_reason": status(conditions=[{**cond, "reason": "The Ping Failed"}]),
        "bad_time": status(conditions=[{**cond, "lastTransitionTime": "26/03/2021 2:00PM"}]),
        "bad_status": status(conditions=[{**cond, "status": "Maybe"}]),
        "no_type": status(conditions=[{"status": "True"}]),
        "unknown_field": status(conditions=[{**cond, "severity": "high"}]),
        "both": status(status={"conditions": [{"type": "Test", "status": "Unknown"}]}, conditions=[cond]),
        "no_kind": {"operator_sdk.util.k8s_status": {"name": "x", "status": {"a": 1}}},
        "status_unreachable": status(status={"hello": "world"}, conditions=[cond], force=True, **UNREACHABLE),
        "event_no_reason": {"operator_sdk.util.k8s_event": {"name": "e", "namespace": "n", "message": "m"}},
        "event_bad_type": event(type="Info"),
        "event_bad_object": event(involvedObject={"apiVersion": "v1", "name": "x"}),
        "event_bad_source": event(source={"host": "node-1"}),
        "event_unreachable": event(
            type="Warning",
            source={"component": "op"},
            involvedObject={"apiVersion": "v1", "kind": "Pod", "name": "p"},
            **UNREACHABLE,
        ),
    }
    return run_tasks(tmp_path_factory.mktemp("k8s"), tasks)


def test_k8s_status_condition_validation_matches_upstream(k8s: dict[str, Any]) -> None:
    assert k8s["bad_reason"]["msg"] == "The specified conditions failed to validate"
    assert k8s["bad_reason"]["error"] == "Condition 'reason' must be a single, CamelCase word"
    assert k8s["bad_time"]["msg"] == "The specified conditions failed to validate"
    assert k8s["bad_time"]["error"] == "'lastTransitionTime' must be an RFC3339 compliant datetime string"
    assert "value of status must be one of: True, False, Unknown" in k8s["bad_status"]["msg"]
    assert "missing required arguments: type" in k8s["no_type"]["msg"]
    assert "severity" in k8s["unknown_field"]["msg"]
    assert (
        k8s["both"]["msg"] == "You cannot specify conditions in both the 'status' and 'conditions' parameters"
    )
    assert "missing required arguments: kind" in k8s["no_kind"]["msg"]
    for key in ("bad_reason", "bad_time", "bad_status", "no_type", "unknown_field", "both", "no_kind"):
        assert k8s[key]["failed"] is True


def test_k8s_status_reports_an_unreachable_api_server(k8s: dict[str, Any]) -> None:
    result = k8s["status_unreachable"]
    assert result["failed"] is True
    assert "cannot reach the API server at https://127.0.0.1:9" in result["msg"]
    assert "not-a-token" not in json.dumps({k: v for k, v in result.items() if k != "invocation"})


def test_k8s_event_argument_validation(k8s: dict[str, Any]) -> None:
    assert "missing required arguments: reason" in k8s["event_no_reason"]["msg"]
    assert "value of type must be one of: Normal, Warning" in k8s["event_bad_type"]["msg"]
    assert "missing required arguments: kind found in involvedObject" in k8s["event_bad_object"]["msg"]
    assert "missing required arguments: component found in source" in k8s["event_bad_source"]["msg"]
    result = k8s["event_unreachable"]
    assert result["failed"] is True
    assert "cannot reach the API server" in result["msg"]


def _norm_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """An argument spec reduced to what the documentation must agree with."""
    return {
        name: {
            "type": entry.get("type", "str"),
            "required": bool(entry.get("required", False)),
            "default": entry.get("default"),
            "choices": entry.get("choices"),
            "aliases": sorted(entry.get("aliases") or []),
            "elements": entry.get("elements"),
            "options": _norm_spec(entry["options"]) if entry.get("options") else None,
        }
        for name, entry in spec.items()
    }


def _norm_doc(options: dict[str, Any]) -> dict[str, Any]:
    return _norm_spec(
        {name: dict(entry, options=entry.get("suboptions")) for name, entry in (options or {}).items()}
    )


def _argument_specs(tmp: Path) -> dict[str, Any]:
    """Each module's argument_spec(), imported in a separate interpreter with the collection on sys.path."""
    code = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(COLLECTIONS)!r})\n"
        "specs = {}\n"
        f"for name in {list(MODULES)!r}:\n"
        "    package = 'ansible_collections.operator_sdk.util.plugins.modules.'\n"
        "    specs[name] = importlib.import_module(package + name).argument_spec()\n"
        "print(json.dumps(specs))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_env(tmp), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _documentation(module: str, tmp: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [str(BIN_DIR / "ansible-doc"), "-j", f"operator_sdk.util.{module}"],
        env=_env(tmp),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    entry = json.loads(proc.stdout)[f"operator_sdk.util.{module}"]
    assert entry["doc"]["module"] == module
    assert entry["doc"]["short_description"]
    assert entry["examples"].strip()
    assert entry["return"]
    return entry["doc"]


UPSTREAM_AUTH = {
    "kubeconfig",
    "context",
    "host",
    "api_key",
    "username",
    "password",
    "validate_certs",
    "ca_cert",
    "client_cert",
    "client_key",
    "proxy",
    "persist_config",
}


def test_documentation_matches_the_argument_specs(tmp_path: Path) -> None:
    specs = _argument_specs(tmp_path)
    for module in MODULES:
        assert _norm_doc(_documentation(module, tmp_path)["options"]) == _norm_spec(specs[module]), module


def test_modules_accept_the_upstream_parameters(tmp_path: Path) -> None:
    specs = {name: set(spec) for name, spec in _argument_specs(tmp_path).items()}
    assert specs["k8s_status"] == UPSTREAM_AUTH | {
        "api_version",
        "kind",
        "name",
        "namespace",
        "status",
        "conditions",
        "replace",
        "replace_lists",
    }
    assert specs["k8s_event"] == UPSTREAM_AUTH | {
        "state",
        "name",
        "namespace",
        "merge_type",
        "message",
        "reason",
        "reportingComponent",
        "reportingInstance",
        "type",
        "source",
        "involvedObject",
        "appendTimestamp",
    }
    assert specs["requeue_after"] == {"time"}
    assert specs["osdk_metric"] == {
        "name",
        "description",
        "address",
        "counter",
        "gauge",
        "histogram",
        "summary",
    }


def test_collection_metadata(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN_DIR / "ansible-galaxy"), "collection", "list", "operator_sdk.util", "--format", "json"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert listing[str(COLLECTIONS / "ansible_collections")]["operator_sdk.util"]["version"] == "0.5.0+runner"
    runtime = (COLLECTION / "meta" / "runtime.yml").read_text()
    assert 'requires_ansible: ">=2.15"' in runtime
    assert (COLLECTION / "README.md").is_file()


# --------------------------------------------------------------------------------------------
# Pure logic: status merging and condition validation
# --------------------------------------------------------------------------------------------

merge_status = status_merge.merge_status
replace_status = status_merge.replace_status
validate_conditions = status_merge.validate_conditions


def cond(type_: str, status: str = "True", **extra: Any) -> dict[str, Any]:
    return {"type": type_, "status": status, **extra}


def test_merge_adds_and_overwrites_keys_recursively() -> None:
    current = {"phase": "Pending", "nested": {"a": 1, "b": {"c": 2}}, "keep": True}
    desired = {"phase": "Ready", "nested": {"b": {"d": 3}}, "new": "x"}
    assert merge_status(current, desired, now=NOW) == {
        "phase": "Ready",
        "nested": {"a": 1, "b": {"c": 2, "d": 3}},
        "keep": True,
        "new": "x",
    }


def test_merge_none_removes_keys_like_a_merge_patch() -> None:
    current = {"a": 1, "nested": {"x": 1, "y": 2}}
    assert merge_status(current, {"a": None, "nested": {"y": None}, "gone": None}, now=NOW) == {
        "nested": {"x": 1}
    }


def test_merge_does_not_modify_its_arguments() -> None:
    current = {"nested": {"a": 1}, "conditions": [cond("A", lastTransitionTime=EARLIER)]}
    desired = {"nested": {"b": 2}, "conditions": [cond("B")]}
    before = json.dumps([current, desired], sort_keys=True)
    merge_status(current, desired, now=NOW)
    replace_status(current, desired, now=NOW)
    assert json.dumps([current, desired], sort_keys=True) == before


def test_lists_covered_by_the_current_list_are_left_alone_by_default() -> None:
    current = {"nodes": ["a", "b"]}
    assert merge_status(current, {"nodes": ["a"]}, now=NOW) == {"nodes": ["a", "b"]}
    assert merge_status(current, {"nodes": ["b", "a"]}, now=NOW) == {"nodes": ["a", "b"]}
    assert merge_status(current, {"nodes": ["a", "c"]}, now=NOW) == {"nodes": ["a", "c"]}
    assert merge_status({}, {"nodes": ["a"]}, now=NOW) == {"nodes": ["a"]}
    assert merge_status({"nodes": "a"}, {"nodes": ["a"]}, now=NOW) == {"nodes": ["a"]}


def test_replace_lists_replaces_any_different_list() -> None:
    current = {"nodes": ["a", "b"], "nested": {"items": [1, 2]}}
    desired = {"nodes": ["a"], "nested": {"items": [2]}}
    assert merge_status(current, desired, now=NOW, replace_lists=True) == {
        "nodes": ["a"],
        "nested": {"items": [2]},
    }
    assert merge_status(current, {"nodes": ["a", "b"]}, now=NOW, replace_lists=True) == current


def test_new_conditions_are_appended_with_a_transition_time() -> None:
    current = {"conditions": [cond("Running", lastTransitionTime=EARLIER)]}
    merged = merge_status(current, {"conditions": [cond("Available", "False", reason="PingFailed")]}, now=NOW)
    assert merged["conditions"] == [
        cond("Running", lastTransitionTime=EARLIER),
        cond("Available", "False", reason="PingFailed", lastTransitionTime=NOW),
    ]


def test_conditions_on_an_empty_status() -> None:
    assert merge_status(None, {"conditions": [cond("A")]}, now=NOW) == {
        "conditions": [cond("A", lastTransitionTime=NOW)]
    }
    explicit = cond("A", lastTransitionTime=EARLIER)
    assert merge_status({}, {"conditions": [explicit]}, now=NOW) == {"conditions": [explicit]}


def test_an_unchanged_condition_is_kept_as_it_is() -> None:
    old = cond("Available", reason="Ok", message="fine", lastTransitionTime=EARLIER)
    current = {"conditions": [old]}
    for desired in (
        cond("Available", reason="Ok"),
        cond("Available", reason="Ok", message="fine"),
        cond("Available", reason="Ok", lastTransitionTime="2031-01-01T00:00:00Z"),
    ):
        assert merge_status(current, {"conditions": [desired]}, now=NOW) == current


def test_a_changed_message_keeps_the_transition_time() -> None:
    current = {"conditions": [cond("Available", reason="Ok", message="fine", lastTransitionTime=EARLIER)]}
    merged = merge_status(
        current, {"conditions": [cond("Available", reason="Ok", message="better")]}, now=NOW
    )
    assert merged["conditions"] == [
        cond("Available", reason="Ok", message="better", lastTransitionTime=EARLIER)
    ]


def test_a_status_change_sets_the_transition_time() -> None:
    current = {
        "conditions": [cond("Available", "False", reason="Down", lastTransitionTime=EARLIER), cond("B")]
    }
    merged = merge_status(current, {"conditions": [cond("Available", "True", reason="Up")]}, now=NOW)
    assert merged["conditions"][0] == cond("Available", "True", reason="Up", lastTransitionTime=NOW)
    assert merged["conditions"][1] == cond("B")
    given = cond("Available", "True", reason="Up", lastTransitionTime="2025-05-05T05:05:05Z")
    assert merge_status(current, {"conditions": [given]}, now=NOW)["conditions"][0] == given


def test_conditions_merge_together_with_other_keys() -> None:
    current = {"phase": "A", "conditions": [cond("X", lastTransitionTime=EARLIER)]}
    merged = merge_status(current, {"phase": "B", "conditions": [cond("Y", "False")]}, now=NOW)
    assert merged == {
        "phase": "B",
        "conditions": [cond("X", lastTransitionTime=EARLIER), cond("Y", "False", lastTransitionTime=NOW)],
    }


def test_none_fields_of_conditions_are_dropped() -> None:
    desired = {"conditions": [{"type": "A", "status": "True", "reason": None, "message": None}]}
    assert merge_status({}, desired, now=NOW) == {"conditions": [cond("A", lastTransitionTime=NOW)]}


def test_conditions_without_types_are_treated_as_a_plain_list() -> None:
    assert merge_status({"conditions": ["x"]}, {"conditions": ["y"]}, now=NOW) == {"conditions": ["y"]}
    assert merge_status({"conditions": [cond("A")]}, {"conditions": None}, now=NOW) == {}


def test_merging_twice_changes_nothing() -> None:
    current = {"nodes": ["a", "b"], "conditions": [cond("Running", lastTransitionTime=EARLIER)]}
    desired = {
        "nodes": ["c"],
        "n": {"x": None, "y": 1},
        "conditions": [cond("Running", "False"), cond("New")],
    }
    once = merge_status(current, desired, now=NOW)
    assert merge_status(once, desired, now="2040-01-01T00:00:00Z") == once


def test_replace_status_drops_other_keys_and_keeps_transition_times() -> None:
    current = {
        "hello": "world",
        "conditions": [cond("A", lastTransitionTime=EARLIER), cond("B", "False", lastTransitionTime=EARLIER)],
    }
    desired = {"phase": "Reset", "gone": None, "conditions": [cond("A", reason="Same"), cond("B", "True")]}
    assert replace_status(current, desired, now=NOW) == {
        "phase": "Reset",
        "conditions": [
            cond("A", reason="Same", lastTransitionTime=EARLIER),
            cond("B", "True", lastTransitionTime=NOW),
        ],
    }
    replaced = replace_status(current, desired, now=NOW)
    assert replace_status(replaced, desired, now="2040-01-01T00:00:00Z") == replaced


def test_validate_conditions_cleans_values() -> None:
    cleaned = validate_conditions(
        [
            {"type": "A", "status": True, "reason": None, "lastTransitionTime": "2021-03-26 14:00:00+00:00"},
            {"type": "B", "status": False, "lastHeartbeatTime": "2021-03-26T14:00z"},
            {
                "type": "C",
                "status": "Unknown",
                "reason": "Error_404",
                "lastTransitionTime": "2021-03-26T14:00:00.5Z",
            },
        ]
    )
    assert cleaned == [
        {"type": "A", "status": "True", "lastTransitionTime": "2021-03-26T14:00:00+00:00"},
        {"type": "B", "status": "False", "lastHeartbeatTime": "2021-03-26T14:00:00Z"},
        {
            "type": "C",
            "status": "Unknown",
            "reason": "Error_404",
            "lastTransitionTime": "2021-03-26T14:00:00.5Z",
        },
    ]
    assert validate_conditions(None) == []


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("Ready", "`conditions` must be a list of objects"),
        ({"type": "A", "status": "True", "severity": "x"}, "severity is not a valid field for a condition"),
        ({"status": "True"}, "Condition 'type' must be set"),
        ({"type": "A"}, "Condition 'status' must be set"),
        ({"type": "A", "status": "yes"}, "Condition 'status' must be one of"),
        ({"type": "A", "status": "True", "reason": "The Ping Failed"}, "single, CamelCase word"),
        ({"type": "A", "status": "True", "reason": "Failed\n"}, "single, CamelCase word"),
        ({"type": "A", "status": "True", "reason": "1stTry"}, "single, CamelCase word"),
        (
            {"type": "A", "status": "True", "lastTransitionTime": "yesterday"},
            "'lastTransitionTime' must be an RFC3339",
        ),
        (
            {"type": "A", "status": "True", "lastHeartbeatTime": "2021-03-26"},
            "'lastHeartbeatTime' must be an RFC3339",
        ),
    ],
)
def test_validate_conditions_errors(condition: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_conditions([condition])


def test_now_is_rfc3339_utc_seconds() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status_merge.now_rfc3339())


# --------------------------------------------------------------------------------------------
# Pure logic: durations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("500ms", 0.5),
        ("2us", 2e-6),
        ("3\u03bcs", 3e-6),
        ("10ns", 1e-8),
        ("1h1m1s1ms", 3661.001),
        ("+5m", 300),
        ("0", 0),
        ("30", 30),
        (" 45s ", 45),
        (".5s", 0.5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert duration.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "1d", "10 minutes", "-1s", "1h-5m", "1.2.3s", "\u0665s", "1S"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        duration.parse_duration(text)
