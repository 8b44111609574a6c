"""Versioned schema migrations for both stores.

Each store keeps a ``schema_migrations`` table (``version``, ``description``,
``applied_at``). Opening a store applies, in one transaction, every migration above the
highest version recorded there; a database recorded at a version above the newest one
this release knows was written by a newer ``sessionclaims`` and is refused rather than
guessed at. Migrations are append-only: a released migration is never edited, a change
to the schema is a new entry at the end of both lists.

PostgreSQL statements name tables as ``{schema}.table``; the store formats them with
its quoted schema identifier.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from .._errors import ConfigurationError

logger = logging.getLogger("sessionclaims.stores.migrations")


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: ``statements`` run in order, in the opening transaction."""

    version: int
    description: str
    statements: tuple[str, ...]
    report: str | None = None
    """A query run after ``statements`` when the migration is applied: the rows it
    returns are what the operator must hear of (the store logs :func:`report_message`)."""
    report_header: str = ""


_DUPLICATES_REPORT = (
    "SELECT user_id, external_id, kept_user_id FROM {schema}.external_id_duplicates"
    " ORDER BY external_id, user_id"
)
_DUPLICATES_HEADER = (
    "external_id is unique from now on, and {count} user(s) had an external_id that an "
    "older user also had. The oldest user of each keeps it; the others now have none (their "
    "tokens are re-rendered), and the table external_id_duplicates (user_id, external_id, "
    "kept_user_id) records what was moved. No user was deleted. Decide for each whether "
    "it is the same person as the kept user (then move its data there and delete it) or "
    "another one (then give it its own external_id): {rows}"
)

