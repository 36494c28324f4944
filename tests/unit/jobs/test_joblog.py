"""ANSIBLE_DEBUG_LOGS: a job's whole output in the operator log, read as the Go operator reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.jobs.joblog import debug_logs_enabled, job_stdout


@pytest.mark.parametrize("value", ["TRUE", "true", "True", "1", "t", "T"])
def test_debug_logs_on(value: str) -> None:
    assert debug_logs_enabled({"ANSIBLE_DEBUG_LOGS": value})


@pytest.mark.parametrize("value", ["", "false", "0", "yes", "on", "TRUE "])
def test_debug_logs_off(value: str) -> None:
    assert not debug_logs_enabled({"ANSIBLE_DEBUG_LOGS": value})
    assert not debug_logs_enabled({})


def test_job_stdout_is_the_artifact_and_keeps_the_end_of_a_long_one(tmp_path: Path) -> None:
    assert job_stdout(tmp_path, "1-1") == ""  # no artifact (the job never started)
    (tmp_path / "artifacts" / "1-1").mkdir(parents=True)
    (tmp_path / "artifacts" / "1-1" / "stdout").write_text("PLAY [localhost]\nPLAY RECAP\n")
    assert job_stdout(tmp_path, "1-1") == "PLAY [localhost]\nPLAY RECAP\n"
    (tmp_path / "artifacts" / "1-1" / "stdout").write_text("x" * 100 + "PLAY RECAP")
    text = job_stdout(tmp_path, "1-1", limit=10)
    assert text.endswith("\nPLAY RECAP")
    assert text.startswith("[the first 100 bytes left out")
