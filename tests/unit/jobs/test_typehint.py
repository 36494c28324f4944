"""A non-string refused where the API wants a string gets the fix in the message, for each version."""

from __future__ import annotations

from runner.jobs.results import failure_messages
from runner.jobs.typehint import (
    A_STRING_218,
    A_STRING_219,
    NOT_A_STRING_218,
    NOT_A_STRING_219,
    installed_ansible_core,
    with_hint,
)

CONFIGMAP = (
    'write the next count: Failed to create object: ConfigMap in version "v1" cannot be handled as a '
    "ConfigMap: json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
)
LABEL = (
    'label it: Failed to patch object: Deployment.apps "web" is invalid: json: cannot unmarshal bool '
    "into Go struct field ObjectMeta.metadata.labels of type string"
)
CRD_FIELD = (
    'set the port: Failed to create object: Widget.e2e.example.com "w" is invalid: spec.port: '
    'Invalid value: "integer": spec.port in body must be of type string: "integer"'
)


def test_templated_numbers_in_string_fields_get_the_fix() -> None:
    for message in (CONFIGMAP, LABEL, CRD_FIELD):
        assert with_hint(message, (2, 19)) == f"{message} {NOT_A_STRING_219}"
        assert with_hint(message, (2, 18)) == f"{message} {NOT_A_STRING_218}"
    assert '"| string"' in NOT_A_STRING_219 and "ansible-core 2.19" in NOT_A_STRING_219
    assert '"| string"' in NOT_A_STRING_218 and "2.19" not in NOT_A_STRING_218


def test_templated_strings_in_number_fields_get_the_fix() -> None:
    replicas = (
        'Configure the Deployment web: Failed to apply object: Deployment in version "v1" cannot be '
        "handled as a Deployment: json: cannot unmarshal string into Go struct field "
        "DeploymentSpec.spec.replicas of type int32"
    )
    size = (
        'set the size: Failed to create object: Widget.e2e.example.com "w" is invalid: spec.size: '
        'Invalid value: "string": spec.size in body must be of type integer: "string"'
    )
    for message in (replicas, size):
        assert with_hint(message, (2, 18)) == f"{message} {A_STRING_218}"
        assert with_hint(message, (2, 19)) == f"{message} {A_STRING_219}"
    assert "ansible-core 2.18" in A_STRING_218 and '"{{ n }}"' in A_STRING_218


def test_other_failures_are_left_alone() -> None:
    for message in (
        'label it: Failed to create object: ConfigMap "x" is invalid: metadata.labels: Invalid value: "a b"',
        'set it: spec.mode: Unsupported value: "fast": supported values: "slow"',
        "breaks: non-zero return code",
    ):
        assert with_hint(message, (2, 19)) == message


def test_a_failed_task_in_the_job_events_carries_the_fix() -> None:
    event = {
        "event": "runner_on_failed",
        "event_data": {
            "task": "write the next count",
            "res": {
                "msg": "Failed to create object: "
                '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ConfigMap in '
                'version \\"v1\\" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go '
                'struct field ConfigMap.data of type string","reason":"BadRequest","code":400}'
            },
        },
    }
    hint = NOT_A_STRING_219 if installed_ansible_core() >= (2, 19) else NOT_A_STRING_218
    assert failure_messages([event]) == [f"{CONFIGMAP} {hint}"]