SQLITE_MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "users, sessions, sign-ups, signing keys and the change log",
        (
            # No foreign keys from sessions to users: a deleted user's sessions stay, so
            # that they read back as revoked. ``insert_session`` checks the user exists.
            """CREATE TABLE users (
                id TEXT PRIMARY KEY,
                external_id TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                public_metadata TEXT NOT NULL,
                private_metadata TEXT NOT NULL,
                unsafe_metadata TEXT NOT NULL,
                version INTEGER NOT NULL
            )""",
            "CREATE INDEX users_created_at ON users (created_at, id)",
            """CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL,
                status TEXT NOT NULL
                    CHECK (status IN ('active', 'revoked', 'ended', 'expired')),
                created_at INTEGER NOT NULL,
                expire_at INTEGER NOT NULL,
                last_active_at INTEGER NOT NULL,
                refresh_hash BLOB NOT NULL,
                origin TEXT
            )""",
            "CREATE INDEX sessions_user_id ON sessions (user_id, created_at, id)",
            "CREATE INDEX sessions_created_at ON sessions (created_at, id)",
            """CREATE TABLE sign_ups (
                id TEXT PRIMARY KEY,
                status TEXT NOT NULL CHECK (status IN ('pending', 'complete')),
                unsafe_metadata TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                user_id TEXT
            )""",
            """CREATE TABLE signing_keys (
                kid TEXT PRIMARY KEY,
                alg TEXT NOT NULL,
                private_key BLOB NOT NULL,
                public_jwk TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                retire_at INTEGER
            )""",
            # AUTOINCREMENT: a sequence number is never handed out twice, even after the
            # newest entries were deleted.
            """CREATE TABLE changes (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                kind TEXT NOT NULL CHECK (kind IN ('user', 'user_deleted', 'session', 'keys')),
                user_id TEXT,
                session_id TEXT,
                version INTEGER,
                created_at INTEGER NOT NULL
            )""",
            "CREATE INDEX changes_created_at ON changes (created_at)",
        ),
    ),
    Migration(
        2,
        "external_id unique when set; duplicates from 0.1.0 moved aside",
        (
            """CREATE TABLE external_id_duplicates (
                user_id TEXT PRIMARY KEY,
                external_id TEXT NOT NULL,
                kept_user_id TEXT NOT NULL,
                moved_at INTEGER NOT NULL
            )""",
            """INSERT INTO external_id_duplicates (user_id, external_id, kept_user_id, moved_at)
            SELECT u.id, u.external_id, k.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000
            FROM users u JOIN users k ON k.id = (
                SELECT o.id FROM users o WHERE o.external_id = u.external_id
                ORDER BY o.created_at, o.id LIMIT 1)
            WHERE u.external_id IS NOT NULL AND u.id <> k.id""",
            # The version moves: a template may read user.external_id.
            """UPDATE users SET external_id = NULL, version = version + 1,
                updated_at = (SELECT d.moved_at FROM external_id_duplicates d
                              WHERE d.user_id = users.id)
            WHERE id IN (SELECT user_id FROM external_id_duplicates)""",
            """INSERT INTO changes (kind, user_id, version, created_at)
            SELECT 'user', u.id, u.version, d.moved_at
            FROM users u JOIN external_id_duplicates d ON d.user_id = u.id ORDER BY u.id""",
            "CREATE UNIQUE INDEX users_external_id ON users (external_id)",
        ),
        report=_DUPLICATES_REPORT.format(schema="main"),
        report_header=_DUPLICATES_HEADER,
    ),
    Migration(
        3,
        "organizations, memberships, the active organization of a session",
        (
            """CREATE TABLE organizations (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                slug TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                public_metadata TEXT NOT NULL,
                private_metadata TEXT NOT NULL,
                members_count INTEGER NOT NULL DEFAULT 0,
                version INTEGER NOT NULL
            )""",
            "CREATE UNIQUE INDEX organizations_slug ON organizations (slug)",
            "CREATE INDEX organizations_created_at ON organizations (created_at, id)",
            # No foreign keys: the store deletes an organization's memberships itself, in
            # the transaction that deletes the organization (or the user).
            """CREATE TABLE organization_memberships (
                id TEXT PRIMARY KEY,
                organization_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                role TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                public_metadata TEXT NOT NULL,
                private_metadata TEXT NOT NULL,
                version INTEGER NOT NULL,
                token_bytes INTEGER NOT NULL DEFAULT 0
            )""",
            """CREATE UNIQUE INDEX memberships_organization_user
                ON organization_memberships (organization_id, user_id)""",
            """CREATE INDEX memberships_organization_created_at
                ON organization_memberships (organization_id, created_at, id)""",
            """CREATE INDEX memberships_token_bytes
                ON organization_memberships (organization_id, token_bytes, id)""",
            """CREATE INDEX memberships_user_id
                ON organization_memberships (user_id, created_at, id)""",
            "ALTER TABLE sessions ADD COLUMN active_organization_id TEXT",
            """CREATE INDEX sessions_active_organization ON sessions (active_organization_id)
                WHERE active_organization_id IS NOT NULL""",
            # The kind's CHECK constraint cannot be altered in SQLite: the change log is
            # rebuilt with every seq kept, and the AUTOINCREMENT counter carried over (a
            # seq handed out before is never handed out again).
            """CREATE TABLE changes_v3 (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                kind TEXT NOT NULL CHECK (kind IN ('user', 'user_deleted', 'session', 'keys',
                    'organization', 'organization_deleted', 'membership', 'membership_deleted')),
                user_id TEXT,
                session_id TEXT,
                version INTEGER,
                created_at INTEGER NOT NULL,
                organization_id TEXT
            )""",
            """INSERT INTO changes_v3 (seq, kind, user_id, session_id, version, created_at)
            SELECT seq, kind, user_id, session_id, version, created_at FROM changes ORDER BY seq""",
            "DELETE FROM sqlite_sequence WHERE name = 'changes_v3'",
            """INSERT INTO sqlite_sequence (name, seq)
            SELECT 'changes_v3', top FROM (SELECT MAX(seq) AS top FROM (
                SELECT seq FROM sqlite_sequence WHERE name = 'changes'
                UNION ALL SELECT MAX(seq) FROM changes_v3
            )) WHERE top IS NOT NULL""",
            "DROP TABLE changes",
            "ALTER TABLE changes_v3 RENAME TO changes",
            "CREATE INDEX changes_created_at ON changes (created_at)",
        ),
    ),
]

