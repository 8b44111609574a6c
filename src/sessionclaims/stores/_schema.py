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

from collections.abc import Sequence
from dataclasses import dataclass

from .._errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: ``statements`` run in order, in the opening transaction."""

    version: int
    description: str
    statements: tuple[str, ...]


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
