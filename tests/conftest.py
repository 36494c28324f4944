"""Session-wide reporting shared by every test folder.

The fault-injection cases (tests/faults) attach what they tried and checked to their teardown
report; this collects them here, in the process that prints the summary, so the
``faults: N survived / M tried`` line is right also when the cases ran in pytest-xdist workers.
"""

from __future__ import annotations

from typing import Any

import pytest

FAULT_PROPERTY = "fault-injection"
_FAULTS: list[dict[str, Any]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "teardown":
        return
    for key, value in report.user_properties:
        if key == FAULT_PROPERTY:
            _FAULTS.append(value)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _FAULTS:
        return
    tr = terminalreporter
    faults = sorted(_FAULTS, key=lambda f: str(f["case"]))
    tried = [f for f in faults if f["outcome"] != "skipped"]
    survived = [f for f in tried if f["outcome"] == "survived"]
    tr.section("fault injection")
    for f in faults:
        tr.write_line(f"[{f['outcome']}] {f['case']}")
        for w in f["what"]:
            tr.write_line(f"    tried:   {w}")
        for c in f["checks"]:
            tr.write_line(f"    checked: {c}")
    tr.write_line(f"faults: {len(survived)} survived / {len(tried)} tried")
