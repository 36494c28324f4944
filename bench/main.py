"""``python -m bench.main``: run the benchmarks against a fresh kube-lite (see bench/README.md)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bench import report
from bench.cluster import BENCH_DIR, Cluster, bench_kinds
from bench.opproc import OperatorOptions
from bench.scenarios import Bench, Sizes, run_all, say
from bench.stats import scaled
from runner.cluster import devcluster

ALL = ("B1", "B2", "B3", "B4", "B5", "B6", "B7")
QUICK = Sizes(
    b1_crs=3,
    b2_crs=1,
    b2_20_crs=0,  # the 20-task role runs the same code as the 5-task one, 20 s more: not in the smoke run
    warmup=0,
    b2_warmup=0,
    b3_crs=20,
    b5_crs=30,
    baseline_runs=3,
    idle_seconds=2.0,
    rounds=2,
    round_crs=5,
    warm_idle_timeout=2.0,
    b7_crs=40,
    b7_steady=2.0,
    b6_crs=24,
)


def parse_only(text: str) -> list[str]:
    chosen = [p.strip().upper() for p in text.split(",") if p.strip()]
    bad = [c for c in chosen if c not in ALL]
    if bad or not chosen:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {','.join(ALL)}, got {text!r}")
    return [b for b in ALL if b in chosen]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench/run.sh", description="Benchmarks of the runner against bare ansible-runner."
    )
    p.add_argument("--quick", action="store_true", help="small sizes for a CI smoke run (about 90 s)")
    p.add_argument(
        "--only",
        type=parse_only,
        default=None,
        help="comma-separated subset, e.g. B1,B3 (default: all; with --quick all but B6)",
    )
    p.add_argument("--crs-b6", type=int, default=None, help="B6 CRs (default 300)")
    p.add_argument("--b6-wait", type=int, default=None, help="B6: seconds the role waits on I/O (default 1)")
    p.add_argument("--b6-concurrency", type=int, default=None, help="B6: jobs per replica, fixed (default 4)")
    p.add_argument(
        "--executor",
        choices=("plain", "fast"),
        default="fast",
        help="the operator's --executor (default fast, as the runner's own default)",
    )
    p.add_argument("--scale", type=float, default=1.0, help="multiply every default size (e.g. 0.1)")
    p.add_argument("--crs-b1", type=int, default=None, help="B1 CRs (default 20)")
    p.add_argument("--crs-b2", type=int, default=None, help="B2 CRs (default 20)")
    p.add_argument(
        "--crs-b2-20", type=int, default=None, help="B2 CRs of the 20-task role (default 10; 0: skip it)"
    )
    p.add_argument("--crs-b3", type=int, default=None, help="B3 CRs created at once (default 200)")
    p.add_argument(
        "--crs-b5", type=int, default=None, help="B5 existing CRs, also B4's idle set (default 1000)"
    )
    p.add_argument("--crs-b7", type=int, default=None, help="B7 existing CRs (default 10000)")
    p.add_argument("--idle-seconds", type=float, default=None, help="B4 idle sampling time (default 10)")
    p.add_argument("--rounds", type=int, default=None, help="B4 memory rounds (default 5)")
    p.add_argument("--crs-round", type=int, default=None, help="B4 CRs per memory round (default 100)")
    p.add_argument(
        "--operator-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra flag for the operator, repeatable (e.g. --operator-arg=--max-concurrent-reconciles=4)",
    )
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="results file (default bench/RESULTS.md; bench/RESULTS.quick.md with --quick)",
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory (operator logs, job dirs)")
    return p


def sizes_from(args: argparse.Namespace) -> Sizes:
    base = QUICK if args.quick else Sizes()
    s = Sizes(
        b1_crs=scaled(base.b1_crs, args.scale, 3),
        b2_crs=scaled(base.b2_crs, args.scale, 2),
        b2_20_crs=scaled(base.b2_20_crs, args.scale, 1) if base.b2_20_crs else 0,
        warmup=base.warmup,
        b2_warmup=base.b2_warmup,
        b3_crs=scaled(base.b3_crs, args.scale, 5),
        b5_crs=scaled(base.b5_crs, args.scale, 5),
        baseline_runs=scaled(base.baseline_runs, args.scale, 3),
        idle_seconds=base.idle_seconds,
        late_after=base.late_after,
        rounds=base.rounds,
        round_crs=scaled(base.round_crs, args.scale, 5),
        warm_idle_timeout=base.warm_idle_timeout,
        b7_crs=scaled(base.b7_crs, args.scale, 5),
        b7_steady=base.b7_steady,
        b6_crs=scaled(base.b6_crs, args.scale, 6),
    )
    s.b6_crs = args.crs_b6 or s.b6_crs
    s.b6_wait = args.b6_wait or s.b6_wait
    s.b6_concurrency = args.b6_concurrency or s.b6_concurrency
    s.b1_crs = args.crs_b1 or s.b1_crs
    s.b2_crs = args.crs_b2 or s.b2_crs
    if args.crs_b2_20 is not None:
        s.b2_20_crs = args.crs_b2_20
    s.b3_crs = args.crs_b3 or s.b3_crs
    s.b5_crs = args.crs_b5 or s.b5_crs
    s.b7_crs = args.crs_b7 or s.b7_crs
    if args.idle_seconds is not None:
        s.idle_seconds = args.idle_seconds
    s.rounds = args.rounds or s.rounds
    s.round_crs = args.crs_round or s.round_crs
    return s


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.only is None:  # B6 starts six operator processes: not part of the CI smoke run
        args.only = [b for b in ALL if b != "B6"] if args.quick else list(ALL)
    sizes = sizes_from(args)
    output = args.output or BENCH_DIR / ("RESULTS.quick.md" if args.quick else "RESULTS.md")
    signal.signal(signal.SIGTERM, _terminate)
    # Also when started with SIGINT ignored (a background job of a script): Ctrl-C must clean up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    info = report.machine()
    settings = {
        "benchmarks": ",".join(args.only),
        "mode": "quick" if args.quick else (f"scale {args.scale}" if args.scale != 1 else "full"),
        "executor": args.executor,
        "sizes": f"B1 {sizes.b1_crs} CRs, B2 {sizes.b2_crs} CRs (+{sizes.b2_20_crs} of 20 tasks), "
        f"B3 {sizes.b3_crs} CRs, "
        f"B5/B4 {sizes.b5_crs} CRs, B7 {sizes.b7_crs} CRs, idle {sizes.idle_seconds:.0f} s, "
        f"B4 {sizes.rounds} rounds of {sizes.round_crs} CRs, B6 {sizes.b6_crs} CRs"
        f" (waiting {sizes.b6_wait:g} s, {sizes.b6_concurrency} jobs per replica)"
        + (
            f", backlog operator --warm-worker-idle-timeout={sizes.warm_idle_timeout:g}s"
            if sizes.warm_idle_timeout is not None
            else ""
        ),
        "operator flags": " ".join(args.operator_arg) or "(defaults)",
    }
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    say(f"work directory {work}")
    errors: list[str] = []
    cluster: Cluster | None = None
    bench: Bench | None = None
    t0 = time.monotonic()
    interrupted = False
    try:
        say("starting the cluster")
        cluster = Cluster(work / "cluster")  # kube-lite keeps its state in work/cluster
        cluster.install_crds(bench_kinds())
        bench = Bench(cluster, work, OperatorOptions(args.executor, tuple(args.operator_arg)), sizes)

        def on_error(what: str, exc: BaseException) -> None:
            say(f"{what} FAILED: {exc}")
            traceback.print_exception(exc, file=sys.stderr)
            errors.append(f"{what}: {type(exc).__name__}: {exc}")

        run_all(bench, set(args.only), on_error)
    except KeyboardInterrupt:
        interrupted = True
        errors.append("interrupted")
        say("interrupted: stopping everything")
    except Exception as exc:
        traceback.print_exc()
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if bench is not None:
                for op in list(bench.running):
                    op.stop()
            if cluster is not None and cluster.kind == "external" and bench is not None:
                say(f"deleting the namespaces {', '.join(bench.namespaces)}")
                for ns in bench.namespaces:
                    cluster.delete_namespace(ns)
            if cluster is not None:
                say("stopping the cluster")
                cluster.stop()
            elif (work / "cluster").exists():  # interrupted while it was starting
                devcluster.stop(str(work / "cluster"), remove=False)
        finally:
            if args.keep or errors:
                say(f"work directory kept: {work} (operator logs: {work}/operator-*.log)")
            else:
                shutil.rmtree(work, ignore_errors=True)
            signal.signal(signal.SIGINT, signal.default_int_handler)
    if bench is None:
        return 1
    load = os.getloadavg()
    settings["load average at end"] = f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    settings["total time"] = f"{time.monotonic() - t0:.0f} s"
    results = bench.results
    print()
    print(report.text_table(results.figures))
    for e in errors:
        print(f"ERROR {e}")
    print()
    output.write_text(report.markdown(results, info, settings=settings, only=args.only, errors=errors))
    say(f"wrote {output}")
    if interrupted:
        return 130
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
