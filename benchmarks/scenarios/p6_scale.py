"""P6 scale: 100,000 users changed at once; memory of the freshness state; bounded mode.

The ``Freshness`` map of a backend is fed **directly** with 100,000 ``user_changed`` calls,
exactly as the change feed would after a role change for 100,000 users (no SQLite rows:
creating and updating 100,000 users through the store would take minutes, and the store
is not what is measured here). A clock is injected, so nothing depends on the machine's
speed.

1. **Default size** (``freshness_size`` = 100,000): memory retained by the map, measured
   with ``tracemalloc`` (user ids are created inside the traced region, as the feed
   creates them from rows, so their strings count), divided by the changes tracked →
   bytes per tracked change. Then 100,000 tokens, one per user, issued *before* the change
   (older ``ver``) are checked: every one must be STALE (the next request reissues it with
   the new role). The check time per token is reported too.
2. **Bounded** (``freshness_size`` = 10,000, a tenth of the changes): the map keeps at most
   10,000 entries, so its memory stays ~10,000 x (bytes per change); the 90,000 dropped
   changes fall back to "older tokens are stale" (``dropped_until``). All 100,000 tokens
   issued before the changes must still be STALE, and tokens of untouched users issued
   after the last dropped change must be FRESH.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any

from sessionclaims.freshness import FRESH, STALE, Freshness

from ..harness import Config
from ..report import Row
from ._base import Scenario

__all__ = ["SCENARIO", "run"]

FULL_USERS = 100_000
HORIZON = 65.0  # default token_lifetime (60 s) + clock_skew (5 s), as a Backend computes it
START = 1_800_000_000.0


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _user_id(i: int) -> str:
    return f"user_{i:026d}"  # the length of real ids: "user_" + 26 characters


@dataclass
class _Found:
    users: int
    maxsize: int
    tracked: int
    retained_bytes: int
    stale: int
    checked: int
    check_us: float
    fresh_after: int = 0
    fresh_after_checked: int = 0

    @property
    def per_change(self) -> float:
        return self.retained_bytes / max(self.tracked, 1)


def _measure(users: int, maxsize: int) -> _Found:
    clock = _Clock(START)
    freshness = Freshness(horizon=HORIZON, maxsize=maxsize, clock=clock)
    issued_at = int(START) - 10  # every token below was issued 10 s before the change
    clock.now = START + 1.0
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(users):
            # version 2 replaces version 1 (the role change); the changes span one second
            freshness.user_changed(_user_id(i), 2, START + i / users)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    ids = [_user_id(i) for i in range(users)]
    sid = "sess_" + "0" * 26
    check = freshness.check
    start = time.perf_counter_ns()
    stale = sum(check(uid, sid, 1, issued_at) == STALE for uid in ids)
    elapsed = time.perf_counter_ns() - start
    found = _Found(
        users=users,
        maxsize=maxsize,
        tracked=freshness.tracked,
        retained_bytes=retained,
        stale=stale,
        checked=users,
        check_us=elapsed / users / 1000.0,
    )
    # Untouched users' tokens issued after the changes: fresh (the fallback is bounded).
    later = int(clock.now) + 2
    clock.now = later + 1
    others = [_user_id(users + i) for i in range(min(users, 1000))]
    found.fresh_after = sum(check(uid, sid, 1, later) == FRESH for uid in others)
    found.fresh_after_checked = len(others)
    return found


def run(config: Config) -> list[Row]:
    users = config.scaled(FULL_USERS, minimum=100)
    bounded_size = max(10, users // 10)
    full = _measure(users, maxsize=max(users, 100_000))
    bounded = _measure(users, maxsize=bounded_size)
    title = f"scale: {users:,} users changed (Freshness fed directly, as the change feed would)"
    rows = [
        _row(
            title,
            full,
            peer=f"sessionclaims Freshness, freshness_size {full.maxsize:,}",
            ok=full.stale == users and full.tracked == users,
            target="every older token STALE; report bytes per tracked change",
        ),
        _row(
            title,
            bounded,
            peer=f"sessionclaims Freshness, bounded: freshness_size {bounded.maxsize:,}",
            ok=(
                bounded.stale == users
                and bounded.tracked <= bounded.maxsize
                and bounded.fresh_after == bounded.fresh_after_checked
            ),
            target="memory bounded by the size; every older token STALE",
        ),
    ]
    rows[1].extra["memory_vs_default"] = bounded.retained_bytes / max(full.retained_bytes, 1)
    return rows


def _row(title: str, found: _Found, *, peer: str, ok: bool, target: str) -> Row:
    text = (
        f"{found.per_change:,.0f} bytes per tracked change ({found.tracked:,} tracked, "
        f"{found.retained_bytes / 1e6:.1f} MB); {found.stale:,} of {found.checked:,} older "
        f"tokens STALE; {found.check_us:.2f} µs per check"
    )
    if found.maxsize < found.users:
        text += (
            f"; {found.users - found.tracked:,} changes dropped early → older tokens stale "
            f"(fallback); {found.fresh_after}/{found.fresh_after_checked} later tokens of "
            "other users FRESH"
        )
    extra: dict[str, Any] = {
        "users": found.users,
        "freshness_size": found.maxsize,
        "tracked": found.tracked,
        "retained_bytes": found.retained_bytes,
        "bytes_per_tracked_change": found.per_change,
        "older_tokens_checked": found.checked,
        "older_tokens_stale": found.stale,
        "check_us": found.check_us,
        "later_tokens_of_other_users_fresh": found.fresh_after,
        "fed": "Freshness.user_changed directly (no store rows)",
    }
    return Row(
        scenario="P6",
        title=title,
        peer=peer,
        ours=True,
        value=found.per_change,
        unit="bytes/tracked change",
        ratio=found.per_change,
        ratio_text=text,
        target=target,
        ok=ok,
        extra=extra,
    )


SCENARIO = Scenario(
    id="P6",
    title="scale and freshness memory",
    run=run,
    description=(
        "100,000 user_changed fed to Freshness: bytes per tracked change (tracemalloc), "
        "100,000 older tokens all STALE; bounded size keeps memory bounded"
    ),
)
