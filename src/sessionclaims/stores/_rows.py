"""What the SQLite and PostgreSQL stores share: column lists and the ``SELECT`` heads
built on them, row <-> record conversion, argument checks, the checks an operation makes
on what it read, and URL redaction. No SQL dialect lives here: where a fragment needs a
parameter, the caller passes its placeholder (``?`` or ``%s``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._errors import (
    NotAMember,
    SessionNotActive,
    SignUpAlreadyCompleted,
    SignUpNotFound,
)
from ..models import END_STATUSES, SESSION_STATUSES, SessionStatus, SignUpStatus
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
    dump_metadata,
    load_metadata,
)

USER_COLUMNS = (
    "id, external_id, created_at, updated_at, public_metadata, private_metadata,"
    " unsafe_metadata, version"
)
SESSION_COLUMNS = (
    "id, user_id, status, created_at, expire_at, last_active_at, refresh_hash, origin,"
    " active_organization_id"
)
ORGANIZATION_COLUMNS = (
    "id, name, slug, created_at, updated_at, public_metadata, private_metadata,"
    " members_count, version"
)
MEMBERSHIP_COLUMNS = (
    "id, organization_id, user_id, role, created_at, updated_at, public_metadata,"
    " private_metadata, version, token_bytes"
)
SIGN_UP_COLUMNS = "id, status, unsafe_metadata, created_at, user_id"
KEY_COLUMNS = "kid, alg, private_key, public_jwk, created_at, retire_at"
CHANGE_COLUMNS = "seq, kind, user_id, session_id, version, created_at, organization_id"

SELECT_USERS = f"SELECT {USER_COLUMNS} FROM users"  # noqa: S608 - constant fragments
SELECT_SESSIONS = f"SELECT {SESSION_COLUMNS} FROM sessions"  # noqa: S608 - constant fragments
SELECT_ORGANIZATIONS = f"SELECT {ORGANIZATION_COLUMNS} FROM organizations"  # noqa: S608
SELECT_MEMBERSHIPS = f"SELECT {MEMBERSHIP_COLUMNS} FROM organization_memberships"  # noqa: S608

SIGN_UP_STATUSES: frozenset[str] = frozenset({"pending", "complete"})

Row = Sequence[Any]
R = TypeVar("R", UserRecord, OrganizationRecord, MembershipRecord)


def qualified(columns: str, alias: str) -> str:
    """``columns`` (a comma-separated list) each prefixed with ``alias.``."""
    return ", ".join(f"{alias}.{column.strip()}" for column in columns.split(","))


def _width(columns: str) -> int:
    return columns.count(",") + 1


USER_WIDTH = _width(USER_COLUMNS)
SESSION_WIDTH = _width(SESSION_COLUMNS)
ORGANIZATION_WIDTH = _width(ORGANIZATION_COLUMNS)
MEMBERSHIP_WIDTH = _width(MEMBERSHIP_COLUMNS)


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


def records_identical(before: R, after: R) -> bool:
    """True when storing ``after`` over ``before`` would change nothing.

    Plain ``==`` is not enough: ``{"a": 1} == {"a": True} == {"a": 1.0}`` in Python,
    yet each is stored as different JSON text (and renders a different claim)."""
    if after is before:
        return True
    old, new = _params(before), _params(after)
    return old == new and all(type(x) is type(y) for x, y in zip(old, new, strict=True))


def _params(record: UserRecord | OrganizationRecord | MembershipRecord) -> tuple[Any, ...]:
    if isinstance(record, UserRecord):
        return user_params(record)
    if isinstance(record, OrganizationRecord):
        return organization_params(record)
    return membership_params(record)


def _mutated(
    row: Row,
    from_row: Callable[[Row], R],
    mutate: Callable[[R], R],
    fixed: tuple[str, ...],
    what: str,
) -> tuple[R, R]:
    """An update's ``(before, after)``: the record in ``row`` and what ``mutate`` makes of
    a private copy of it (so in-place edits cannot reach ``before``). ``after is before``
    when storing ``after`` would change nothing; :class:`ValueError` if ``mutate`` changed
    a ``fixed`` field."""
    before = from_row(row)
    after = mutate(from_row(row))
    if records_identical(before, after):
        return before, before
    for name in fixed:
        if getattr(after, name) != getattr(before, name):
            raise ValueError(f"an update cannot change the {name} of {what}")
    return before, after


def mutated(row: Row, user_id: str, mutate: UserMutation) -> tuple[UserRecord, UserRecord]:
    """``update_user``'s ``(before, after)`` (see :func:`_mutated`); the id is fixed."""
    return _mutated(row, user_from_row, mutate, ("id",), f"user {user_id!r}")


