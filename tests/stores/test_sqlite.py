"""What only the SQLite store does: URLs, the file, WAL, migrations, its worker thread."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from sessionclaims._errors import ConfigurationError, StoreUnavailable
from sessionclaims.stores import SQLiteStore, UserRecord, open_store
from sessionclaims.stores import _schema as schema

from .helpers import NOW, make_user

pytestmark = pytest.mark.anyio


# -- URLs ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("SQLITE:///rel/auth.db", os.path.abspath("rel/auth.db")),
        ("sqlite:////abs/dir/auth.db", "/abs/dir/auth.db"),
        ("sqlite:////abs/with%20space.db", "/abs/with space.db"),
    ],
)
def test_url_forms(url: str, path: str | None) -> None:
    store = open_store(url)
    assert isinstance(store, SQLiteStore)
    assert store.path == path
    assert store.url == ("sqlite://" if path is None else f"sqlite:///{path}")


def test_url_options() -> None:
    store = open_store("sqlite:///x.db?busy_timeout=0.25")
    assert isinstance(store, SQLiteStore)
    assert store.busy_timeout == 0.25
    store = open_store("sqlite:///x.db", busy_timeout=2)
    assert isinstance(store, SQLiteStore)
    assert store.busy_timeout == 2.0


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("sqlite://host/x.db", {}, "no host"),
        ("sqlite:///x.db?journal=off", {}, "unknown SQLite URL parameter"),
        ("sqlite:///x.db?busy_timeout=soon", {}, "seconds"),
        ("sqlite:///x.db?busy_timeout=1", {"busy_timeout": 2}, "both"),
        ("sqlite:///x.db", {"pool_size": 3}, "unknown SQLite store option"),
        ("sqlite:///x.db", {"busy_timeout": -1}, "negative"),
        ("mysql://root@localhost/auth", {}, "unknown store URL"),
        ("auth.db", {}, "no scheme"),
    ],
)
def test_bad_urls_and_options(url: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        open_store(url, **options)


def test_select_lists_follow_the_row_converters_order() -> None:
    from sessionclaims.stores import _rows, _sqlite_ops

    assert f"SELECT {_rows.USER_COLUMNS} FROM users" == _sqlite_ops._USER
    assert f"SELECT {_rows.SESSION_COLUMNS} FROM sessions" == _sqlite_ops._SESSION


# -- the file --------------------------------------------------------------------------
async def test_file_is_created_in_wal_mode_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "auth.db"
    store = SQLiteStore(path)
    await store.open()
    user = make_user(public={"role": "admin"})
    await store.insert_user(user)
    await store.close()

    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        # byte-for-byte: the column holds exactly what dump_metadata wrote
        assert raw.execute("SELECT public_metadata FROM users").fetchone() == ('{"role":"admin"}',)
    finally:
        raw.close()

    reopened = SQLiteStore(path)
    await reopened.open()
    try:
        assert await reopened.get_user("user_1") == user
    finally:
        await reopened.close()


async def test_connection_settings(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "auth.db", busy_timeout=1.5)
    await store.open()

    def pragmas(conn: sqlite3.Connection) -> list[int]:
        names = ("synchronous", "foreign_keys", "busy_timeout")
        return [conn.execute(f"PRAGMA {name}").fetchone()[0] for name in names]

    try:
        assert await store._call(pragmas) == [1, 1, 1500]  # 1 = NORMAL
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("missing-dir/auth.db", "the directory .*missing-dir does not exist \\(create it"),
        ("a-directory", "unable to open"),
    ],
)
async def test_unreachable_path_is_store_unavailable(tmp_path: Path, where: str, says: str) -> None:
    (tmp_path / "a-directory").mkdir()
    store = SQLiteStore(tmp_path / where)
    with pytest.raises(StoreUnavailable, match=says):
        await store.open()
    with pytest.raises(StoreUnavailable, match="not open"):
        await store.get_user("user_1")


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the pages you are looking for\n" * 200)
    with pytest.raises(ConfigurationError, match="not an SQLite database"):
        await SQLiteStore(path).open()


async def test_closed_store_is_unavailable() -> None:
    store = SQLiteStore(None)
    await store.open()
    await store.close()
    with pytest.raises(StoreUnavailable, match="not open"):
        await store.insert_user(make_user())


async def test_locked_file_times_out_as_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "auth.db"
    store = SQLiteStore(path, busy_timeout=0.05)
    await store.open()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            await store.insert_user(make_user())
        assert await store.get_user("user_1") is None  # reads still work in WAL mode
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await store.insert_user(make_user())
    await store.close()


# -- migrations ------------------------------------------------------------------------
def recorded_versions(path: Path) -> list[int]:
    raw = sqlite3.connect(path)
    try:
        return [v for (v,) in raw.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    finally:
        raw.close()


def test_migrations_are_numbered_in_order() -> None:
    for migrations in (schema.SQLITE_MIGRATIONS, schema.POSTGRES_MIGRATIONS):
        assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))


async def test_older_file_is_migrated_and_keeps_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "auth.db"
    store = SQLiteStore(path)
    await store.open()
    await store.insert_user(make_user())
    await store.close()
    known = [migration.version for migration in schema.SQLITE_MIGRATIONS]
    assert recorded_versions(path) == known

    later = schema.Migration(
        known[-1] + 1,
        "an index for a later release",
        ("CREATE INDEX users_later ON users (updated_at)",),
    )
    monkeypatch.setattr(schema, "SQLITE_MIGRATIONS", [*schema.SQLITE_MIGRATIONS, later])
    monkeypatch.setattr("sessionclaims.stores.sqlite.SQLITE_MIGRATIONS", schema.SQLITE_MIGRATIONS)
    upgraded = SQLiteStore(path)
    await upgraded.open()
    await upgraded.close()
    await upgraded.open()  # nothing left to apply the second time
    try:
        assert await upgraded.get_user("user_1") == make_user()
    finally:
        await upgraded.close()
    assert recorded_versions(path) == [*known, known[-1] + 1]


async def test_file_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "auth.db"
    store = SQLiteStore(path)
    await store.open()
    await store.close()
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', 0)")
    raw.close()
    with pytest.raises(ConfigurationError, match=r"schema version 99.*newer"):
        await SQLiteStore(path).open()


async def test_a_failed_migration_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = [
        *schema.SQLITE_MIGRATIONS,
        schema.Migration(2, "broken", ("CREATE TABLE extra (x)", "THIS IS NOT SQL")),
    ]
    monkeypatch.setattr("sessionclaims.stores.sqlite.SQLITE_MIGRATIONS", broken)
    path = tmp_path / "auth.db"
    with pytest.raises(sqlite3.OperationalError):
        await SQLiteStore(path).open()
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []
    finally:
        raw.close()


# -- never blocking the event loop ------------------------------------------------------
async def test_calls_run_on_one_worker_thread_and_never_block_the_loop() -> None:
    store = SQLiteStore(None)
    await store.open()
    await store.insert_user(make_user())
    threads: list[int] = []
    ticks = 0

    def slow_merge(user: UserRecord) -> UserRecord:
        threads.append(threading.get_ident())
        time.sleep(0.3)  # a slow statement, as a huge file or a busy disk would make it
        return user.evolve(public_metadata={"slow": True})

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    try:
        await store.update_user("user_1", slow_merge, now_ms=NOW)
        await store.update_user(
            "user_1", lambda u: (threads.append(threading.get_ident()), u)[1], now_ms=NOW
        )
    finally:
        ticking.cancel()
        await store.close()
    assert ticks >= 10  # the loop kept running while the worker thread slept
    assert len(set(threads)) == 1
    assert threads[0] != threading.get_ident()


# -- several processes on one file -------------------------------------------------------
WORKER = """
import asyncio, sys
from sessionclaims.stores import SQLiteStore

async def main(path, prefix, count):
    store = SQLiteStore(path)
    await store.open()
    def add(key):
        return lambda u: u.evolve(public_metadata={**u.public_metadata, key: True},
                                  version=u.version + 1)
    await asyncio.gather(*(store.update_user("user_1", add(f"{prefix}{i}"), now_ms=1)
                           for i in range(count)))
    await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.mark.slow
async def test_worker_processes_sharing_a_file_lose_no_merge(tmp_path: Path) -> None:
    path = tmp_path / "auth.db"
    store = SQLiteStore(path)
    await store.open()
    await store.insert_user(make_user())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, str(path), prefix, "30", env=env
        )
        for prefix in ("a", "b", "c")
    ]
    try:
        codes = await asyncio.wait_for(
            asyncio.gather(*(worker.wait() for worker in workers)), timeout=60
        )
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    assert codes == [0, 0, 0]
    user = await store.get_user("user_1")
    await store.close()
    assert user is not None
    assert set(user.public_metadata) == {f"{p}{i}" for p in "abc" for i in range(30)}
    assert user.version == 91
