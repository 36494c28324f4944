"""B7: thousands of CRs on one replica (kind ``Scale``: the trivial role, ``reconcilePeriod: 10m``).

The CRs exist before the operator starts; then: process start → every CR's first ``Successful``;
one CR created 2 s after the start (new work must not wait behind the backlog); the requests the
API server served during the start-up (one LIST per kind, no storm); then a steady window once the
warm workers stopped: CPU of the whole operator tree, requests, and memory (RSS and PSS).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from bench import apicount, proc
from bench.cluster import cr, plural
from bench.stats import fmt_bytes, fmt_s, median, meets

if TYPE_CHECKING:
    from bench.scenarios import Bench

KIND = "Scale"
MiB = 1024 * 1024


def memory_note(mem: list[proc.Memory]) -> str:
    parts = [f"{m.name} (pid {m.pid}) RSS {fmt_bytes(m.rss)} PSS {fmt_bytes(m.pss)}" for m in mem]
    total_rss, total_pss = sum(m.rss for m in mem), sum(m.pss for m in mem)
    return f"{'; '.join(parts)} — tree RSS {fmt_bytes(total_rss)}, PSS {fmt_bytes(total_pss)}"


def scale(bench: Bench) -> None:
    from bench.scenarios import Figure, say, settle_existing

    sizes = bench.sizes
    n = sizes.b7_crs
    ns = bench.namespace("scale")
    api = bench.cluster.api_client
    resources = {plural(KIND), "events", "leases"}
    w = bench.watcher(KIND, ns)
    try:
        say(f"B7: creating {n} {KIND} CRs while no operator runs")
        objs = [cr(KIND, f"sc-{i}", ns) for i in range(n)]
        names = [o["metadata"]["name"] for o in objs]
        create_s = bench.cluster.create_many(objs)
        say(f"B7: created in {fmt_s(create_s)}")
        settle_existing()
        extra = []
        if sizes.warm_idle_timeout is not None:
            extra.append(f"--warm-worker-idle-timeout={sizes.warm_idle_timeout:g}s")
        before, _ = apicount.snapshot(api)
        with bench.operator("scale", ns, extra) as op:
            sampler = proc.RssSampler(op.pid, interval=0.5).start()
            late_at = op.started + sizes.late_after
            time.sleep(max(late_at - time.monotonic(), 0))
            t_late = time.monotonic()
            bench.cluster.create(cr(KIND, "late", ns))
            late = bench.wait_one(w, op, "late", timeout=600) - t_late
            say(f"B7: the CR created {sizes.late_after:.0f} s after start-up: Successful after {fmt_s(late)}")
            done = bench.wait_many(w, op, names, timeout=max(600.0, n * 0.5), what="B7")
            last = max(done.values()) - op.started
            started_cpu = proc.tree_cpu_seconds(op.pid)
            after_start, _ = apicount.snapshot(api)
            up = proc.tree_memory(op.pid)
            start_reqs = apicount.delta(before, after_start, resources)
            lists = {k: v for k, v in start_reqs.items() if k[0] == "LIST"}
            most_lists = max((v for k, v in lists.items() if k[1] == plural(KIND)), default=0)
            wait = (sizes.warm_idle_timeout or 60.0) + 30
            say(
                f"B7: all Successful after {fmt_s(last)}; waiting (up to {wait:.0f} s) for the warm"
                f" workers' stop"
            )
            deadline = time.monotonic() + wait
            while proc.tree_rss(op.pid)[1] > 1 and time.monotonic() < deadline:
                time.sleep(1)
            settled, _ = apicount.snapshot(api)
            cpu0, t0 = proc.tree_cpu_seconds(op.pid), time.monotonic()
            say(f"B7: steady state: sampling CPU and requests for {sizes.b7_steady:.0f} s")
            time.sleep(sizes.b7_steady)
            cpu1, t1 = proc.tree_cpu_seconds(op.pid), time.monotonic()
            idle = proc.tree_memory(op.pid)
            after, _ = apicount.snapshot(api)
            sampler.stop()
            steady_reqs = apicount.delta(settled, after, resources)
            reconciles = sum(1 for r in op.log_records() if r.get("msg") == "reconcile started")
        cpu_share = (cpu1 - cpu0) / (t1 - t0)
        idle_rss = sum(m.rss for m in idle)
        idle_pss = sum(m.pss for m in idle)
        steady_rss = median(sampler.since(t0)) if sampler.since(t0) else math.nan
        figures = [
            Figure(
                "B7",
                f"start-up with {n} existing CRs: start → last first reconcile",
                last,
                "s",
                "seconds",
                "≤ 240 s",
                meets(last, 240, False),
                f"{n / last:.1f} reconciles/s over the start-up",
            ),
            Figure(
                "B7",
                f"new CR created {sizes.late_after:.0f} s after start (during the start-up): "
                "create → Successful",
                late,
                "s",
                "seconds",
                "≤ 2 s",
                meets(late, 2, False),
                fmt_s(late),
            ),
            Figure(
                "B7",
                f"LIST requests of the {KIND} kind during start-up",
                float(most_lists),
                "requests",
                "requests",
                "≤ 1 per kind",
                most_lists <= 1,
                apicount.fmt(lists),
            ),
            Figure(
                "B7",
                f"steady state with {n + 1} CRs (reconcilePeriod 10m, before it elapses): CPU",
                cpu_share * 100,
                "% of a core",
                "operator tree CPU / wall time",
                "< 20 %",
                meets(cpu_share * 100, 20, False),
                f"{cpu1 - cpu0:.2f} CPU s in {t1 - t0:.0f} s; requests: {apicount.fmt(steady_reqs)}",
            ),
            Figure(
                "B7",
                f"idle memory with {n + 1} CRs, warm workers stopped: RSS of the operator tree",
                idle_rss / MiB,
                "MiB",
                "MiB",
                "≤ 150 MiB",
                meets(idle_rss / MiB, 150, False),
                f"PSS {fmt_bytes(idle_pss)} in {len(idle)} process(es); median RSS over the window "
                f"{fmt_bytes(steady_rss)}",
            ),
        ]
        bench.results.figures.extend(figures)
        bench.results.note("B7", f"{n} CRs created in {fmt_s(create_s)} before the operator started")
        bench.results.note(
            "B7",
            f"requests during the start-up ({n + 1} CRs, {reconciles} reconciles): "
            f"{apicount.fmt(start_reqs)}; {sum(start_reqs.values()) / (n + 1):.2f} per CR",
        )
        bench.results.note(
            "B7",
            f"operator tree CPU during the start-up: {started_cpu:.1f} s "
            f"({started_cpu / (n + 1) * 1000:.1f} ms per CR)",
        )
        bench.results.note("B7", f"memory right after the start-up (warm workers up): {memory_note(up)}")
        bench.results.note("B7", f"memory in the steady state: {memory_note(idle)}")
        bench.results.note("B7", f"peak tree RSS during the start-up: {fmt_bytes(sampler.peak)}")
    finally:
        w.stop()
