"""A CR whose spec is refused cannot run its finalizer: deleting it says so, and how to get out
(issue 12, item 7)."""

from __future__ import annotations

import json
import re
import shlex

from tests.e2e.conftest import OperatorFactory, cr
from tests.e2e.kube import Kubectl, condition, is_true, wait_for
from tests.faults.conftest import Fault


def test_a_refused_cr_that_is_deleted_says_why_it_stays_terminating(
    kubectl: Kubectl, namespace: str, operators: OperatorFactory, fault: Fault
) -> None:
    operators.start(namespace)
    kubectl.apply(cr("FinalEcho", "stuck", namespace, {"ansibleShellExecutable": "/tmp/x.sh"}))
    obj = wait_for(
        lambda: (o := kubectl.get("finalecho", "stuck", namespace)) and is_true(o, "Failure") and o,
        "the spec to be refused",
    )
    assert condition(obj, "Failure")["reason"] == "InvalidSpec"
    assert "e2e.runner.example.com/cleanup" in obj["metadata"]["finalizers"]

    kubectl.delete("finalecho", "stuck", namespace)
    fault.tried("deleted a CR whose spec is refused, so its finalizer cannot run")
    obj = wait_for(
        lambda: (
            (o := kubectl.get("finalecho", "stuck", namespace))
            and "cannot run with this spec" in (condition(o, "Failure") or {}).get("message", "")
            and o
        ),
        "the Failure condition to say why the CR stays Terminating",
    )
    message = condition(obj, "Failure")["message"]
    assert "'ansibleShellExecutable'" in message  # still says what is wrong with the spec
    assert "fix the spec" in message and "removing the finalizer by hand" in message
    assert obj["metadata"].get("deletionTimestamp")
    fault.checked("the Failure condition says the finalizer cannot run, why, and the two ways out")

    def blocked_event() -> dict[str, object] | None:
        events = json.loads(
            kubectl.run(
                "get",
                "events",
                "-n",
                namespace,
                "-o",
                "json",
                "--field-selector",
                "involvedObject.name=stuck,reason=FinalizerBlocked",
            ).stdout
        )["items"]
        return events[0] if events else None

    event = wait_for(blocked_event, "a FinalizerBlocked Event")
    assert event["type"] == "Warning" and "kubectl patch" in str(event["message"])
    fault.checked("a Warning Event FinalizerBlocked carries the same advice")

    command = re.search(r"\(kubectl (patch .*?')\)", message)
    assert command, message
    kubectl.run(*shlex.split(command.group(1)))
    wait_for(lambda: kubectl.get("finalecho", "stuck", namespace) is None, "the CR to be gone")
    fault.checked("the kubectl patch command from the message removes the finalizer and the CR goes")
