"""P9 organization fan-out (organizations.md): the freshness side of one organization
write that concerns 10,000 members' sessions, and the hot path with an active organization.

1. **Hot path with an active organization** (timed, in-process ASGI): a full-mode
   ``Backend`` on a temporary SQLite file; bare Starlette against ours with a session
   token minted with an active organization (the four claims, ``org_ver``, ``mem_ver``)
   while the organization and membership maps hold entries for other organizations, so
   that both lookups run on every request. Target: overhead ≤ 5 µs (as P1).
2. **Fan-out** (counted, injected clock): the backend's freshness map receives the
   organization change of a 1-member and of a 10,000-member organization; the cost of that
   change is timed for both (target ≤ 1.5 times: it must not depend on the member count), then
   the 10,000 members' tokens (older ``org_ver``) are checked — every one must be STALE,
   so their next request is reissued with the new claims.
3. **The store write** (timed, real ``Backend`` on a SQLite file): one public-metadata
   merge on an organization of 10,000 members (each with a session whose token carries the
   organization) against the same merge on a 1-member organization, through
   ``backend.organizations.update_organization_metadata`` — the size-budget check and the
   change-log entry included. Target: ≤ 1.5 times. Then each of the 10,000 members' tokens,
   minted before the last write, is sent once through the full-mode middleware: every one
   must be reissued with the organization's new claims.
4. **Bytes per tracked organization change**: memory retained by 10,000
   ``organization_changed`` entries (``tracemalloc``), divided by 10,000.

Sizes shrink with ``Config.scale`` (a tiny run seeds 100 members).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import tracemalloc
from typing import Any

from starlette.middleware import Middleware

from sessionclaims.backend.issuer import ActiveOrganization
from sessionclaims.freshness import STALE, Freshness
from sessionclaims.middleware import SessionClaimsMiddleware

from ..harness import Config, Peer, asgi_batch, measure
from ..report import Row, X
from ._base import Scenario
from ._fixtures import starlette_app
from ._full import bearer_scope, make_backend, scratch_dir, sqlite_url, timed_call

__all__ = ["SCENARIO", "run"]

OVERHEAD_TARGET_US = 5.0
FANOUT_TARGET = 1.5
MEMBERS = 10_000
BARE = "bare Starlette (floor)"
OURS = "sessionclaims, active organization"


class _Org:
    def __init__(self, org_id: str, version: int) -> None:
        self.id, self.slug, self.name, self.version = org_id, "acme", "Acme", version
        self.public_metadata = {"plan": "pro"}


class _Member:
    def __init__(self, version: int) -> None:
        self.role, self.version, self.public_metadata = "org:admin", version, {}


def _org_id(i: int) -> str:
    return f"org_{i:026d}"


def _user_id(i: int) -> str:
    return f"user_{i:026d}"


async def _org_token(backend: Any) -> str:
    user = await backend.users.create_user(public_metadata={"role": "admin"})
    new = await backend.sessions.create_session(user.id)
    record, user_record, _ = await backend.sessions.active(new.session.id)
    active = ActiveOrganization(_Org(_org_id(0), 1), _Member(1), ("org:invoices:read",))
    token: str = backend.issuer.session_token(user_record, record, active=active)
    now = backend.clock()
    for i in range(1, 101):  # other organizations' changes: the lookups really run
        backend.freshness.organization_changed(_org_id(i), 2, now)
        backend.freshness.membership_changed(_org_id(i), _user_id(i), 2, now)
    return token


def _hot_rows(config: Config) -> list[Row]:
    loop = asyncio.new_event_loop()
    try:
        with scratch_dir("p9") as directory:
            backend = make_backend(sqlite_url(directory, "p9"))
            token = loop.run_until_complete(_org_token(backend))
            apps = {
                BARE: starlette_app(),
                OURS: starlette_app([Middleware(SessionClaimsMiddleware, backend=backend)]),
            }
            scope = bearer_scope(token)
            peers = [Peer(name, asgi_batch(loop, app, scope)) for name, app in apps.items()]
            _, call_scope, response = loop.run_until_complete(timed_call(apps[OURS], scope))
            auth = call_scope["auth"]
            if auth.org_id != _org_id(0) or response.header(b"x-session-token") is not None:
                raise RuntimeError(f"the organization token is not served hot ({auth!r})")
            timings = measure(peers, config)
            loop.run_until_complete(backend.aclose())
    finally:
        loop.close()
    diffs = [
        (x - y) / 1000.0
        for x, y in zip(timings[OURS].rounds_ns, timings[BARE].rounds_ns, strict=True)
    ]
    overhead = statistics.median(diffs)
    rows = []
    for name in (BARE, OURS):
        t = timings[name]
        ours = name == OURS
        rows.append(
            Row(
                scenario="P9",
                title="org hot path",
                peer=name,
                median_us=t.median_us,
                p25_us=t.p25_us,
                p75_us=t.p75_us,
                rounds_us=t.rounds_us,
                iterations=t.iterations,
                ours=ours,
                ratio=overhead if ours else None,
                ratio_text=f"overhead {overhead:.2f} µs" if ours else "floor",
                target=f"overhead ≤ {OVERHEAD_TARGET_US:g} µs" if ours else "",
                ok=overhead <= OVERHEAD_TARGET_US if ours else None,
                extra={"overhead_rounds_us": diffs} if ours else {},
            )
        )
    return rows


def _fanout_rows(config: Config) -> list[Row]:
    clock = [1_800_000_000.0]
    fresh = Freshness(horizon=65.0, clock=lambda: clock[0])
    tokens = [(_user_id(i), f"sess_{i}", 1, int(clock[0]) - 1) for i in range(MEMBERS)]
    rounds = max(config.rounds, 5)
    timings: dict[int, list[float]] = {1: [], MEMBERS: []}
    version = 1
    for _ in range(rounds):
        for members in (1, MEMBERS):  # the write is the same call for both sizes
            version += 1
            org_id = _org_id(members)
            start = time.perf_counter_ns()
            fresh.organization_changed(org_id, version, clock[0])
            timings[members].append((time.perf_counter_ns() - start) / 1000.0)
    org = _org_id(MEMBERS)
    stale = sum(
        fresh.check(sub, sid, ver, iat, org, 1, 1) == STALE for sub, sid, ver, iat in tokens
    )
    one, many = statistics.median(timings[1]), statistics.median(timings[MEMBERS])
    ratio = many / one if one > 0 else 1.0
    return [
        Row(
            scenario="P9",
            title="org fan-out",
            peer=f"organization change, {MEMBERS:,} members vs 1 (freshness map)",
            median_us=many,
            ours=True,
            ratio=ratio,
            ratio_text=f"{ratio:.2f}{X} the 1-member change ({one:.2f} µs)",
            target=f"≤ {FANOUT_TARGET:g}{X}",
            ok=ratio <= FANOUT_TARGET,
        ),
        Row(
            scenario="P9",
            title="org fan-out",
            peer=f"members' next requests that see the change (of {MEMBERS:,})",
            ours=True,
            value=float(stale),
            unit="requests",
            ratio_text=f"{stale:,} of {MEMBERS:,} stale (reissued)",
            target=f"= {MEMBERS:,}",
            ok=stale == MEMBERS,
        ),
    ]


ORG_TEMPLATE: dict[str, Any] = {
    "role": "{{user.public_metadata.role}}",
    "plan": "{{org.public_metadata.plan}}",
}


async def _seed_organization(backend: Any, name: str, members: int) -> tuple[str, list[str]]:
    """An organization with ``members`` members, each with a session whose active
    organization it is; the organization's id and one token per member."""
    creator = await backend.users.create_user(public_metadata={"role": "admin"})
    org = await backend.organizations.create_organization(
        name, created_by=creator.id, public_metadata={"plan": "v0"}
    )
    user_ids = [creator.id]
    for _ in range(members - 1):
        user = await backend.users.create_user(public_metadata={"role": "member"})
        await backend.organizations.create_membership(org.id, user.id)
        user_ids.append(user.id)
    tokens = []
    for user_id in user_ids:
        new = await backend.sessions.create_session(user_id, active_organization_id=org.id)
        tokens.append(new.token)
    return org.id, tokens


