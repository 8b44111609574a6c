"""The SQLite store's operations: plain blocking functions on one ``sqlite3`` connection.

:class:`~sessionclaims.stores.sqlite.SQLiteStore` runs each of them on its worker
thread. Every write runs in ``BEGIN IMMEDIATE``, which takes the file's write lock up
front: a read-modify-write is atomic across threads, store instances and processes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .._errors import (
    AlreadyMember,
    MembershipNotFound,
    OrganizationNotFound,
    SessionNotFound,
    UserNotFound,
)
from ..models import SessionStatus
from . import _rows as rows
from ._schema import Migration, announce, pending_migrations, report_message
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

_USER = rows.SELECT_USERS
_SESSION = rows.SELECT_SESSIONS
# Column lists are spelled out (in the order of ``_rows``) so each statement reads whole.
_INSERT_USER = (
    "INSERT INTO users (id, external_id, created_at, updated_at, public_metadata,"
    " private_metadata, unsafe_metadata, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_SESSION = (
    "INSERT INTO sessions (id, user_id, status, created_at, expire_at, last_active_at,"
    " refresh_hash, origin, active_organization_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ORGANIZATION = rows.SELECT_ORGANIZATIONS
_MEMBERSHIP = rows.SELECT_MEMBERSHIPS
_INSERT_ORGANIZATION = (
    "INSERT INTO organizations (id, name, slug, created_at, updated_at, public_metadata,"
    " private_metadata, members_count, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_MEMBERSHIP = (
    "INSERT INTO organization_memberships (id, organization_id, user_id, role, created_at,"
    " updated_at, public_metadata, private_metadata, version, token_bytes)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_MEMBER = " WHERE organization_id = ? AND user_id = ?"
_IS_MEMBER = "SELECT 1 FROM organization_memberships WHERE organization_id = ? AND user_id = ?"
_SESSION_VIEW = rows.session_view_query("?")
_LARGEST_MEMBER = rows.largest_member_query("?")


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def register_functions(conn: sqlite3.Connection) -> None:
    """SQL functions the operations use: ``sc_lower`` lower-cases all of Unicode, as
    PostgreSQL's ``lower`` does (SQLite's own lowers ASCII only)."""
    conn.create_function("sc_lower", 1, _lower, deterministic=True)


@contextmanager
def write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; any exception rolls back and propagates."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction: the statements inside see one state of the file."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection, migrations: list[Migration], where: str) -> None:
    """Apply the pending ``migrations`` in one transaction (see ``_schema``), then log
    what their reports found."""
    reports: list[str] = []
    with write(conn):
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
            " description TEXT NOT NULL, applied_at INTEGER NOT NULL)"
        )
        (current,) = conn.execute(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
        ).fetchone()
        for migration in pending_migrations(migrations, int(current), where):
            for statement in migration.statements:
                conn.execute(statement)
            if migration.report is not None:
                found = conn.execute(migration.report).fetchall()
                if found:
                    reports.append(report_message(migration, found))
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                (migration.version, migration.description, int(time.time() * 1000)),
            )
    announce(reports)


def _append_change(
    conn: sqlite3.Connection,
    kind: ChangeKind,
    now_ms: int,
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    version: int | None = None,
    organization_id: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO changes (kind, user_id, session_id, version, created_at, organization_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (kind, user_id, session_id, version, now_ms, organization_id),
    )


# -- users ------------------------------------------------------------------------------
def insert_user(conn: sqlite3.Connection, user: UserRecord) -> None:
    with write(conn):
        conn.execute(_INSERT_USER, rows.user_params(user))


def get_user(conn: sqlite3.Connection, user_id: str) -> UserRecord | None:
    row = conn.execute(_USER + " WHERE id = ?", (user_id,)).fetchone()
    return None if row is None else rows.user_from_row(row)


def _external_id_filter(external_id: str | None) -> tuple[str, tuple[Any, ...]]:
    return ("", ()) if external_id is None else (" WHERE external_id = ?", (external_id,))


def get_user_by_external_id(conn: sqlite3.Connection, external_id: str) -> UserRecord | None:
    row = conn.execute(_USER + " WHERE external_id = ?", (external_id,)).fetchone()
    return None if row is None else rows.user_from_row(row)


def list_users(
    conn: sqlite3.Connection, limit: int, offset: int, external_id: str | None
) -> tuple[list[UserRecord], int]:
    where, params = _external_id_filter(external_id)
    with snapshot(conn):
        page = conn.execute(
            _USER + where + " ORDER BY created_at, id LIMIT ? OFFSET ?", (*params, limit, offset)
        )
        users = [rows.user_from_row(row) for row in page]
        (total,) = conn.execute("SELECT COUNT(*) FROM users" + where, params).fetchone()  # noqa: S608
    return users, int(total)


def update_user(
    conn: sqlite3.Connection, user_id: str, mutate: UserMutation, now_ms: int
) -> tuple[UserRecord, UserRecord]:
    with write(conn):
        row = conn.execute(_USER + " WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            raise UserNotFound(user_id)
        before, after = rows.mutated(row, user_id, mutate)
        if after is before:
            return before, before
        conn.execute(
            "UPDATE users SET external_id = ?, created_at = ?, updated_at = ?,"
            " public_metadata = ?, private_metadata = ?, unsafe_metadata = ?, version = ?"
            " WHERE id = ?",
            (*rows.user_params(after)[1:], user_id),
        )
        if after.version != before.version:
            _append_change(conn, "user", now_ms, user_id=user_id, version=after.version)
    return before, after


def delete_user(conn: sqlite3.Connection, user_id: str, now_ms: int) -> list[str]:
    with write(conn):
        if conn.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount == 0:
            raise UserNotFound(user_id)
        conn.execute(
            "UPDATE organizations SET members_count = members_count - 1 WHERE id IN"
            " (SELECT organization_id FROM organization_memberships WHERE user_id = ?)",
            (user_id,),
        )
        conn.execute("DELETE FROM organization_memberships WHERE user_id = ?", (user_id,))
        revoked = [
            session_id
            for (session_id,) in conn.execute(
                "SELECT id FROM sessions WHERE user_id = ? AND status = 'active'"
                " ORDER BY created_at, id",
                (user_id,),
            )
        ]
        conn.execute(
            "UPDATE sessions SET status = 'revoked' WHERE user_id = ? AND status = 'active'",
            (user_id,),
        )
        _append_change(conn, "user_deleted", now_ms, user_id=user_id)
    return revoked


# -- sessions ---------------------------------------------------------------------------
def insert_session(conn: sqlite3.Connection, session: SessionRecord) -> None:
    with write(conn):
        _insert_session(conn, session)


def _insert_session(conn: sqlite3.Connection, session: SessionRecord) -> None:
    params = rows.session_params(session)
    if conn.execute("SELECT 1 FROM users WHERE id = ?", (session.user_id,)).fetchone() is None:
        raise UserNotFound(session.user_id)
    org_id = session.active_organization_id
    if org_id is not None:
        _check_member(conn, org_id, session.user_id)
    conn.execute(_INSERT_SESSION, params)


def _check_member(conn: sqlite3.Connection, org_id: str, user_id: str) -> None:
    found = conn.execute(_IS_MEMBER, (org_id, user_id))
    rows.check_member(found.fetchone(), org_id, user_id)


def get_session(conn: sqlite3.Connection, session_id: str) -> SessionRecord | None:
    row = conn.execute(_SESSION + " WHERE id = ?", (session_id,)).fetchone()
    return None if row is None else rows.session_from_row(row)


def get_session_with_user(conn: sqlite3.Connection, session_id: str) -> SessionView | None:
    return rows.session_view(conn.execute(_SESSION_VIEW, (session_id,)).fetchone())


def set_active_organization(
    conn: sqlite3.Connection, session_id: str, org_id: str | None, now_ms: int
) -> SessionRecord:
    with write(conn):
        row = conn.execute(_SESSION + " WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise SessionNotFound(session_id)
        session = rows.session_from_row(row)
        rows.check_active(session, now_ms)
        if org_id is not None:
            _check_member(conn, org_id, session.user_id)
        conn.execute(
            "UPDATE sessions SET active_organization_id = ? WHERE id = ?", (org_id, session_id)
        )
    return session.evolve(active_organization_id=org_id)


# -- organizations ----------------------------------------------------------------------
def insert_organization(
    conn: sqlite3.Connection, org: OrganizationRecord, creator: MembershipRecord | None
) -> None:
    with write(conn):
        counted = org.evolve(members_count=0 if creator is None else 1)
        conn.execute(_INSERT_ORGANIZATION, rows.organization_params(counted))
        if creator is not None:
            _insert_member(conn, creator)


def get_organization(conn: sqlite3.Connection, org_id: str) -> OrganizationRecord | None:
    row = conn.execute(_ORGANIZATION + " WHERE id = ?", (org_id,)).fetchone()
    return None if row is None else rows.organization_from_row(row)


def get_organization_by_slug(conn: sqlite3.Connection, slug: str) -> OrganizationRecord | None:
    row = conn.execute(_ORGANIZATION + " WHERE slug = ?", (slug,)).fetchone()
    return None if row is None else rows.organization_from_row(row)


def list_organizations(
    conn: sqlite3.Connection, limit: int, offset: int, query: str | None
) -> tuple[list[OrganizationRecord], int]:
    where, params = rows.organization_filter(query, "?", "sc_lower")
    with snapshot(conn):
        page = conn.execute(
            _ORGANIZATION + where + " ORDER BY created_at, id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        orgs = [rows.organization_from_row(row) for row in page]
        count = "SELECT COUNT(*) FROM organizations" + where  # noqa: S608 - constant fragments
        (total,) = conn.execute(count, params).fetchone()
    return orgs, int(total)


def update_organization(
    conn: sqlite3.Connection, org_id: str, mutate: OrganizationMutation, now_ms: int
) -> tuple[OrganizationRecord, OrganizationRecord]:
    with write(conn):
        row = conn.execute(_ORGANIZATION + " WHERE id = ?", (org_id,)).fetchone()
        if row is None:
            raise OrganizationNotFound(org_id)
        before, after = rows.organization_mutated(row, org_id, mutate)
        if after is before:
            return before, before
        params = rows.organization_params(after)
        conn.execute(
            "UPDATE organizations SET name = ?, slug = ?, created_at = ?, updated_at = ?,"
            " public_metadata = ?, private_metadata = ?, version = ? WHERE id = ?",
            (*params[1:7], after.version, org_id),
        )
        if after.version != before.version:
            _append_change(
                conn, "organization", now_ms, organization_id=org_id, version=after.version
            )
    return before, after


def delete_organization(conn: sqlite3.Connection, org_id: str, now_ms: int) -> None:
    with write(conn):
        if conn.execute("DELETE FROM organizations WHERE id = ?", (org_id,)).rowcount == 0:
            raise OrganizationNotFound(org_id)
        conn.execute("DELETE FROM organization_memberships WHERE organization_id = ?", (org_id,))
        conn.execute(
            "UPDATE sessions SET active_organization_id = NULL WHERE active_organization_id = ?",
            (org_id,),
        )
        _append_change(conn, "organization_deleted", now_ms, organization_id=org_id)


# -- memberships ------------------------------------------------------------------------
def _insert_member(conn: sqlite3.Connection, membership: MembershipRecord) -> None:
    """Insert ``membership`` (its organization already counts it)."""
    org_id, user_id = membership.organization_id, membership.user_id
    if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
        raise UserNotFound(user_id)
    if conn.execute(_IS_MEMBER, (org_id, user_id)).fetchone():
        raise AlreadyMember(org_id, user_id)
    conn.execute(_INSERT_MEMBERSHIP, rows.membership_params(membership))


def insert_membership(conn: sqlite3.Connection, membership: MembershipRecord) -> None:
    with write(conn):
        org_id = membership.organization_id
        counted = conn.execute(
            "UPDATE organizations SET members_count = members_count + 1 WHERE id = ?", (org_id,)
        )
        if counted.rowcount == 0:
            raise OrganizationNotFound(org_id)
        _insert_member(conn, membership)
        _append_change(
            conn,
            "membership",
            membership.created_at,
            organization_id=org_id,
            user_id=membership.user_id,
            version=membership.version,
        )


def get_membership(conn: sqlite3.Connection, org_id: str, user_id: str) -> MembershipRecord | None:
    row = conn.execute(_MEMBERSHIP + _MEMBER, (org_id, user_id)).fetchone()
    return None if row is None else rows.membership_from_row(row)


def list_memberships(
    conn: sqlite3.Connection,
    organization_id: str | None,
    user_id: str | None,
    limit: int,
    offset: int,
) -> tuple[list[tuple[MembershipRecord, OrganizationRecord]], int]:
    where, params = rows.membership_filter(organization_id, user_id, "?")
    with snapshot(conn):
        page = conn.execute(rows.list_memberships_query(where, "?"), (*params, limit, offset))
        found = [rows.membership_with_organization(row) for row in page]
        count = "SELECT COUNT(*) FROM organization_memberships m" + where  # noqa: S608
        (total,) = conn.execute(count, params).fetchone()
    return found, int(total)


def update_membership(
    conn: sqlite3.Connection,
    org_id: str,
    user_id: str,
    mutate: MembershipMutation,
    now_ms: int,
) -> tuple[MembershipRecord, MembershipRecord]:
    with write(conn):
        row = conn.execute(_MEMBERSHIP + _MEMBER, (org_id, user_id)).fetchone()
        if row is None:
            raise MembershipNotFound(org_id, user_id)
        what = f"the membership of {user_id!r} in {org_id!r}"
        before, after = rows.membership_mutated(row, what, mutate)
        if after is before:
            return before, before
        params = rows.membership_params(after)
        conn.execute(
            "UPDATE organization_memberships SET role = ?, created_at = ?, updated_at = ?,"
            " public_metadata = ?, private_metadata = ?, version = ?, token_bytes = ?"
            " WHERE id = ?",
            (*params[3:], before.id),
        )
        if after.version != before.version:
            _append_change(
                conn,
                "membership",
                now_ms,
                organization_id=org_id,
                user_id=user_id,
                version=after.version,
            )
    return before, after


def delete_membership(
    conn: sqlite3.Connection, org_id: str, user_id: str, now_ms: int
) -> MembershipRecord:
    with write(conn):
        row = conn.execute(_MEMBERSHIP + _MEMBER, (org_id, user_id)).fetchone()
        if row is None:
            raise MembershipNotFound(org_id, user_id)
        membership = rows.membership_from_row(row)
        conn.execute("DELETE FROM organization_memberships WHERE id = ?", (membership.id,))
        conn.execute(
            "UPDATE organizations SET members_count = members_count - 1 WHERE id = ?", (org_id,)
        )
        conn.execute(
            "UPDATE sessions SET active_organization_id = NULL"
            " WHERE user_id = ? AND active_organization_id = ?",
            (user_id, org_id),
        )
        _append_change(conn, "membership_deleted", now_ms, organization_id=org_id, user_id=user_id)
    return membership


def largest_member(
    conn: sqlite3.Connection, org_id: str
) -> tuple[MembershipRecord, UserRecord] | None:
    return rows.member_and_user(conn.execute(_LARGEST_MEMBER, (org_id,)).fetchone())


def list_sessions(
    conn: sqlite3.Connection,
    user_id: str | None,
    status: SessionStatus | None,
    now_ms: int,
    limit: int,
    offset: int,
) -> tuple[list[SessionRecord], int]:
    where, params = rows.session_filter(user_id, status, now_ms, "?")
    with snapshot(conn):
        page = conn.execute(
            _SESSION + where + " ORDER BY created_at, id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        sessions = [rows.session_from_row(row) for row in page]
        count = "SELECT COUNT(*) FROM sessions" + where  # noqa: S608 - constant fragments
        (total,) = conn.execute(count, params).fetchone()
    return sessions, int(total)


def end_session(
    conn: sqlite3.Connection, session_id: str, status: SessionStatus, now_ms: int
) -> SessionRecord:
    with write(conn):
        row = conn.execute(_SESSION + " WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise SessionNotFound(session_id)
        session = rows.ended(rows.session_from_row(row), session_id, status, now_ms)
        conn.execute("UPDATE sessions SET status = ? WHERE id = ?", (status, session_id))
        _append_change(conn, "session", now_ms, user_id=session.user_id, session_id=session_id)
    return session


def touch_session(conn: sqlite3.Connection, session_id: str, now_ms: int) -> None:
    with write(conn):
        sql = "UPDATE sessions SET last_active_at = MAX(last_active_at, ?) WHERE id = ?"
        if conn.execute(sql, (now_ms, session_id)).rowcount == 0:
            raise SessionNotFound(session_id)


# -- sign-ups ---------------------------------------------------------------------------
def insert_sign_up(conn: sqlite3.Connection, sign_up: SignUpRecord) -> None:
    with write(conn):
        conn.execute(
            "INSERT INTO sign_ups (id, status, unsafe_metadata, created_at, user_id)"
            " VALUES (?, ?, ?, ?, ?)",
            rows.sign_up_params(sign_up),
        )


def get_sign_up(conn: sqlite3.Connection, sign_up_id: str) -> SignUpRecord | None:
    row = conn.execute(
        "SELECT id, status, unsafe_metadata, created_at, user_id FROM sign_ups WHERE id = ?",
        (sign_up_id,),
    ).fetchone()
    return None if row is None else rows.sign_up_from_row(row)


def complete_sign_up(
    conn: sqlite3.Connection, sign_up_id: str, user: UserRecord, session: SessionRecord
) -> None:
    with write(conn):
        row = conn.execute("SELECT status FROM sign_ups WHERE id = ?", (sign_up_id,)).fetchone()
        rows.check_sign_up_pending(row, sign_up_id)
        conn.execute(_INSERT_USER, rows.user_params(user))
        _insert_session(conn, session)
        conn.execute(
            "UPDATE sign_ups SET status = 'complete', user_id = ? WHERE id = ?",
            (user.id, sign_up_id),
        )


# -- signing keys -----------------------------------------------------------------------
def list_keys(conn: sqlite3.Connection) -> list[KeyRecord]:
    cursor = conn.execute(
        "SELECT kid, alg, private_key, public_jwk, created_at, retire_at FROM signing_keys"
        " ORDER BY created_at, kid"
    )
    return [rows.key_from_row(row) for row in cursor]


def insert_key(conn: sqlite3.Connection, key: KeyRecord, retire_others_at: int | None) -> None:
    with write(conn):
        if retire_others_at is not None:
            conn.execute(
                "UPDATE signing_keys SET retire_at = ? WHERE retire_at IS NULL",
                (retire_others_at,),
            )
        conn.execute(
            "INSERT INTO signing_keys (kid, alg, private_key, public_jwk, created_at, retire_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows.key_params(key),
        )
        _append_change(conn, "keys", key.created_at)


def replace_private_keys(
    conn: sqlite3.Connection, updates: Sequence[tuple[str, bytes, bytes]]
) -> int:
    sql = "UPDATE signing_keys SET private_key = ? WHERE kid = ? AND private_key = ?"
    with write(conn):
        return sum(conn.execute(sql, (new, kid, old)).rowcount for kid, old, new in updates)


def delete_retired_keys(conn: sqlite3.Connection, now_ms: int) -> int:
    with write(conn):
        sql = "DELETE FROM signing_keys WHERE retire_at IS NOT NULL AND retire_at <= ?"
        deleted = conn.execute(sql, (now_ms,)).rowcount
        if deleted:
            _append_change(conn, "keys", now_ms)
    return deleted


# -- change log -------------------------------------------------------------------------
def changes_since(conn: sqlite3.Connection, seq: int, limit: int) -> list[ChangeRecord]:
    cursor = conn.execute(
        f"SELECT {rows.CHANGE_COLUMNS} FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
        (seq, limit),
    )
    return [rows.change_from_row(row) for row in cursor]


def last_change_seq(conn: sqlite3.Connection) -> int:
    (seq,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()
    return int(seq)


def prune_changes(conn: sqlite3.Connection, before_ms: int) -> int:
    with write(conn):
        return conn.execute(
            "DELETE FROM changes WHERE created_at < ? AND seq < (SELECT MAX(seq) FROM changes)",
            (before_ms,),
        ).rowcount
