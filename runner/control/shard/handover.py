"""What one replica does about one CR, given the CR's labels and who is alive (pure).

The rules that keep two runs of one CR from ever overlapping:

* a replica runs jobs only for CRs whose assignment label names it;
* the label moves away from a live member only by that member's own write, after its last job
  for the CR has ended (``RELEASE``); another member asks for it with the drain label;
* a member that is gone (its Lease expired or released) has no say: the member the ring picks
  takes its CRs directly (``TAKE_OVER``), with a write that fails if the label changed meanwhile;
* an unassigned CR is claimed by the member the ring picks (``CLAIM``), guarded the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Action(Enum):
    SERVE = "serve"  # mine: run jobs as usual
    CLEAR_DRAIN = "clear drain"  # mine, and staying mine: remove a stale drain label, keep serving
    HOLD = "hold"  # mine, but to be handed over: start nothing new, wait for the running job
    RELEASE = "release"  # mine, to be handed over, nothing running: remove the assignment
    CLAIM = "claim"  # unassigned and the ring picks me
    TAKE_OVER = "take over"  # its member is gone and the ring picks me
    ASK_DRAIN = "ask drain"  # a live member has it and the ring picks me: ask it to hand over
    WAIT = "wait"  # not mine, nothing for me to do


@dataclass(frozen=True, slots=True)
class CRView:
    assigned: str | None  # the assignment label's value
    draining: bool  # the drain label is set
    running: bool  # this replica runs a job for the CR now


def decide(cr: CRView, me: str, desired: str | None, owner_alive: bool, leaving: bool = False) -> Action:
    """``desired``: the member the ring picks (from this replica's view); ``owner_alive``: whether
    the member the label names still has a say; ``leaving``: this replica is shutting down."""
    if cr.assigned == me:
        if leaving or (cr.draining and desired != me):
            if leaving:
                return Action.HOLD  # released with the Lease, after the last job ends
            return Action.HOLD if cr.running else Action.RELEASE
        return Action.CLEAR_DRAIN if cr.draining else Action.SERVE
    if leaving or desired != me:
        return Action.WAIT
    if not cr.assigned:
        return Action.CLAIM
    if not owner_alive:
        return Action.TAKE_OVER
    return Action.WAIT if cr.draining else Action.ASK_DRAIN


def may_run(action: Action) -> bool:
    return action in (Action.SERVE, Action.CLEAR_DRAIN)