async def _store_write(config: Config, directory: Any) -> tuple[dict[int, list[float]], int, int]:
    members = max(10, int(MEMBERS * config.scale))
    backend = make_backend(sqlite_url(directory, "p9-write"), template=ORG_TEMPLATE)
    try:
        await backend.open()
        small, _ = await _seed_organization(backend, "One", 1)
        large, tokens = await _seed_organization(backend, "Many", members)
        orgs = backend.organizations
        timings: dict[int, list[float]] = {1: [], members: []}
        rounds = max(config.rounds * 2, 6)
        for i in range(rounds):
            pairs = [(1, small), (members, large)]
            for size, org_id in pairs if i % 2 else reversed(pairs):
                start = time.perf_counter_ns()
                await orgs.update_organization_metadata(org_id, public_metadata={"plan": f"v{i}"})
                timings[size].append((time.perf_counter_ns() - start) / 1000.0)
        final = f"v{rounds - 1}"
        app = starlette_app([Middleware(SessionClaimsMiddleware, backend=backend)])
        seen = 0
        for token in tokens:
            _, call_scope, response = await timed_call(app, bearer_scope(token))
            claims = call_scope["auth"].session_claims
            reissued = response.header(b"x-session-token") is not None
            if reissued and claims.get("plan") == final and claims.get("org_id") == large:
                seen += 1
        return timings, members, seen
    finally:
        await backend.aclose()


