"""Folding ansible-runner events into the result and message a user reads on the CR."""

from __future__ import annotations

from typing import Any

import pytest

from runner.jobs.results import (
    AnsibleResult,
    JobOutcome,
    ansible_result,
    failure_messages,
    keep_event,
    requeue_period,
    summarize,
)

CREATED = "2024-05-01T10:00:00.123456"


def stats(
    ok: dict[str, int] | None = None,
    changed: dict[str, int] | None = None,
    failures: dict[str, int] | None = None,
    dark: dict[str, int] | None = None,
    skipped: dict[str, int] | None = None,
    created: str = CREATED,
) -> dict[str, Any]:
    return {
        "event": "playbook_on_stats",
        "created": created,
        "event_data": {
            "ok": ok or {},
            "changed": changed or {},
            "failures": failures or {},
            "dark": dark or {},
            "skipped": skipped or {},
            "rescued": {},
            "ignored": {},
        },
    }


def failed(task: str, msg: str, *, ignore_errors: bool = False, action: str = "command") -> dict[str, Any]:
    return {
        "event": "runner_on_failed",
        "event_data": {
            "task": task,
            "task_action": action,
            "host": "localhost",
            "res": {"msg": msg, "changed": False},
            "ignore_errors": ignore_errors,
        },
    }


def unreachable(task: str, msg: str) -> dict[str, Any]:
    return {
        "event": "runner_on_unreachable",
        "event_data": {"task": task, "host": "db1", "res": {"msg": msg, "unreachable": True}},
    }


def requeue(period: Any, action: str = "operator_sdk.util.requeue_after") -> dict[str, Any]:
    return {
        "event": "runner_on_ok",
        "event_data": {"task": "requeue", "task_action": action, "res": {"period": period, "changed": False}},
    }


def outcome(status: str, rc: int | None, *events: dict[str, Any], **kw: Any) -> JobOutcome:
    return JobOutcome(status=status, rc=rc, events=tuple(events), **kw)


# --- counts ---


def test_counts_are_summed_over_all_hosts() -> None:
    ev = stats(
        ok={"localhost": 2, "other": 1},
        changed={"localhost": 1, "other": 3},
        skipped={"other": 4},
        failures={},
    )
    assert ansible_result([ev]) == AnsibleResult(ok=3, changed=4, skipped=4, failures=0, completion=CREATED)


def test_unreachable_hosts_count_as_failures() -> None:
    ev = stats(ok={"localhost": 1}, failures={"localhost": 1}, dark={"db1": 2})
    result = ansible_result([ev])
    assert result is not None and result.failures == 3


def test_last_stats_event_wins_and_missing_stats_gives_none() -> None:
    first = stats(ok={"localhost": 1}, created="first")
    last = stats(ok={"localhost": 9}, created="last")
    result = ansible_result([first, failed("t", "m"), last])
    assert result is not None and (result.ok, result.completion) == (9, "last")
    assert ansible_result([failed("t", "m")]) is None
    assert ansible_result([]) is None


# --- success ---


def test_success() -> None:
    res = summarize(outcome("successful", 0, stats(ok={"localhost": 5}, changed={"localhost": 2})))
    assert res.ok is True
    assert res.message == ""
    assert res.result == AnsibleResult(ok=5, changed=2, completion=CREATED)
    assert res.requeue_after is None
    assert res.interrupted is False


def test_ignored_errors_do_not_fail_and_are_not_reported() -> None:
    events = (failed("optional", "nope", ignore_errors=True), stats(ok={"localhost": 2}))
    res = summarize(outcome("successful", 0, *events))
    assert res.ok is True
    assert failure_messages(events) == []


def test_rescued_failure_does_not_fail_the_run() -> None:
    # A failed task inside a block whose rescue handled it: no failures in the stats.
    res = summarize(outcome("successful", 0, failed("in block", "boom"), stats(ok={"localhost": 3})))
    assert res.ok is True
    assert res.message == ""


def test_requeue_after_on_success() -> None:
    res = summarize(outcome("successful", 0, requeue("5s"), stats(ok={"localhost": 2})))
    assert res.ok is True
    assert res.requeue_after == 5.0


@pytest.mark.parametrize("action", ["operator_sdk.util.requeue_after", "requeue_after"])
def test_requeue_after_action_names(action: str) -> None:
    assert requeue_period([requeue("1m30s", action)]) == 90.0


def test_requeue_after_last_valid_period_wins_and_invalid_is_ignored() -> None:
    assert requeue_period([requeue("5s"), requeue("soon")]) == 5.0
    assert requeue_period([requeue("5s"), requeue("10s")]) == 10.0
    assert requeue_period([requeue(None)]) is None
    assert requeue_period([requeue("5s", action="debug")]) is None


def test_no_requeue_after_on_failure() -> None:
    events = (requeue("5s"), failed("t", "boom"), stats(failures={"localhost": 1}))
    res = summarize(outcome("failed", 2, *events))
    assert res.ok is False
    assert res.requeue_after is None


# --- failures ---


