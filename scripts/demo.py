"""The sample operator, live: a cluster, the CRDs, the operator from this checkout, the sample CRs.

Uses kube-lite (started here, stopped on exit), or the cluster of $KUBECONFIG when it is set.
Prints a summary once every sample CR is Successful=True, then keeps running, logging each
reconcile, until Ctrl-C; then stops everything it started. ``--once`` exits after the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from runner.cluster import devcluster  # noqa: E402

NAMESPACE = "demo"
SAMPLES = [("webapp", "webapp-sample"), ("backup", "backup-sample")]


def kubectl(kubeconfig: str, *args: str, check: bool = True, capture: bool = True) -> str:
    proc = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=capture, text=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"demo: kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout or ""


def conditions(kubeconfig: str, resource: str, name: str) -> dict[str, dict]:
    out = kubectl(kubeconfig, "get", resource, name, "-n", NAMESPACE, "-o", "json", check=False)
    if not out:
        return {}
    return {c["type"]: c for c in (json.loads(out).get("status") or {}).get("conditions") or []}


def wait_successful(kubeconfig: str, operator: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if operator.poll() is not None:
            raise SystemExit(f"demo: the operator exited with code {operator.returncode}; see its log above")
        states = {name: conditions(kubeconfig, res, name) for res, name in SAMPLES}
        failed = {
            n: c["Failure"]["message"]
            for n, c in states.items()
            if c.get("Failure", {}).get("status") == "True"
        }
        if failed:
            print(f"demo: a sample CR failed: {failed}", file=sys.stderr)
        if all(c.get("Successful", {}).get("status") == "True" for c in states.values()):
            return
        time.sleep(0.5)
    raise SystemExit("demo: the sample CRs did not become Successful in time")


def summary(kubeconfig: str) -> str:
    lines = ["", "=== The sample CRs ===", kubectl(kubeconfig, "get", "webapps,backups", "-n", NAMESPACE)]
    for res, name in SAMPLES:
        lines.append(f"--- {res}/{name} conditions")
        for ctype, c in conditions(kubeconfig, res, name).items():
            extra = f" {c['ansibleResult']}" if "ansibleResult" in c else ""
            lines.append(f"  {ctype}={c['status']} ({c.get('reason', '')}: {c.get('message', '')}){extra}")
    lines.append("=== Objects the roles created ===")
    lines.append(kubectl(kubeconfig, "get", "deployments,services,configmaps", "-n", NAMESPACE))
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--once", action="store_true", help="exit after the summary instead of running until Ctrl-C"
    )
    p.add_argument("--timeout", type=float, default=180, help="seconds to wait for the CRs (default 180)")
    args = p.parse_args()

    external = bool(os.environ.get("KUBECONFIG"))
    state = Path(tempfile.mkdtemp(prefix="ansible-operator-demo-"))
    cluster = (
        devcluster.Cluster(os.environ["KUBECONFIG"], "external")
        if external
        else devcluster.start(str(state / "cluster"))
    )
    print(
        f"demo: cluster: {'$KUBECONFIG' if external else 'kube-lite'} ({cluster.kubeconfig})", file=sys.stderr
    )
    operator: subprocess.Popen[bytes] | None = None
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        kc = cluster.kubeconfig
        kubectl(kc, "apply", "-k", str(REPO / "config" / "crd"))
        kubectl(
            kc,
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/webapps.demo.example.com",
            "crd/backups.demo.example.com",
        )
        if kubectl(kc, "get", "namespace", NAMESPACE, check=False) == "":
            kubectl(kc, "create", "namespace", NAMESPACE)
        env = {**os.environ, "KUBECONFIG": kc, "WATCH_NAMESPACE": NAMESPACE}
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runner",
                "run",
                "--watches-file=./watches.yaml",
                "--log-format=text",
                "--health-probe-bind-address=127.0.0.1:0",
                "--metrics-bind-address=127.0.0.1:0",
                f"--runner-dir={state / 'runner'}",
            ],
            cwd=REPO,
            env=env,
        )
        kubectl(kc, "apply", "-n", NAMESPACE, "-k", str(REPO / "config" / "samples"))
        wait_successful(kc, operator, args.timeout)
        print(summary(kc), flush=True)
        print("demo: all sample CRs are Successful=True.", flush=True)
        if not args.once:
            print(
                "demo: the operator keeps running and logs every reconcile; try\n"
                f"  KUBECONFIG={kc} kubectl -n {NAMESPACE} \\\n"
                """      patch webapp webapp-sample --type=merge -p '{"spec":{"replicas":3}}'\n"""
                "demo: press Ctrl-C to stop everything.",
                flush=True,
            )
            operator.wait()
        return 0
    except KeyboardInterrupt:
        print("\ndemo: stopping", file=sys.stderr)
        return 0
    finally:
        if operator is not None and operator.poll() is None:
            operator.send_signal(signal.SIGTERM)
            try:
                operator.wait(timeout=60)
            except subprocess.TimeoutExpired:
                operator.kill()
        if not external:
            devcluster.stop(cluster)
        subprocess.run(["rm", "-rf", str(state)], check=False)


if __name__ == "__main__":
    sys.exit(main())
