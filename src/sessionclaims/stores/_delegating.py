"""The store methods the SQLite and PostgreSQL stores share, written once.

Most :class:`~sessionclaims.stores.Store` methods only check their arguments and hand
them to the store's operations module (``_sqlite_ops``: plain functions, run on the
SQLite store's worker thread; ``_pg_ops``: coroutines, run on a pooled connection).
:class:`DelegatingStore` implements those once, against :class:`StoreOps`, which both
modules satisfy; a store sets ``_ops`` to its module and runs each operation through
its own ``_call``. The writes that append to the change log (``update_user``,
``delete_user``, ``end_session``, ``insert_key``, ``delete_retired_keys``,
``update_organization``, ``delete_organization``, ``insert_membership``,
``update_membership``, ``delete_membership``) stay in each store: PostgreSQL's
operations also take the store's change feed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Concatenate, Generic, ParamSpec, Protocol, TypeAlias, TypeVar

from ..models import SessionStatus
from . import _rows as rows
from .base import (
    ChangeRecord,
    KeyRecord,
    MembershipRecord,
    OrganizationRecord,
    SessionRecord,
    SessionView,
    SignUpRecord,
    UserRecord,
)

P = ParamSpec("P")
T = TypeVar("T")
C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)

Result: TypeAlias = T | Awaitable[T]
"""What an operation returns: the value itself (SQLite) or an awaitable of it (PostgreSQL)."""


class StoreOps(Protocol[C_contra]):
    """The operations every store's module has with the same arguments, each taking the
    store's connection (``C_contra``) first."""

    def insert_user(self, conn: C_contra, user: UserRecord, /) -> Result[None]: ...

    def get_user(self, conn: C_contra, user_id: str, /) -> Result[UserRecord | None]: ...

    def get_user_by_external_id(
        self, conn: C_contra, external_id: str, /
    ) -> Result[UserRecord | None]: ...

    def list_users(
        self, conn: C_contra, limit: int, offset: int, external_id: str | None, /
    ) -> Result[tuple[list[UserRecord], int]]: ...

    def insert_session(self, conn: C_contra, session: SessionRecord, /) -> Result[None]: ...

    def get_session(self, conn: C_contra, session_id: str, /) -> Result[SessionRecord | None]: ...

    def get_session_with_user(
        self, conn: C_contra, session_id: str, /
    ) -> Result[SessionView | None]: ...

    def set_active_organization(
        self, conn: C_contra, session_id: str, org_id: str | None, now_ms: int, /
    ) -> Result[SessionRecord]: ...

    def insert_organization(
        self, conn: C_contra, org: OrganizationRecord, creator: MembershipRecord | None, /
    ) -> Result[None]: ...

    def get_organization(
        self, conn: C_contra, org_id: str, /
    ) -> Result[OrganizationRecord | None]: ...

    def get_organization_by_slug(
        self, conn: C_contra, slug: str, /
    ) -> Result[OrganizationRecord | None]: ...

    def list_organizations(
        self, conn: C_contra, limit: int, offset: int, query: str | None, /
    ) -> Result[tuple[list[OrganizationRecord], int]]: ...

    def get_membership(
        self, conn: C_contra, org_id: str, user_id: str, /
    ) -> Result[MembershipRecord | None]: ...

    def list_memberships(
        self,
        conn: C_contra,
        organization_id: str | None,
        user_id: str | None,
        limit: int,
        offset: int,
        /,
    ) -> Result[tuple[list[tuple[MembershipRecord, OrganizationRecord]], int]]: ...

    def largest_member(
        self, conn: C_contra, org_id: str, /
    ) -> Result[tuple[MembershipRecord, UserRecord] | None]: ...

    def list_sessions(
        self,
        conn: C_contra,
        user_id: str | None,
        status: SessionStatus | None,
        now_ms: int,
        limit: int,
        offset: int,
        /,
    ) -> Result[tuple[list[SessionRecord], int]]: ...

    def touch_session(self, conn: C_contra, session_id: str, now_ms: int, /) -> Result[None]: ...

    def insert_sign_up(self, conn: C_contra, sign_up: SignUpRecord, /) -> Result[None]: ...

    def get_sign_up(self, conn: C_contra, sign_up_id: str, /) -> Result[SignUpRecord | None]: ...

    def complete_sign_up(
        self, conn: C_contra, sign_up_id: str, user: UserRecord, session: SessionRecord, /
    ) -> Result[None]: ...

    def list_keys(self, conn: C_contra, /) -> Result[list[KeyRecord]]: ...

    def replace_private_keys(
        self, conn: C_contra, updates: Sequence[tuple[str, bytes, bytes]], /
    ) -> Result[int]: ...

    def changes_since(
        self, conn: C_contra, seq: int, limit: int, /
    ) -> Result[list[ChangeRecord]]: ...

    def last_change_seq(self, conn: C_contra, /) -> Result[int]: ...

    def prune_changes(self, conn: C_contra, before_ms: int, /) -> Result[int]: ...


