"""What the SQLite and PostgreSQL stores share: column lists, row <-> record conversion,
argument checks and URL redaction. No SQL dialect lives here beyond plain column names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..models import SessionStatus, SignUpStatus
from .base import (
    ChangeKind,
    ChangeRecord,
    KeyRecord,
    SessionRecord,
    SignUpRecord,
    UserRecord,
    dump_metadata,
    load_metadata,
)

USER_COLUMNS = (
    "id, external_id, created_at, updated_at, public_metadata, private_metadata,"
    " unsafe_metadata, version"
)
SESSION_COLUMNS = "id, user_id, status, created_at, expire_at, last_active_at, refresh_hash, origin"
SIGN_UP_COLUMNS = "id, status, unsafe_metadata, created_at, user_id"
KEY_COLUMNS = "kid, alg, private_key, public_jwk, created_at, retire_at"
CHANGE_COLUMNS = "seq, kind, user_id, session_id, version, created_at"

SESSION_STATUSES: frozenset[str] = frozenset({"active", "revoked", "ended", "expired"})
END_STATUSES: frozenset[str] = frozenset({"revoked", "ended", "expired"})
SIGN_UP_STATUSES: frozenset[str] = frozenset({"pending", "complete"})
CHANGE_KINDS: frozenset[str] = frozenset({"user", "user_deleted", "session", "keys"})

Row = Sequence[Any]


# -- users ------------------------------------------------------------------------------
def user_params(user: UserRecord) -> tuple[Any, ...]:
    """``user`` as parameters in :data:`USER_COLUMNS` order."""
    return (
        user.id,
        user.external_id,
        user.created_at,
        user.updated_at,
        dump_metadata(user.public_metadata),
        dump_metadata(user.private_metadata),
        dump_metadata(user.unsafe_metadata),
        user.version,
    )


def user_from_row(row: Row) -> UserRecord:
    """A row selected with :data:`USER_COLUMNS`."""
    return UserRecord(
        id=row[0],
        external_id=row[1],
        created_at=int(row[2]),
        updated_at=int(row[3]),
        public_metadata=load_metadata(row[4]),
        private_metadata=load_metadata(row[5]),
        unsafe_metadata=load_metadata(row[6]),
        version=int(row[7]),
    )


def records_identical(before: UserRecord, after: UserRecord) -> bool:
    """True when storing ``after`` over ``before`` would change nothing.

    Plain ``==`` is not enough: ``{"a": 1} == {"a": True} == {"a": 1.0}`` in Python,
    yet each is stored as different JSON text (and renders a different claim)."""
    if after is before:
        return True
    old, new = user_params(before), user_params(after)
    return old == new and all(type(x) is type(y) for x, y in zip(old, new, strict=True))


# -- sessions ---------------------------------------------------------------------------
def session_params(session: SessionRecord) -> tuple[Any, ...]:
    """``session`` as parameters in :data:`SESSION_COLUMNS` order (status checked)."""
    if session.status not in SESSION_STATUSES:
        raise ValueError(f"unknown session status {session.status!r}")
    return (
        session.id,
        session.user_id,
        session.status,
        session.created_at,
        session.expire_at,
        session.last_active_at,
        bytes(session.refresh_hash),
        session.origin,
    )


def session_from_row(row: Row) -> SessionRecord:
    """A row selected with :data:`SESSION_COLUMNS`."""
    return SessionRecord(
        id=row[0],
        user_id=row[1],
        status=cast(SessionStatus, row[2]),
        created_at=int(row[3]),
        expire_at=int(row[4]),
        last_active_at=int(row[5]),
        refresh_hash=bytes(row[6]),
        origin=row[7],
    )


def check_end_status(status: str) -> None:
    """``end_session`` moves a session to one of :data:`END_STATUSES` only."""
    if status not in END_STATUSES:
        raise ValueError(f"a session can be ended as revoked, ended or expired, not {status!r}")


def status_filter(
    status: SessionStatus | None, now_ms: int, placeholder: str
) -> tuple[str, list[Any]]:
    """A ``WHERE`` condition (or ``""``) selecting sessions by *effective* status."""
    if status is None:
        return "", []
    if status == "active":
        return f"status = 'active' AND expire_at > {placeholder}", [now_ms]
    if status == "expired":
        return (
            f"(status = 'expired' OR (status = 'active' AND expire_at <= {placeholder}))",
            [now_ms],
        )
    if status in END_STATUSES:
        return f"status = {placeholder}", [status]
    raise ValueError(f"unknown session status {status!r}")


# -- sign-ups, keys, changes -------------------------------------------------------------
def sign_up_params(sign_up: SignUpRecord) -> tuple[Any, ...]:
    """``sign_up`` as parameters in :data:`SIGN_UP_COLUMNS` order (status checked)."""
    if sign_up.status not in SIGN_UP_STATUSES:
        raise ValueError(f"unknown sign-up status {sign_up.status!r}")
    return (
        sign_up.id,
        sign_up.status,
        dump_metadata(sign_up.unsafe_metadata),
        sign_up.created_at,
        sign_up.user_id,
    )


def sign_up_from_row(row: Row) -> SignUpRecord:
    """A row selected with :data:`SIGN_UP_COLUMNS`."""
    return SignUpRecord(
        id=row[0],
        status=cast(SignUpStatus, row[1]),
        unsafe_metadata=load_metadata(row[2]),
        created_at=int(row[3]),
        user_id=row[4],
    )


def key_params(key: KeyRecord) -> tuple[Any, ...]:
    """``key`` as parameters in :data:`KEY_COLUMNS` order."""
    return (key.kid, key.alg, bytes(key.private_key), key.public_jwk, key.created_at, key.retire_at)


def key_from_row(row: Row) -> KeyRecord:
    """A row selected with :data:`KEY_COLUMNS`."""
    return KeyRecord(
        kid=row[0],
        alg=row[1],
        private_key=bytes(row[2]),
        public_jwk=row[3],
        created_at=int(row[4]),
        retire_at=None if row[5] is None else int(row[5]),
    )


def change_from_row(row: Row) -> ChangeRecord:
    """A row selected with :data:`CHANGE_COLUMNS`."""
    return ChangeRecord(
        seq=int(row[0]),
        kind=cast(ChangeKind, row[1]),
        user_id=row[2],
        session_id=row[3],
        version=None if row[4] is None else int(row[4]),
        created_at=int(row[5]),
    )


# -- arguments and URLs -------------------------------------------------------------------
def check_page(limit: int, offset: int) -> None:
    """Pages are ``limit >= 0`` rows from ``offset >= 0``."""
    if limit < 0 or offset < 0:
        raise ValueError(f"limit and offset must not be negative (got {limit}, {offset})")


def check_limit(limit: int) -> None:
    """A change-log read returns ``limit >= 0`` entries."""
    if limit < 0:
        raise ValueError(f"limit must not be negative (got {limit})")


def redact_url(url: str) -> str:
    """``url`` without its password (in the authority or as a ``password`` parameter)."""
    parts = urlsplit(url)
    if ":" not in parts.netloc.rpartition("@")[0] and "password=" not in parts.query:
        return url  # nothing to hide; urlunsplit would also mangle sqlite:///relative.db
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{hostport}" if user else hostport
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name == "password" for name, _ in pairs):
            query = urlencode([(n, v) for n, v in pairs if n != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