POSTGRES_MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "users, sessions, sign-ups, signing keys and the change log",
        (
            # Metadata is TEXT, not JSONB: JSONB rewrites the document (key order,
            # spacing) and refuses \u0000, and the contract is byte-for-byte storage.
            # Ids collate as "C": byte order, the same as SQLite, and cheaper.
            """CREATE TABLE {schema}.users (
                id TEXT COLLATE "C" PRIMARY KEY,
                external_id TEXT,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                public_metadata TEXT NOT NULL,
                private_metadata TEXT NOT NULL,
                unsafe_metadata TEXT NOT NULL,
                version BIGINT NOT NULL
            )""",
            "CREATE INDEX users_created_at ON {schema}.users (created_at, id)",
            """CREATE TABLE {schema}.sessions (
                id TEXT COLLATE "C" PRIMARY KEY,
                user_id TEXT COLLATE "C" NOT NULL,
                status TEXT NOT NULL
                    CHECK (status IN ('active', 'revoked', 'ended', 'expired')),
                created_at BIGINT NOT NULL,
                expire_at BIGINT NOT NULL,
                last_active_at BIGINT NOT NULL,
                refresh_hash BYTEA NOT NULL,
                origin TEXT
            )""",
            "CREATE INDEX sessions_user_id ON {schema}.sessions (user_id, created_at, id)",
            "CREATE INDEX sessions_created_at ON {schema}.sessions (created_at, id)",
            """CREATE TABLE {schema}.sign_ups (
                id TEXT COLLATE "C" PRIMARY KEY,
                status TEXT NOT NULL CHECK (status IN ('pending', 'complete')),
                unsafe_metadata TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                user_id TEXT COLLATE "C"
            )""",
            """CREATE TABLE {schema}.signing_keys (
                kid TEXT COLLATE "C" PRIMARY KEY,
                alg TEXT NOT NULL,
                private_key BYTEA NOT NULL,
                public_jwk TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                retire_at BIGINT
            )""",
            """CREATE TABLE {schema}.changes (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                kind TEXT NOT NULL CHECK (kind IN ('user', 'user_deleted', 'session', 'keys')),
                user_id TEXT COLLATE "C",
                session_id TEXT COLLATE "C",
                version BIGINT,
                created_at BIGINT NOT NULL
            )""",
            "CREATE INDEX changes_created_at ON {schema}.changes (created_at)",
        ),
    ),
    Migration(
        2,
        "external_id unique when set; duplicates from 0.1.0 moved aside",
        (
            """CREATE TABLE {schema}.external_id_duplicates (
                user_id TEXT COLLATE "C" PRIMARY KEY,
                external_id TEXT NOT NULL,
                kept_user_id TEXT COLLATE "C" NOT NULL,
                moved_at BIGINT NOT NULL
            )""",
            """INSERT INTO {schema}.external_id_duplicates
                (user_id, external_id, kept_user_id, moved_at)
            SELECT u.id, u.external_id, k.id,
                (extract(epoch FROM clock_timestamp()) * 1000)::bigint
            FROM {schema}.users u JOIN {schema}.users k ON k.id = (
                SELECT o.id FROM {schema}.users o WHERE o.external_id = u.external_id
                ORDER BY o.created_at, o.id LIMIT 1)
            WHERE u.external_id IS NOT NULL AND u.id <> k.id""",
            """UPDATE {schema}.users u SET external_id = NULL, version = u.version + 1,
                updated_at = d.moved_at
            FROM {schema}.external_id_duplicates d WHERE d.user_id = u.id""",
            """INSERT INTO {schema}.changes (kind, user_id, version, created_at)
            SELECT 'user', u.id, u.version, d.moved_at
            FROM {schema}.users u JOIN {schema}.external_id_duplicates d ON d.user_id = u.id
            ORDER BY u.id""",
            "CREATE UNIQUE INDEX users_external_id ON {schema}.users (external_id)",
        ),
        report=_DUPLICATES_REPORT,
        report_header=_DUPLICATES_HEADER,
    ),
    Migration(
        3,
        "organizations, memberships, the active organization of a session",
        (
            """CREATE TABLE {schema}.organizations (
                id TEXT COLLATE "C" PRIMARY KEY,
                name TEXT NOT NULL,
                slug TEXT COLLATE "C" NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                public_metadata TEXT NOT NULL,
                private_metadata TEXT NOT NULL,
                members_count BIGINT NOT NULL DEFAULT 0,
                version BIGINT NOT NULL
            )""",
            "CREATE UNIQUE INDEX organizations_slug ON {schema}.organizations (slug)",
            "CREATE INDEX organizations_created_at ON {schema}.organizations (created_at, id)",
            """CREATE TABLE {schema}.organization_memberships (
                id TEXT COLLATE "C" PRIMARY KEY,
                organization_id TEXT COLLATE "C" NOT NULL,
                user_id TEXT COLLATE "C" NOT NULL,
                role TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                public_metadata TEXT NOT NULL,
                private_metadata TEXT NOT NULL,
                version BIGINT NOT NULL,
                token_bytes BIGINT NOT NULL DEFAULT 0
            )""",
            """CREATE UNIQUE INDEX memberships_organization_user
                ON {schema}.organization_memberships (organization_id, user_id)""",
            """CREATE INDEX memberships_organization_created_at
                ON {schema}.organization_memberships (organization_id, created_at, id)""",
            """CREATE INDEX memberships_token_bytes
                ON {schema}.organization_memberships (organization_id, token_bytes, id)""",
            """CREATE INDEX memberships_user_id
                ON {schema}.organization_memberships (user_id, created_at, id)""",
            'ALTER TABLE {schema}.sessions ADD COLUMN active_organization_id TEXT COLLATE "C"',
            """CREATE INDEX sessions_active_organization
                ON {schema}.sessions (active_organization_id)
                WHERE active_organization_id IS NOT NULL""",
            'ALTER TABLE {schema}.changes ADD COLUMN organization_id TEXT COLLATE "C"',
            "ALTER TABLE {schema}.changes DROP CONSTRAINT changes_kind_check",
            """ALTER TABLE {schema}.changes ADD CONSTRAINT changes_kind_check
                CHECK (kind IN ('user', 'user_deleted', 'session', 'keys', 'organization',
                    'organization_deleted', 'membership', 'membership_deleted'))""",
        ),
    ),
]


