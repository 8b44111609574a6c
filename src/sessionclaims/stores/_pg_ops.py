"""The PostgreSQL store's operations: coroutines on one pooled connection.

Connections are in autocommit mode with ``search_path`` set to the store's schema; an
operation that writes more than one statement opens its own transaction. Read-modify-
writes lock their row (``SELECT ... FOR UPDATE``) at the default READ COMMITTED level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from .._errors import SessionNotFound, UserNotFound
from ..models import SessionStatus
from . import _rows as rows
from .base import (
    ChangeKind,
    ChangeRecord,
    KeyRecord,
    SessionRecord,
    SignUpRecord,
    UserMutation,
    UserRecord,
)

Connection = psycopg.AsyncConnection[tuple[Any, ...]]

_USER = rows.SELECT_USERS
_SESSION = rows.SELECT_SESSIONS
_INSERT_USER = (
    "INSERT INTO users (id, external_id, created_at, updated_at, public_metadata,"
    " private_metadata, unsafe_metadata, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
# The user row is share-locked: a concurrent delete_user either waits for this insert
# (and then revokes the new session) or has already removed the user (no row: no insert).
_INSERT_SESSION = (
    "INSERT INTO sessions (id, user_id, status, created_at, expire_at, last_active_at,"
    " refresh_hash, origin) SELECT %s, %s, %s, %s, %s, %s, %s, %s FROM users"
    " WHERE id = %s FOR SHARE"
)
# Lock, append, notify in one statement. The advisory lock is held until commit, so
# appends commit in sequence order: a reader that has seen seq N never later finds a
# smaller one. NOTIFY is delivered at commit, and only if the transaction commits.
_APPEND_CHANGE = (
    "WITH serialized AS (SELECT pg_advisory_xact_lock(%s)),"
    " appended AS (INSERT INTO changes (kind, user_id, session_id, version, created_at)"
    " SELECT %s, %s, %s, %s, %s FROM serialized RETURNING seq)"
    " SELECT pg_notify(%s, seq::text) FROM appended"
)


@dataclass(frozen=True, slots=True)
class Feed:
    """Where change-log appends serialize (an advisory lock key) and notify (a channel)."""

    lock_key: int
    channel: str


async def _append_change(
    conn: Connection,
    feed: Feed,
    kind: ChangeKind,
    now_ms: int,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    version: int | None = None,
) -> None:
    params = (feed.lock_key, kind, user_id, session_id, version, now_ms, feed.channel)
    await conn.execute(_APPEND_CHANGE, params)


async def _one(conn: Connection, query: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    row = await (await conn.execute(query, params)).fetchone()
    assert row is not None  # aggregates always return a row
    return row


# -- users ------------------------------------------------------------------------------
async def insert_user(conn: Connection, user: UserRecord) -> None:
    await conn.execute(_INSERT_USER, rows.user_params(user))


async def get_user(conn: Connection, user_id: str) -> UserRecord | None:
    row = await (await conn.execute(_USER + " WHERE id = %s", (user_id,))).fetchone()
    return None if row is None else rows.user_from_row(row)


def _external_id_filter(external_id: str | None) -> tuple[str, tuple[Any, ...]]:
    return ("", ()) if external_id is None else (" WHERE external_id = %s", (external_id,))


async def get_user_by_external_id(conn: Connection, external_id: str) -> UserRecord | None:
    found = await conn.execute(_USER + " WHERE external_id = %s", (external_id,))
    row = await found.fetchone()
    return None if row is None else rows.user_from_row(row)


async def list_users(
    conn: Connection, limit: int, offset: int, external_id: str | None
) -> tuple[list[UserRecord], int]:
    where, params = _external_id_filter(external_id)
    query = _USER + where + " ORDER BY created_at, id LIMIT %s OFFSET %s"
    page = await (await conn.execute(query, (*params, limit, offset))).fetchall()
    (total,) = await _one(conn, "SELECT COUNT(*) FROM users" + where, params)  # noqa: S608 (fixed text)
    return [rows.user_from_row(row) for row in page], int(total)


async def update_user(
    conn: Connection, feed: Feed, user_id: str, mutate: UserMutation, now_ms: int
) -> tuple[UserRecord, UserRecord]:
    async with conn.transaction():
        cursor = await conn.execute(_USER + " WHERE id = %s FOR UPDATE", (user_id,))
        row = await cursor.fetchone()
        if row is None:
            raise UserNotFound(user_id)
        before, after = rows.mutated(row, user_id, mutate)
        if after is before:
            return before, before
        await conn.execute(
            "UPDATE users SET external_id = %s, created_at = %s, updated_at = %s,"
            " public_metadata = %s, private_metadata = %s, unsafe_metadata = %s,"
            " version = %s WHERE id = %s",
            (*rows.user_params(after)[1:], user_id),
        )
        if after.version != before.version:
            await _append_change(conn, feed, "user", now_ms, user_id=user_id, version=after.version)
    return before, after


async def delete_user(conn: Connection, feed: Feed, user_id: str, now_ms: int) -> list[str]:
    async with conn.transaction():
        cursor = await conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
        if cursor.rowcount == 0:
            raise UserNotFound(user_id)
        cursor = await conn.execute(
            "UPDATE sessions SET status = 'revoked' WHERE user_id = %s AND status = 'active'"
            " RETURNING created_at, id",
            (user_id,),
        )
        revoked = [session_id for _, session_id in sorted(await cursor.fetchall())]
        await _append_change(conn, feed, "user_deleted", now_ms, user_id=user_id)
    return revoked


# -- sessions ---------------------------------------------------------------------------
async def insert_session(conn: Connection, session: SessionRecord) -> None:
    params = (*rows.session_params(session), session.user_id)
    if (await conn.execute(_INSERT_SESSION, params)).rowcount == 0:
        raise UserNotFound(session.user_id)


async def get_session(conn: Connection, session_id: str) -> SessionRecord | None:
    row = await (await conn.execute(_SESSION + " WHERE id = %s", (session_id,))).fetchone()
    return None if row is None else rows.session_from_row(row)


async def get_session_with_user(
    conn: Connection, session_id: str
) -> tuple[SessionRecord, UserRecord | None] | None:
    session = await get_session(conn, session_id)
    if session is None:
        return None
    return session, await get_user(conn, session.user_id)


async def list_sessions(
    conn: Connection,
    user_id: str | None,
    status: SessionStatus | None,
    now_ms: int,
    limit: int,
    offset: int,
) -> tuple[list[SessionRecord], int]:
    where, params = rows.session_filter(user_id, status, now_ms, "%s")
    query = _SESSION + where + " ORDER BY created_at, id LIMIT %s OFFSET %s"
    page = await (await conn.execute(query, (*params, limit, offset))).fetchall()
    count = "SELECT COUNT(*) FROM sessions" + where  # noqa: S608 - constant fragments
    (total,) = await _one(conn, count, tuple(params))
    return [rows.session_from_row(row) for row in page], int(total)


async def end_session(
    conn: Connection, feed: Feed, session_id: str, status: SessionStatus, now_ms: int
) -> SessionRecord:
    async with conn.transaction():
        cursor = await conn.execute(_SESSION + " WHERE id = %s FOR UPDATE", (session_id,))
        row = await cursor.fetchone()
        if row is None:
            raise SessionNotFound(session_id)
        session = rows.ended(rows.session_from_row(row), session_id, status, now_ms)
        await conn.execute("UPDATE sessions SET status = %s WHERE id = %s", (status, session_id))
        await _append_change(
            conn, feed, "session", now_ms, user_id=session.user_id, session_id=session_id
        )
    return session


async def touch_session(conn: Connection, session_id: str, now_ms: int) -> None:
    cursor = await conn.execute(
        "UPDATE sessions SET last_active_at = GREATEST(last_active_at, %s) WHERE id = %s",
        (now_ms, session_id),
    )
    if cursor.rowcount == 0:
        raise SessionNotFound(session_id)


# -- sign-ups ---------------------------------------------------------------------------
async def insert_sign_up(conn: Connection, sign_up: SignUpRecord) -> None:
    await conn.execute(
        "INSERT INTO sign_ups (id, status, unsafe_metadata, created_at, user_id)"
        " VALUES (%s, %s, %s, %s, %s)",
        rows.sign_up_params(sign_up),
    )


async def get_sign_up(conn: Connection, sign_up_id: str) -> SignUpRecord | None:
    cursor = await conn.execute(
        "SELECT id, status, unsafe_metadata, created_at, user_id FROM sign_ups WHERE id = %s",
        (sign_up_id,),
    )
    row = await cursor.fetchone()
    return None if row is None else rows.sign_up_from_row(row)


async def complete_sign_up(
    conn: Connection, sign_up_id: str, user: UserRecord, session: SessionRecord
) -> None:
    async with conn.transaction():
        cursor = await conn.execute(
            "SELECT status FROM sign_ups WHERE id = %s FOR UPDATE", (sign_up_id,)
        )
        rows.check_sign_up_pending(await cursor.fetchone(), sign_up_id)
        await conn.execute(_INSERT_USER, rows.user_params(user))
        await insert_session(conn, session)
        await conn.execute(
            "UPDATE sign_ups SET status = 'complete', user_id = %s WHERE id = %s",
            (user.id, sign_up_id),
        )


# -- signing keys -----------------------------------------------------------------------
async def list_keys(conn: Connection) -> list[KeyRecord]:
    cursor = await conn.execute(
        "SELECT kid, alg, private_key, public_jwk, created_at, retire_at FROM signing_keys"
        " ORDER BY created_at, kid"
    )
    return [rows.key_from_row(row) for row in await cursor.fetchall()]


async def insert_key(
    conn: Connection, feed: Feed, key: KeyRecord, retire_others_at: int | None
) -> None:
    async with conn.transaction():
        if retire_others_at is not None:
            await conn.execute(
                "UPDATE signing_keys SET retire_at = %s WHERE retire_at IS NULL",
                (retire_others_at,),
            )
        await conn.execute(
            "INSERT INTO signing_keys (kid, alg, private_key, public_jwk, created_at, retire_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            rows.key_params(key),
        )
        await _append_change(conn, feed, "keys", key.created_at)


async def replace_private_keys(
    conn: Connection, updates: Sequence[tuple[str, bytes, bytes]]
) -> int:
    sql = "UPDATE signing_keys SET private_key = %s WHERE kid = %s AND private_key = %s"
    replaced = 0
    async with conn.transaction():
        for kid, old, new in updates:
            replaced += (await conn.execute(sql, (new, kid, old))).rowcount
    return replaced


async def delete_retired_keys(conn: Connection, feed: Feed, now_ms: int) -> int:
    async with conn.transaction():
        cursor = await conn.execute(
            "DELETE FROM signing_keys WHERE retire_at IS NOT NULL AND retire_at <= %s", (now_ms,)
        )
        deleted = cursor.rowcount
        if deleted:
            await _append_change(conn, feed, "keys", now_ms)
    return deleted


# -- change log -------------------------------------------------------------------------
async def changes_since(conn: Connection, seq: int, limit: int) -> list[ChangeRecord]:
    cursor = await conn.execute(
        "SELECT seq, kind, user_id, session_id, version, created_at FROM changes"
        " WHERE seq > %s ORDER BY seq LIMIT %s",
        (seq, limit),
    )
    return [rows.change_from_row(row) for row in await cursor.fetchall()]


async def last_change_seq(conn: Connection) -> int:
    (seq,) = await _one(conn, "SELECT COALESCE(MAX(seq), 0) FROM changes")
    return int(seq)


async def prune_changes(conn: Connection, before_ms: int) -> int:
    cursor = await conn.execute(
        "DELETE FROM changes WHERE created_at < %s AND seq < (SELECT MAX(seq) FROM changes)",
        (before_ms,),
    )
    return cursor.rowcount
