"""The benchmarks. Three operator runs, each in its own namespace with a fresh operator process:

* latency (B1, B2): CRs created one at a time, interleaved with bare ansible-runner runs of the
  same role and extra vars, so machine noise hits both sides alike;
* throughput (B3, and B4's peak memory and disk): many CRs created at once;
* backlog (B5, and B4's idle memory): CRs created while the operator is down, then start-up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import baseline, opproc, proc, scale
from bench.cluster import GROUP, Cluster, CrWatcher, cr
from bench.stats import fmt_bytes, fmt_ratio, fmt_s, median, meets, p95, ratio

T_START = time.monotonic()
MiB = 1024 * 1024


def say(msg: str) -> None:
    print(f"[bench {time.monotonic() - T_START:6.1f}s] {msg}", file=sys.stderr, flush=True)


EXISTING_SETTLE = 2.0  # seconds between creating the "existing" CRs and starting the operator


def settle_existing() -> None:
    """Let the CRs just created become ones that existed before the operator started.

    A CR's creationTimestamp has whole seconds, so the runner counts a CR created in the second
    before its process started as new work (it may have been created by someone waiting for it).
    Without this pause the tail of a burst of "existing" CRs created right before the start is
    new work too, and the CR created during the start-up queues behind those instead of going
    first; real existing CRs are older than that.
    """
    time.sleep(EXISTING_SETTLE)


@dataclass
class Sizes:
    b1_crs: int = 20
    b2_crs: int = 20
    b2_20_crs: int = 10  # B2 with the 20-task role (roles/apiheavy20)
    warmup: int = 1  # CRs (and bare runs) before measuring, not counted
    b2_warmup: int = 1
    b3_crs: int = 200
    b5_crs: int = 1000  # also B4's idle set
    baseline_runs: int = 10  # bare runs when B1 does not run (B3/B5 need the bare run time)
    idle_seconds: float = 10.0
    late_after: float = 2.0
    rounds: int = 5  # B4 memory over rounds: each creates, reconciles and deletes round_crs CRs
    round_crs: int = 100
    # the backlog operator's --warm-worker-idle-timeout (None: the runner's default, 60 s)
    warm_idle_timeout: float | None = None
    b7_crs: int = 10000  # B7: CRs that exist when the operator starts
    b7_steady: float = 60.0  # B7: seconds of the steady-state window
    b6_crs: int = 300  # B6 scaling out
    b6_wait: float = 1.0  # B6: seconds the Slow role waits on I/O
    b6_concurrency: int = 4  # B6: jobs per replica, fixed


@dataclass
class Figure:
    bench: str
    label: str
    value: float
    unit: str  # "x" for ratios, or the unit of a plain figure ("s", "/s")
    ratio_of: str  # what the ratio divides ("runner / bare")
    target: str = ""
    ok: bool | None = None
    context: str = ""

    def shown(self) -> str:
        if math.isnan(self.value):
            return "n/a"
        if self.unit == "x":
            return fmt_ratio(self.value)
        if self.unit == "s":
            return fmt_s(self.value)
        return f"{self.value:.2f} {self.unit}"


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def note(self, bench: str, line: str) -> None:
        self.notes.setdefault(bench, []).append(line)


@dataclass
class Bench:
    cluster: Cluster
    work_dir: Path
    options: opproc.OperatorOptions
    sizes: Sizes
    results: Results = field(default_factory=Results)
    bare_trivial: list[baseline.ProcRun] = field(default_factory=list)
    running: list[opproc.OperatorProcess] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    _trivial_template: dict[str, Any] | None = None

    # ---- helpers
    def namespace(self, name: str) -> str:
        """A fresh namespace for one benchmark (unique per run, for clusters that outlive it)."""
        ns = f"bench-{name}-{self.run_id}"
        self.cluster.create_namespace(ns)
        self.namespaces.append(ns)
        return ns

    @contextlib.contextmanager
    def operator(
        self, name: str, namespace: str, extra_args: Sequence[str] = ()
    ) -> Iterator[opproc.OperatorProcess]:
        say(f"starting the operator for {name} (namespace {namespace})")
        options = self.options
        if extra_args:
            options = dataclasses.replace(options, extra_args=[*options.extra_args, *extra_args])
        op = opproc.start_operator(
            kubeconfig=self.cluster.kubeconfig,
            namespace=namespace,
            work_dir=self.work_dir,
            name=name,
            options=options,
        )
        self.running.append(op)
        try:
            yield op
            op.check_alive()
        finally:
            stop_s = op.stop()
            self.running.remove(op)
            self.results.note("operator", f"{name}: SIGTERM → exit took {fmt_s(stop_s)}")
            records = op.log_records()
            for line in opproc.problems(records):
                self.results.problems.append(f"{name}: {line}")
            if op.proc.returncode not in (0, None) and not op.killed:
                self.results.problems.append(f"{name}: operator exited with code {op.proc.returncode}")

    def watcher(self, kind: str, namespace: str) -> CrWatcher:
        return CrWatcher(self.cluster, kind, namespace).start()

    def wait_one(self, w: CrWatcher, op: opproc.OperatorProcess, name: str, timeout: float) -> float:
        return w.wait([name], timeout=timeout, check=op.check_alive)[name]

    def wait_many(
        self, w: CrWatcher, op: opproc.OperatorProcess, names: list[str], timeout: float, what: str
    ) -> dict[str, float]:
        def progress(done: int, total: int) -> None:
            say(f"{what}: {done}/{total} Successful")

        return w.wait(names, timeout=timeout, progress=progress, every=10.0, check=op.check_alive)

    def bare_env(self, kube: bool) -> dict[str, str]:
        return baseline.bare_env(self.work_dir, self.cluster.kubeconfig if kube else None)

    def bare(self, role: str, template: dict[str, Any], kind: str, name: str, kube: bool) -> baseline.ProcRun:
        pdd = self.work_dir / "bare" / name
        pdd.mkdir(parents=True, exist_ok=True)
        extravars = baseline.extravars_for(template, name, baseline.bench_watch(kind))
        return baseline.bare_ansible_runner(pdd, role, extravars, self.bare_env(kube))

    def trivial_template(self) -> dict[str, Any]:
        """A real Trivial CR as the API server returns it (for the bare runs' extra vars)."""
        if self._trivial_template is None:
            ns = self.namespace("template")
            self._trivial_template = self.cluster.create(cr("Trivial", "template", ns))
        return self._trivial_template

    def bare_trivial_median(self) -> float:
        if not self.bare_trivial:
            n = self.sizes.baseline_runs
            say(f"baseline: {n} bare ansible-runner runs of the trivial role")
            template = self.trivial_template()
            for i in range(self.sizes.warmup):
                self.bare("trivial", template, "Trivial", f"bare-warmup-{i}", kube=False)
            for i in range(n):
                self.bare_trivial.append(
                    self.bare("trivial", template, "Trivial", f"bare-base-{i}", kube=False)
                )
        return median([r.wall for r in self.bare_trivial])

    # ---- B1 + B2
    def latency(self, do_b1: bool, do_b2: bool) -> None:
        ns = self.namespace("latency")
        s = self.sizes
        with self.operator("latency", ns) as op:
            wt = self.watcher("Trivial", ns)
            wa = self.watcher("ApiHeavy", ns)
            wa20 = self.watcher("ApiHeavy20", ns)
            try:
                say("warm-up: one Trivial CR (the operator's first reconcile, not counted)")
                t0 = time.monotonic()
                self.cluster.create(cr("Trivial", "warmup", ns))
                t = self.wait_one(wt, op, "warmup", timeout=300) - t0
                say(f"  warm-up: {fmt_s(t)} from create to Successful (operator start-up included)")
                template = self.trivial_template()
                if do_b1:
                    self._latency_series(
                        "B1", op, wt, ns, "Trivial", "trivial", template, s.b1_crs, 0, s.warmup, False
                    )
                if do_b2:
                    api_template = {**template, "kind": "ApiHeavy"}
                    self._latency_series(
                        "B2",
                        op,
                        wa,
                        ns,
                        "ApiHeavy",
                        "apiheavy",
                        api_template,
                        s.b2_crs,
                        s.b2_warmup,
                        s.b2_warmup,
                        True,
                    )
                    if s.b2_20_crs:
                        self._latency_series(
                            "B2",
                            op,
                            wa20,
                            ns,
                            "ApiHeavy20",
                            "apiheavy20",
                            {**template, "kind": "ApiHeavy20"},
                            s.b2_20_crs,
                            s.b2_warmup,
                            s.b2_warmup,
                            True,
                        )
            finally:
                wt.stop()
                wa.stop()
                wa20.stop()

    def _latency_series(
        self,
        bench: str,
        op: opproc.OperatorProcess,
        w: CrWatcher,
        ns: str,
        kind: str,
        role: str,
        template: dict[str, Any],
        count: int,
        op_warmup: int,
        bare_warmup: int,
        kube: bool,
    ) -> None:
        prefix = kind.lower()
        for i in range(op_warmup):
            say(f"{bench}: operator warm-up {i + 1}/{op_warmup}")
            self.cluster.create(cr(kind, f"{prefix}-warmup-{i}", ns))
            self.wait_one(w, op, f"{prefix}-warmup-{i}", timeout=600)
        for i in range(bare_warmup):
            say(f"{bench}: bare warm-up {i + 1}/{bare_warmup}")
            self.bare(role, template, kind, f"{prefix}-bare-warmup-{i}", kube)
        runner_lat: list[float] = []
        bare_runs: list[baseline.ProcRun] = []
        created_wall: dict[str, float] = {}
        for i in range(count):
            b = self.bare(role, template, kind, f"{prefix}-bare-{i}", kube)
            bare_runs.append(b)
            name = f"{prefix}-{i}"
            t0, created_wall[name] = time.monotonic(), time.time()
            self.cluster.create(cr(kind, name, ns))
            t = self.wait_one(w, op, name, timeout=600) - t0
            runner_lat.append(t)
            say(f"{bench} {i + 1}/{count}: runner {fmt_s(t)}, bare {fmt_s(b.wall)}")
        if bench == "B1":
            self.bare_trivial.extend(bare_runs)
        bare_lat = [r.wall for r in bare_runs]
        rm, rp, bm, bp = median(runner_lat), p95(runner_lat), median(bare_lat), p95(bare_lat)
        tasks = 20 if role == "apiheavy20" else 5
        what = f"API-heavy role ({tasks} kubernetes.core tasks)"
        if bench == "B1":
            what = "trivial role (1 debug task)"
        if bench == "B1":
            target = 0.3 if self.options.executor == "fast" else 1.15
            med, p = ratio(rm, bm), ratio(rp, bp)
            ratio_of, wanted, ok = "runner / bare", f"≤ {target}", meets(med, target, False)
        else:
            med, p = ratio(bm, rm), ratio(bp, rp)
            target = 20 if tasks == 20 else 15  # issue 11 (round one: ≥ 8 for 5 tasks)
            ratio_of, wanted, ok = "bare / runner (speed-up)", f"≥ {target}", meets(med, target, True)
        med_context = f"runner {fmt_s(rm)}, bare ansible-runner {fmt_s(bm)}"
        p95_context = f"runner {fmt_s(rp)}, bare {fmt_s(bp)}"
        self.results.figures += [
            Figure(bench, f"latency, {what}: median", med, "x", ratio_of, wanted, ok, med_context),
            Figure(bench, f"latency, {what}: p95", p, "x", ratio_of, "", None, p95_context),
        ]
        if role == "apiheavy20":
            self.results.note(bench, "with the 20-task role (`roles/apiheavy20`, kind `ApiHeavy20`):")
        self.results.note(
            bench,
            f"{count} CRs one at a time, each after one bare run; not counted: the operator's first "
            f"CR, then {op_warmup} more CR(s) and {bare_warmup} bare run(s) of warm-up",
        )
        self.results.note(bench, "runner latencies (s): " + " ".join(f"{x:.2f}" for x in runner_lat))
        self.results.note(bench, "bare latencies (s): " + " ".join(f"{x:.2f}" for x in bare_lat))
        self.results.note(
            bench,
            f"bare run CPU: median {median([r.cpu for r in bare_runs]):.2f} s; "
            f"peak tree RSS median {fmt_bytes(median([r.peak_rss for r in bare_runs]))}",
        )
        self._phases(bench, op, created_wall, runner_lat)

    def _phases(
        self, bench: str, op: opproc.OperatorProcess, created_wall: dict[str, float], lat: list[float]
    ) -> None:
        """Split the latency with the operator's own log: create → "reconcile started" (watch event,
        scheduling), started → "reconcile succeeded" (Running status, job, final status), and the
        rest (the bench seeing the status through its watch)."""
        phases = opproc.reconcile_phases(op.log_records())
        queue, run, tail = [], [], []
        for (name, created), total in zip(created_wall.items(), lat, strict=True):
            if name not in phases:
                continue
            started, done = phases[name]
            queue.append(started - created)
            run.append(done - started)
            tail.append(created + total - done)
        if queue:
            self.results.note(
                bench,
                "phases from the operator log (median): create → reconcile started "
                f"{fmt_s(median(queue))}; started → succeeded (status writes + job) {fmt_s(median(run))}; "
                f"'succeeded' log line → Successful seen by the bench {fmt_s(median(tail))} "
                "(≈ 0: the line follows the status write)",
            )

    # ---- B3 (+ B4 peak memory and disk)
    def throughput(self, do_b4: bool) -> None:
        ns = self.namespace("throughput")
        n = self.sizes.b3_crs
        bare_med = self.bare_trivial_median()
        bare_cpu = median([r.cpu for r in self.bare_trivial])
        bare_rss = median([r.peak_rss for r in self.bare_trivial])
        with self.operator("throughput", ns) as op:
            w = self.watcher("Trivial", ns)
            try:
                say("B3: warm-up CR")
                self.cluster.create(cr("Trivial", "warmup", ns))
                self.wait_one(w, op, "warmup", timeout=300)
                objs = [cr("Trivial", f"tp-{i}", ns) for i in range(n)]
                names = [o["metadata"]["name"] for o in objs]
                sampler = proc.RssSampler(op.pid, interval=0.2).start()
                servers = self.cluster.server_pids()
                cpu0, srv0 = proc.tree_cpu_seconds(op.pid), proc.pids_cpu_seconds(servers)
                own0 = proc.self_cpu_seconds(op.pid)
                say(f"B3: creating {n} Trivial CRs at once")
                t0 = time.monotonic()
                create_s = self.cluster.create_many(objs)
                done = self.wait_many(w, op, names, timeout=n * bare_med * 3 + 300, what="B3")
                t1 = max(done.values())
                cpu1, srv1 = proc.tree_cpu_seconds(op.pid), proc.pids_cpu_seconds(servers)
                own1 = proc.self_cpu_seconds(op.pid)
                sampler.stop()
                elapsed = t1 - t0
                rate = n / elapsed
                cpu_per = (cpu1 - cpu0) / n
                cores = os.cpu_count() or 1
                self.results.figures.append(
                    Figure(
                        "B3",
                        f"throughput, {n} trivial CRs at once",
                        rate,
                        "/s",
                        "reconciles per second",
                        "≥ 8",
                        meets(rate, 8, True),
                        f"all Successful after {fmt_s(elapsed)}",
                    )
                )
                self.results.figures.append(
                    Figure(
                        "B3",
                        "throughput vs bare ansible-runner back to back",
                        rate * bare_med,
                        "x",
                        "runner rate / (1 / bare run time)",
                        "",
                        None,
                        f"bare run {fmt_s(bare_med)} → {1 / bare_med:.2f}/s",
                    )
                )
                self.results.figures.append(
                    Figure(
                        "B3",
                        "CPU seconds per reconcile",
                        ratio(cpu_per, bare_cpu),
                        "x",
                        "runner CPU/reconcile / bare run CPU",
                        "",
                        None,
                        f"runner {cpu_per:.2f} CPU s (operator + all children), bare {bare_cpu:.2f} CPU s",
                    )
                )
                self.results.note(
                    "B3",
                    f"{n} CRs created in {fmt_s(create_s)} (8 client threads); "
                    f"ideal with {cores} cores busy running bare: {cores / bare_med:.2f}/s",
                )
                if servers:
                    self.results.note(
                        "B3",
                        f"API server + etcd CPU during B3: {(srv1 - srv0) / n:.3f} s per CR "
                        "(context, not in the figures)",
                    )
                self.results.note(
                    "B3",
                    f"of the CPU per reconcile, the operator process itself (event loop, job threads, "
                    f"proxy) used {(own1 - own0) / n:.3f} s, its children (ansible) the rest",
                )
                phases = opproc.reconcile_phases(op.log_records())
                runs = [d - s for name, (s, d) in phases.items() if name in done]
                if runs:
                    self.results.note(
                        "B3",
                        f"reconcile started → succeeded (log): median {fmt_s(median(runs))}, "
                        f"p95 {fmt_s(p95(runs))}; at most {max_overlap(phases.values())} at once",
                    )
                self.results.note("B3", f"operator tree: peak {sampler.max_processes} processes")
                peak = sampler.peak
                if do_b4:
                    self.results.figures.append(
                        Figure(
                            "B4",
                            "peak RSS during B3 (operator + children)",
                            ratio(peak, bare_rss),
                            "x",
                            "/ peak RSS of one bare ansible-runner run",
                            "",
                            None,
                            f"runner {fmt_bytes(peak)}, one bare run {fmt_bytes(bare_rss)}",
                        )
                    )
                    self._disk_after(op, w, ns, n)
            finally:
                w.stop()

    def _disk_after(self, op: opproc.OperatorProcess, w: CrWatcher, ns: str, n: int) -> None:
        jobs = op.runner_dir / GROUP
        used, files = proc.disk_usage(str(jobs))
        say(f"B4: job directories after B3: {fmt_bytes(used)} in {files} files; deleting the CRs")
        bare_disk = median([r.disk for r in self.bare_trivial])
        self.results.figures.append(
            Figure(
                "B4",
                f"disk of job directories per CR after B3 ({n + 1} CRs, one run each)",
                ratio(used / (n + 1), bare_disk),
                "x",
                "/ private data dir of one bare run",
                "",
                None,
                f"{fmt_bytes(used / (n + 1))} per CR ({fmt_bytes(used)}, {files} files); "
                f"bare {fmt_bytes(bare_disk)}",
            )
        )
        t0 = time.monotonic()
        self.cluster.delete_all("Trivial", ns)
        w.wait_gone(timeout=120)
        gone = time.monotonic()
        after = used
        while time.monotonic() - gone < 60:
            after, files_after = proc.disk_usage(str(jobs))
            if files_after == 0:
                break
            time.sleep(0.5)
        self.results.figures.append(
            Figure(
                "B4",
                "disk of job directories after the CRs are deleted",
                after / 1024,
                "KiB",
                "should be ~0",
                "≈ 0",
                after < 64 * 1024,
                f"cleaned {fmt_s(time.monotonic() - t0)} after the delete",
            )
        )

    # ---- B5 (+ B4 idle memory)
    def backlog(self, do_b4: bool, do_b5: bool) -> None:
        ns = self.namespace("backlog")
        n = self.sizes.b5_crs
        bare_med = self.bare_trivial_median()
        bare_rss = median([r.peak_rss for r in self.bare_trivial])
        kopf_rss = self._kopf_rss() if do_b4 else math.nan
        w = self.watcher("Backlog", ns)
        try:
            say(f"B5: creating {n} Backlog CRs while no operator runs")
            objs = [cr("Backlog", f"bl-{i}", ns) for i in range(n)]
            names = [o["metadata"]["name"] for o in objs]
            create_s = self.cluster.create_many(objs)
            say(f"B5: created in {fmt_s(create_s)}")
            settle_existing()
            extra = []
            if self.sizes.warm_idle_timeout is not None:
                extra.append(f"--warm-worker-idle-timeout={self.sizes.warm_idle_timeout:g}s")
            with self.operator("backlog", ns, extra) as op:
                sampler = proc.RssSampler(op.pid, interval=0.2).start()
                late_at = op.started + self.sizes.late_after
                time.sleep(max(late_at - time.monotonic(), 0))
                t_late = time.monotonic()
                self.cluster.create(cr("Backlog", "late", ns))
                late = self.wait_one(w, op, "late", timeout=600) - t_late
                say(
                    f"B5: the CR created {self.sizes.late_after:.0f} s after start-up: "
                    f"Successful after {fmt_s(late)}"
                )
                done = self.wait_many(w, op, names, timeout=n * bare_med * 3 + 300, what="B5")
                first, last = min(done.values()) - op.started, max(done.values()) - op.started
                cores = os.cpu_count() or 1
                ideal = n * bare_med / cores
                records = op.log_records()
                starting = opproc.first_log_time(records, "operator starting")
                if do_b5:
                    self.results.figures.append(
                        Figure(
                            "B5",
                            f"start-up with {n} existing CRs: start → last first reconcile",
                            ratio(last, ideal),
                            "x",
                            f"/ ({n} x bare run / {cores} cores)",
                            "",
                            None,
                            f"{fmt_s(last)}; ideal {fmt_s(ideal)}; {n / (last - first):.2f} reconciles/s",
                        )
                    )
                    self.results.figures.append(
                        Figure(
                            "B5",
                            f"new CR created {self.sizes.late_after:.0f} s after start: create → Successful",
                            late,
                            "s",
                            "seconds",
                            "< 10 s",
                            meets(late, 10, False),
                            f"{fmt_s(late)} ({ratio(late, bare_med):.1f}x one bare run)",
                        )
                    )
                    if starting is not None:
                        self.results.note(
                            "B5",
                            f"process start → 'operator starting' log: {fmt_s(starting - op.started_wall)}",
                        )
                    self.results.note(
                        "B5",
                        f"process start → first Successful: {fmt_s(first)}; "
                        f"{n} CRs created in {fmt_s(create_s)}",
                    )
                    self.results.note(
                        "B5",
                        f"peak RSS during start-up: {fmt_bytes(sampler.peak)}, "
                        f"{sampler.max_processes} processes",
                    )
                if do_b4:
                    self._idle(op, sampler, n, kopf_rss, bare_rss)
                    self._module_worker_up(op, ns, n)
                    self._rounds(op, w, ns)
                    self._steady_idle(op, sampler, n)
                sampler.stop()
        finally:
            w.stop()

    def _kopf_rss(self) -> float:
        runs = [baseline.bare_import_kopf(self.work_dir) for _ in range(3)]
        return median([r.peak_rss for r in runs])

    def _idle(
        self, op: opproc.OperatorProcess, sampler: proc.RssSampler, n: int, kopf_rss: float, bare_rss: float
    ) -> None:
        say(
            f"B4: idle with {n + 1} reconciled CRs; settling, then sampling RSS "
            f"for {self.sizes.idle_seconds:.0f} s"
        )
        before = sum(1 for r in op.log_records() if r.get("msg") == "reconcile started")
        time.sleep(3)
        t0 = time.monotonic()
        time.sleep(self.sizes.idle_seconds)
        idle = [b for t, b, _ in sampler.samples if t >= t0]
        procs = [k for t, _, k in sampler.samples if t >= t0]
        after = sum(1 for r in op.log_records() if r.get("msg") == "reconcile started")
        rss = median(idle) if idle else math.nan
        mem = proc.tree_memory(op.pid)
        pss = sum(m.pss for m in mem)
        # The controller worker still up (not yet stopped by its idle timeout). The module worker
        # starts only when a job's first module task needs it: never for this one-`debug` role.
        names = {m.name for m in mem}
        up = "warm controller worker" in names
        workers = sorted(n for n in names if n.startswith("warm "))
        self._warm_tree_figure(
            f"idle RSS with {n + 1} CRs reconciled, warm workers up",
            rss,
            pss,
            len(mem),
            up,
            f"; up: {', '.join(workers)}"
            + ("" if "warm module worker" in names else " (no module task has run: no module worker)")
            if up
            else "; the warm workers had stopped already (a short idle timeout)",
        )
        self.results.note("B4", f"memory with the warm workers up: {scale.memory_note(mem)}")
        self.results.figures.append(
            Figure(
                "B4",
                f"idle RSS with {n + 1} CRs reconciled",
                ratio(rss, kopf_rss),
                "x",
                "/ RSS of bare `python -c 'import kopf'`",
                "",
                None,
                f"runner {fmt_bytes(rss)} in {max(procs, default=0)} process(es), "
                f"import kopf {fmt_bytes(kopf_rss)}",
            )
        )
        self.results.note(
            "B4",
            f"idle: {after - before} reconciles started while idle (expected 0); "
            f"one bare ansible-runner run peaks at {fmt_bytes(bare_rss)}",
        )

    def _module_worker_up(self, op: opproc.OperatorProcess, ns: str, n: int) -> None:
        """The idle tree again once a role with module tasks has run (one ApiHeavy CR: five
        kubernetes.core tasks), so that the module worker is up too, as in an operator whose roles
        use modules."""
        wa = self.watcher("ApiHeavy", ns)
        try:
            self.cluster.create(cr("ApiHeavy", "b4-modules", ns))
            self.wait_one(wa, op, "b4-modules", timeout=300)
        finally:
            wa.stop()
        time.sleep(3)
        mem = proc.tree_memory(op.pid)
        rss, pss = sum(m.rss for m in mem), sum(m.pss for m in mem)
        names = {m.name for m in mem}
        up = {"warm controller worker", "warm module worker"} <= names
        self._warm_tree_figure(
            f"idle RSS with {n + 2} CRs reconciled, one with module tasks: both warm workers up",
            rss,
            pss,
            len(mem),
            up,
            "" if up else "; a warm worker had stopped already (a short idle timeout)",
        )
        self.results.note("B4", f"memory with both warm workers up: {scale.memory_note(mem)}")

    def _warm_tree_figure(self, title: str, rss: float, pss: float, procs: int, up: bool, note: str) -> None:
        """The operator tree's idle memory while warm workers are up, against B4's 150 MiB."""
        self.results.figures.append(
            Figure(
                "B4",
                title,
                rss / MiB,
                "MiB",
                "MiB, whole operator tree",
                "≤ 150 MiB",
                meets(rss / MiB, 150, False) if up else None,
                f"PSS {fmt_bytes(pss)} (shared pages counted once) in {procs} process(es){note}",
            )
        )

    def _rounds(self, op: opproc.OperatorProcess, w: CrWatcher, ns: str) -> None:
        """Memory over repeated rounds: each round creates, reconciles and deletes a batch of CRs
        next to the idle ones; the operator's memory is read after each."""
        rounds, k = self.sizes.rounds, self.sizes.round_crs
        tree: list[int] = []
        main: list[int] = []
        for r in range(1, rounds + 1):
            names = [f"round{r}-{i}" for i in range(k)]
            self.cluster.create_many([cr("Backlog", name, ns) for name in names])
            self.wait_many(w, op, names, timeout=k * 10 + 120, what=f"B4 round {r}/{rounds}")
            self.cluster.delete_many("Backlog", ns, names)
            w.wait_gone(timeout=120, names=names)
            time.sleep(2)  # the deletes' own events and job directory removals
            total, procs = proc.tree_rss(op.pid)
            tree.append(total)
            main.append(proc.rss_bytes(op.pid))
            say(
                f"B4 round {r}/{rounds}: operator tree {fmt_bytes(total)} in {procs} processes, "
                f"operator process {fmt_bytes(main[-1])}"
            )
        # The first round also starts what stays (warm workers, connection pools, caches): the
        # rounds after it must not grow.
        growth = main[-1] / main[0] if len(main) > 1 else math.nan
        self.results.figures.append(
            Figure(
                "B4",
                f"operator memory over {rounds} rounds of {k} CRs created, reconciled, deleted",
                growth,
                "x",
                "operator RSS after the last round / after the first",
                "≤ 1.05 (flat)",
                meets(growth, 1.05, False) if len(main) > 1 else None,
                f"operator process {' → '.join(fmt_bytes(b) for b in main)}",
            )
        )
        self.results.note(
            "B4",
            f"rounds: the whole tree (warm workers included) after each round: "
            f"{' → '.join(fmt_bytes(b) for b in tree)}",
        )

    def _steady_idle(self, op: opproc.OperatorProcess, sampler: proc.RssSampler, n: int) -> None:
        """Idle once the fast executor's warm workers have stopped (after their idle timeout)."""
        wait = (self.sizes.warm_idle_timeout or 60.0) + 30
        say(f"B4: waiting (up to {wait:.0f} s) for the warm workers' idle stop, then sampling RSS")
        deadline = time.monotonic() + wait
        while proc.tree_rss(op.pid)[1] > 1 and time.monotonic() < deadline:
            time.sleep(1)
        t0 = time.monotonic()
        time.sleep(self.sizes.idle_seconds)
        idle = [(b, k) for t, b, k in sampler.samples if t >= t0]
        rss = median([b for b, _ in idle]) if idle else math.nan
        procs = max((k for _, k in idle), default=0)
        mem = proc.tree_memory(op.pid)
        self.results.figures.append(
            Figure(
                "B4",
                f"idle RSS with {n + 2} CRs reconciled (one with module tasks), warm workers stopped",
                rss / MiB,
                "MiB",
                "MiB",
                "≤ 80 MiB",
                meets(rss / MiB, 80, False) if procs == 1 else False,
                f"{fmt_bytes(rss)} = {rss / 1e6:.1f} MB in {procs} process(es), "
                f"PSS {fmt_bytes(sum(m.pss for m in mem))}"
                + ("" if procs == 1 else " (the warm workers did not stop)"),
            )
        )
        self.results.note("B4", f"memory in the steady idle state: {scale.memory_note(mem)}")


def max_overlap(spans: Iterable[tuple[float, float]]) -> int:
    """The largest number of (start, end) spans open at one moment."""
    pairs = list(spans)
    edges = sorted([(a, 1) for a, _ in pairs] + [(b, -1) for _, b in pairs], key=lambda e: (e[0], e[1]))
    best = cur = 0
    for _, step in edges:
        cur += step
        best = max(best, cur)
    return best


def _scale_out(bench: Bench) -> None:
    from bench.sharding import scale_out  # imports this module

    scale_out(bench)


def run_all(bench: Bench, only: set[str], on_error: Callable[[str, BaseException], None]) -> None:
    steps: list[tuple[set[str], Callable[[], None]]] = [
        ({"B1", "B2"}, lambda: bench.latency("B1" in only, "B2" in only)),
        ({"B3", "B4"}, lambda: bench.throughput("B4" in only)),
        ({"B4", "B5"}, lambda: bench.backlog("B4" in only, "B5" in only)),
        ({"B7"}, lambda: scale.scale(bench)),
        ({"B6"}, lambda: _scale_out(bench)),
    ]
    for wanted, step in steps:
        if wanted & only:
            try:
                step()
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                on_error("/".join(sorted(wanted & only)), exc)