def pending_migrations(
    migrations: Sequence[Migration], current: int, where: str
) -> list[Migration]:
    """The migrations to apply to a database at version ``current``, in order.

    Raises :class:`~sessionclaims.ConfigurationError` when ``current`` is newer than
    the last migration known here."""
    latest = migrations[-1].version if migrations else 0
    if current > latest:
        raise ConfigurationError(
            f"the store {where} has schema version {current}, but this release of "
            f"sessionclaims knows versions up to {latest}: it was written by a newer "
            "sessionclaims; upgrade sessionclaims (pip install -U sessionclaims) to use it"
        )
    return [migration for migration in migrations if migration.version > current]


def announce(messages: Sequence[str]) -> None:
    """Log the reports of the migrations just committed, as warnings."""
    for message in messages:
        logger.warning("%s", message)


def report_message(migration: Migration, rows: Sequence[Sequence[object]]) -> str:
    """What the store logs (as a warning) after applying ``migration`` when its report
    query returned ``rows``."""
    shown = "; ".join(
        f"{user_id} had {external_id!r} (kept by {kept})"
        for user_id, external_id, kept in rows[:20]
    )
    if len(rows) > 20:
        shown += f"; and {len(rows) - 20} more"
    header = migration.report_header.format(count=len(rows), rows=shown)
    return f"schema migration {migration.version} ({migration.description}): {header}"
