"""P4 freshness: a metadata write in one worker, how soon another worker sees it.

Two workers share one store (an SQLite file; then a PostgreSQL schema):

* **A**, in this process: a ``Backend`` that writes, and its own middleware app (called
  in process) for the same-process check;
* **B**, a second **process**: ``python -m benchmarks._server --app full`` (a ``Backend``
  on the same store behind ``SessionClaimsMiddleware``, served by uvicorn on loopback),
  polled over HTTP with ``httpx``. If that process cannot be started, B is a second
  ``Backend`` in this process (called through ``httpx.ASGITransport``) and the row says so.

One trial: B has already accepted token ``T`` (fresh, ``role = r{k-1}``); A changes the
user's ``role`` to ``r{k}``; from the moment the write returns, B is polled back to back
with the same ``T`` until its answer carries ``role = r{k}`` (B reissued ``T`` because
its change feed told it the user changed). The delay is that time. Before each write the
trial waits a random fraction of the poll interval, so writes do not stay in step with
B's poller. The reissued token becomes the next trial's ``T``.

Right after every write, before polling B, A's own middleware is asked with A's current
token: that answer must already hold the new role (the same-process promise); every
answer that does not counts as stale.

Targets: p99 of the delay ≤ 1000 ms; 0 stale answers in the same process.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette

from sessionclaims.middleware import SessionClaimsMiddleware

from .._server import ROUTES
from .._workers import server_process
from ..harness import Config, percentile
from ..report import Row
from ._base import Scenario
from ._fixtures import AZP, ISSUER, starlette_app
from ._full import (
    ROLE_TEMPLATE,
    PgUnavailable,
    bearer_scope,
    make_backend,
    pg_schema,
    scratch_dir,
    sqlite_url,
    timed_call,
)

__all__ = ["SCENARIO", "run"]

P99_TARGET_MS = 1000.0
FULL_TRIALS = 40
GIVE_UP_S = 5.0
"""A trial that has not seen the write after this long counts as ``GIVE_UP_S``."""


@dataclass
class _Result:
    store: str
    b_kind: str
    delays_ms: list[float] = field(default_factory=list)
    polls: list[int] = field(default_factory=list)
    same_process_stale: int = 0
    same_process_requests: int = 0
    timeouts: int = 0
    poll_interval: float = 0.0


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def _other_worker(url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """B: a uvicorn process on the same store, or (if it cannot start) a second backend
    in this process. Yields an HTTP client for it and a label."""
    import json
    import sys

    args = [
        "--app",
        "full",
        "--database-url",
        url,
        "--issuer",
        ISSUER,
        "--origin",
        AZP,
        "--template",
        json.dumps(ROLE_TEMPLATE),
    ]
    async with AsyncExitStack() as stack:
        try:
            server = stack.enter_context(server_process(args))
        except (OSError, RuntimeError) as exc:
            print(
                f"[bench] P4: second process unavailable ({exc}); using an in-process "
                "second Backend",
                file=sys.stderr,
            )
            backend = make_backend(url)
            stack.push_async_callback(backend.aclose)
            app = Starlette(routes=list(ROUTES))
            transport = httpx.ASGITransport(app=SessionClaimsMiddleware(app, backend=backend))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://b.local")
            )
            yield client, "second Backend in this process (subprocess unavailable)"
            return
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=server.base_url, timeout=10.0)
        )
        yield client, "other process: uvicorn worker, HTTP polls on loopback"


async def _role_seen(client: httpx.AsyncClient, token: str) -> tuple[Any, httpx.Response]:
    response = await client.get("/claims", headers=_bearer(token))
    response.raise_for_status()
    body = response.json()
    if not body["signed_in"]:
        raise RuntimeError(f"B signed the request out: {body['reason']}")
    return body["claims"].get("role"), response


async def _trials(store: str, url: str, trials: int, rng: random.Random) -> _Result:
    writer = make_backend(url)
    await writer.ensure_open()
    try:
        poll_interval = writer.settings.poll_interval
        user = await writer.users.create_user(public_metadata={"role": "r0"})
        new = await writer.sessions.create_session(user.id)
        app_a = SessionClaimsMiddleware(starlette_app(), backend=writer)
        token_a = token_b = new.token
        async with _other_worker(url) as (client, b_kind):
            result = _Result(store, b_kind, poll_interval=poll_interval)
            role, _ = await _role_seen(client, token_b)
            if role != "r0":
                raise RuntimeError(f"B saw role {role!r} before any write")
            # The jitter spreads writes over B's poll cycle (PostgreSQL pushes; less needed).
            jitter = poll_interval if store == "SQLite" else 0.05
            for k in range(1, trials + 1):
                await asyncio.sleep(rng.uniform(0.0, jitter))
                role = f"r{k}"
                await writer.users.update_user_metadata(user.id, public_metadata={"role": role})
                written = time.perf_counter()
                # Same process, right after the write returned.
                _, scope, response = await timed_call(app_a, bearer_scope(token_a))
                result.same_process_requests += 1
                if scope["auth"].session_claims.get("role") != role:
                    result.same_process_stale += 1
                reissued = response.header(b"x-session-token")
                if reissued is not None:
                    token_a = reissued.decode("ascii")
                # The other worker, polled back to back with the token it knows as fresh.
                polls = 0
                while True:
                    seen, answer = await _role_seen(client, token_b)
                    polls += 1
                    elapsed = time.perf_counter() - written
                    if seen == role:
                        break
                    if elapsed > GIVE_UP_S:
                        result.timeouts += 1
                        break
                    # An in-process B answers without real I/O: let its change feed run.
                    await asyncio.sleep(0)
                result.delays_ms.append(min(elapsed, GIVE_UP_S) * 1000.0)
                result.polls.append(polls)
                token_b = answer.headers.get("x-session-token", token_b)
                seen, again = await _role_seen(client, token_b)
                if seen != role or "x-session-token" in again.headers:
                    raise RuntimeError(
                        f"B did not accept its own reissued token as fresh (role {seen!r})"
                    )
        return result
    finally:
        await writer.aclose()


def _rows(result: _Result) -> list[Row]:
    title = f"freshness across workers ({result.store})"
    delays = result.delays_ms
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    n = len(delays)
    extra = {
        "store": result.store,
        "other_worker": result.b_kind,
        "trials": n,
        "delays_ms": delays,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": max(delays),
        "mean_polls": sum(result.polls) / n,
        "timeouts": result.timeouts,
        "poll_interval_s": result.poll_interval,
    }
    how = "change feed: polling" if result.store == "SQLite" else "change feed: LISTEN/NOTIFY"
    stale = result.same_process_stale
    return [
        Row(
            scenario="P4",
            title=title,
            peer=f"sessionclaims, {result.b_kind}",
            ours=True,
            value=p99,
            unit="ms",
            ratio=p99,
            ratio_text=(
                f"write → first fresh answer: p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
                f"max {max(delays):.0f} ms ({n} trials; {how}, poll_interval "
                f"{result.poll_interval:g} s)"
            ),
            target=f"p99 ≤ {P99_TARGET_MS:g} ms",
            ok=p99 <= P99_TARGET_MS and result.timeouts == 0,
            extra=extra,
        ),
        Row(
            scenario="P4",
            title=title,
            peer="sessionclaims, same process (the writer's own middleware)",
            ours=True,
            value=stale,
            unit="stale answers",
            ratio=float(stale),
            ratio_text=(
                f"{stale} stale of {result.same_process_requests} requests made right after "
                "the write"
            ),
            target="0 stale",
            ok=stale == 0,
            extra={"store": result.store, "requests": result.same_process_requests},
        ),
    ]


def _unavailable(store: str, reason: str) -> list[Row]:
    return [
        Row(
            scenario="P4",
            title=f"freshness across workers ({store})",
            peer="sessionclaims, other worker / same process",
            target=f"p99 ≤ {P99_TARGET_MS:g} ms; 0 stale",
            note=f"unavailable: {reason}",
        )
    ]


def run(config: Config) -> list[Row]:
    trials = config.scaled(FULL_TRIALS, minimum=2)
    rng = random.Random(4)
    rows: list[Row] = []
    with scratch_dir("p4") as directory:
        result = asyncio.run(_trials("SQLite", sqlite_url(directory, "p4"), trials, rng))
        rows.extend(_rows(result))
    try:
        with pg_schema("p4") as url:
            result = asyncio.run(_trials("PostgreSQL", url, trials, rng))
            rows.extend(_rows(result))
    except PgUnavailable as exc:
        rows.extend(_unavailable("PostgreSQL", str(exc)))
    return rows


SCENARIO = Scenario(
    id="P4",
    title="freshness across workers",
    run=run,
    description=(
        "write in one worker, poll a second uvicorn process until it shows the new claim "
        "(SQLite file, PostgreSQL); same-process stale count"
    ),
)
