"""The benchmark command keeps working: a --quick run completes and prints its table.

No timing assertions: the figures themselves are for bench/RESULTS.md, not for tests."""

from __future__ import annotations

import subprocess

from tests.e2e.conftest import REPO


def test_bench_quick_run_completes(tmp_path) -> None:
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run(
        ["bash", str(REPO / "bench" / "run.sh"), "--quick", "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    for figure in ("B1", "B2", "B3", "B4", "B5", "B7"):
        assert figure in proc.stdout
    assert out.exists() and "B3" in out.read_text()
    # B4's steady idle state is measured once the warm workers stopped (--warm-worker-idle-timeout)
    steady = next(line for line in proc.stdout.splitlines() if "warm workers stopped" in line)
    assert "in 1 process(es)" in steady, steady
    assert any("rounds of" in line and "→" in line for line in proc.stdout.splitlines())
