"""What only the PostgreSQL store does: URLs, schemas, migrations, LISTEN/NOTIFY,
reconnection and failure. The contract itself is in test_contract.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sessionclaims._errors import ConfigurationError, StoreUnavailable
from sessionclaims.stores import ChangeListener, Store, open_store
from sessionclaims.stores._schema import POSTGRES_MIGRATIONS

from . import helpers
from .helpers import (
    NOW,
    POSTGRES_URL,
    make_user,
    postgres_options,
    postgres_schema,
    psycopg_or_skip,
    require_postgres,
)

psycopg = psycopg_or_skip()

from sessionclaims.stores.postgres import PostgresStore, channel_name  # noqa: E402

pytestmark = pytest.mark.anyio


# -- configuration (no server needed) ---------------------------------------------------
def test_url_and_options() -> None:
    store = open_store(
        "postgres://app:s3cret@db.internal:6543/auth?schema=tenant_1&sslmode=disable&options=-c%20x%3Dy",
        max_size=3,
    )
    assert isinstance(store, PostgresStore)
    assert isinstance(store, ChangeListener)
    assert store.schema == "tenant_1"
    assert store.channel == "sessionclaims_tenant_1"
    assert "s3cret" not in store.url
    assert store.url.startswith("postgres://app@db.internal:6543/auth?")
    assert "schema" not in store._conninfo
    assert "sslmode=disable" in store._conninfo
    assert "options=-c%20x%3Dy" in store._conninfo  # libpq parameters pass through
    assert PostgresStore("postgresql://h/db").schema == "public"
    assert PostgresStore("postgresql://h/db", schema="mine").schema == "mine"


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("postgresql://h/db?schema=a", {"schema": "b"}, "conflicting schemas"),
        ("postgresql://h/db?schema=a&schema=b", {}, "conflicting schemas"),
        ("postgresql://h/db", {"schema": "Robert'); DROP TABLE users;--"}, "invalid schema"),
        ("postgresql://h/db", {"schema": "UpperCase"}, "invalid schema"),
        ("postgresql://h/db", {"min_size": 5, "max_size": 2}, "min_size"),
        ("postgresql://h/db", {"timeout": 0}, "positive"),
        ("postgresql://h/db", {"pool": 3}, "unknown PostgreSQL store option"),
        ("postgresql://h/db?bogus_param=1", {}, "invalid PostgreSQL URL"),
    ],
)
def test_bad_configuration(url: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        open_store(url, **options)


def test_unreachable_test_server_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(helpers, "postgres_problem", lambda: "PostgreSQL is down")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="down"):
        require_postgres()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_postgres()


def test_select_lists_follow_the_row_converters_order() -> None:
    from sessionclaims.stores import _pg_ops, _rows

    assert f"SELECT {_rows.USER_COLUMNS} FROM users" == _pg_ops._USER
    assert f"SELECT {_rows.SESSION_COLUMNS} FROM sessions" == _pg_ops._SESSION


def test_channel_names_fit_postgres_identifiers() -> None:
    assert channel_name("public") == "sessionclaims_public"
    long_one, other = channel_name("s" * 63), channel_name("t" * 63)
    assert len(long_one) <= 63
    assert long_one != other


async def test_unreachable_server_is_store_unavailable_fast() -> None:
    store = open_store("postgresql://postgres@127.0.0.1:1/test", connect_timeout=1, timeout=1)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1"):
        await store.open()
    assert time.monotonic() - started < 3
    with pytest.raises(StoreUnavailable, match="not open"):
        await store.get_user("user_1")


async def test_listener_keeps_retrying_while_the_server_is_down() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/test", listen_backoff_max=0.05)
    calls = Calls()
    task = asyncio.create_task(store.listen(calls))
    await asyncio.sleep(0.3)
    assert not task.done()  # no exception escapes: it runs until cancelled
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls.count == 0


# -- against the server ----------------------------------------------------------------
class Calls:
    """An ``on_change`` callback that counts its calls."""

    def __init__(self, fail_first: int = 0) -> None:
        self.count = 0
        self.fail_first = fail_first
        self._called = asyncio.Event()

    async def __call__(self) -> None:
        self.count += 1
        self._called.set()
        if self.count <= self.fail_first:
            raise RuntimeError("the caller's catch-up failed")

    async def reach(self, count: int, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while self.count < count:
                self._called.clear()
                await self._called.wait()


@pytest.fixture
def schema() -> Any:
    require_postgres()
    with postgres_schema() as name:
        yield name


@pytest.fixture
async def make_store(schema: str) -> AsyncIterator[Callable[..., Any]]:
    """Opens stores on ``schema`` (the same database for all) and closes them after."""
    opened: list[Store] = []

    async def make(**extra: Any) -> PostgresStore:
        store = open_store(POSTGRES_URL, **postgres_options(schema, **extra))
        assert isinstance(store, PostgresStore)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


async def admin(query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as conn:
        cursor = await conn.execute(query, params)
        return await cursor.fetchall() if cursor.description else []


async def backend_pids(application_name: str) -> list[int]:
    found = await admin(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
    )
    return [pid for (pid,) in found]


async def terminate(application_name: str) -> list[int]:
    """Terminate the backends of ``application_name`` and wait until they are gone."""
    pids = await backend_pids(application_name)
    for pid in pids:
        await admin("SELECT pg_terminate_backend(%s)", (pid,))
    async with asyncio.timeout(5):
        while set(pids) & set(await backend_pids(application_name)):  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # polling the server: there is no event to wait on
    return pids


def bump(key: str) -> Callable[[Any], Any]:
    return lambda u: u.evolve(public_metadata={**u.public_metadata, key: 1}, version=u.version + 1)


@pytest.mark.postgres
async def test_schemas_isolate_stores(make_store: Callable[..., Any], schema: str) -> None:
    store = await make_store()
    await store.insert_user(make_user())
    await store.update_user("user_1", bump("a"), now_ms=NOW)
    tables = await admin(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
        (schema,),
    )
    assert [t for (t,) in tables] == [
        "changes",
        "external_id_duplicates",
        "organization_memberships",
        "organizations",
        "schema_migrations",
        "sessions",
        "sign_ups",
        "signing_keys",
        "users",
    ]
    with postgres_schema() as other_schema:
        other = open_store(POSTGRES_URL, **postgres_options(other_schema))
        await other.open()
        try:
            assert await other.get_user("user_1") is None
            assert await other.last_change_seq() == 0
            assert other.channel != store.channel
        finally:
            await other.close()


@pytest.mark.postgres
async def test_concurrent_first_opens_migrate_once(
    make_store: Callable[..., Any], schema: str
) -> None:
    await asyncio.gather(*(make_store() for _ in range(3)))
    found = await admin(f'SELECT version FROM "{schema}".schema_migrations')
    assert sorted(found) == [(m.version,) for m in POSTGRES_MIGRATIONS]


@pytest.mark.postgres
async def test_database_from_a_newer_release_is_refused(
    make_store: Callable[..., Any], schema: str
) -> None:
    await make_store()
    await admin(f"INSERT INTO \"{schema}\".schema_migrations VALUES (42, 'future', now())")
    store = open_store(POSTGRES_URL, **postgres_options(schema))
    with pytest.raises(ConfigurationError, match="schema version 42"):
        await store.open()


@pytest.mark.postgres
async def test_a_write_by_one_instance_wakes_the_others_listener(
    make_store: Callable[..., Any],
) -> None:
    writer, reader = await make_store(), await make_store()
    await writer.insert_user(make_user())
    calls = Calls()
    listening = asyncio.create_task(reader.listen(calls))
    try:
        await calls.reach(1)  # the catch-up call when listening starts
        seen = await reader.last_change_seq()
        await writer.update_user("user_1", bump("a"), now_ms=NOW)
        await calls.reach(2)
        (change,) = await reader.changes_since(seen)
        assert (change.kind, change.user_id, change.version) == ("user", "user_1", 2)

        # a write that appends nothing, and one that rolls back, notify nobody
        await writer.update_user("user_1", lambda u: u, now_ms=NOW)
        with pytest.raises(ZeroDivisionError):
            await writer.update_user("user_1", lambda u: bump("b")(u) and 1 / 0, now_ms=NOW)
        await writer.delete_user("user_1", now_ms=NOW)  # this one does
        await calls.reach(3)
        await asyncio.sleep(0.2)
        assert calls.count == 3
        assert [c.kind for c in await reader.changes_since(change.seq)] == ["user_deleted"]
    finally:
        listening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listening


@pytest.mark.postgres
async def test_a_killed_listener_reconnects_and_catches_up(
    make_store: Callable[..., Any], schema: str
) -> None:
    writer = await make_store()
    reader = await make_store(listen_backoff_max=0.2)
    await writer.insert_user(make_user())
    calls = Calls()
    listening = asyncio.create_task(reader.listen(calls))
    listener_name = f"sc-test-{schema}-listener"
    try:
        await calls.reach(1)
        seen = await reader.last_change_seq()
        (first_pid,) = await terminate(listener_name)
        # written while the listener is down: its NOTIFY reaches nobody
        await writer.update_user("user_1", bump("while-down"), now_ms=NOW)
        await calls.reach(2)  # the call after reconnecting
        assert [c.version for c in await reader.changes_since(seen)] == [2]
        (second_pid,) = await backend_pids(listener_name)
        assert second_pid != first_pid
        await writer.update_user("user_1", bump("after"), now_ms=NOW)
        await calls.reach(3)  # notifications flow again
    finally:
        listening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listening
    assert await backend_pids(listener_name) == []  # cancelling closed the connection


@pytest.mark.postgres
async def test_a_failing_callback_is_called_again(make_store: Callable[..., Any]) -> None:
    store = await make_store(listen_backoff_max=0.1)
    calls = Calls(fail_first=2)
    listening = asyncio.create_task(store.listen(calls))
    try:
        await calls.reach(3)
    finally:
        listening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listening


@pytest.mark.postgres
async def test_pool_recovers_after_its_connections_die(
    make_store: Callable[..., Any], schema: str
) -> None:
    store = await make_store(min_size=2)
    await store.insert_user(make_user())
    assert await terminate(f"sc-test-{schema}")  # as a server restart would
    for _ in range(5):  # dead connections are noticed and replaced, no call fails
        assert await store.get_user("user_1") is not None
    assert await backend_pids(f"sc-test-{schema}")


@pytest.mark.postgres
async def test_a_busy_pool_waits_while_the_server_answers(make_store: Callable[..., Any]) -> None:
    store = await make_store(min_size=1, max_size=1)
    await store.insert_user(make_user())
    health = store._health
    release, held = asyncio.Event(), asyncio.Event()

    async def hold_the_only_connection() -> None:
        async with store._connection():
            held.set()
            await release.wait()

    holder = asyncio.create_task(hold_the_only_connection())
    await held.wait()
    waiting = asyncio.create_task(store.get_user("user_1"))
    async with asyncio.timeout(5):
        while health.probes == 0:  # noqa: ASYNC110 - the waiter probes after 0.1 s
            await asyncio.sleep(0.01)
    assert not waiting.done()  # the server answered the probe: the call keeps waiting
    release.set()
    assert await waiting is not None
    await holder
    assert health.reachable
    assert health.refused == 0


@pytest.mark.postgres
async def test_a_connection_lost_mid_query_fails_that_call_only(
    make_store: Callable[..., Any], schema: str
) -> None:
    store = await make_store(min_size=1, max_size=2)
    await store.insert_user(make_user())

    async def sleep_long(conn: Any) -> None:
        await conn.execute("SELECT pg_sleep(30)")

    sleeping = asyncio.create_task(store._call(sleep_long))
    async with asyncio.timeout(5):
        while not await admin(  # noqa: ASYNC110 - polling the server for the query
            "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%%'"
            " AND application_name = %s",
            (f"sc-test-{schema}",),
        ):
            await asyncio.sleep(0.01)
    await admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE query LIKE 'SELECT pg_sleep%%' AND application_name = %s",
        (f"sc-test-{schema}",),
    )
    with pytest.raises(StoreUnavailable, match="failed"):
        await sleeping
    assert store._health.probes == 1  # the lost connection made the store look...
    assert store._health.reachable  # ...and the server answered: calls go on
    assert await store.get_user("user_1") is not None


@pytest.mark.postgres
async def test_a_burst_of_notifications_is_coalesced(make_store: Callable[..., Any]) -> None:
    writer, reader = await make_store(), await make_store()
    await writer.insert_user(make_user())
    seen: list[int] = []

    async def slow_catch_up() -> None:
        seen.append(await reader.last_change_seq())
        await asyncio.sleep(0.2)

    listening = asyncio.create_task(reader.listen(slow_catch_up))
    try:
        async with asyncio.timeout(5):
            while not seen:  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # the first call, when listening starts
            for i in range(20):
                await writer.update_user("user_1", bump(f"k{i}"), now_ms=NOW)
            last = await writer.last_change_seq()
            while seen[-1] != last:  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # the last call saw the last write
    finally:
        listening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listening
    assert len(seen) < 10  # not one call per notification


@pytest.mark.postgres
async def test_liveness_checks_also_wake_the_caller(make_store: Callable[..., Any]) -> None:
    store = await make_store(listen_check_interval=0.05)
    calls = Calls()
    listening = asyncio.create_task(store.listen(calls))
    try:
        await calls.reach(4, within=2)  # no writes: the start, then each check
    finally:
        listening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listening


def test_pool_options_in_the_url_query() -> None:
    from sessionclaims import ConfigurationError
    from sessionclaims.stores import open_store

    store = open_store(
        "postgresql://postgres@127.0.0.1:5432/test?schema=abc&pool_max_size=20"
        "&pool_min_size=2&pool_timeout=2.5&sslmode=disable"
    )
    assert (store._min_size, store._max_size, store._timeout) == (2, 20, 2.5)  # type: ignore[attr-defined]
    assert "pool_" not in store._conninfo  # type: ignore[attr-defined]
    assert "sslmode=disable" in store._conninfo  # type: ignore[attr-defined]
    keyword = open_store("postgresql://h/db?pool_max_size=20", max_size=5)
    assert keyword._max_size == 5  # type: ignore[attr-defined]  # a keyword wins
    with pytest.raises(ConfigurationError, match="pool_max_size"):
        open_store("postgresql://h/db?pool_max_size=many")
