"""B6, scaling out (``--sharding``): the same CRs served by 1, 2 and 3 replicas of the operator.

* throughput: N CRs of a role that waits 1 s on I/O (kind ``Slow``), created at once, each replica
  with the same fixed concurrency; reconciles/s with 2 and 3 replicas ÷ N x the one-replica rate;
* hand-overs when scaling: a third replica joins two that serve the CRs; how many CRs move
  (the ideal is 1/3 of them);
* spread: how far each of three replicas is from an even share;
* failover: one of three replicas is SIGKILLed (its whole process group, as a pod dies) and its
  CRs are changed at once: time until they are all assigned to the others, against the lease
  duration (the others may take them only once its Lease has expired), and until they are all
  Successful with the change.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import kubernetes

from bench import opproc, proc
from bench.cluster import GROUP, VERSION, cr, plural
from bench.scenarios import Bench, Figure, say
from bench.stats import fmt_s

RING = "bench"
ASSIGNED = f"shard.sharding.ansible-operator-runner.io/{RING}"
LEASE = 15.0  # the runner's default --shard-lease-duration


def _flags(name: str, namespace: str, concurrency: int) -> list[str]:
    return [
        "--sharding",
        f"--shard-identity={name}",
        f"--shard-ring={RING}",
        f"--leader-election-namespace={namespace}",
        f"--max-concurrent-reconciles={concurrency}",
        f"--max-concurrent-jobs={concurrency}",
    ]


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (/proc/stat)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick


@dataclass
class Phase:
    """One throughput phase: reconciles/s, and where the CPU went meanwhile."""

    rate: float
    busy: float  # the machine's busy share of all its cores over the phase (0..1)
    replica_cpu: float  # CPU seconds of the replicas' process trees (jobs included) per reconcile
    operator_cpu: float = 0.0  # of which the operator processes themselves (no children)
    # Each replica's own rate: its CRs ÷ the time until its last one was done. Their sum is the
    # rate while the replicas share the work, apart from the ring's uneven split (``rate`` ends
    # with the busiest replica's last CR).
    per_replica: dict[str, tuple[int, float]] = field(default_factory=dict)  # name -> (CRs, seconds)

    @property
    def capacity(self) -> float:
        return sum(count / secs for count, secs in self.per_replica.values() if secs > 0)

    def note(self) -> str:
        cores = os.cpu_count() or 1
        return (
            f"machine {self.busy * 100:.0f} % busy ({cores} cores), replicas"
            f" {self.replica_cpu * 1000:.0f} ms CPU per reconcile"
            f" (operator processes {self.operator_cpu * 1000:.0f} ms, jobs and warm workers"
            f" {(self.replica_cpu - self.operator_cpu) * 1000:.0f} ms)"
        )


def _members_seen(op: opproc.OperatorProcess) -> set[str]:
    seen: set[str] = set()
    for rec in op.log_records():
        if rec.get("msg") in ("joined the ring", "ring members changed"):
            seen = set(rec.get("members") or [])
    return seen


class Sharded:
    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.api = kubernetes.client.CustomObjectsApi(bench.cluster.new_api_client())
        self.concurrency = bench.sizes.b6_concurrency
        self.wait = bench.sizes.b6_wait

    @contextlib.contextmanager
    def replicas(self, prefix: str, ns: str, count: int) -> Iterator[dict[str, opproc.OperatorProcess]]:
        with contextlib.ExitStack() as stack:
            ops = {
                f"{prefix}-{i}": stack.enter_context(
                    self.bench.operator(f"{prefix}-{i}", ns, _flags(f"{prefix}-{i}", ns, self.concurrency))
                )
                for i in range(count)
            }
            self.wait_ring(ops)
            yield ops

    def add(self, stack: contextlib.ExitStack, name: str, ns: str) -> opproc.OperatorProcess:
        op: opproc.OperatorProcess = stack.enter_context(
            self.bench.operator(name, ns, _flags(name, ns, self.concurrency))
        )
        return op

    def wait_ring(self, ops: dict[str, opproc.OperatorProcess], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not all(_members_seen(op) == set(ops) for op in ops.values()):
            for op in ops.values():
                op.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replicas did not all see {sorted(ops)}")
            time.sleep(0.5)

    def items(self, ns: str) -> list[dict[str, Any]]:
        listed = self.api.list_namespaced_custom_object(GROUP, VERSION, ns, plural("Slow"))
        items: list[dict[str, Any]] = listed["items"]
        return items

    def owners(self, ns: str) -> dict[str, str]:
        return {
            o["metadata"]["name"]: (o["metadata"].get("labels") or {}).get(ASSIGNED, "")
            for o in self.items(ns)
        }

    def wait_converged(
        self, ns: str, count: int, timeout: float, done_at: dict[str, float] | None = None
    ) -> float:
        """Poll until all ``count`` CRs are Successful for their generation and not running;
        returns the time.monotonic() it happened. ``done_at`` gets when each CR was first seen so."""
        deadline = time.monotonic() + timeout
        while True:
            items = self.items(ns)
            if done_at is not None:
                now = time.monotonic()
                for o in items:
                    if _converged(o):
                        done_at.setdefault(o["metadata"]["name"], now)
            if len(items) == count and all(_converged(o) for o in items):
                return time.monotonic()
            if time.monotonic() > deadline:
                done = sum(_converged(o) for o in items)
                raise TimeoutError(f"{done}/{count} Slow CRs converged after {timeout:.0f} s")
            time.sleep(0.25)

    def change(self, ns: str, which: list[int], message: str) -> None:
        def patch(i: int) -> None:
            self.api.patch_namespaced_custom_object(
                GROUP, VERSION, ns, plural("Slow"), f"slow-{i}", {"spec": {"message": message}}
            )

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(patch, which))

    def throughput(self, ns: str, n: int, ops: dict[str, opproc.OperatorProcess]) -> Phase:
        objs = [
            cr("Slow", f"slow-{i}", ns, {"message": "benchmark", "waitSeconds": self.wait}) for i in range(n)
        ]
        cpu0 = sum(proc.tree_cpu_seconds(op.pid) for op in ops.values())
        own0 = sum(proc.self_cpu_seconds(op.pid) for op in ops.values())
        busy0, total0 = machine_cpu()
        t0 = time.monotonic()
        self.bench.cluster.create_many(objs)
        done_at: dict[str, float] = {}
        t1 = self.wait_converged(ns, n, timeout=n * (self.wait + 2) + 300, done_at=done_at)
        busy1, total1 = machine_cpu()
        cpu1 = sum(proc.tree_cpu_seconds(op.pid) for op in ops.values())
        own1 = sum(proc.self_cpu_seconds(op.pid) for op in ops.values())
        busy = (busy1 - busy0) / max(total1 - total0, 1e-9)
        served: dict[str, list[float]] = {}
        for name, owner in self.owners(ns).items():
            served.setdefault(owner, []).append(done_at.get(name, t1))
        per_replica = {owner: (len(ts), max(ts) - t0) for owner, ts in sorted(served.items())}
        return Phase(n / (t1 - t0), busy, (cpu1 - cpu0) / n, (own1 - own0) / n, per_replica)


def _converged(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    ok = conds.get("Successful", {}).get("status") == "True"
    running = conds.get("Running", {})
    busy = running.get("status") == "True" and running.get("reason") == "Running"
    return ok and not busy and status.get("observedGeneration") == obj["metadata"].get("generation")


def scale_out(bench: Bench) -> None:
    n = bench.sizes.b6_crs
    s = Sharded(bench)
    phases: dict[int, Phase] = {}
    figures = bench.results.figures

    # one replica, the baseline
    ns = bench.namespace("shard1")
    with s.replicas("one", ns, 1) as ops:
        say(f"B6: {n} Slow CRs, 1 replica")
        phases[1] = s.throughput(ns, n, ops)
    say(f"B6: 1 replica: {phases[1].rate:.2f} reconciles/s; {phases[1].note()}")

    # two replicas, then a third joins
    ns = bench.namespace("shard2")
    moved = 0
    with contextlib.ExitStack() as stack, s.replicas("two", ns, 2) as ops:
        say(f"B6: {n} Slow CRs, 2 replicas")
        phases[2] = s.throughput(ns, n, ops)
        before = s.owners(ns)
        ops["two-2"] = s.add(stack, "two-2", ns)
        s.wait_ring(ops)
        deadline = time.monotonic() + 120
        while True:
            after = s.owners(ns)
            if all(after.values()) and Counter(after.values()).get("two-2", 0) > 0:
                stable = after
                time.sleep(2 * LEASE / 5)
                if s.owners(ns) == stable:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError("the CRs did not settle after the third replica joined")
            time.sleep(0.5)
        moved = sum(1 for k, v in stable.items() if before.get(k) != v)
        s.wait_converged(ns, n, timeout=300)
    say(
        f"B6: 2 replicas: {phases[2].rate:.2f} reconciles/s (each replica's own rate summed:"
        f" {phases[2].capacity:.2f}/s); {phases[2].note()}"
    )
    say(f"B6: a third replica took {moved} of {n} CRs")

    # three replicas, then one is SIGKILLed
    ns = bench.namespace("shard3")
    with s.replicas("three", ns, 3) as ops:
        say(f"B6: {n} Slow CRs, 3 replicas")
        phases[3] = s.throughput(ns, n, ops)
        owners = s.owners(ns)
        spread = Counter(owners.values())
        victim = max(ops, key=lambda m: spread.get(m, 0))
        orphans = sorted(int(k.split("-")[1]) for k, v in owners.items() if v == victim)
        say(f"B6: SIGKILL {victim} ({len(orphans)} CRs) and change its CRs")
        t_kill = time.monotonic()
        ops[victim].killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ops[victim].pid, signal.SIGKILL)
        ops[victim].proc.wait()
        s.change(ns, orphans, "after the failover")
        deadline = time.monotonic() + LEASE + 300
        while victim in s.owners(ns).values():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the CRs of {victim} did not move")
            time.sleep(0.25)
        failover = time.monotonic() - t_kill
        t_done = s.wait_converged(ns, n, timeout=LEASE + 300)
        rerun = t_done - t_kill
        left = Counter(s.owners(ns).values())
    say(
        f"B6: 3 replicas: {phases[3].rate:.2f} reconciles/s (each replica's own rate summed:"
        f" {phases[3].capacity:.2f}/s); {phases[3].note()}; failover {fmt_s(failover)}"
    )

    one = phases[1]
    for replicas in (2, 3):
        phase = phases[replicas]
        scaling = phase.rate / (replicas * one.rate)
        figures.append(
            Figure(
                "B6",
                f"throughput with {replicas} replicas, {s.wait:g} s I/O role, {s.concurrency} jobs each",
                scaling,
                "x",
                f"rate ÷ ({replicas} x one replica's rate)",
                "≥ 0.9",
                scaling >= 0.9,
                f"{phase.rate:.2f}/s against {one.rate:.2f}/s with one replica; {phase.note()}"
                f" (one replica: {one.note()})",
            )
        )
        shared = phase.capacity / (replicas * one.rate)
        figures.append(
            Figure(
                "B6",
                f"rate while {replicas} replicas share the work (the sum of each one's own rate)",
                shared,
                "x",
                f"sum of (CRs ÷ time to its last) ÷ ({replicas} x one replica's rate)",
                "≥ 0.9",
                shared >= 0.9,
                f"{phase.capacity:.2f}/s against {one.rate:.2f}/s; "
                + ", ".join(f"{k} {c} CRs in {fmt_s(t)}" for k, (c, t) in phase.per_replica.items()),
            )
        )
    even = n / 3
    worst = max(abs(c - even) / even for c in spread.values()) if spread else float("nan")
    figures.append(
        Figure(
            "B6",
            "spread over 3 replicas: largest deviation from an even share",
            worst,
            "x",
            "|count - N/3| ÷ (N/3)",
            "≤ 0.25",
            worst <= 0.25,
            ", ".join(f"{k} {v}" for k, v in sorted(spread.items())),
        )
    )
    figures.append(
        Figure(
            "B6",
            "CRs moved when a third replica joins two",
            moved / (n / 3),
            "x",
            "moved ÷ (N/3)",
            "≈ 1",
            None,
            f"{moved} of {n} CRs",
        )
    )
    figures.append(
        Figure(
            "B6",
            "failover after SIGKILL: the dead replica's CRs assigned to the others",
            failover / LEASE,
            "x",
            "time ÷ lease duration",
            "≤ (15 s + 10 s) / 15 s = 1.67",
            failover <= LEASE + 10,
            f"{fmt_s(failover)}; its {len(orphans)} CRs, changed right after the kill, all Successful "
            f"with the change after {fmt_s(rerun)}; lease duration {LEASE:g} s; afterwards "
            f"{dict(sorted(left.items()))}",
        )
    )
    bench.results.note(
        "B6",
        f"{n} CRs of a role that waits {s.wait:g} s (`pause`); each replica --max-concurrent-reconciles="
        f"{s.concurrency} --max-concurrent-jobs={s.concurrency}; replicas on this one machine, each with "
        "its own runner directory",
    )
