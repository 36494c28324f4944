"""The hand-over state machine and the membership view: never two members allowed to run one CR."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from runner.control.shard.handover import Action, CRView, decide, may_run
from runner.control.shard.members import LeaseView, Members
from runner.control.shard.names import check_identity, check_ring, default_identity, is_runner_label

ME, OTHER = "r0", "r1"


def test_mine_and_staying_mine_is_served() -> None:
    assert decide(CRView(ME, False, False), ME, ME, True) is Action.SERVE
    assert decide(CRView(ME, True, False), ME, ME, True) is Action.CLEAR_DRAIN  # a stale drain


def test_asked_to_drain_hands_over_after_the_running_job() -> None:
    assert decide(CRView(ME, True, True), ME, OTHER, True) is Action.HOLD
    assert decide(CRView(ME, True, False), ME, OTHER, True) is Action.RELEASE
    # not asked yet: keep serving until the new member asks
    assert decide(CRView(ME, False, False), ME, OTHER, True) is Action.SERVE


def test_the_member_the_ring_picks_claims_asks_or_takes_over() -> None:
    assert decide(CRView(None, False, False), ME, ME, False) is Action.CLAIM
    assert decide(CRView(OTHER, False, False), ME, ME, True) is Action.ASK_DRAIN
    assert decide(CRView(OTHER, True, False), ME, ME, True) is Action.WAIT  # asked already
    assert decide(CRView(OTHER, False, False), ME, ME, False) is Action.TAKE_OVER
    assert decide(CRView(OTHER, True, False), ME, ME, False) is Action.TAKE_OVER


def test_others_do_nothing() -> None:
    for assigned in (None, OTHER, "r2"):
        assert decide(CRView(assigned, False, False), ME, "r2", False) is Action.WAIT


def test_a_leaving_member_starts_and_claims_nothing() -> None:
    assert decide(CRView(ME, False, False), ME, ME, True, leaving=True) is Action.HOLD
    assert decide(CRView(None, False, False), ME, ME, False, leaving=True) is Action.WAIT


NAMES = ["r0", "r1", "r2"]


def test_only_the_labelled_member_may_run_in_every_state() -> None:
    """Every combination (the state space is small enough to check all of it)."""
    for assigned, draining, running, me, desired, alive, leaving in itertools.product(
        [None, *NAMES], [False, True], [False, True], NAMES, [None, *NAMES], [False, True], [False, True]
    ):
        action = decide(CRView(assigned, draining, running), me, desired, alive, leaving)
        state = (assigned, draining, running, me, desired, alive, leaving, action)
        if may_run(action):
            assert assigned == me and not leaving, state
        if action is Action.RELEASE:
            assert assigned == me and not running, state  # never while its job runs
        if action is Action.TAKE_OVER:
            assert assigned not in (None, me) and not alive, state  # only from a member that is gone
        if action in (Action.CLAIM, Action.TAKE_OVER, Action.ASK_DRAIN):
            assert desired == me and not leaving, state


@given(st.lists(st.tuples(st.sampled_from(NAMES), st.booleans()), min_size=1, max_size=20))
def test_two_members_never_both_may_run_one_cr(views: list[tuple[str, bool]]) -> None:
    """Whatever each member believes about the ring and the others, only the labelled one runs."""
    labelled = views[0][0]
    runners = {
        me
        for me, alive in views
        if may_run(decide(CRView(labelled, False, False), me, labelled if alive else None, alive))
    }
    assert runners <= {labelled}


def lease(name: str, renew: str, holder: str | None = None, age: float | None = 0.0) -> LeaseView:
    return LeaseView(name, name if holder is None else holder, renew, 10.0, age)


def test_a_member_is_gone_after_a_lease_duration_without_renewal() -> None:
    m = Members(ME, 10.0)
    m.observe([lease(ME, "t0"), lease(OTHER, "t0")], now=100.0)
    assert m.ring(100.0) == {ME, OTHER}
    m.observe([lease(ME, "t1"), lease(OTHER, "t1")], now=105.0)
    m.observe([lease(ME, "t2"), lease(OTHER, "t1")], now=114.0)
    assert m.alive(OTHER, 114.0)
    m.observe([lease(ME, "t3"), lease(OTHER, "t1")], now=116.0)
    assert not m.alive(OTHER, 116.0)
    assert m.ring(116.0) == {ME}


def test_a_late_listing_concludes_nothing() -> None:
    """Only what a listing showed counts: a replica whose own listings stall sees no one expire."""
    m = Members(ME, 10.0)
    m.observe([lease(OTHER, "t0")], now=100.0)
    assert m.alive(OTHER, 500.0)


def test_a_released_lease_is_gone_at_once() -> None:
    m = Members(ME, 10.0)
    m.observe([lease(OTHER, "t0")], now=100.0)
    m.observe([lease(OTHER, "t0", holder="")], now=101.0)
    assert not m.alive(OTHER, 101.0)


def test_a_lease_long_expired_when_first_seen_is_gone_at_once() -> None:
    m = Members(ME, 10.0)
    m.observe([lease(OTHER, "t0", age=3600.0)], now=100.0)
    assert not m.alive(OTHER, 100.0)
    m2 = Members(ME, 10.0)
    m2.observe([lease(OTHER, "t0", age=1.0)], now=100.0)
    assert m2.alive(OTHER, 100.0)


def test_a_member_never_listed_is_gone_only_after_a_lease_duration() -> None:
    m = Members(ME, 10.0)
    m.observe([], now=100.0)
    assert m.alive("new", 100.0)  # its Lease may just not be listed yet
    m.observe([], now=111.0)
    assert not m.alive("new", 111.0)
    assert "new" not in m.ring(111.0)


def test_a_leaving_replica_is_out_of_its_own_ring() -> None:
    m = Members(ME, 10.0)
    m.observe([lease(OTHER, "t0")], now=100.0)
    m.leaving = True
    assert m.ring(100.0) == {OTHER}


def test_names_are_checked() -> None:
    assert check_identity("operator-7d9f-abcde") is None
    assert "lower-case" in (check_identity("Bad_Name") or "")
    assert check_ring("memcached-operator") is None
    assert "63" in (check_ring("x" * 64) or "")
    assert check_identity(default_identity({})) is None
    assert default_identity({"POD_NAME": "op-1"}) == "op-1"
    assert is_runner_label("shard.sharding.ansible-operator-runner.io/ring")
    assert not is_runner_label("app.kubernetes.io/name")


def test_leases_of_members_gone_long_ago_are_deleted_and_stay_gone() -> None:
    m = Members(ME, 10.0)
    old = lease(OTHER, "t0", holder="", age=7200.0)
    fresh = lease("r2", "t0", age=1.0)
    m.observe([old, fresh], now=100.0)
    assert m.stale([old, fresh], 100.0, keep=3600.0) == [old]
    m.observe([fresh], now=101.0)  # deleted
    assert not m.alive(OTHER, 101.0)
