"""The bounded map of recent changes behind the freshness check."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sessionclaims.freshness import FRESH, REVOKED, STALE, Freshness

from .helpers import FakeClock


def test_versions_and_revocation() -> None:
    clock = FakeClock(1000.0)
    fresh = Freshness(horizon=65, clock=clock)
    assert fresh.check("u1", "s1", 1, 1000) == FRESH
    fresh.user_changed("u1", 2, 1000.5)
    assert fresh.check("u1", "s1", 1, 1000) == STALE
    assert fresh.check("u1", "s1", 2, 1001) == FRESH
    fresh.user_changed("u1", 1, 1000.6)  # an older version never lowers the bar
    assert fresh.known_version("u1") == 2
    fresh.session_ended("s1", 1000.7)
    assert fresh.check("u1", "s1", 2, 1001) == REVOKED
    fresh.user_deleted("u2", 1000.8)
    assert fresh.check("u2", "s9", 99, 1001) == REVOKED


def test_entries_expire_after_the_horizon() -> None:
    clock = FakeClock(1000.0)
    fresh = Freshness(horizon=65, clock=clock)
    fresh.user_changed("u1", 2, 1000.0)
    fresh.session_ended("s1", 1000.0)
    clock.advance(64)
    assert fresh.tracked == 2
    clock.advance(1)
    fresh.expire()
    assert fresh.tracked == 0
    assert fresh.check("u1", "s1", 1, 900) == FRESH  # any such token expired long ago
    fresh.user_changed("u3", 5, clock() - 70)  # arrives already past the horizon: ignored
    assert fresh.known_version("u3") is None


def test_overflow_falls_back_to_stale_never_fresh() -> None:
    clock = FakeClock(1000.0)
    fresh = Freshness(horizon=65, maxsize=2, clock=clock)
    for i, user in enumerate(["a", "b", "c"]):
        fresh.user_changed(user, 2, 1000.0 + i)
    assert fresh.tracked == 2
    assert fresh.known_version("a") is None  # dropped early
    assert fresh.check("a", "s", 1, 1000) == STALE  # issued before the dropped change
    assert fresh.check("z", "s", 1, 1000) == STALE  # cannot tell: stale, not fresh
    assert fresh.check("z", "s", 1, 1001) == FRESH  # issued after it: judged normally
    assert fresh.check("c", "s", 1, 1003) == STALE  # still tracked exactly


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 30), st.integers(1, 5), st.integers(0, 60)), max_size=80),
    st.integers(1, 8),
)
def test_never_fresh_when_a_newer_version_was_written(
    writes: list[tuple[int, int, int]], maxsize: int
) -> None:
    clock = FakeClock(1000.0)
    fresh = Freshness(horizon=65, maxsize=maxsize, clock=clock)
    newest: dict[str, tuple[int, float]] = {}
    for user, version, offset in sorted(writes, key=lambda w: w[2]):
        at = 1000.0 + offset / 10
        fresh.user_changed(f"u{user}", version, at)
        key = f"u{user}"
        if version > newest.get(key, (0, 0.0))[0]:
            newest[key] = (version, at)
    clock.advance(7)
    for key, (version, at) in newest.items():
        token_iat = int(at) - 1  # issued before the write, with an older version
        assert fresh.check(key, None, version - 1, token_iat) != FRESH


def test_an_organization_change_makes_every_token_of_it_stale() -> None:
    clock = FakeClock(1000.0)
    fresh = Freshness(horizon=65, clock=clock)
    assert fresh.check("u1", "s1", 1, 1000, "org_a", 1, 1) == FRESH
    fresh.organization_changed("org_a", 2, 1000.5)
    assert fresh.tracked == 1  # one entry, whatever the member count
    for user in ("u1", "u2", "u3"):
        assert fresh.check(user, "s", 1, 1000, "org_a", 1, 1) == STALE
    assert fresh.check("u1", "s1", 1, 1001, "org_a", 2, 1) == FRESH  # reissued
    assert fresh.check("u1", "s1", 1, 1000, "org_b", 1, 1) == FRESH  # another organization
    assert fresh.check("u1", "s1", 1, 1000) == FRESH  # no active organization
    fresh.organization_changed("org_a", 1, 1000.6)  # an older version never lowers the bar
    assert fresh.check("u1", "s1", 1, 1001, "org_a", 1, 1) == STALE


def test_a_membership_change_concerns_that_person_only() -> None:
    clock = FakeClock(1000.0)
    fresh = Freshness(horizon=65, clock=clock)
    fresh.membership_changed("org_a", "u1", 4, 1000.5)
    assert fresh.check("u1", "s1", 1, 1000, "org_a", 1, 3) == STALE
    assert fresh.check("u2", "s2", 1, 1000, "org_a", 1, 3) == FRESH
    assert fresh.check("u1", "s1", 1, 1000, "org_b", 1, 3) == FRESH
    assert fresh.check("u1", "s1", 1, 1001, "org_a", 1, 4) == FRESH


def test_deletions_are_stale_never_fresh_nor_revoked() -> None:
    clock = FakeClock(1000.0)
    fresh = Freshness(horizon=65, clock=clock)
    fresh.organization_deleted("org_a", 1000.5)
    fresh.membership_deleted("org_b", "u1", 1000.5)
    huge = 2**62
    assert fresh.check("u1", "s1", 1, 1000, "org_a", huge, huge) == STALE
    assert fresh.check("u1", "s1", 1, 1000, "org_b", huge, huge) == STALE
    assert fresh.check("u2", "s2", 1, 1000, "org_b", 1, 1) == FRESH
    # a later version of a deleted organization does not bring it back
    fresh.organization_changed("org_a", 9, 1000.4)
    assert fresh.check("u1", "s1", 1, 1001, "org_a", 9, 1) == STALE
    # a membership created again after its deletion is judged by its new version
    fresh.membership_changed("org_b", "u1", 7, 1000.4)  # older than the deletion: ignored
    assert fresh.check("u1", "s1", 1, 1001, "org_b", 1, 7) == STALE
    fresh.membership_changed("org_b", "u1", 7, 1001.0)
    assert fresh.check("u1", "s1", 1, 1001, "org_b", 1, 6) == STALE
    assert fresh.check("u1", "s1", 1, 1002, "org_b", 1, 7) == FRESH
    # created again with versions from 1: the old membership's tokens stay stale
    fresh.membership_deleted("org_c", "u1", 1001.0)
    fresh.membership_changed("org_c", "u1", 1, 1002.5)
    assert fresh.check("u1", "s1", 1, 1000, "org_c", 1, 5) == STALE  # old token, old role
    assert fresh.check("u1", "s1", 1, 1002, "org_c", 1, 1) == STALE  # same second: unsure
    assert fresh.check("u1", "s1", 1, 1003, "org_c", 1, 1) == FRESH  # the new membership
    fresh.membership_changed("org_c", "u1", 2, 1004.0)  # an ordinary change afterwards
    assert fresh.check("u1", "s1", 1, 1003, "org_c", 1, 1) == STALE
    assert fresh.check("u1", "s1", 1, 1005, "org_c", 1, 2) == FRESH
    # the user's own revocation still wins
    fresh.session_ended("s1", 1001.0)
    assert fresh.check("u1", "s1", 1, 1002, "org_b", 1, 7) == REVOKED


def test_organization_entries_expire_and_overflow_to_stale() -> None:
    clock = FakeClock(1000.0)
    fresh = Freshness(horizon=65, maxsize=2, clock=clock)
    for i, org in enumerate(["org_a", "org_b", "org_c"]):
        fresh.organization_changed(org, 2, 1000.0 + i)
    assert fresh.tracked == 2
    assert fresh.check("u", "s", 1, 1000, "org_z", 1, 1) == STALE  # dropped early: stale
    assert fresh.check("u", "s", 1, 1000) == FRESH  # a token without an organization
    assert fresh.check("u", "s", 1, 1001, "org_z", 1, 1) == FRESH
    fresh.membership_changed("org_a", "u", 2, 1002.0)
    fresh.membership_changed("org_a", "v", 2, 1003.0)
    fresh.membership_changed("org_a", "w", 2, 1004.0)
    assert fresh.check("u", "s", 1, 1002, "org_q", 1, 1) == STALE
    clock.advance(70)
    fresh.expire()
    assert fresh.tracked == 0
    fresh.organization_changed("org_y", 5, clock() - 70)  # already past the horizon
    fresh.membership_changed("org_y", "u", 5, clock() - 70)
    assert fresh.tracked == 0
