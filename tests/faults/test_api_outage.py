"""API server outages: no status write is lost, no CR is left ``Running=True`` (issue 12, item 1).

The API server (a kube-lite of this module's own) is stopped while jobs run and started again on
the same data; the jobs of the Nap kind touch no API, so they succeed during the outage and only
their status writes meet it.
"""

from __future__ import annotations

from typing import Any

from tests.e2e.kube import condition, is_true, wait_for
from tests.faults.conftest import FAULTS_OPERATOR, Fault, Outage, fault_cr, fault_crds


def in_progress(obj: dict[str, Any] | None) -> bool | None:
    """Whether the CR says a job of it is running (``Running=True`` reason ``Running``); the Go
    operator's ``Running=True`` reason ``Successful`` after a success means "awaiting the next"."""
    running = condition(obj, "Running")
    if running is None:
        return None
    return running["status"] == "True" and running["reason"] == "Running"


def _converged(obj: dict[str, Any] | None, generation: int) -> bool:
    if not obj:
        return False
    done = condition(obj, "Successful")
    return (
        in_progress(obj) is False
        and is_true(obj, "Successful")
        and done is not None
        and done.get("observedGeneration") == generation
        and (obj.get("status") or {}).get("observedGeneration") == generation
    )


def test_status_writes_that_meet_an_outage_land_when_the_api_returns(outage: Outage, fault: Fault) -> None:
    k, ns = outage.kubectl, outage.namespace
    op = outage.operators.start(
        ns, "--max-concurrent-reconciles=3", watches=FAULTS_OPERATOR / "watches.yaml", cwd=FAULTS_OPERATOR
    )
    names = [f"nap-{i}" for i in range(3)]
    k.apply(*(fault_cr("Nap", n, ns, {"label": "first"}) for n in names))
    for n in names:
        wait_for(lambda n=n: _converged(k.get("nap", n, ns), 1), f"{n} Successful for generation 1")

    for n in names:  # a spec change whose jobs are running when the API server goes away
        k.patch("nap", n, ns, {"spec": {"label": "second", "seconds": 8}})
    for n in names:
        wait_for(
            lambda n=n: (
                (o := k.get("nap", n, ns))
                and is_true(o, "Running")
                and (condition(o, "Running") or {}).get("observedGeneration") == 2
            ),
            f"{n} Running for generation 2",
        )
    outage.cluster.stop_api()
    fault.tried("stopped the API server while 3 CRs ran the jobs of a spec change")
    try:
        for n in names:  # each job ended during the outage and its status write failed
            wait_for(
                lambda n=n: any(
                    "could not write status" in line and f"/{n}]" in line for line in op.logs().splitlines()
                ),
                f"{n}'s status write to fail",
                timeout=60,
            )
    finally:
        outage.cluster.start_api()
    fault.tried("started the API server again on the same data after the jobs had ended")

    last: dict[str, Any] = {}

    def converged(n: str) -> dict[str, Any] | None:
        last[n] = o = k.get("nap", n, ns)
        return o if _converged(o, 2) else None

    for n in names:
        try:
            obj = wait_for(
                lambda n=n: converged(n), f"{n} Successful for generation 2 after the outage", timeout=180
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the CR as last seen: {last.get(n)}") from None
        assert not is_true(obj, "Failure")
    fault.checked(
        "every CR: Running=False, Successful=True, observedGeneration 2 (the change made before the outage)"
    )
    assert op.proc.poll() is None, "the operator died during the outage"
    fault.checked("the operator kept running through the outage")


def test_a_kind_that_stops_being_served_is_watched_again(outage: Outage, fault: Fault) -> None:
    """A watched kind answers 404 for a while (its CRD deleted and created again; an API server that
    has just started and not yet installed its CRDs' handlers): the operator says so in one line,
    keeps serving the other kinds, and serves the kind again once it is back."""
    k, ns = outage.kubectl, outage.namespace
    op = outage.operators.start(ns, watches=FAULTS_OPERATOR / "watches.yaml", cwd=FAULTS_OPERATOR)
    k.apply(fault_cr("Nap", "before", ns))
    wait_for(lambda: _converged(k.get("nap", "before", ns), 1), "before Successful")

    (maker_crd,) = [c for c in fault_crds() if c["spec"]["names"]["kind"] == "NapMaker"]
    crd_name = maker_crd["metadata"]["name"]
    k.run("delete", "crd", crd_name, "--wait=true", "--timeout=60s")
    fault.tried("deleted the CRD of a watched kind (NapMaker) while the operator watched its namespace")
    wait_for(
        lambda: f"watching NapMaker in namespace {ns} failed" in op.logs(),
        "the operator to log the failed watch of NapMaker",
    )
    assert op.proc.poll() is None, "the operator died when a watched kind stopped being served"
    assert "Traceback" not in op.logs()
    fault.checked("one log line names the kind, the namespace and what to check; no traceback")

    k.apply(fault_cr("Nap", "during", ns))
    wait_for(lambda: _converged(k.get("nap", "during", ns), 1), "a Nap created meanwhile Successful")
    fault.checked("a CR of another kind created meanwhile is Successful")

    k.apply(maker_crd)
    k.run("wait", "--for=condition=Established", "--timeout=60s", "crd", crd_name)
    k.apply(fault_cr("NapMaker", "after", ns))
    wait_for(
        lambda: _converged(k.get("napmaker", "after", ns), 1),
        "a NapMaker created after its CRD came back Successful",
        timeout=120,
    )
    assert k.get("configmap", "after-made", ns) is not None
    assert op.proc.poll() is None
    fault.checked("the CRD created again: its new CR is Successful and made its ConfigMap")