def test_failure_message_lists_failed_tasks_without_ignored_ones() -> None:
    events = (
        failed("ignored task", "not me", ignore_errors=True),
        failed("create deployment", "  forbidden\n"),
        failed("wait", "timed out"),
        stats(ok={"localhost": 4}, failures={"localhost": 2}),
    )
    res = summarize(outcome("failed", 2, *events))
    assert res.ok is False
    assert res.message == "create deployment: forbidden\nwait: timed out"
    assert "not me" not in res.message
    assert res.failed_tasks == ("create deployment: forbidden", "wait: timed out")
    assert res.result is not None and res.result.failures == 2 and res.result.ok == 4


def test_same_failure_is_reported_once() -> None:
    events = (failed("t", "boom"), failed("t", "boom"))
    assert failure_messages(events) == ["t: boom"]


def test_failure_message_falls_back_to_stderr_and_task_action() -> None:
    ev = {
        "event": "runner_on_failed",
        "event_data": {"task": "", "task_action": "shell", "res": {"stderr": "no such file"}},
    }
    assert failure_messages([ev]) == ["shell: no such file"]
    bare = {"event": "runner_on_failed", "event_data": {"res": {}}}
    assert failure_messages([bare]) == ["unnamed task: task failed"]


def test_unreachable_host_fails_the_run() -> None:
    events = (
        unreachable("ping db", "Failed to connect to the host"),
        stats(ok={"localhost": 1}, dark={"db1": 1}),
    )
    # Even if ansible-runner reported "successful", an unreachable host is a failure.
    for status in ("successful", "failed"):
        res = summarize(outcome(status, 4, *events))
        assert res.ok is False
        assert res.message == "ping db: Failed to connect to the host"
        assert res.result is not None and res.result.failures == 1


def test_failure_without_messages() -> None:
    res = summarize(outcome("failed", 2, stats(ok={"localhost": 1}, failures={"localhost": 1})))
    assert res.ok is False
    assert res.message == "unknown playbook failure (exit code 2)"


def test_no_stats_event_and_nonzero_rc_reports_stdout_tail() -> None:
    tail = "ERROR! the role 'memcached' was not found\n"
    res = summarize(outcome("failed", 1, stdout_tail=tail))
    assert res.ok is False
    assert res.result is None
    assert (
        res.message
        == "ansible-playbook exited with code 1 before running: ERROR! the role 'memcached' was not found"
    )


def test_no_stats_event_and_no_output() -> None:
    res = summarize(outcome("failed", 4))
    assert res.message == "ansible-playbook exited with code 4 before running"


def test_killed_playbook_says_so_with_its_last_output_without_terminal_codes() -> None:
    tail = "TASK [kill it] ***\r\n\x1b[0;36mskipping: [localhost]\x1b[0m\r\n"
    res = summarize(outcome("failed", None, stdout_tail=tail))
    assert res.ok is False
    assert res.message == (
        "ansible-playbook was killed before it finished; its last output: "
        "TASK [kill it] ***\nskipping: [localhost]"
    )


def test_successful_status_without_stats_is_not_a_success() -> None:
    res = summarize(outcome("successful", 0))
    assert res.ok is False
    assert res.result is None


# --- job states ---


def test_timeout() -> None:
    res = summarize(outcome("timeout", None, stats(ok={"localhost": 1})), timeout=3600)
    assert res.ok is False
    assert res.message == "the job timed out after 3600s and was stopped"
    assert res.interrupted is False
    assert summarize(outcome("timeout", None)).message == "the job timed out and was stopped"


def test_error() -> None:
    res = summarize(outcome("error", None, error="ansible-runner not found"))
    assert res.ok is False
    assert res.message == "the job could not run: ansible-runner not found"
    assert res.interrupted is False


def test_canceled_is_an_interruption_not_a_failure_message() -> None:
    res = summarize(outcome("canceled", None, failed("t", "killed")))
    assert res.ok is False
    assert res.interrupted is True
    assert "interrupted" in res.message


def test_requeue_after_ignored_for_timeout_and_cancel() -> None:
    for status in ("timeout", "canceled", "error"):
        assert summarize(outcome(status, None, requeue("5s"))).requeue_after is None


# --- which events are kept ---


@pytest.mark.parametrize(
    ("event", "kept"),
    [
        (stats(), True),
        (failed("t", "m"), True),
        (failed("t", "m", ignore_errors=True), True),
        (unreachable("t", "m"), True),
        (requeue("5s"), True),
        (requeue("5s", action="requeue_after"), True),
        ({"event": "runner_on_ok", "event_data": {"task_action": "k8s"}}, False),
        ({"event": "runner_on_start", "event_data": {}}, False),
        ({"event": "verbose", "stdout": "x"}, False),
        ({}, False),
    ],
)
def test_keep_event(event: dict[str, Any], kept: bool) -> None:
    assert keep_event(event) is kept


def test_kept_events_are_enough_to_summarize() -> None:
    everything = [
        {"event": "playbook_on_start", "event_data": {}},
        {"event": "runner_on_ok", "event_data": {"task_action": "k8s", "res": {}}},
        requeue("2s"),
        failed("t", "ignored", ignore_errors=True),
        stats(ok={"localhost": 3}),
    ]
    full = summarize(outcome("successful", 0, *everything))
    kept = summarize(outcome("successful", 0, *[e for e in everything if keep_event(e)]))
    assert full == kept
    assert kept.requeue_after == 2.0
