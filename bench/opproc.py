"""The operator under test, run as ``python -m runner run`` in its own process group, and its logs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.cluster import OPERATOR_DIR


@dataclass
class OperatorOptions:
    executor: str | None = None  # passed as --executor only when set
    extra_args: Sequence[str] = ()


@dataclass
class OperatorProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path
    runner_dir: Path
    started: float  # time.monotonic() just before the process was started
    started_wall: float  # time.time() at the same moment
    args: list[str] = field(default_factory=list)
    killed: bool = False  # SIGKILLed on purpose (B6's failover): its exit is no problem

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive() and not self.killed:
            raise RuntimeError(
                f"the operator exited with code {self.proc.returncode}; its log:\n{self.tail()}"
            )

    def tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def stop(self, timeout: float = 30) -> float:
        """SIGTERM (the operator stops its jobs and exits); SIGKILL to its process group (the operator
        and its jobs) only if it is still there after ``timeout``."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return time.monotonic() - t0

    def log_records(self) -> list[dict[str, Any]]:
        out = []
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return out
        for line in text.splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out


def start_operator(
    *,
    kubeconfig: str,
    namespace: str,
    work_dir: Path,
    name: str,
    options: OperatorOptions,
) -> OperatorProcess:
    runner_dir = work_dir / f"runner-{name}"
    log_path = work_dir / f"operator-{name}.log"
    tmp = work_dir / f"ansible-tmp-{name}"
    tmp.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "runner",
        "run",
        f"--watches-file={OPERATOR_DIR / 'watches.yaml'}",
        "--log-format=json",
        "--ansible-verbosity=0",
        f"--runner-dir={runner_dir}",
        "--metrics-bind-address=127.0.0.1:0",
        "--health-probe-bind-address=127.0.0.1:0",
    ]
    if options.executor:
        args.append(f"--executor={options.executor}")
    args.extend(options.extra_args)
    env = {
        **os.environ,
        "KUBECONFIG": kubeconfig,
        "WATCH_NAMESPACE": namespace,
        "ANSIBLE_LOCAL_TEMP": str(tmp),
    }
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child process
    started, started_wall = time.monotonic(), time.time()
    try:
        proc = subprocess.Popen(
            args,
            cwd=OPERATOR_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the bench only; it stops the operator itself
        )
    finally:
        log.close()
    return OperatorProcess(proc, log_path, runner_dir, started, started_wall, args)


def _ts(record: dict[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(str(record["ts"])).timestamp()
    except (KeyError, ValueError):
        return None


def reconcile_phases(records: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    """CR name → (wall time of its first "reconcile started", of its first "reconcile succeeded")."""
    started: dict[str, float] = {}
    done: dict[str, float] = {}
    for r in records:
        cr = str(r.get("cr") or "")
        ts = _ts(r)
        if not cr or ts is None:
            continue
        name = cr.rsplit("/", 1)[-1]
        if r.get("msg") == "reconcile started":
            started.setdefault(name, ts)
        elif r.get("msg") == "reconcile succeeded" and name in started:
            done.setdefault(name, ts)
    return {n: (started[n], done[n]) for n in done}


def first_log_time(records: list[dict[str, Any]], msg: str) -> float | None:
    for r in records:
        if r.get("msg") == msg:
            return _ts(r)
    return None


def problems(records: list[dict[str, Any]], limit: int = 10) -> list[str]:
    """Warnings and errors the operator logged (for the report)."""
    out = []
    for r in records:
        if r.get("level") in ("warning", "error", "critical"):
            out.append(f"{r.get('level')}: {r.get('msg')} {r.get('cr') or ''}".strip())
            if len(out) >= limit:
                break
    return out
