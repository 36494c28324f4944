"""Status conditions written on a CR: Running / Successful / Failure like the Go operator."""

from __future__ import annotations

from typing import Any

from runner.status.conditions import (
    AnsibleResult,
    find,
    mark_failed,
    mark_interrupted,
    mark_running,
    mark_succeeded,
    set_condition,
)

T0 = "2024-01-01T00:00:00Z"
T1 = "2024-01-01T00:05:00Z"
T2 = "2024-01-01T00:10:00Z"
RESULT = AnsibleResult(ok=3, changed=1, skipped=2, failures=0, completion="2024-01-01T00:04:59.123456")


def by_type(conditions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {c["type"]: c for c in conditions}
    assert len(out) == len(conditions), "a condition type appears twice"
    return out


def test_ansible_result_to_dict() -> None:
    assert RESULT.to_dict() == {
        "ok": 3,
        "changed": 1,
        "skipped": 2,
        "failures": 0,
        "completion": "2024-01-01T00:04:59.123456",
    }


def test_mark_running_on_a_new_cr() -> None:
    conds = mark_running([], generation=1, now=T0)
    assert conds == [
        {
            "type": "Running",
            "status": "True",
            "reason": "Running",
            "message": "Running reconciliation",
            "observedGeneration": 1,
            "lastTransitionTime": T0,
        }
    ]


def test_mark_running_finalizer_message() -> None:
    (running,) = mark_running([], generation=4, now=T0, finalizing=True)
    assert running["message"] == "Running finalizer"
    assert running["status"] == "True"


def test_mark_running_keeps_successful_and_failure_untouched() -> None:
    done = mark_succeeded([], result=RESULT, generation=1, now=T0)
    rerun = by_type(mark_running(done, generation=2, now=T1))
    before = by_type(done)
    assert rerun["Successful"] == before["Successful"]
    assert rerun["Failure"] == before["Failure"]
    running = rerun["Running"]
    assert (running["status"], running["reason"], running["message"]) == (
        "True",
        "Running",
        "Running reconciliation",
    )
    assert running["observedGeneration"] == 2
    assert "ansibleResult" not in running
    # Running was already True: its transition time stays.
    assert running["lastTransitionTime"] == T0


def test_mark_running_keeps_a_previous_failure() -> None:
    failed = mark_failed([], message="boom", generation=1, now=T0, result=RESULT)
    rerun = by_type(mark_running(failed, generation=1, now=T1))
    assert rerun["Failure"] == by_type(failed)["Failure"]
    assert rerun["Successful"]["status"] == "False"
    assert rerun["Running"]["status"] == "True"
    assert rerun["Running"]["lastTransitionTime"] == T1  # flipped from False


def test_mark_succeeded_sets_three_conditions() -> None:
    conds = by_type(
        mark_succeeded(mark_running([], generation=3, now=T0), result=RESULT, generation=3, now=T1)
    )
    assert set(conds) == {"Running", "Successful", "Failure"}
    running = conds["Running"]
    assert running["status"] == "True"
    assert running["reason"] == "Successful"
    assert running["message"] == "Awaiting next reconciliation"
    assert running["ansibleResult"] == RESULT.to_dict()
    successful = conds["Successful"]
    assert (successful["status"], successful["reason"]) == ("True", "Successful")
    assert successful["message"] == "Last reconciliation succeeded"
    assert "ansibleResult" not in successful
    failure = conds["Failure"]
    assert failure["status"] == "False"
    assert failure["message"] == ""
    assert "ansibleResult" not in failure
    for c in conds.values():
        assert c["observedGeneration"] == 3
    # Running stayed True (no flip), the other two are new.
    assert running["lastTransitionTime"] == T0
    assert successful["lastTransitionTime"] == T1
    assert failure["lastTransitionTime"] == T1


def test_mark_failed_sets_failure_with_message_and_result() -> None:
    conds = by_type(mark_failed([], message="task x: boom", generation=2, now=T0, result=RESULT))
    failure = conds["Failure"]
    assert failure["status"] == "True"
    assert failure["reason"] == "Failed"
    assert failure["message"] == "task x: boom"
    assert failure["ansibleResult"] == RESULT.to_dict()
    assert conds["Running"]["status"] == "False"
    assert conds["Successful"]["status"] == "False"
    assert "ansibleResult" not in conds["Running"]
    for c in conds.values():
        assert c["observedGeneration"] == 2
        assert c["lastTransitionTime"] == T0


def test_mark_failed_without_result_and_custom_reason() -> None:
    conds = by_type(mark_failed([], message="Refused: x", generation=1, now=T0, reason="InvalidSpec"))
    failure = conds["Failure"]
    assert failure["reason"] == "InvalidSpec"
    assert failure["message"] == "Refused: x"
    assert "ansibleResult" not in failure
    assert conds["Running"]["reason"] == "InvalidSpec"
    assert conds["Successful"]["reason"] == "InvalidSpec"


def test_success_after_failure_flips_transition_times() -> None:
    failed = mark_failed([], message="boom", generation=1, now=T0, result=RESULT)
    running = mark_running(failed, generation=1, now=T1)
    ok = by_type(mark_succeeded(running, result=RESULT, generation=1, now=T2))
    assert ok["Successful"]["status"] == "True"
    assert ok["Successful"]["lastTransitionTime"] == T2
    assert ok["Failure"]["status"] == "False"
    assert ok["Failure"]["lastTransitionTime"] == T2
    assert "ansibleResult" not in ok["Failure"]  # the old failure's counts are gone
    assert ok["Running"]["lastTransitionTime"] == T1  # True since mark_running


def test_repeated_success_keeps_transition_time_and_refreshes_content() -> None:
    first = mark_succeeded([], result=RESULT, generation=1, now=T0)
    newer = AnsibleResult(ok=5, changed=0, skipped=0, failures=0, completion="later")
    again = by_type(mark_succeeded(first, result=newer, generation=2, now=T2))
    for c in again.values():
        assert c["lastTransitionTime"] == T0
        assert c["observedGeneration"] == 2
    assert again["Running"]["ansibleResult"] == newer.to_dict()


def test_repeated_failure_refreshes_message_but_keeps_time() -> None:
    first = mark_failed([], message="old", generation=1, now=T0)
    again = by_type(mark_failed(first, message="new", generation=1, now=T1))
    assert again["Failure"]["message"] == "new"
    assert again["Failure"]["lastTransitionTime"] == T0


def test_mark_interrupted() -> None:
    done = mark_succeeded([], result=RESULT, generation=1, now=T0)
    running = mark_running(done, generation=1, now=T1)
    conds = by_type(mark_interrupted(running, generation=1, now=T2))
    assert conds["Running"]["status"] == "False"
    assert conds["Running"]["reason"] == "Interrupted"
    assert "runs again" in conds["Running"]["message"]
    assert conds["Running"]["lastTransitionTime"] == T2
    assert conds["Running"]["observedGeneration"] == 1
    # An interruption is not a failure: the last finished run's result stays.
    assert conds["Successful"] == by_type(done)["Successful"]
    assert conds["Failure"] == by_type(done)["Failure"]


def test_foreign_conditions_are_kept_in_place() -> None:
    foreign_a = {"type": "Ready", "status": "True", "reason": "RoleSaysSo", "lastTransitionTime": "x"}
    foreign_b = {"type": "Degraded", "status": "False", "customField": 7}
    existing = [foreign_a, {"type": "Running", "status": "False", "lastTransitionTime": T0}, foreign_b]
    conds = mark_succeeded(existing, result=RESULT, generation=1, now=T1)
    assert [c["type"] for c in conds] == ["Ready", "Running", "Degraded", "Successful", "Failure"]
    assert conds[0] == foreign_a
    assert conds[2] == foreign_b
    conds = mark_failed(conds, message="m", generation=1, now=T2)
    assert [c["type"] for c in conds] == ["Ready", "Running", "Degraded", "Successful", "Failure"]
    assert conds[0] == foreign_a
    assert conds[2] == foreign_b


def test_input_is_not_mutated() -> None:
    existing = [{"type": "Running", "status": "False", "reason": "x", "lastTransitionTime": T0}]
    snapshot = [dict(c) for c in existing]
    mark_running(existing, generation=1, now=T1)
    mark_succeeded(existing, result=RESULT, generation=1, now=T1)
    mark_failed(existing, message="m", generation=1, now=T1)
    assert existing == snapshot


def test_no_generation_means_no_observed_generation() -> None:
    for c in mark_succeeded([], result=RESULT, generation=None, now=T0):
        assert "observedGeneration" not in c


def test_set_condition_transition_time_rules() -> None:
    start = [{"type": "Ready", "status": "True", "lastTransitionTime": T0}]
    same = set_condition(start, {"type": "Ready", "status": "True", "message": "m"}, T1)
    assert same == [{"type": "Ready", "status": "True", "message": "m", "lastTransitionTime": T0}]
    flipped = set_condition(same, {"type": "Ready", "status": "False"}, T2)
    assert flipped == [{"type": "Ready", "status": "False", "lastTransitionTime": T2}]
    added = set_condition(flipped, {"type": "Other", "status": "True"}, T2)
    assert [c["type"] for c in added] == ["Ready", "Other"]
    # An old condition without a transition time gets one.
    fixed = set_condition([{"type": "Ready", "status": "True"}], {"type": "Ready", "status": "True"}, T1)
    assert fixed[0]["lastTransitionTime"] == T1


def test_find() -> None:
    conds = mark_succeeded([], result=RESULT, generation=1, now=T0)
    found = find(conds, "Successful")
    assert found is not None and found["status"] == "True"
    assert find(conds, "Nope") is None
