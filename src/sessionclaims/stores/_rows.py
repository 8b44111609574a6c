"""What the SQLite and PostgreSQL stores share: column lists and the ``SELECT`` heads
built on them, row <-> record conversion, argument checks, the checks an operation makes
on what it read, and URL redaction. No SQL dialect lives here: where a fragment needs a
parameter, the caller passes its placeholder (``?`` or ``%s``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._errors import SessionNotActive, SignUpAlreadyCompleted, SignUpNotFound
from ..models import END_STATUSES, SESSION_STATUSES, SessionStatus, SignUpStatus
from .base import (
    ChangeKind,
    ChangeRecord,
    KeyRecord,
    SessionRecord,
    SignUpRecord,
    UserMutation,
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

SELECT_USERS = f"SELECT {USER_COLUMNS} FROM users"  # noqa: S608 - constant fragments
SELECT_SESSIONS = f"SELECT {SESSION_COLUMNS} FROM sessions"  # noqa: S608 - constant fragments

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


def mutated(row: Row, user_id: str, mutate: UserMutation) -> tuple[UserRecord, UserRecord]:
    """``update_user``'s ``(before, after)``: the user in ``row`` and what ``mutate`` makes of
    a private copy of it (so in-place edits cannot reach ``before``). ``after is before``
    when storing ``after`` would change nothing; :class:`ValueError` if ``mutate`` changed
    the id."""
    before = user_from_row(row)
    after = mutate(user_from_row(row))
    if records_identical(before, after):
        return before, before
    if after.id != before.id:
        raise ValueError(f"update_user cannot change a user's id ({user_id!r})")
    return before, after


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


def ended(
    session: SessionRecord, session_id: str, status: SessionStatus, now_ms: int
) -> SessionRecord:
    """``session`` as ``end_session`` leaves it, moved to ``status`` at ``now_ms``; raises
    :class:`~sessionclaims.SessionNotActive` unless it is active (or, for ``expired``,
    stored as ``active`` past its ``expire_at``)."""
    current = session.effective_status(now_ms)
    if session.status != "active" or (current != "active" and status != "expired"):
        raise SessionNotActive(f"session {session_id!r} is {current}")
    return replace(session, status=status)


def session_filter(
    user_id: str | None, status: SessionStatus | None, now_ms: int, placeholder: str
) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (``""`` or starting with a space) and its parameters selecting
    sessions by user and *effective* status."""
    conditions: list[str] = []
    params: list[Any] = []
    if user_id is not None:
        conditions.append(f"user_id = {placeholder}")
        params.append(user_id)
    condition, status_params = status_filter(status, now_ms, placeholder)
    if condition:
        conditions.append(condition)
        params.extend(status_params)
    # Built from constant fragments only; every value is a bound parameter.
    return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), params


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


def check_sign_up_pending(row: Row | None, sign_up_id: str) -> None:
    """``complete_sign_up``'s check of the stored ``(status,)`` of the sign-up (``None``
    when there is none): :class:`~sessionclaims.SignUpNotFound` or
    :class:`~sessionclaims.SignUpAlreadyCompleted` unless it is pending."""
    if row is None:
        raise SignUpNotFound(sign_up_id)
    if row[0] == "complete":
        raise SignUpAlreadyCompleted(f"sign-up {sign_up_id!r} is already complete")


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