class DelegatingStore(Generic[C]):
    """The :class:`~sessionclaims.stores.Store` methods that check their arguments and
    delegate to ``self._ops`` through ``self._call``. A subclass sets ``_ops`` (a module
    satisfying :class:`StoreOps` for its connection type ``C``) and defines ``_call``,
    ``open``, ``close``, ``url`` and the change-log writes."""

    _ops: StoreOps[C]
    """The store's operations module."""

    if TYPE_CHECKING:
        # What the methods below need of a store's ``_call``. Each store's own ``_call``
        # accepts only its kind of operation (a function or a coroutine function), which
        # is what its ``_ops`` module holds, so it overrides this with ``ignore[override]``.
        async def _call(
            self, op: Callable[Concatenate[C, P], Result[T]], *args: P.args, **kwargs: P.kwargs
        ) -> T:
            """``op(connection, *args, **kwargs)``, awaited when it is a coroutine."""

    # -- users ------------------------------------------------------------------------
    async def insert_user(self, user: UserRecord) -> None:
        """Insert a new user."""
        await self._call(self._ops.insert_user, user)

    async def get_user(self, user_id: str) -> UserRecord | None:
        """The user, or ``None``."""
        return await self._call(self._ops.get_user, user_id)

    async def get_user_by_external_id(self, external_id: str) -> UserRecord | None:
        """The user with this ``external_id`` (exact match), or ``None``."""
        return await self._call(self._ops.get_user_by_external_id, external_id)

    async def list_users(
        self, *, limit: int, offset: int, external_id: str | None = None
    ) -> tuple[list[UserRecord], int]:
        """A page of users, oldest first, and the total count; only the one with
        ``external_id`` when it is given."""
        rows.check_page(limit, offset)
        return await self._call(self._ops.list_users, limit, offset, external_id)

    # -- sessions ---------------------------------------------------------------------
    async def insert_session(self, session: SessionRecord) -> None:
        """Insert a new session; :class:`~sessionclaims.UserNotFound` without its user."""
        await self._call(self._ops.insert_session, session)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The session, or ``None``."""
        return await self._call(self._ops.get_session, session_id)

    async def get_session_with_user(self, session_id: str) -> SessionView | None:
        """The session, its user, its active organization and the membership in it, in
        one call (:class:`~sessionclaims.stores.SessionView`), or ``None``."""
        return await self._call(self._ops.get_session_with_user, session_id)

    async def set_active_organization(
        self, session_id: str, org_id: str | None, *, now_ms: int
    ) -> SessionRecord:
        """Set or clear the session's active organization (membership checked in the same
        transaction; no change-log entry)."""
        return await self._call(self._ops.set_active_organization, session_id, org_id, now_ms)

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
        rows.check_page(limit, offset)
        return await self._call(self._ops.list_sessions, user_id, status, now_ms, limit, offset)

    async def touch_session(self, session_id: str, *, now_ms: int) -> None:
        """Set ``last_active_at`` (never backwards; no change-log entry)."""
        await self._call(self._ops.touch_session, session_id, now_ms)

    # -- organizations and memberships -------------------------------------------------
    async def insert_organization(
        self, org: OrganizationRecord, creator: MembershipRecord | None
    ) -> None:
        """Insert an organization and its creator's membership, in one transaction."""
        rows.check_creator(org, creator)
        await self._call(self._ops.insert_organization, org, creator)

    async def get_organization(self, org_id: str) -> OrganizationRecord | None:
        """The organization, or ``None``."""
        return await self._call(self._ops.get_organization, org_id)

    async def get_organization_by_slug(self, slug: str) -> OrganizationRecord | None:
        """The organization with this ``slug``, or ``None``."""
        return await self._call(self._ops.get_organization_by_slug, slug)

    async def list_organizations(
        self, *, limit: int, offset: int, query: str | None = None
    ) -> tuple[list[OrganizationRecord], int]:
        """A page of organizations, oldest first, and the total count; ``query`` matches
        name or slug (case-insensitive substring)."""
        rows.check_page(limit, offset)
        return await self._call(self._ops.list_organizations, limit, offset, query)

    async def get_membership(self, org_id: str, user_id: str) -> MembershipRecord | None:
        """The user's membership in the organization, or ``None``."""
        return await self._call(self._ops.get_membership, org_id, user_id)

    async def list_memberships(
        self,
        *,
        organization_id: str | None = None,
        user_id: str | None = None,
        limit: int,
        offset: int,
    ) -> tuple[list[tuple[MembershipRecord, OrganizationRecord]], int]:
        """A page of an organization's or a user's memberships with their organizations,
        oldest first, and the total count."""
        rows.check_page(limit, offset)
        rows.check_membership_filter(organization_id, user_id)
        return await self._call(self._ops.list_memberships, organization_id, user_id, limit, offset)

    async def largest_member(self, org_id: str) -> tuple[MembershipRecord, UserRecord] | None:
        """The membership with the largest ``token_bytes`` and its user, or ``None``."""
        return await self._call(self._ops.largest_member, org_id)

    # -- sign-ups ---------------------------------------------------------------------
    async def insert_sign_up(self, sign_up: SignUpRecord) -> None:
        """Insert a new sign-up."""
        await self._call(self._ops.insert_sign_up, sign_up)

    async def get_sign_up(self, sign_up_id: str) -> SignUpRecord | None:
        """The sign-up, or ``None``."""
        return await self._call(self._ops.get_sign_up, sign_up_id)

    async def complete_sign_up(
        self, sign_up_id: str, user: UserRecord, session: SessionRecord, *, now_ms: int
    ) -> None:
        """Insert ``user`` and ``session`` and mark the sign-up complete, atomically."""
        if session.user_id != user.id:
            raise ValueError(f"session {session.id!r} does not belong to user {user.id!r}")
        await self._call(self._ops.complete_sign_up, sign_up_id, user, session)

    # -- signing keys -----------------------------------------------------------------
    async def list_keys(self) -> list[KeyRecord]:
        """Every stored key, oldest first."""
        return await self._call(self._ops.list_keys)

    async def replace_private_keys(self, updates: Sequence[tuple[str, bytes, bytes]]) -> int:
        """Compare-and-set each ``(kid, expected, private_key)`` in one transaction; return
        how many keys changed."""
        checked = [(kid, bytes(old), bytes(new)) for kid, old, new in updates]
        if not checked:
            return 0
        return await self._call(self._ops.replace_private_keys, checked)

    # -- change log -------------------------------------------------------------------
    async def changes_since(self, seq: int, *, limit: int = 1000) -> list[ChangeRecord]:
        """Changes with a sequence number above ``seq``, in order."""
        rows.check_limit(limit)
        return await self._call(self._ops.changes_since, seq, limit)

    async def last_change_seq(self) -> int:
        """The highest sequence number written so far (0 when empty)."""
        return await self._call(self._ops.last_change_seq)

    async def prune_changes(self, *, before_ms: int) -> int:
        """Delete change-log entries older than ``before_ms``, keeping the newest one."""
        return await self._call(self._ops.prune_changes, before_ms)
