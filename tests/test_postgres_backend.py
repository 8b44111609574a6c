"""Several instances on one PostgreSQL: shared users, sessions and keys; freshness through
LISTEN/NOTIFY with catch-up; outages survived. Against real servers only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from sessionclaims import Backend
from sessionclaims.stores import open_store

from .helpers import FakeClock, bearer, client, make_app, make_backend
from .pg_cluster import Cluster, cluster_problem
from .stores.helpers import POSTGRES_URL, postgres_schema, psycopg_or_skip, require_postgres

psycopg = psycopg_or_skip()

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]


def pg_backend(schema: str, clock: FakeClock, url: str = POSTGRES_URL, **settings: Any) -> Backend:
    store = open_store(
        url,
        schema=schema,
        min_size=1,
        max_size=4,
        timeout=2.0,
        connect_timeout=1.0,
        listen_backoff_max=0.2,
        listen_check_interval=0.5,
    )
    return make_backend(f"{url}?schema={schema}", clock, store=store, **settings)


@pytest.fixture
def schema() -> Iterator[str]:
    require_postgres()
    with postgres_schema() as name:
        yield name


@pytest.fixture
async def two_instances(schema: str, clock: FakeClock) -> AsyncIterator[tuple[Backend, Backend]]:
    async with pg_backend(schema, clock) as a, pg_backend(schema, clock) as b:
        yield a, b


async def role_seen_by(backend: Backend, token: str) -> str:
    async with client(make_app(backend)) as c:
        role: str = (await c.get("/whoami", headers=bearer(token))).json()["claims"]["role"]
        return role


async def test_a_write_on_one_instance_is_seen_through_the_others_middleware(
    two_instances: tuple[Backend, Backend],
) -> None:
    a, b = two_instances
    user = await a.users.create_user(public_metadata={"role": "member"})
    new = await a.sessions.create_session(user.id)
    assert await role_seen_by(b, new.token) == "member"  # b verifies a's token: shared keys
    await a.users.update_user_metadata(user.id, public_metadata={"role": "admin"})
    deadline = time.monotonic() + 1.0  # the freshness bound across instances
    role = "member"
    while time.monotonic() < deadline and role != "admin":
        role = await role_seen_by(b, new.token)
        await asyncio.sleep(0.005)  # let b's listener task run
    assert role == "admin"


async def test_a_killed_listener_reconnects_and_catches_up(
    two_instances: tuple[Backend, Backend],
) -> None:
    a, b = two_instances
    user = await a.users.create_user(public_metadata={"role": "member"})
    new = await a.sessions.create_session(user.id)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()"
        ).fetchall()
    assert killed, "the listeners' connections were found and terminated"
    await a.users.update_user_metadata(user.id, public_metadata={"role": "admin"})
    deadline = time.monotonic() + 1.0
    role = "member"
    while time.monotonic() < deadline and role != "admin":
        role = await role_seen_by(b, new.token)
        await asyncio.sleep(0.005)  # in-process requests never yield: let b's feed run
    assert role == "admin"
    assert b.freshness.known_version(user.id) == 2


async def test_concurrent_merges_across_instances_lose_nothing(
    two_instances: tuple[Backend, Backend],
) -> None:
    a, b = two_instances
    user = await a.users.create_user()
    writes = [
        (a if i % 2 else b).users.update_user_metadata(user.id, private_metadata={f"k{i}": i})
        for i in range(19)
    ]
    await asyncio.gather(*writes)
    stored = await b.users.get_user(user.id)
    assert dict(stored.private_metadata) == {f"k{i}": i for i in range(19)}


async def test_a_rotation_on_one_instance_is_honoured_by_all(
    two_instances: tuple[Backend, Backend],
) -> None:
    a, b = two_instances
    user = await a.users.create_user(public_metadata={"role": "member"})
    old = await a.sessions.create_session(user.id)
    await a.keys.rotate()
    new = await a.sessions.create_session(user.id)
    assert a.keys.signer.kid != b.keys.signer.kid or len(b.jwks()["keys"]) == 2
    # b has not necessarily heard of the rotation: an unknown kid makes it re-read the keys
    assert await role_seen_by(b, new.token) == "member"
    assert await role_seen_by(b, old.token) == "member"  # the old key still verifies
    assert {k["kid"] for k in b.jwks()["keys"]} == {k["kid"] for k in a.jwks()["keys"]}
    assert b.keys.signer.kid == a.keys.signer.kid


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    problem = cluster_problem()
    if problem is not None:
        pytest.skip(problem)
    server = Cluster()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


async def test_outage_fresh_tokens_work_reissue_is_refused_then_everything_resumes(
    cluster: Cluster, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with pg_backend("public", clock, url=cluster.url) as backend:
        app = make_app(backend)
        fresh_user = await backend.users.create_user(public_metadata={"role": "member"})
        fresh = await backend.sessions.create_session(fresh_user.id)
        stale_user = await backend.users.create_user(public_metadata={"role": "member"})
        stale = await backend.sessions.create_session(stale_user.id)
        await backend.users.update_user_metadata(stale_user.id, public_metadata={"role": "admin"})
        async with client(app) as c:
            assert (await c.get("/whoami", headers=bearer(fresh.token))).json()["signed_in"]

            cluster.stop()
            hot = await c.get("/whoami", headers=bearer(fresh.token))
            assert hot.status_code == 200
            assert hot.json()["claims"]["role"] == "member"  # no store call needed

            needs_reissue = await c.get("/whoami", headers=bearer(stale.token))
            assert needs_reissue.status_code == 200
            assert needs_reissue.json()["signed_in"] is False
            assert needs_reissue.json()["reason"] == "store-unavailable"
            assert "x-session-token" not in needs_reissue.headers  # never a stale claim
            assert any("store unavailable" in r.getMessage() for r in caplog.records)

        api = client(backend.api)
        async with api:
            down = await api.get(
                f"/v1/users/{fresh_user.id}", headers={"Authorization": "Bearer sk_test_freshness"}
            )
            assert down.status_code == 503
            assert down.json()["errors"][0]["code"] == "store_unavailable"

            cluster.start()  # service resumes by itself, no restart of the app
            deadline = time.monotonic() + 10
            up = down
            while time.monotonic() < deadline and up.status_code != 200:
                await asyncio.sleep(
                    0.01
                )  # a refused in-process call never yields: let the probe run
                up = await api.get(
                    f"/v1/users/{fresh_user.id}",
                    headers={"Authorization": "Bearer sk_test_freshness"},
                )
            assert up.status_code == 200
        async with client(app) as c:
            resumed = await c.get("/whoami", headers=bearer(stale.token))
            assert resumed.json()["claims"]["role"] == "admin"
            assert "x-session-token" in resumed.headers


SECRET = {"Authorization": "Bearer sk_test_freshness"}


async def test_outage_is_answered_without_a_pool_wait_and_the_first_write_after_it_succeeds(
    cluster: Cluster, clock: FakeClock
) -> None:
    # A pool wait would last 30 s here; the pool's own counters show that none happens.
    url = f"{cluster.url}?pool_min_size=2&pool_max_size=3&pool_timeout=30"
    store = open_store(url, connect_timeout=1.0, listen_backoff_max=0.2)
    async with make_backend(url, clock, store=store) as backend:
        user = await backend.users.create_user(public_metadata={"role": "member"})
        stale = await backend.sessions.create_session(user.id)
        await backend.users.update_user_metadata(user.id, public_metadata={"role": "admin"})
        health, pool = store._health, store._pool  # type: ignore[attr-defined]
        assert health.reachable

        cluster.stop()
        async with client(backend.api) as api:
            first = await api.get(f"/v1/users/{user.id}", headers=SECRET)
            assert first.status_code == 503
            assert not health.reachable  # the call that met the outage found out itself
            asked, refused = pool.get_stats()["requests_num"], health.refused

            read = await api.get(f"/v1/users/{user.id}", headers=SECRET)
            write = await api.patch(
                f"/v1/users/{user.id}/metadata", headers=SECRET, json={"public_metadata": {}}
            )
        for response, message in [
            (read, "the store is unreachable"),
            (write, "the store is unreachable; nothing was written"),
        ]:
            assert response.status_code == 503
            (error,) = response.json()["errors"]
            assert (error["code"], error["message"]) == ("store_unavailable", message)
        async with client(make_app(backend)) as c:
            needs_reissue = await c.get("/whoami", headers=bearer(stale.token))
        assert needs_reissue.json()["reason"] == "store-unavailable"
        assert "x-session-token" not in needs_reissue.headers

        assert health.refused >= refused + 3  # the read, the write and the reissue
        stats = pool.get_stats()
        assert stats["requests_num"] == asked  # refused without asking the pool
        assert stats.get("requests_queued", 0) == 0  # and no call ever queued for a connection

        cluster.start()  # the probe finds the server; nothing restarts the app
        async with asyncio.timeout(10):
            while not health.reachable:  # noqa: ASYNC110 - the probe runs in the background
                await asyncio.sleep(0.01)
        renewed = store._pool  # type: ignore[attr-defined]
        assert renewed is not pool  # a fresh pool, with no reconnection backoff...
        assert (renewed.min_size, renewed.max_size, renewed.timeout) == (2, 3, 30.0)  # same sizes
        updated = await backend.users.update_user_metadata(
            user.id, public_metadata={"role": "owner"}
        )  # the first write after the server is back
        assert updated.public_metadata["role"] == "owner"
        async with client(make_app(backend)) as c:
            resumed = await c.get("/whoami", headers=bearer(stale.token))
        assert resumed.json()["claims"]["role"] == "owner"
