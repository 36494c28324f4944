"""The hash ring: the same answer on every replica, about 1/N of the keys move when a member joins,
only the leaving member's keys move when one leaves, and an even spread."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from runner.control.shard.ring import owner, shard_key

members_st = st.sets(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), min_size=1, max_size=8)
KEYS = [shard_key(f"ns-{i % 17}", f"cr-{i}") for i in range(1500)]


@given(members_st, st.text(max_size=40))
def test_same_answer_whatever_the_order(members: set[str], key: str) -> None:
    forward = owner(key, sorted(members))
    assert forward in members
    assert owner(key, sorted(members, reverse=True)) == forward
    assert owner(key, list(members)) == forward


@settings(max_examples=12, deadline=None)
@given(members_st, st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True))
def test_a_new_member_takes_about_one_in_n_keys_and_only_for_itself(members: set[str], new: str) -> None:
    if new in members:
        return
    before = {k: owner(k, members) for k in KEYS}
    after = {k: owner(k, members | {new}) for k in KEYS}
    moved = [k for k in KEYS if before[k] != after[k]]
    assert all(after[k] == new for k in moved)  # nothing moves between the old members
    share = len(moved) / len(KEYS)
    expected = 1 / (len(members) + 1)
    assert abs(share - expected) < 0.05 + expected * 0.25, (share, expected)


@settings(max_examples=12, deadline=None)
@given(members_st.filter(lambda m: len(m) >= 2))
def test_a_leaving_member_hands_over_only_its_own_keys(members: set[str]) -> None:
    gone = sorted(members)[0]
    before = {k: owner(k, members) for k in KEYS}
    after = {k: owner(k, members - {gone}) for k in KEYS}
    assert all(before[k] == after[k] for k in KEYS if before[k] != gone)
    assert all(after[k] != gone for k in KEYS)


def test_spread_is_even() -> None:
    counts = Counter(owner(k, ["r0", "r1", "r2"]) for k in KEYS)
    assert all(abs(n - 500) < 60 for n in counts.values()), counts


def test_no_members_no_owner() -> None:
    assert owner("ns/a", []) is None


def test_shard_by_namespace_keeps_a_namespace_together() -> None:
    assert shard_key("team-a", "x", "namespace") == shard_key("team-a", "y", "namespace")
    assert shard_key("team-a", "x") != shard_key("team-a", "y")
    assert shard_key(None, "cluster-wide", "namespace") == "/cluster-wide"
