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

from .._errors import (
    AlreadyMember,
    MembershipNotFound,
    OrganizationNotFound,
    SessionNotFound,
    UserNotFound,
)
from ..models import SessionStatus
from . import _rows as rows
from .base import (
    ChangeKind,
    ChangeRecord,
    KeyRecord,
    MembershipMutation,
    MembershipRecord,
    OrganizationMutation,
    OrganizationRecord,
    SessionRecord,
    SessionView,
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
    " refresh_hash, origin, active_organization_id)"
    " SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s FROM users WHERE id = %s FOR SHARE"
)
_ORGANIZATION = rows.SELECT_ORGANIZATIONS
_MEMBERSHIP = rows.SELECT_MEMBERSHIPS
_INSERT_ORGANIZATION = (
    "INSERT INTO organizations (id, name, slug, created_at, updated_at, public_metadata,"
    " private_metadata, members_count, version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_MEMBERSHIP = (
    "INSERT INTO organization_memberships (id, organization_id, user_id, role, created_at,"
    " updated_at, public_metadata, private_metadata, version, token_bytes)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_MEMBER = " WHERE organization_id = %s AND user_id = %s"
_IS_MEMBER = "SELECT 1 FROM organization_memberships WHERE organization_id = %s AND user_id = %s"
_DELETE_MEMBER = (
    "DELETE FROM organization_memberships WHERE organization_id = %s AND user_id = %s"  # noqa: S608
    f" RETURNING {rows.MEMBERSHIP_COLUMNS}"
)
_SESSION_VIEW = rows.session_view_query("%s")
_LARGEST_MEMBER = rows.largest_member_query("%s")
# Row locks are always taken in this order, so that no two writers wait on each other:
# organizations (by id), users, memberships, sessions; the change log's advisory lock last.
# Lock, append, notify in one statement. The advisory lock is held until commit, so
# appends commit in sequence order: a reader that has seen seq N never later finds a
# smaller one. NOTIFY is delivered at commit, and only if the transaction commits.
_APPEND_CHANGE = (
    "WITH serialized AS (SELECT pg_advisory_xact_lock(%s)),"
    " appended AS (INSERT INTO changes"
    " (kind, user_id, session_id, version, created_at, organization_id)"
    " SELECT %s, %s, %s, %s, %s, %s FROM serialized RETURNING seq)"
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
    organization_id: str | None = None,
) -> None:
    params = (
        feed.lock_key,
        kind,
        user_id,
        session_id,
        version,
        now_ms,
        organization_id,
        feed.channel,
    )
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
        await conn.execute(  # the lock order: the user's organizations first
            "SELECT id FROM organizations WHERE id IN (SELECT organization_id FROM"
            " organization_memberships WHERE user_id = %s) ORDER BY id FOR UPDATE",
            (user_id,),
        )
        cursor = await conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
        if cursor.rowcount == 0:
            raise UserNotFound(user_id)
        cursor = await conn.execute(
            "DELETE FROM organization_memberships WHERE user_id = %s RETURNING organization_id",
            (user_id,),
        )
        left = sorted(org_id for (org_id,) in await cursor.fetchall())
        if left:
            await conn.execute(
                "UPDATE organizations SET members_count = members_count - 1 WHERE id = ANY(%s)",
                (left,),
            )
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
    org_id = session.active_organization_id
    if org_id is None:
        if (await conn.execute(_INSERT_SESSION, params)).rowcount == 0:
            raise UserNotFound(session.user_id)
        return
    async with conn.transaction():
        if (await conn.execute(_INSERT_SESSION, params)).rowcount == 0:
            raise UserNotFound(session.user_id)
        await _check_member(conn, org_id, session.user_id)


async def _check_member(conn: Connection, org_id: str, user_id: str) -> None:
    """:class:`~sessionclaims.NotAMember` unless the membership exists; share-locks it
    until the transaction ends (a concurrent delete waits, then sees what this wrote)."""
    query = _IS_MEMBER + " FOR SHARE"
    found = await conn.execute(query, (org_id, user_id))
    rows.check_member(await found.fetchone(), org_id, user_id)


async def get_session(conn: Connection, session_id: str) -> SessionRecord | None:
    row = await (await conn.execute(_SESSION + " WHERE id = %s", (session_id,))).fetchone()
    return None if row is None else rows.session_from_row(row)


async def get_session_with_user(conn: Connection, session_id: str) -> SessionView | None:
    row = await (await conn.execute(_SESSION_VIEW, (session_id,))).fetchone()
    return rows.session_view(row)


async def set_active_organization(
    conn: Connection, session_id: str, org_id: str | None, now_ms: int
) -> SessionRecord:
    async with conn.transaction():
        if org_id is not None:
            # A session's user never changes: read it unlocked, lock the membership, then
            # the session (the lock order).
            found = await conn.execute("SELECT user_id FROM sessions WHERE id = %s", (session_id,))
            owner = await found.fetchone()
            if owner is None:
                raise SessionNotFound(session_id)
            await _check_member(conn, org_id, owner[0])
        cursor = await conn.execute(_SESSION + " WHERE id = %s FOR UPDATE", (session_id,))
        row = await cursor.fetchone()
        if row is None:
            raise SessionNotFound(session_id)
        session = rows.session_from_row(row)
        rows.check_active(session, now_ms)
        await conn.execute(
            "UPDATE sessions SET active_organization_id = %s WHERE id = %s", (org_id, session_id)
        )
    return session.evolve(active_organization_id=org_id)


# -- organizations ----------------------------------------------------------------------
async def insert_organization(
    conn: Connection, org: OrganizationRecord, creator: MembershipRecord | None
) -> None:
    async with conn.transaction():
        counted = org.evolve(members_count=0 if creator is None else 1)
        await conn.execute(_INSERT_ORGANIZATION, rows.organization_params(counted))
        if creator is not None:
            await _insert_member(conn, creator)


async def get_organization(conn: Connection, org_id: str) -> OrganizationRecord | None:
    row = await (await conn.execute(_ORGANIZATION + " WHERE id = %s", (org_id,))).fetchone()
    return None if row is None else rows.organization_from_row(row)


async def get_organization_by_slug(conn: Connection, slug: str) -> OrganizationRecord | None:
    row = await (await conn.execute(_ORGANIZATION + " WHERE slug = %s", (slug,))).fetchone()
    return None if row is None else rows.organization_from_row(row)


async def list_organizations(
    conn: Connection, limit: int, offset: int, query: str | None
) -> tuple[list[OrganizationRecord], int]:
    where, params = rows.organization_filter(query, "%s", "lower")
    async with conn.transaction():  # one snapshot for the page and the count
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        sql = _ORGANIZATION + where + " ORDER BY created_at, id LIMIT %s OFFSET %s"
        page = await (await conn.execute(sql, (*params, limit, offset))).fetchall()
        count = "SELECT COUNT(*) FROM organizations" + where  # noqa: S608 - constant fragments
        (total,) = await _one(conn, count, tuple(params))
    return [rows.organization_from_row(row) for row in page], int(total)


async def update_organization(
    conn: Connection, feed: Feed, org_id: str, mutate: OrganizationMutation, now_ms: int
) -> tuple[OrganizationRecord, OrganizationRecord]:
    async with conn.transaction():
        cursor = await conn.execute(_ORGANIZATION + " WHERE id = %s FOR UPDATE", (org_id,))
        row = await cursor.fetchone()
        if row is None:
            raise OrganizationNotFound(org_id)
        before, after = rows.organization_mutated(row, org_id, mutate)
        if after is before:
            return before, before
        params = rows.organization_params(after)
        await conn.execute(
            "UPDATE organizations SET name = %s, slug = %s, created_at = %s, updated_at = %s,"
            " public_metadata = %s, private_metadata = %s, version = %s WHERE id = %s",
            (*params[1:7], after.version, org_id),
        )
        if after.version != before.version:
            await _append_change(
                conn, feed, "organization", now_ms, organization_id=org_id, version=after.version
            )
    return before, after


async def delete_organization(conn: Connection, feed: Feed, org_id: str, now_ms: int) -> None:
    async with conn.transaction():
        cursor = await conn.execute("DELETE FROM organizations WHERE id = %s", (org_id,))
        if cursor.rowcount == 0:
            raise OrganizationNotFound(org_id)
        await conn.execute(
            "DELETE FROM organization_memberships WHERE organization_id = %s", (org_id,)
        )
        await conn.execute(
            "UPDATE sessions SET active_organization_id = NULL WHERE active_organization_id = %s",
            (org_id,),
        )
        await _append_change(conn, feed, "organization_deleted", now_ms, organization_id=org_id)


# -- memberships ------------------------------------------------------------------------
async def _insert_member(conn: Connection, membership: MembershipRecord) -> None:
    """Insert ``membership`` (its organization, already locked, counts it)."""
    org_id, user_id = membership.organization_id, membership.user_id
    found = await conn.execute("SELECT 1 FROM users WHERE id = %s FOR SHARE", (user_id,))
    if await found.fetchone() is None:
        raise UserNotFound(user_id)
    found = await conn.execute(_IS_MEMBER, (org_id, user_id))
    if await found.fetchone() is not None:
        raise AlreadyMember(org_id, user_id)
    await conn.execute(_INSERT_MEMBERSHIP, rows.membership_params(membership))


async def insert_membership(conn: Connection, feed: Feed, membership: MembershipRecord) -> None:
    async with conn.transaction():
        org_id = membership.organization_id
        counted = await conn.execute(
            "UPDATE organizations SET members_count = members_count + 1 WHERE id = %s", (org_id,)
        )
        if counted.rowcount == 0:
            raise OrganizationNotFound(org_id)
        await _insert_member(conn, membership)
        await _append_change(
            conn,
            feed,
            "membership",
            membership.created_at,
            organization_id=org_id,
            user_id=membership.user_id,
            version=membership.version,
        )


async def get_membership(conn: Connection, org_id: str, user_id: str) -> MembershipRecord | None:
    row = await (await conn.execute(_MEMBERSHIP + _MEMBER, (org_id, user_id))).fetchone()
    return None if row is None else rows.membership_from_row(row)


async def list_memberships(
    conn: Connection, organization_id: str | None, user_id: str | None, limit: int, offset: int
) -> tuple[list[tuple[MembershipRecord, OrganizationRecord]], int]:
    where, params = rows.membership_filter(organization_id, user_id, "%s")
    async with conn.transaction():  # one snapshot for the page and the count
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        query = rows.list_memberships_query(where, "%s")
        page = await (await conn.execute(query, (*params, limit, offset))).fetchall()
        count = "SELECT COUNT(*) FROM organization_memberships m" + where  # noqa: S608
        (total,) = await _one(conn, count, tuple(params))
    return [rows.membership_with_organization(row) for row in page], int(total)


async def update_membership(
    conn: Connection,
    feed: Feed,
    org_id: str,
    user_id: str,
    mutate: MembershipMutation,
    now_ms: int,
) -> tuple[MembershipRecord, MembershipRecord]:
    async with conn.transaction():
        cursor = await conn.execute(_MEMBERSHIP + _MEMBER + " FOR UPDATE", (org_id, user_id))
        row = await cursor.fetchone()
        if row is None:
            raise MembershipNotFound(org_id, user_id)
        what = f"the membership of {user_id!r} in {org_id!r}"
        before, after = rows.membership_mutated(row, what, mutate)
        if after is before:
            return before, before
        params = rows.membership_params(after)
        await conn.execute(
            "UPDATE organization_memberships SET role = %s, created_at = %s, updated_at = %s,"
            " public_metadata = %s, private_metadata = %s, version = %s, token_bytes = %s"
            " WHERE id = %s",
            (*params[3:], before.id),
        )
        if after.version != before.version:
            await _append_change(
                conn,
                feed,
                "membership",
                now_ms,
                organization_id=org_id,
                user_id=user_id,
                version=after.version,
            )
    return before, after


async def delete_membership(
    conn: Connection, feed: Feed, org_id: str, user_id: str, now_ms: int
) -> MembershipRecord:
    async with conn.transaction():
        # Uncounting first locks the organization (the lock order), as insert_membership's
        # count does; a refusal below rolls it back.
        counted = await conn.execute(
            "UPDATE organizations SET members_count = members_count - 1 WHERE id = %s", (org_id,)
        )
        if counted.rowcount == 0:
            raise MembershipNotFound(org_id, user_id)
        row = await (await conn.execute(_DELETE_MEMBER, (org_id, user_id))).fetchone()
        if row is None:
            raise MembershipNotFound(org_id, user_id)
        await conn.execute(
            "UPDATE sessions SET active_organization_id = NULL"
            " WHERE user_id = %s AND active_organization_id = %s",
            (user_id, org_id),
        )
        await _append_change(
            conn, feed, "membership_deleted", now_ms, organization_id=org_id, user_id=user_id
        )
    return rows.membership_from_row(row)


async def largest_member(
    conn: Connection, org_id: str
) -> tuple[MembershipRecord, UserRecord] | None:
    row = await (await conn.execute(_LARGEST_MEMBER, (org_id,))).fetchone()
    return rows.member_and_user(row)


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
        f"SELECT {rows.CHANGE_COLUMNS} FROM changes WHERE seq > %s ORDER BY seq LIMIT %s",  # noqa: S608
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
