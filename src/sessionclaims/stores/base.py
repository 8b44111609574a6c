"""The store contract: what every store (SQLite, PostgreSQL) persists and how.

A store is persistence only. It knows nothing of templates, tokens or HTTP; the
:class:`~sessionclaims.Backend` decides *what* to write and the store makes each write
atomic. Every method is a coroutine and never blocks the event loop.

Rules every implementation keeps (the contract test suite in ``tests/stores/`` checks
them against every store):

* Times are integers in Unix milliseconds, passed in by the caller (the clock is the
  backend's, so tests can move it).
* ``update_user`` is an atomic read-modify-write: ``mutate`` is called with the current
  record inside a transaction that holds the user's row lock; if it raises, nothing is
  written and the exception propagates. Concurrent updates never lose one another.
* Any write that changes a user's ``version``, deletes a user, or moves a session out of
  ``active`` appends to the change log **in the same transaction**. Key changes append a
  ``keys`` change. Sequence numbers only grow.
* Metadata is stored as compact JSON text exactly as :func:`dump_metadata` writes it,
  so an untouched user reads back byte for byte.
* A store that cannot reach its database raises :class:`~sessionclaims.StoreUnavailable`.
* Inserting a record whose id (or ``kid``) is already stored raises
  :class:`DuplicateRecord` and writes nothing; inserting a user whose ``external_id``
  another user has raises :class:`~sessionclaims.ExternalIdTaken` and writes nothing.
* Organizations and memberships follow the same rules: ``update_organization`` and
  ``update_membership`` are atomic read-modify-writes under the row's lock, a ``version``
  change appends an ``organization`` / ``membership`` change, deletions append
  ``organization_deleted`` / ``membership_deleted``. A slug another organization has
  raises :class:`~sessionclaims.SlugTaken`, a second membership of the same person
  :class:`~sessionclaims.AlreadyMember`; nothing is written either way.
* ``members_count`` is the store's: it moves in the same transaction as the membership
  insert or delete that changes it (including those of ``delete_user``).
* An organization write is one row, whatever its number of members or sessions:
  freshness compares versions (``org_ver``), so no session or membership is rewritten.
  Only deletions touch sessions, with one statement clearing their
  ``active_organization_id``.
* A session's ``active_organization_id`` is only ever set to an organization its user
  is a member of, checked in the transaction that sets it
  (:class:`~sessionclaims.NotAMember`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

from .._errors import Conflict
from .._json import dumps_compact
from ..models import (
    Membership,
    Organization,
    Session,
    SessionStatus,
    SignUp,
    SignUpStatus,
    User,
    frozen_mapping,
)

ChangeKind = Literal[
    "user",
    "user_deleted",
    "session",
    "keys",
    "organization",
    "organization_deleted",
    "membership",
    "membership_deleted",
]


class DuplicateRecord(Conflict):
    """A record with this id (a user, session or sign-up id, a key's ``kid``) is already
    stored. Nothing was written. The message names the table and the id."""


def dump_metadata(value: Mapping[str, Any]) -> str:
    """The one storage form of a metadata tier: compact, UTF-8, key order kept."""
    return dumps_compact(value)


def load_metadata(text: str) -> dict[str, Any]:
    """Inverse of :func:`dump_metadata`."""
    value = json.loads(text)
    if not isinstance(value, dict):  # pragma: no cover - only we write these columns
        raise ValueError("stored metadata is not an object")
    return value


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A stored user. ``version`` is the token-relevant version: it grows whenever a
    write changes what this user's session token would contain."""

    id: str
    external_id: str | None
    created_at: int
    updated_at: int
    public_metadata: dict[str, Any]
    private_metadata: dict[str, Any]
    unsafe_metadata: dict[str, Any]
    version: int = 1

    def to_user(self) -> User:
        """The public, immutable :class:`~sessionclaims.User`."""
        return User(
            id=self.id,
            external_id=self.external_id,
            created_at=self.created_at,
            updated_at=self.updated_at,
            public_metadata=frozen_mapping(self.public_metadata),
            private_metadata=frozen_mapping(self.private_metadata),
            unsafe_metadata=frozen_mapping(self.unsafe_metadata),
        )

    def evolve(self, **changes: Any) -> UserRecord:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A stored session. ``refresh_hash`` is the SHA-256 of the refresh credential; the
    credential itself is never stored. ``status`` is the stored status: ``active`` past
    ``expire_at`` reads as ``expired`` (see :meth:`effective_status`)."""

    id: str
    user_id: str
    status: SessionStatus
    created_at: int
    expire_at: int
    last_active_at: int
    refresh_hash: bytes
    origin: str | None = None
    active_organization_id: str | None = None

    def effective_status(self, now_ms: int) -> SessionStatus:
        """``expired`` for an active session whose ``expire_at`` has passed."""
        if self.status == "active" and now_ms >= self.expire_at:
            return "expired"
        return self.status

    def to_session(self, now_ms: int) -> Session:
        """The public :class:`~sessionclaims.Session`, with its effective status."""
        return Session(
            id=self.id,
            user_id=self.user_id,
            status=self.effective_status(now_ms),
            created_at=self.created_at,
            expire_at=self.expire_at,
            last_active_at=self.last_active_at,
            origin=self.origin,
            active_organization_id=self.active_organization_id,
        )

    def evolve(self, **changes: Any) -> SessionRecord:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class OrganizationRecord:
    """A stored organization. ``version`` is its token-relevant version (``org_ver``): it
    grows whenever a write changes its name, slug or public metadata. ``members_count``
    is kept by the store (a record's own value is ignored on writes)."""

    id: str
    name: str
    slug: str
    created_at: int
    updated_at: int
    public_metadata: dict[str, Any]
    private_metadata: dict[str, Any]
    members_count: int = 0
    version: int = 1

    def to_organization(self) -> Organization:
        """The public, immutable :class:`~sessionclaims.Organization`."""
        return Organization(
            id=self.id,
            name=self.name,
            slug=self.slug,
            created_at=self.created_at,
            updated_at=self.updated_at,
            public_metadata=frozen_mapping(self.public_metadata),
            private_metadata=frozen_mapping(self.private_metadata),
            members_count=self.members_count,
        )

    def evolve(self, **changes: Any) -> OrganizationRecord:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class MembershipRecord:
    """A stored membership. ``version`` is its token-relevant version (``mem_ver``): it
    grows whenever a write changes the role or the public metadata. ``token_bytes`` is
    the backend's last estimate of this member's session-token size with the organization
    active, minus the organization's own claims; the store keeps it indexed so that
    :meth:`Store.largest_member` is one index lookup."""

    id: str
    organization_id: str
    user_id: str
    role: str
    created_at: int
    updated_at: int
    public_metadata: dict[str, Any]
    private_metadata: dict[str, Any]
    version: int = 1
    token_bytes: int = 0

    def to_membership(self, permissions: tuple[str, ...]) -> Membership:
        """The public, immutable :class:`~sessionclaims.Membership`, with its role's
        ``permissions`` (the backend's roles setting decides them, not the store)."""
        return Membership(
            id=self.id,
            organization_id=self.organization_id,
            user_id=self.user_id,
            role=self.role,
            permissions=tuple(permissions),
            created_at=self.created_at,
            updated_at=self.updated_at,
            public_metadata=frozen_mapping(self.public_metadata),
            private_metadata=frozen_mapping(self.private_metadata),
        )

    def evolve(self, **changes: Any) -> MembershipRecord:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


class SessionView(NamedTuple):
    """What :meth:`Store.get_session_with_user` reads in one call: the session, its user
    (``None`` once deleted) and, while it has an active organization, that organization
    and the user's membership in it (both ``None`` without one, or when either is gone)."""

    session: SessionRecord
    user: UserRecord | None
    organization: OrganizationRecord | None
    membership: MembershipRecord | None


@dataclass(frozen=True, slots=True)
class SignUpRecord:
    """A stored sign-up."""

    id: str
    status: SignUpStatus
    unsafe_metadata: dict[str, Any]
    created_at: int
    user_id: str | None = None

    def to_sign_up(self) -> SignUp:
        """The public :class:`~sessionclaims.SignUp`."""
        return SignUp(
            id=self.id,
            status=self.status,
            unsafe_metadata=frozen_mapping(self.unsafe_metadata),
            created_at=self.created_at,
            user_id=self.user_id,
        )


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored signing key. ``private_key`` is PKCS#8 PEM, or an encrypted envelope of it
    when a key-encryption secret is configured (the store does not care which).
    ``retire_at`` is when the key stops verifying (``None`` while it is the signer or
    has no end yet)."""

    kid: str
    alg: str
    private_key: bytes
    public_jwk: str
    created_at: int
    retire_at: int | None = None


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One entry of the change log: the feed that keeps every process's view fresh."""

    seq: int
    kind: ChangeKind
    user_id: str | None
    session_id: str | None
    version: int | None
    created_at: int
    organization_id: str | None = None
    """Set for ``organization``, ``organization_deleted``, ``membership`` and
    ``membership_deleted`` changes (a membership change also names ``user_id``)."""


UserMutation = Callable[[UserRecord], UserRecord]
OrganizationMutation = Callable[[OrganizationRecord], OrganizationRecord]
MembershipMutation = Callable[[MembershipRecord], MembershipRecord]


@runtime_checkable
class Store(Protocol):
    """The async persistence contract shared by every store."""

    url: str
    """The store's URL with any password removed (safe to log)."""

    async def open(self) -> None:
        """Connect and apply pending schema migrations. Idempotent."""

    async def close(self) -> None:
        """Release connections. Idempotent."""

    # -- users ------------------------------------------------------------------------
    async def insert_user(self, user: UserRecord) -> None:
        """Insert a new user."""

    async def get_user(self, user_id: str) -> UserRecord | None:
        """The user, or ``None``."""

    async def get_user_by_external_id(self, external_id: str) -> UserRecord | None:
        """The user with this ``external_id`` (exact match), or ``None``."""

    async def list_users(
        self, *, limit: int, offset: int, external_id: str | None = None
    ) -> tuple[list[UserRecord], int]:
        """A page of users, oldest first, and the total count."""

    async def update_user(
        self, user_id: str, mutate: UserMutation, *, now_ms: int
    ) -> tuple[UserRecord, UserRecord]:
        """Atomic read-modify-write; returns ``(before, after)``.

        Raises :class:`~sessionclaims.UserNotFound`. If ``after.version`` differs from
        ``before.version`` a ``user`` change is appended in the same transaction.
        ``mutate`` returning its argument unchanged (or an equal record: same fields and
        the same stored JSON text for every tier) writes nothing. ``mutate`` gets a
        private copy, so mutating its dictionaries in place cannot corrupt ``before``;
        it must not change ``id`` (:class:`ValueError`)."""

    async def delete_user(self, user_id: str, *, now_ms: int) -> list[str]:
        """Delete the user and its memberships (each organization's ``members_count``
        goes down by one), revoke its sessions whose stored status is ``active`` (the
        session rows stay, so they read back as ``revoked``), append one ``user_deleted``
        change (it covers the memberships too); return the revoked session ids, oldest
        first. Raises :class:`~sessionclaims.UserNotFound`."""

    # -- sessions ---------------------------------------------------------------------
    async def insert_session(self, session: SessionRecord) -> None:
        """Insert a new session. Raises :class:`~sessionclaims.UserNotFound` when its user
        does not exist (checked in the same transaction, so a session can never be
        created for a user that a concurrent ``delete_user`` removed), and
        :class:`~sessionclaims.NotAMember` when it has an ``active_organization_id`` its
        user is not a member of (checked likewise)."""

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The session, or ``None``."""

    async def get_session_with_user(self, session_id: str) -> SessionView | None:
        """The session, its user and its active organization with the user's membership
        in it (:class:`SessionView`), read together in one call (reissue reads all four
        on every stale request), or ``None`` without the session."""

    async def set_active_organization(
        self, session_id: str, org_id: str | None, *, now_ms: int
    ) -> SessionRecord:
        """Set (or, with ``None``, clear) the session's active organization; return the
        updated record. Checked in one transaction: the session exists
        (:class:`~sessionclaims.SessionNotFound`), is active at ``now_ms``
        (:class:`~sessionclaims.SessionNotActive`), and its user is a member of
        ``org_id`` (:class:`~sessionclaims.NotAMember`, also for an unknown
        organization). Nothing is written on refusal; no change-log entry."""

    async def list_sessions(
        self,
        *,
        user_id: str | None,
        status: SessionStatus | None,
        now_ms: int,
        limit: int,
        offset: int,
    ) -> tuple[list[SessionRecord], int]:
        """A page of sessions, oldest first, filtered by user and *effective* status."""

    async def end_session(
        self, session_id: str, status: SessionStatus, *, now_ms: int
    ) -> SessionRecord:
        """Move an active session to ``revoked``, ``ended`` or ``expired`` and append a
        ``session`` change; return the updated record. Raises
        :class:`~sessionclaims.SessionNotFound`, or :class:`~sessionclaims.SessionNotActive`
        (nothing written) when its *effective* status at ``now_ms`` is not ``active``;
        the one exception is ``status="expired"``, which records the expiry of a stored
        ``active`` session whose ``expire_at`` has passed. ``status="active"`` is a
        :class:`ValueError`."""

    async def touch_session(self, session_id: str, *, now_ms: int) -> None:
        """Set ``last_active_at`` to ``now_ms`` unless it is already later (no change-log
        entry). Raises :class:`~sessionclaims.SessionNotFound`."""

    # -- organizations ----------------------------------------------------------------
    async def insert_organization(
        self, org: OrganizationRecord, creator: MembershipRecord | None
    ) -> None:
        """Insert a new organization and, in the same transaction, its ``creator``'s
        membership (``members_count`` is 1 with one, else 0; the record's own value is
        ignored). :class:`~sessionclaims.SlugTaken`, :class:`DuplicateRecord` or
        :class:`~sessionclaims.UserNotFound` (the creator's user) write nothing;
        :class:`ValueError` if ``creator`` is not a membership of ``org``. No change-log
        entry: no token can name a new organization."""

    async def get_organization(self, org_id: str) -> OrganizationRecord | None:
        """The organization, or ``None``."""

    async def get_organization_by_slug(self, slug: str) -> OrganizationRecord | None:
        """The organization with this ``slug`` (exact match), or ``None``."""

    async def list_organizations(
        self, *, limit: int, offset: int, query: str | None = None
    ) -> tuple[list[OrganizationRecord], int]:
        """A page of organizations, oldest first, and the total count; with ``query``
        only those whose name or slug contains it, case-insensitively (``%`` and ``_``
        match themselves)."""

    async def update_organization(
        self, org_id: str, mutate: OrganizationMutation, *, now_ms: int
    ) -> tuple[OrganizationRecord, OrganizationRecord]:
        """Atomic read-modify-write like :meth:`update_user`; returns ``(before, after)``.

        Raises :class:`~sessionclaims.OrganizationNotFound`, or
        :class:`~sessionclaims.SlugTaken` (nothing written) when the new slug is
        another organization's. An ``organization`` change is appended when the version
        changed. An equal record writes nothing; ``mutate`` must not change ``id``
        (:class:`ValueError`); ``members_count`` stays the store's."""

    async def delete_organization(self, org_id: str, *, now_ms: int) -> None:
        """Delete the organization and its memberships, clear ``active_organization_id``
        of the sessions that had it (one statement) and append one
        ``organization_deleted`` change. Raises :class:`~sessionclaims.OrganizationNotFound`."""

    # -- memberships ------------------------------------------------------------------
    async def insert_membership(self, membership: MembershipRecord) -> None:
        """Insert a new membership; its organization's ``members_count`` goes up by one and
        a ``membership`` change (with its version) is appended, in one transaction.
        :class:`~sessionclaims.OrganizationNotFound`, :class:`~sessionclaims.UserNotFound`,
        :class:`~sessionclaims.AlreadyMember` or :class:`DuplicateRecord` write nothing."""

    async def get_membership(self, org_id: str, user_id: str) -> MembershipRecord | None:
        """The user's membership in the organization, or ``None``."""

    async def list_memberships(
        self,
        *,
        organization_id: str | None = None,
        user_id: str | None = None,
        limit: int,
        offset: int,
    ) -> tuple[list[tuple[MembershipRecord, OrganizationRecord]], int]:
        """A page of memberships with their organizations, oldest membership first, and
        the total count: an organization's or a user's (exactly one of the two filters;
        :class:`ValueError` otherwise)."""

    async def update_membership(
        self, org_id: str, user_id: str, mutate: MembershipMutation, *, now_ms: int
    ) -> tuple[MembershipRecord, MembershipRecord]:
        """Atomic read-modify-write like :meth:`update_user`; returns ``(before, after)``.
        A ``membership`` change is appended when the version changed (a write of
        ``token_bytes`` alone appends none). Raises :class:`~sessionclaims.MembershipNotFound`;
        ``mutate`` must not change ``id``, ``organization_id`` or ``user_id``
        (:class:`ValueError`)."""

    async def delete_membership(
        self, org_id: str, user_id: str, *, now_ms: int
    ) -> MembershipRecord:
        """Delete the membership and return it: ``members_count`` goes down by one, the
        user's sessions with this active organization get none, a
        ``membership_deleted`` change is appended, in one transaction. Raises
        :class:`~sessionclaims.MembershipNotFound`."""

    async def largest_member(self, org_id: str) -> tuple[MembershipRecord, UserRecord] | None:
        """The membership with the largest ``token_bytes`` and its user (one index
        lookup), or ``None`` without members."""

    # -- sign-ups ---------------------------------------------------------------------
    async def insert_sign_up(self, sign_up: SignUpRecord) -> None:
        """Insert a new sign-up."""

    async def get_sign_up(self, sign_up_id: str) -> SignUpRecord | None:
        """The sign-up, or ``None``."""

    async def complete_sign_up(
        self, sign_up_id: str, user: UserRecord, session: SessionRecord, *, now_ms: int
    ) -> None:
        """Atomically insert ``user`` and ``session`` and mark the sign-up complete (its
        ``user_id`` becomes ``user.id``). Raises :class:`~sessionclaims.SignUpNotFound`,
        :class:`~sessionclaims.SignUpAlreadyCompleted` or :class:`DuplicateRecord` (then
        nothing is written); :class:`ValueError` if ``session`` is not ``user``'s."""

    # -- signing keys -----------------------------------------------------------------
    async def list_keys(self) -> list[KeyRecord]:
        """Every stored key, oldest first."""

    async def insert_key(self, key: KeyRecord, *, retire_others_at: int | None) -> None:
        """Insert ``key``; when ``retire_others_at`` is given, every other key without a
        ``retire_at`` gets it. Appends a ``keys`` change. One transaction."""

    async def delete_retired_keys(self, *, now_ms: int) -> int:
        """Delete keys whose ``retire_at`` has passed (``retire_at <= now_ms``); append a
        ``keys`` change if any; return how many were deleted."""

    async def replace_private_keys(self, updates: Sequence[tuple[str, bytes, bytes]]) -> int:
        """For each ``(kid, expected, private_key)``, set the key's ``private_key`` only if
        it still holds ``expected`` (compare-and-set), all in one transaction; return how
        many keys changed. A key another process changed or deleted first is left alone.
        Nothing else moves and no change is appended (the public keys are the same)."""

    # -- change log -------------------------------------------------------------------
    async def changes_since(self, seq: int, *, limit: int = 1000) -> list[ChangeRecord]:
        """Changes with a sequence number above ``seq``, in order."""

    async def last_change_seq(self) -> int:
        """The highest sequence number written so far (0 when empty)."""

    async def prune_changes(self, *, before_ms: int) -> int:
        """Delete change-log entries older than ``before_ms``; keep the newest one (so
        :meth:`last_change_seq` never goes back); return how many were deleted."""


@runtime_checkable
class ChangeListener(Protocol):
    """Optional: stores that can push changes (PostgreSQL LISTEN/NOTIFY) implement it.
    Check with ``isinstance(store, ChangeListener)``."""

    async def listen(self, on_change: Callable[[], Awaitable[None]]) -> None:
        """Call ``on_change`` whenever another instance may have written a change; the
        caller then reads :meth:`Store.changes_since`. Runs until cancelled.

        ``on_change`` is also called once each time listening starts or resumes after a
        lost connection (and may be called after a periodic check of the connection), so
        the caller catches up on anything written while it was not listening. Calls never
        overlap; notifications that arrive while one runs are coalesced into one more
        call. An exception from ``on_change`` is logged and the call is retried later;
        the listener keeps running."""