def organization_mutated(
    row: Row, org_id: str, mutate: OrganizationMutation
) -> tuple[OrganizationRecord, OrganizationRecord]:
    """``update_organization``'s ``(before, after)``; the id is fixed and
    ``members_count`` stays the stored one."""

    def keeping_count(org: OrganizationRecord) -> OrganizationRecord:
        changed = mutate(org)
        if changed.members_count == count:
            return changed
        return replace(changed, members_count=count)

    count = int(row[7])
    return _mutated(row, organization_from_row, keeping_count, ("id",), f"organization {org_id!r}")


def membership_mutated(
    row: Row, what: str, mutate: MembershipMutation
) -> tuple[MembershipRecord, MembershipRecord]:
    """``update_membership``'s ``(before, after)``; id, organization and user are fixed."""
    fixed = ("id", "organization_id", "user_id")
    return _mutated(row, membership_from_row, mutate, fixed, what)


# -- organizations and memberships ------------------------------------------------------
def organization_params(org: OrganizationRecord) -> tuple[Any, ...]:
    """``org`` as parameters in :data:`ORGANIZATION_COLUMNS` order."""
    return (
        org.id,
        org.name,
        org.slug,
        org.created_at,
        org.updated_at,
        dump_metadata(org.public_metadata),
        dump_metadata(org.private_metadata),
        org.members_count,
        org.version,
    )


def organization_from_row(row: Row) -> OrganizationRecord:
    """A row selected with :data:`ORGANIZATION_COLUMNS`."""
    return OrganizationRecord(
        id=row[0],
        name=row[1],
        slug=row[2],
        created_at=int(row[3]),
        updated_at=int(row[4]),
        public_metadata=load_metadata(row[5]),
        private_metadata=load_metadata(row[6]),
        members_count=int(row[7]),
        version=int(row[8]),
    )


def membership_params(membership: MembershipRecord) -> tuple[Any, ...]:
    """``membership`` as parameters in :data:`MEMBERSHIP_COLUMNS` order."""
    return (
        membership.id,
        membership.organization_id,
        membership.user_id,
        membership.role,
        membership.created_at,
        membership.updated_at,
        dump_metadata(membership.public_metadata),
        dump_metadata(membership.private_metadata),
        membership.version,
        membership.token_bytes,
    )


def membership_from_row(row: Row) -> MembershipRecord:
    """A row selected with :data:`MEMBERSHIP_COLUMNS`."""
    return MembershipRecord(
        id=row[0],
        organization_id=row[1],
        user_id=row[2],
        role=row[3],
        created_at=int(row[4]),
        updated_at=int(row[5]),
        public_metadata=load_metadata(row[6]),
        private_metadata=load_metadata(row[7]),
        version=int(row[8]),
        token_bytes=int(row[9]),
    )


def check_creator(org: OrganizationRecord, creator: MembershipRecord | None) -> None:
    """``insert_organization``'s creator must be a membership of that organization."""
    if creator is not None and creator.organization_id != org.id:
        raise ValueError(
            f"the creator's membership {creator.id!r} is not of organization {org.id!r}"
        )


def like_pattern(query: str) -> str:
    """A ``LIKE ... ESCAPE '\\'`` pattern matching ``query`` (lower-cased) anywhere: its
    own ``%``, ``_`` and backslashes match themselves."""
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def organization_filter(query: str | None, placeholder: str, lower: str) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (``""`` or starting with a space) and its parameters of
    ``list_organizations``; ``lower`` is the dialect's lower-casing function."""
    if query is None:
        return "", []
    pattern = like_pattern(query)
    condition = (
        f" WHERE ({lower}(name) LIKE {placeholder} ESCAPE '\\'"
        f" OR {lower}(slug) LIKE {placeholder} ESCAPE '\\')"
    )
    return condition, [pattern, pattern]


def check_membership_filter(organization_id: str | None, user_id: str | None) -> None:
    """``list_memberships`` takes exactly one of the two filters (:class:`ValueError`
    otherwise)."""
    if (organization_id is None) == (user_id is None):
        raise ValueError("list_memberships takes exactly one of organization_id and user_id")


