"""A failed kubernetes.core.k8s task reads as the API server's message, not its Status JSON."""

from __future__ import annotations

import json
from typing import Any

from runner.jobs.results import JobOutcome, failure_messages, summarize
from runner.jobs.taskerror import replace_status_json, status_message, task_error

HUMAN = (
    'ConfigMap "x" is invalid: metadata.labels: Invalid value: "not a valid value!": a valid label '
    "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
CAUSE = HUMAN.split("metadata.labels: ", 1)[1]
STATUS = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": HUMAN,
    "reason": "Invalid",
    "details": {
        "name": "x",
        "kind": "ConfigMap",
        "causes": [{"reason": "FieldValueInvalid", "message": CAUSE, "field": "metadata.labels"}],
    },
    "code": 422,
}
BODY = json.dumps(STATUS, separators=(",", ":"))


def k8s_failed(res: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": "runner_on_failed",
        "event_data": {"task": "make the ConfigMap", "task_action": "kubernetes.core.k8s", "res": res},
    }


def test_k8s_api_error_reads_as_the_status_message() -> None:
    # What kubernetes.core 5 returns for a ConfigMap with an invalid label (seen against kube-lite).
    res = {"changed": False, "msg": f"Failed to create object: {BODY}\n", "reason": "Unprocessable Entity"}
    assert task_error(res) == f"Failed to create object: {HUMAN}"
    [message] = failure_messages([k8s_failed(res)])
    assert message == f"make the ConfigMap: Failed to create object: {HUMAN}"
    assert "{" not in message and message.count("Invalid value") == 1


def test_k8s_api_error_as_bytes_repr_and_separate_body() -> None:
    # Older releases: str(bytes) in msg, or the JSON in `body` with the HTTP code in status/error.
    assert task_error({"msg": f"Failed to patch object: {BODY.encode()!r}"}) == (
        f"Failed to patch object: {HUMAN}"
    )
    res = {"msg": "Failed to create object", "body": BODY, "status": 422, "error": 422, "reason": "Invalid"}
    assert task_error(res) == f"Failed to create object: {HUMAN}"
    both = {"msg": f"Failed to create object: {BODY}", "body": BODY}
    assert task_error(both) == f"Failed to create object: {HUMAN}"


def test_other_json_and_plain_messages_are_kept() -> None:
    assert replace_status_json('got {"a": 1} and {broken') == 'got {"a": 1} and {broken'
    assert task_error({"msg": "  the database is on fire\n"}) == "the database is on fire"
    assert task_error({"stderr": "no such file"}) == "no such file"
    assert task_error({}) == ""
    assert status_message({"kind": "Status", "reason": "NotFound"}) == "NotFound"
    assert status_message({"kind": "ConfigMap", "message": "x"}) is None
    assert status_message("not json") is None


def test_summary_of_a_k8s_failure_has_no_json() -> None:
    events = (k8s_failed({"msg": f"Failed to create object: {BODY}"}),)
    result = summarize(JobOutcome(status="failed", rc=2, events=events))
    assert result.ok is False
    assert result.message == f"make the ConfigMap: Failed to create object: {HUMAN}"
