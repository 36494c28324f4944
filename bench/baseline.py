"""Baselines measured in the same run: bare ``ansible-runner run --role`` (the CLI, same role, same
extra vars) and a bare ``python -c "import kopf"``."""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import proc
from bench.cluster import OPERATOR_DIR
from runner.cli.main import build_config, parser
from runner.config.watches import Watch, load_watches
from runner.jobs.extravars import dump_extravars
from runner.jobs.jobdir import GENERATED_INVENTORY
from runner.jobs.plan import plan_job

BIN = Path(sys.executable).parent


@dataclass(frozen=True, slots=True)
class ProcRun:
    wall: float  # seconds
    cpu: float  # CPU seconds of the process and all its descendants
    peak_rss: int  # peak of the summed RSS of the process tree (sampled), bytes
    max_rss: int  # ru_maxrss: the largest single process, bytes
    disk: int = 0  # bytes allocated in the private data dir afterwards (bare runs only)


def bench_watch(kind: str) -> Watch:
    for w in load_watches(OPERATOR_DIR / "watches.yaml", environ={}, cwd=str(OPERATOR_DIR)):
        if w.gvk.kind == kind:
            return w
    raise KeyError(kind)


def extravars_for(template: Mapping[str, Any], name: str, watch: Watch) -> str:
    """The extra vars file the runner would write for ``template`` renamed to ``name``."""
    obj = copy.deepcopy(dict(template))
    obj.pop("status", None)  # the runner's first reconcile sees the CR before it has a status
    obj["metadata"]["name"] = name
    config = build_config(parser().parse_args(["run"]), {})
    plan = plan_job(obj, watch, config, logging.LoggerAdapter(logging.getLogger("bench"), {}))
    return dump_extravars(plan.extravars)  # the runner's own planning, not a copy of it


def bare_env(work_dir: Path, kubeconfig: str | None) -> dict[str, str]:
    tmp = work_dir / "ansible-tmp-bare"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}"}
    env["ANSIBLE_LOCAL_TEMP"] = str(tmp)
    env.pop("KUBECONFIG", None)
    env.pop("K8S_AUTH_KUBECONFIG", None)
    if kubeconfig:
        env["KUBECONFIG"] = env["K8S_AUTH_KUBECONFIG"] = kubeconfig
    return env


def _measure(args: list[str], env: Mapping[str, str], cwd: Path, log_path: Path) -> tuple[int, ProcRun]:
    with open(log_path, "wb") as log:
        t0 = time.monotonic()
        p = subprocess.Popen(
            args, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        sampler = proc.RssSampler(p.pid, interval=0.1).start()
        try:
            rc, cpu, max_rss = proc.wait4_child(p.pid)
        except BaseException:
            p.kill()
            p.wait()
            raise
        finally:
            sampler.stop()
        p.returncode = rc  # reaped by wait4 above
        wall = time.monotonic() - t0
    return rc, ProcRun(wall, cpu, max(sampler.peak, max_rss), max_rss)


def bare_ansible_runner(
    pdd: Path, role: str, extravars: str, env: Mapping[str, str], ident: str = "bench"
) -> ProcRun:
    """One ``ansible-runner run PDD --role ROLE --hosts localhost --role-skip-facts`` with the
    runner's extra vars file and inventory; fails if the role fails."""
    for sub in ("env", "inventory"):
        (pdd / sub).mkdir(parents=True, exist_ok=True)
    (pdd / "env" / "extravars").write_text(extravars)
    (pdd / "inventory" / "hosts").write_text(GENERATED_INVENTORY)
    args = [
        str(BIN / "ansible-runner"),
        "run",
        str(pdd),
        "--role",
        role,
        "--roles-path",
        str(OPERATOR_DIR / "roles"),
        "--hosts",
        "localhost",
        "--role-skip-facts",
        "--ident",
        ident,
        "-q",
    ]
    log_path = pdd.with_name(pdd.name + ".log")
    rc, run = _measure(args, env, pdd, log_path)
    if rc != 0:
        stdout = pdd / "artifacts" / ident / "stdout"
        detail = stdout.read_text(errors="replace")[-3000:] if stdout.exists() else ""
        detail += log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"bare ansible-runner run of role {role} failed (rc {rc}):\n{detail}")
    return dataclasses.replace(run, disk=proc.disk_usage(str(pdd))[0])


def bare_import_kopf(work_dir: Path) -> ProcRun:
    rc, run = _measure(
        [sys.executable, "-c", "import kopf"], os.environ, work_dir, work_dir / "import-kopf.log"
    )
    if rc != 0:
        raise RuntimeError("python -c 'import kopf' failed")
    return run