def _store_write_rows(config: Config) -> list[Row]:
    with scratch_dir("p9w") as directory:
        timings, members, seen = asyncio.run(_store_write(config, directory))
    one, many = statistics.median(timings[1]), statistics.median(timings[members])
    ratio = many / one if one > 0 else 1.0
    return [
        Row(
            scenario="P9",
            title="org store write",
            peer=f"organization metadata write, {members:,} members vs 1 (SQLite file)",
            median_us=many,
            rounds_us=timings[members],
            ours=True,
            ratio=ratio,
            ratio_text=f"{ratio:.2f}{X} the 1-member write ({one:.0f} µs)",
            target=f"≤ {FANOUT_TARGET:g}{X}",
            ok=ratio <= FANOUT_TARGET,
            extra={"one_member_rounds_us": timings[1], "members": members},
        ),
        Row(
            scenario="P9",
            title="org store write",
            peer=f"members' next requests reissued with the new claims (of {members:,})",
            ours=True,
            value=float(seen),
            unit="requests",
            ratio_text=f"{seen:,} of {members:,} reissued with the new plan",
            target=f"= {members:,}",
            ok=seen == members,
            extra={"members": members},
        ),
    ]


def _memory_row() -> Row:
    clock = [1_800_000_000.0]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    fresh = Freshness(horizon=65.0, clock=lambda: clock[0])
    for i in range(MEMBERS):
        fresh.organization_changed(_org_id(i), 2, clock[0])
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    retained = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    per_change = retained / max(fresh.tracked, 1)
    return Row(
        scenario="P9",
        title="org fan-out",
        peer="bytes per tracked organization change",
        ours=True,
        value=per_change,
        unit="bytes",
        ratio_text=f"{per_change:.0f} bytes",
        note=f"{fresh.tracked:,} changes tracked",
    )


def run(config: Config) -> list[Row]:
    return [*_hot_rows(config), *_fanout_rows(config), *_store_write_rows(config), _memory_row()]


SCENARIO = Scenario(
    id="P9",
    title="organization fan-out",
    run=run,
    description="hot path with an active organization; one organization change for "
    "10,000 members' tokens against 1 (freshness map and store write); every member's "
    "next request reissued; bytes per tracked organization change",
)
