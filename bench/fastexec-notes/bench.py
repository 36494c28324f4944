"""Interleaved timing of one job through every way of running it (see MEASUREMENTS.md).

usage: python bench.py ROUNDS JOBDIR [JOBDIR...]   (job dirs made by mkjob.py; env: KUBECONFIG,
ANSIBLE_ROLES_PATH). Every round runs each variant once per job, in the same order, so load on the
shared machine hits all variants alike; prints min / median / max per variant and job.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from runner.fastexec.executor import FastExecutor
from runner.jobs.executor import AnsibleRunnerExecutor, JobSpec

BIN = os.path.dirname(sys.executable)
try:  # optional: pip install mitogen (measured with 0.3.54; not a dependency of the runner)
    import ansible_mitogen

    MITOGEN: dict[str, str] | None = {
        "ANSIBLE_STRATEGY_PLUGINS": os.path.join(
            os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy"
        ),
        "ANSIBLE_STRATEGY": "mitogen_linear",
    }
except ImportError:
    MITOGEN = None


def base_env() -> dict[str, str]:
    env = {"PATH": f"{BIN}:{os.environ['PATH']}"}
    for k in ("KUBECONFIG", "ANSIBLE_ROLES_PATH"):
        if k in os.environ:
            env[k] = os.environ[k]
    if "KUBECONFIG" in env:
        env["K8S_AUTH_KUBECONFIG"] = env["KUBECONFIG"]
    return env


counter = 0


def spec(jobdir: Path, extra: dict[str, str] | None = None) -> JobSpec:
    global counter
    counter += 1
    return JobSpec(
        ident=f"bench-{os.getpid()}-{counter}",
        private_data_dir=jobdir,
        playbook=jobdir / "project" / "role.yml",
        project_dir=jobdir / "project",
        envvars={**base_env(), **(extra or {})},
        rotate_artifacts=3,
    )


def timed_cmd(argv: list[str], cwd: Path, extra: dict[str, str] | None = None) -> float:
    t = time.monotonic()
    r = subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, **base_env(), **(extra or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    dt = time.monotonic() - t
    if r.returncode:
        raise SystemExit(f"{argv} failed with {r.returncode}")
    return dt


async def timed_exec(ex, s: JobSpec) -> float:
    t = time.monotonic()
    out = await ex.run(s, lambda e: None)
    dt = time.monotonic() - t
    if out.status != "successful":
        raise SystemExit(f"{ex.name} {s.private_data_dir}: {out.status} rc={out.rc}")
    return dt


async def main() -> None:
    rounds = int(sys.argv[1])
    jobs = [Path(p).resolve() for p in sys.argv[2:]]
    plain = AnsibleRunnerExecutor(2)
    fast = FastExecutor(2)
    cold_modules = FastExecutor(2, warm_modules=False)
    results: dict[tuple[str, str], list[float]] = {}
    variants = {
        "ansible-runner run (CLI)": lambda j: timed_cmd(
            [f"{BIN}/ansible-runner", "run", str(j), "-p", "role.yml"], j
        ),
        "ansible-playbook alone": lambda j: timed_cmd(
            [f"{BIN}/ansible-playbook", "-i", "../inventory", "-e", "@../env/extravars", "role.yml"],
            j / "project",
        ),
    }
    if MITOGEN is not None:
        variants["ansible-runner run + mitogen"] = lambda j: timed_cmd(
            [f"{BIN}/ansible-runner", "run", str(j), "-p", "role.yml"], j, MITOGEN
        )
    try:
        for j in jobs:  # warm up: zygotes started, payload scans stored, page cache hot
            await timed_exec(fast, spec(j))
            await timed_exec(cold_modules, spec(j))
            if MITOGEN is not None:
                await timed_exec(fast, spec(j, MITOGEN))
        for _ in range(rounds):
            for j in jobs:
                for name, fn in variants.items():
                    results.setdefault((j.name, name), []).append(fn(j))
                results.setdefault((j.name, "plain executor (ansible_runner.run in-process)"), []).append(
                    await timed_exec(plain, spec(j))
                )
                results.setdefault((j.name, "fast: controller zygote only"), []).append(
                    await timed_exec(cold_modules, spec(j))
                )
                results.setdefault((j.name, "fast: controller + module zygotes (default)"), []).append(
                    await timed_exec(fast, spec(j))
                )
                if MITOGEN is not None:
                    results.setdefault((j.name, "fast + mitogen strategy"), []).append(
                        await timed_exec(fast, spec(j, MITOGEN))
                    )
        zygotes = [*fast._zygotes.values(), fast._module_zygote]
        for z in zygotes:
            if z is not None and z.proc is not None:
                with open(f"/proc/{z.proc.pid}/status") as fh:
                    rss = next(line.split()[1] for line in fh if line.startswith("VmRSS"))
                print(f"warm {z.mode} worker pid {z.proc.pid}: VmRSS {int(rss) // 1024} MiB")
    finally:
        fast.shutdown()
        cold_modules.shutdown()
        plain.shutdown()
    for j in jobs:
        ref = statistics.median(results[(j.name, "ansible-runner run (CLI)")])
        print(f"\n{j.name} ({rounds} rounds)")
        print(f"  {'variant':48} {'min':>7} {'median':>7} {'max':>7}  median vs CLI")
        for (job, name), xs in results.items():
            if job == j.name:
                med = statistics.median(xs)
                speed = f"{med / ref:5.2f}x ({ref / med:4.1f} times faster)"
                print(f"  {name:48} {min(xs):7.3f} {med:7.3f} {max(xs):7.3f}  {speed}")


asyncio.run(main())
