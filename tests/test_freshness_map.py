"""The bounded map of recent changes behind the freshness check."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sessionclaims.freshness import FRESH, REVOKED, STALE, Freshness

from .conftest import FakeClock


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
