"""What a user reads when something fails (issue 13): a readable Failure condition, Events like
Kubernetes' own (one per repeated failure, with a rising count, reported by the operator's name)."""

from __future__ import annotations

import json

from tests.e2e.conftest import OperatorFactory, cr
from tests.e2e.kube import Kubectl, is_true, wait_for

FAILURE_MESSAGE = "jsonpath={.status.conditions[?(@.type=='Failure')].message}"


def events_of(kubectl: Kubectl, namespace: str, name: str, reason: str) -> list[dict]:
    out = kubectl.run(
        "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}", "-o", "json"
    ).stdout
    return [e for e in json.loads(out)["items"] if e.get("reason") == reason]


def test_api_error_shows_the_task_and_the_servers_message(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    op = operators.start(namespace)
    kubectl.apply(cr("Echo", "badlabel", namespace, {"labels": {"tier": "not a valid value!"}}))
    wait_for(lambda: is_true(kubectl.get("echo", "badlabel", namespace), "Failure"), "Failure=True")

    message = kubectl.run("get", "echo", "badlabel", "-n", namespace, "-o", FAILURE_MESSAGE).stdout
    assert message.startswith(
        'a labelled ConfigMap when asked: Failed to create object: ConfigMap "badlabel-labelled" is '
        'invalid: metadata.labels: Invalid value: "not a valid value!"'
    ), message
    assert "{" not in message and "Status" not in message  # no API server JSON
    assert len(message) <= 300
    assert message.endswith("… (full message in the CR's Events and the operator log)")

    # The Event and the log carry the whole message (the regex is at its very end), once.
    [event] = wait_for(lambda: events_of(kubectl, namespace, "badlabel", "Failed"), "a Failed Event")
    assert event["message"].startswith(message.split("…")[0])
    assert event["message"].endswith(
        "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    )
    assert event["message"].count("Invalid value") == 1 and "{" not in event["message"]
    wait_for(lambda: event["message"] in op.logs(), "the full message in the operator log")


def test_a_failing_cr_gets_one_failed_event_with_a_rising_count(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory
) -> None:
    operators.start(namespace, env={"OPERATOR_NAME": "echo-operator"})
    kubectl.apply(cr("Echo", "broken", namespace, {"failWith": "the database is on fire"}))

    def counted_twice() -> list[dict] | None:
        failed = events_of(kubectl, namespace, "broken", "Failed")
        return failed if failed and max(e.get("count") or 1 for e in failed) >= 2 else None

    failed = wait_for(counted_twice, "the Failed Event counted twice")
    assert len(failed) == 1, [e["metadata"]["name"] for e in failed]  # retries are aggregated
    [event] = failed
    assert event["type"] == "Warning"
    assert event["message"] == "fail when asked: the database is on fire"
    assert event["source"]["component"] == "echo-operator"
    assert event["reportingComponent"] == "echo-operator"
    assert event["metadata"]["name"].startswith("broken.") and not event["metadata"]["name"].startswith(
        "kopf"
    )
    assert event["lastTimestamp"] >= event["firstTimestamp"]
    assert event["involvedObject"]["kind"] == "Echo" and event["involvedObject"]["uid"]
    started = events_of(kubectl, namespace, "broken", "Started")
    assert started and all(e["source"]["component"] == "echo-operator" for e in started)
