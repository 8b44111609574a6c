"""``backend.sessions``: sessions, their tokens and refresh credentials.

A session is created after the host app authenticated the person. It returns the first
token and a refresh credential ``<session id>.<random>``: opaque to clients, stored only
as a SHA-256 hash, and compared in constant time.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, NamedTuple

from .._errors import (
    InvalidRequest,
    SessionNotActive,
    SessionNotFound,
    TokenError,
)
from ..models import DEFAULT_PAGE_SIZE, SESSION_STATUSES, NewSession, Session, SessionStatus
from ..stores.base import SessionRecord, UserRecord
from ..tokens import SignedToken
from ._context import Context, Page, check_page, new_id
from .issuer import ActiveOrganization

if TYPE_CHECKING:
    from .users import UsersResource

__all__ = ["Minting", "SessionsResource", "hash_refresh_credential"]

MAX_ORIGIN = 255


def hash_refresh_credential(credential: str) -> bytes:
    """What the store keeps of a refresh credential."""
    return hashlib.sha256(credential.encode("utf-8", "surrogatepass")).digest()


class Minting(NamedTuple):
    """What a session's next token is made from: the session, its user, and its active
    organization (``None`` without one, or once the organization or the person's
    membership in it is gone)."""

    session: SessionRecord
    user: UserRecord
    organization: ActiveOrganization | None


def _check_organization_id(org_id: object) -> str | None:
    if org_id is None:
        return None
    if not isinstance(org_id, str) or not org_id or len(org_id) > 255 or "\x00" in org_id:
        raise InvalidRequest(
            "invalid_field",
            "active_organization_id must be an organization id or null",
            param="active_organization_id",
        )
    return org_id


def session_id_of(refresh_credential: str) -> str | None:
    """The session id a refresh credential names (it is not trusted until checked)."""
    session_id, sep, secret = refresh_credential.partition(".")
    if not sep or not secret or not session_id.startswith("sess_") or len(session_id) > 64:
        return None
    return session_id


class SessionsResource:
    """Sessions: ``create_session(user_id)``, ``get_token``, ``revoke_session``..."""

    def __init__(self, ctx: Context, users: UsersResource) -> None:
        self._ctx = ctx
        self._users = users

    # -- creating -----------------------------------------------------------------------
    def _origin(self, origin: str | None) -> str | None:
        parties = self._ctx.settings.authorized_parties
        if origin is None:
            return parties[0] if parties else None
        if not isinstance(origin, str) or not origin or len(origin) > MAX_ORIGIN:
            raise InvalidRequest(
                "invalid_origin", "origin must be a short URL origin", param="origin"
            )
        if parties and origin not in parties:
            raise InvalidRequest(
                "invalid_origin",
                f"origin {origin!r} is not one of the authorized parties",
                param="origin",
            )
        return origin

    def new_record(self, user_id: str, origin: str | None) -> tuple[SessionRecord, str]:
        ctx = self._ctx
        now = ctx.now_ms()
        session_id = new_id("sess")
        credential = f"{session_id}.{secrets.token_urlsafe(32)}"
        record = SessionRecord(
            id=session_id,
            user_id=user_id,
            status="active",
            created_at=now,
            expire_at=now + ctx.settings.session_lifetime * 1000,
            last_active_at=now,
            refresh_hash=hash_refresh_credential(credential),
            origin=self._origin(origin),
        )
        return record, credential

    async def create_session(
        self,
        user_id: str,
        *,
        origin: str | None = None,
        active_organization_id: str | None = None,
    ) -> NewSession:
        """Create a session for a person the host app has authenticated.

        ``origin`` becomes the tokens' ``azp`` (default: the first authorized party).
        ``active_organization_id`` starts it with that organization active (the person
        must be a member: :class:`~sessionclaims.NotAMember`, 403, otherwise)."""
        ctx = self._ctx
        org_id = _check_organization_id(active_organization_id)
        user = await self._users.get_record(user_id)
        record, credential = self.new_record(user.id, origin)
        if org_id is None:
            await ctx.store.insert_session(record)
            token = ctx.issuer.session_token(user, record)
        else:
            await ctx.store.insert_session(record.evolve(active_organization_id=org_id))
            minting = await self.active(record.id)
            record = minting.session
            token = ctx.issuer.session_token(minting.user, record, active=minting.organization)
        return NewSession(record.to_session(ctx.now_ms()), token, credential)

    async def set_active_organization(self, session_id: str, org_id: str | None) -> str:
        """Make ``org_id`` the session's active organization (``None`` clears it) and
        return a new session token that already carries the organization claims.

        The person must be a member (:class:`~sessionclaims.NotAMember`, 403); the
        session must be active (:class:`~sessionclaims.SessionNotActive`). Tokens issued
        before keep the claims they have until they expire or go stale."""
        ctx = self._ctx
        org_id = _check_organization_id(org_id)
        await ctx.ensure_open()
        await ctx.store.set_active_organization(session_id, org_id, now_ms=ctx.now_ms())
        return (await self.reissue(session_id)).token

    # -- reading ------------------------------------------------------------------------
    async def get_record(self, session_id: str) -> SessionRecord:
        """The stored session; raises :class:`~sessionclaims.SessionNotFound`."""
        await self._ctx.ensure_open()
        record = await self._ctx.store.get_session(session_id)
        if record is None:
            raise SessionNotFound(session_id)
        return record

    async def get_session(self, session_id: str) -> Session:
        """The session, with its effective status."""
        return (await self.get_record(session_id)).to_session(self._ctx.now_ms())

    async def list_sessions(
        self,
        *,
        user_id: str | None = None,
        status: SessionStatus | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
    ) -> Page[Session]:
        """A page of sessions, oldest first, by user and/or effective status."""
        if status is not None and status not in SESSION_STATUSES:
            raise InvalidRequest(
                "invalid_field", f"status must be one of {list(SESSION_STATUSES)}", param="status"
            )
        check_page(limit, offset)
        ctx = self._ctx
        await ctx.ensure_open()
        now = ctx.now_ms()
        records, total = await ctx.store.list_sessions(
            user_id=user_id, status=status, now_ms=now, limit=limit, offset=offset
        )
        return Page([r.to_session(now) for r in records], total)

    # -- ending -------------------------------------------------------------------------
    async def revoke_session(self, session_id: str) -> Session:
        """Revoke: its tokens are refused from the next request on (HTTP 409 if not active)."""
        return await self._end(session_id, "revoked")

    async def end_session(self, session_id: str) -> Session:
        """Sign out: like revoke, with status ``ended``."""
        return await self._end(session_id, "ended")

    async def _end(self, session_id: str, status: SessionStatus) -> Session:
        ctx = self._ctx
        await ctx.ensure_open()
        now = ctx.now_ms()
        record = await ctx.store.end_session(session_id, status, now_ms=now)
        ctx.freshness.session_ended(session_id, now / 1000)
        return record.to_session(now)

    # -- tokens -------------------------------------------------------------------------
    async def active(self, session_id: str) -> Minting:
        """The session, its user and its active organization, if the session may mint
        tokens; else :class:`~sessionclaims.SessionNotActive`. One store call."""
        ctx = self._ctx
        await ctx.ensure_open()
        found = await ctx.store.get_session_with_user(session_id)
        if found is None:
            raise SessionNotFound(session_id)
        record, user = found.session, found.user
        now = ctx.now_ms()
        status = record.effective_status(now)
        if status == "active" and record.expire_at - ctx.settings.clock_skew * 1000 <= now:
            status = "expired"
        if status != "active":
            if record.status == "active":  # expired: record it, so every process learns
                await self._mark_expired(session_id)
            raise SessionNotActive(f"session {session_id!r} is {status}")
        if user is None:
            raise SessionNotActive(f"session {session_id!r} belongs to a deleted user")
        active = None
        if found.organization is not None and found.membership is not None:
            active = ctx.active_organization(found.organization, found.membership)
        return Minting(record, user, active)

    async def _mark_expired(self, session_id: str) -> None:
        with contextlib.suppress(SessionNotActive):
            await self._end(session_id, "expired")

    async def get_token(
        self,
        session_id: str,
        template: str | None = None,
        *,
        expires_in_seconds: int | None = None,
    ) -> str:
        """A fresh token for an active session: the session template's, or the named
        ``template``'s. ``expires_in_seconds`` (session template only) may not exceed
        ``max_token_lifetime``."""
        ctx = self._ctx
        if expires_in_seconds is not None:
            longest = ctx.settings.max_token_lifetime or ctx.settings.token_lifetime
            if (
                isinstance(expires_in_seconds, bool)
                or not isinstance(expires_in_seconds, int)
                or not 1 <= expires_in_seconds <= longest
            ):
                raise InvalidRequest(
                    "invalid_field",
                    f"expires_in_seconds must be an integer from 1 to {longest} "
                    "(raise max_token_lifetime to allow longer)",
                    param="expires_in_seconds",
                )
        if template is not None and template not in ctx.issuer.named_templates:
            from .._errors import TemplateNotFound

            raise TemplateNotFound(template)
        record, user, active = await self.active(session_id)
        if template is not None:
            return ctx.issuer.named_token(template, user, record, active)
        return ctx.issuer.session_token(user, record, lifetime=expires_in_seconds, active=active)

    async def check_refresh_credential(self, refresh_credential: str) -> SessionRecord:
        """The session a refresh credential belongs to, compared in constant time;
        :class:`~sessionclaims.TokenError` ``refresh-credential-invalid`` otherwise."""
        session_id = session_id_of(refresh_credential)
        if session_id is None:
            raise TokenError("refresh-credential-invalid")
        await self._ctx.ensure_open()
        record = await self._ctx.store.get_session(session_id)
        expected = record.refresh_hash if record is not None else b"\0" * 32
        if not hmac.compare_digest(expected, hash_refresh_credential(refresh_credential)):
            raise TokenError("refresh-credential-invalid")
        assert record is not None
        return record

    async def refresh(self, refresh_credential: str, template: str | None = None) -> str:
        """Exchange a refresh credential for a new token of its active session."""
        if template is None:
            return (await self.renew(refresh_credential)).token
        record = await self.check_refresh_credential(refresh_credential)
        token = await self.get_token(record.id, template)
        await self._touch(record.id)
        return token

    async def renew(self, refresh_credential: str) -> SignedToken:
        """A new session token for a refresh credential (the session's ``last_active_at``
        is touched): :meth:`check_refresh_credential`, then :meth:`reissue`."""
        record = await self.check_refresh_credential(refresh_credential)
        signed = await self.reissue(record.id)
        await self._touch(record.id)
        return signed

    async def reissue(self, session_id: str, *, user_id: str | None = None) -> SignedToken:
        """A new session token of an active session (same ``sid`` and ``azp``), for the
        middleware's reissue and ``POST /v1/tokens/reissue``. ``user_id`` is the ``sub`` of
        the token being replaced: a session of another user counts as not active.

        Raises :class:`~sessionclaims.SessionNotActive` / ``SessionNotFound`` (the
        freshness map then records the session's end), ``StoreUnavailable``, or
        :class:`~sessionclaims.MetadataError` when the token is over its size budget."""
        ctx = self._ctx
        try:
            record, user, active = await self.active(session_id)
        except (SessionNotActive, SessionNotFound):
            ctx.freshness.session_ended(session_id, ctx.clock())
            raise
        if user_id is not None and record.user_id != user_id:
            raise SessionNotActive(f"session {session_id!r} belongs to another user")
        return ctx.issuer.sign_session(user, record, active=active)

    async def _touch(self, session_id: str) -> None:
        await self._ctx.store.touch_session(session_id, now_ms=self._ctx.now_ms())