def membership_filter(
    organization_id: str | None, user_id: str | None, placeholder: str
) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause of ``list_memberships`` on table alias ``m``: by organization
    when ``organization_id`` is given, else by user (:func:`check_membership_filter` has
    checked that exactly one is)."""
    if organization_id is not None:
        return f" WHERE m.organization_id = {placeholder}", [organization_id]
    return f" WHERE m.user_id = {placeholder}", [user_id]


def list_memberships_query(where: str, placeholder: str) -> str:
    """A page of memberships (``where`` from :func:`membership_filter`) with their
    organizations, oldest membership first."""
    return (
        f"SELECT {qualified(MEMBERSHIP_COLUMNS, 'm')}, {qualified(ORGANIZATION_COLUMNS, 'o')}"  # noqa: S608
        " FROM organization_memberships m JOIN organizations o ON o.id = m.organization_id"
        f"{where} ORDER BY m.created_at, m.id LIMIT {placeholder} OFFSET {placeholder}"
    )


def membership_with_organization(row: Row) -> tuple[MembershipRecord, OrganizationRecord]:
    """A row of :func:`list_memberships_query`."""
    return (
        membership_from_row(row[:MEMBERSHIP_WIDTH]),
        organization_from_row(row[MEMBERSHIP_WIDTH:]),
    )


def largest_member_query(placeholder: str) -> str:
    """The membership of an organization with the largest ``token_bytes`` and its user:
    read backwards along the index ``(organization_id, token_bytes, id)``."""
    return (
        f"SELECT {qualified(MEMBERSHIP_COLUMNS, 'm')}, {qualified(USER_COLUMNS, 'u')}"  # noqa: S608
        " FROM organization_memberships m JOIN users u ON u.id = m.user_id"
        f" WHERE m.organization_id = {placeholder}"
        " ORDER BY m.token_bytes DESC, m.id DESC LIMIT 1"
    )


def member_and_user(row: Row | None) -> tuple[MembershipRecord, UserRecord] | None:
    """A row of :func:`largest_member_query`, or ``None``."""
    if row is None:
        return None
    return membership_from_row(row[:MEMBERSHIP_WIDTH]), user_from_row(row[MEMBERSHIP_WIDTH:])


def session_view_query(placeholder: str) -> str:
    """The session, its user, its active organization and the membership in it: one
    statement (so one snapshot), for :func:`session_view`."""
    return (
        f"SELECT {qualified(SESSION_COLUMNS, 's')}, {qualified(USER_COLUMNS, 'u')},"  # noqa: S608
        f" {qualified(ORGANIZATION_COLUMNS, 'o')}, {qualified(MEMBERSHIP_COLUMNS, 'm')}"
        " FROM sessions s LEFT JOIN users u ON u.id = s.user_id"
        " LEFT JOIN organizations o ON o.id = s.active_organization_id"
        " LEFT JOIN organization_memberships m"
        " ON m.organization_id = s.active_organization_id AND m.user_id = s.user_id"
        f" WHERE s.id = {placeholder}"
    )


def session_view(row: Row | None) -> SessionView | None:
    """A row of :func:`session_view_query`; organization and membership are ``None``
    unless both are there."""
    if row is None:
        return None
    users_at = SESSION_WIDTH
    orgs_at = users_at + USER_WIDTH
    members_at = orgs_at + ORGANIZATION_WIDTH
    session = session_from_row(row[:users_at])
    user = None if row[users_at] is None else user_from_row(row[users_at:orgs_at])
    if row[orgs_at] is None or row[members_at] is None:
        return SessionView(session, user, None, None)
    organization = organization_from_row(row[orgs_at:members_at])
    membership = membership_from_row(row[members_at:])
    return SessionView(session, user, organization, membership)


def check_member(row: Row | None, org_id: str, user_id: str) -> None:
    """:class:`~sessionclaims.NotAMember` unless the membership lookup found a row."""
    if row is None:
        raise NotAMember(org_id, user_id)


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
        session.active_organization_id,
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
        active_organization_id=row[8],
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


def check_active(session: SessionRecord, now_ms: int) -> None:
    """:class:`~sessionclaims.SessionNotActive` unless ``session`` is active at ``now_ms``."""
    current = session.effective_status(now_ms)
    if current != "active":
        raise SessionNotActive(f"session {session.id!r} is {current}")


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
        organization_id=row[6],
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
