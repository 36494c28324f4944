"""Run one prepared job directory through an executor and print timing + outcome (bench helper).

usage: python runjob.py plain|fast JOBDIR [N] [--verbosity V] [--timeout S]
Each run uses a new ident; with N > 1 the executor (and its warm workers) is reused.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from runner.fastexec.auto import AutoExecutor
from runner.fastexec.executor import FastExecutor
from runner.jobs.executor import AnsibleRunnerExecutor, JobSpec
from runner.jobs.results import summarize

p = argparse.ArgumentParser()
p.add_argument("kind")
p.add_argument("jobdir", help="a job directory, or several separated by commas (used in turn)")
p.add_argument("n", nargs="?", type=int, default=1)
p.add_argument("--verbosity", type=int, default=0)
p.add_argument("--timeout", type=float, default=None)
p.add_argument("--quiet", action="store_true")
p.add_argument("--trace", action="store_true", help="print when each task started and ended")
a = p.parse_args()


def spec(i: int) -> JobSpec:
    dirs = a.jobdir.split(",")
    d = Path(dirs[i % len(dirs)])
    bindir = os.path.dirname(sys.executable)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    for k in ("KUBECONFIG", "ANSIBLE_ROLES_PATH", "ANSIBLE_COLLECTIONS_PATH"):
        if k in os.environ:
            env[k] = os.environ[k]
    if "KUBECONFIG" in env:
        env["K8S_AUTH_KUBECONFIG"] = env["KUBECONFIG"]
    return JobSpec(
        ident=f"{int(time.time())}-{os.getpid()}-{i}",
        private_data_dir=d,
        playbook=d / "project" / "role.yml",
        project_dir=d / "project",
        envvars=env,
        verbosity=a.verbosity,
        timeout=a.timeout,
        rotate_artifacts=10,
    )


async def main() -> None:
    plain = AnsibleRunnerExecutor(4)
    ex = plain if a.kind == "plain" else AutoExecutor(FastExecutor(4), plain)
    try:
        for i in range(a.n):
            t = time.monotonic()

            def on_event(e, t=t):
                if a.trace and e.get("event") in (
                    "playbook_on_start",
                    "playbook_on_task_start",
                    "runner_on_ok",
                    "runner_on_failed",
                    "playbook_on_stats",
                ):
                    task = e.get("event_data", {}).get("task", "")
                    print(f"  {time.monotonic() - t:7.3f} {e['event']} {task}")

            out = await ex.run(spec(i), on_event)
            dt = time.monotonic() - t
            r = summarize(out, timeout=a.timeout)
            res = r.result
            print(
                f"{a.kind} run {i}: {dt:.3f}s status={out.status} rc={out.rc} ok={r.ok} "
                f"result={res and (res.ok, res.changed, res.failures)} msg={r.message[:120]!r}",
                flush=True,
            )
    finally:
        ex.shutdown()


asyncio.run(main())
