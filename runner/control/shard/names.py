"""Label keys and names of a ring, and the checks of what the user gave (pure).

The layout follows the published controller-sharding design (timebertt/kubernetes-controller-sharding):
each member's Lease carries the ring label; each CR carries an assignment label naming its member,
and a drain label while another member asks for it.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass

DOMAIN = "sharding.ansible-operator-runner.io"
RING_LABEL = f"{DOMAIN}/ring"  # on each member's Lease: the ring's name
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@dataclass(frozen=True, slots=True)
class RingNames:
    ring: str

    @property
    def assignment(self) -> str:
        """On a CR: the member that serves it."""
        return f"shard.{DOMAIN}/{self.ring}"

    @property
    def drain(self) -> str:
        """On a CR: another member asks its current member to hand it over."""
        return f"drain.{DOMAIN}/{self.ring}"


def is_runner_label(key: str) -> bool:
    """A label the runner writes itself (assignment, drain): never a reason to reconcile."""
    prefix, _, _ = key.partition("/")
    return prefix in (f"shard.{DOMAIN}", f"drain.{DOMAIN}")


def check_ring(ring: str) -> str | None:
    """What is wrong with a ring name (it becomes a label key's name part and a label value)."""
    if len(ring) > 63 or not _LABEL_NAME.match(ring):
        return (
            f"--shard-ring {ring!r}: a ring name must be 1 to 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def check_identity(identity: str) -> str | None:
    """What is wrong with a member's name (it becomes its Lease's name and a label value)."""
    if len(identity) > 63 or not _DNS_LABEL.match(identity):
        return (
            f"--shard-identity {identity!r}: a replica's name must be 1 to 63 lower-case letters, digits "
            "or '-', starting and ending with a letter or digit (it names the replica's Lease)"
        )
    return None


def default_identity(environ: dict[str, str] | None = None) -> str:
    """$POD_NAME, else ``<host name>-<pid>`` made fit for a Lease name."""
    env = environ if environ is not None else dict(os.environ)
    pod = env.get("POD_NAME", "").strip()
    if pod:
        return pod
    host = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().lower()).strip("-") or "replica"
    suffix = f"-{os.getpid()}"
    return host[: 63 - len(suffix)].rstrip("-") + suffix
