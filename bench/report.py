"""The machine description, the results table (stdout) and ``RESULTS.md``."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench.scenarios import Figure, Results

DESCRIPTIONS: Mapping[str, str] = {
    "B1": "Latency, trivial role (one `debug` task): `kubectl apply` of a new CR → `Successful=True`, "
    "CRs created one at a time. Baseline: a bare `ansible-runner run PDD --role trivial --hosts localhost "
    "--role-skip-facts` with the extra vars file the runner writes (incl. `ansible_operator_meta`) and "
    "the same inventory, one before each CR.",
    "B2": "Latency, API-heavy role (ConfigMap, Secret, Deployment, Service with `kubernetes.core.k8s`, "
    "one `k8s_info` read, all named after the CR). Baseline: the same bare ansible-runner run with "
    "`KUBECONFIG` for the cluster (direct, no proxy).",
    "B3": "Throughput: N trivial CRs created at once (8 client threads); time until all are Successful. "
    "CPU = user+system seconds of the operator process and every descendant (live ones from "
    "/proc/<pid>/stat, exited ones through the parent's cutime/cstime). Baseline: the bare run's "
    "wall time (ansible-runner back to back) and CPU.",
    "B4": "Memory and disk: summed RSS of the operator's process tree sampled every 0.2 s; peak during "
    "B3; idle with the B5 CRs reconciled (kind `Backlog`, reconcilePeriod 24h), first right after "
    "the backlog (warm workers still up), then once the warm workers have stopped after their idle "
    "timeout (the steady idle state, against the 120 MB target); in between, rounds that each "
    "create, reconcile and delete a batch of CRs next to the idle ones, reading the operator "
    "process's RSS after each (flat: the last round at most 5 % above the first). Baselines: a bare "
    "`python -c 'import kopf'` (ru_maxrss) and one bare ansible-runner run (peak summed tree RSS). "
    "Disk = allocated bytes under `<runner-dir>/bench.runner.example.com` after B3 and after the CRs "
    "are deleted.",
    "B5": "Start-up: N CRs created while the operator is down, then the operator starts: time from "
    "process start to the last first reconcile. Ratio against N x (bare run time) / cores, the "
    "time bare ansible-runner would need with every core busy. Plus one CR created a few seconds "
    "after start-up: its create → Successful time (new work must not wait behind the backlog).",
    "B6": "Scaling out (`--sharding`): N CRs of a role that waits 1 s on I/O (`pause`), created at "
    "once, served by 1, 2 and 3 replicas with the same fixed concurrency each; throughput ratio "
    "against N x the one-replica rate. The spread over 3 replicas, how many CRs move when a third "
    "replica joins two (ideal: a third), and the failover: one of 3 replicas SIGKILLed (its process "
    "group) and its CRs changed at once, time until they are all assigned to the others, against "
    "the lease duration (15 s), and until they are all Successful with the change.",
}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(os.cpu_count())


def machine() -> dict[str, str]:
    load = os.getloadavg()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": _nproc(),
        "CPU": _cpu_model(),
        "memory": _mem_total(),
        "kernel": platform.release(),
        "Python": platform.python_version(),
        "ansible-core": _version("ansible-core"),
        "ansible-runner": _version("ansible-runner"),
        "kopf": _version("kopf"),
        "kubernetes (client)": _version("kubernetes"),
        "load average at start": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    }


def _verdict(f: Figure) -> str:
    if f.ok is None:
        return ""
    return "yes" if f.ok else "NO"


def table_rows(figures: Sequence[Figure]) -> list[list[str]]:
    ordered = sorted(figures, key=lambda f: f.bench)  # stable: each benchmark's figures keep their order
    return [[f.bench, f.label, f.shown(), f.ratio_of, f.target, _verdict(f), f.context] for f in ordered]


HEADERS = ["", "figure", "value", "ratio / unit", "target", "met", "measured (context)"]


def text_table(figures: Sequence[Figure]) -> str:
    rows = [HEADERS, *table_rows(figures)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(
    results: Results,
    info: Mapping[str, str],
    *,
    settings: Mapping[str, str],
    only: Sequence[str],
    errors: Sequence[str],
) -> str:
    out = ["# Benchmark results", ""]
    out.append(
        "Produced by `bench/run.sh` (see `bench/README.md`). Every figure is a ratio against a baseline "
        "measured in the same run; absolute times are context only. A shared or busy machine makes "
        "them noisy: compare runs from the same machine."
    )
    out += ["", "## Results", ""]
    out.append("| " + " | ".join(HEADERS[1:]) + " |")
    out.append("|" + "---|" * (len(HEADERS) - 1))
    for row in table_rows(results.figures):
        out.append("| " + " | ".join(_md_cell(c) for c in [f"{row[0]} {row[1]}", *row[2:]]) + " |")
    if errors:
        out += ["", "## Errors", ""]
        out += [f"- {_md_cell(e)}" for e in errors]
    out += ["", "## Machine and run", ""]
    for k, v in {**info, **settings}.items():
        out.append(f"- {k}: {v}")
    out += ["", "## What each benchmark measures", ""]
    for bench in only:
        out.append(f"- **{bench}** {DESCRIPTIONS.get(bench, '')}")
        for line in results.notes.get(bench, []):
            out.append(f"  - {line}")
    if results.notes.get("operator"):
        out += ["", "## Operator processes", ""]
        out += [f"- {line}" for line in results.notes["operator"]]
    if results.problems:
        out += ["", "## Warnings the operator logged", ""]
        out += [f"- `{p}`" for p in results.problems[:30]]
    out.append("")
    return "\n".join(out)
