"""``backend.sign_ups``: unsafe metadata collected before the user exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._errors import MetadataError, SignUpAlreadyCompleted, SignUpNotFound
from ..metadata import FRONTEND_FORBIDDEN, TIERS, apply_metadata, canonical_tiers
from ..models import NewSession, SignUp, User
from ..stores.base import SignUpRecord, UserRecord
from ._context import Context, new_id
from .sessions import SessionsResource
from .users import UsersResource

__all__ = ["SignUpCompletion", "SignUpsResource"]


@dataclass(frozen=True, slots=True)
class SignUpCompletion:
    """A completed sign-up: the new user and their first session."""

    user: User
    new_session: NewSession

    def to_dict(self) -> dict[str, Any]:
        """The HTTP API's answer to ``POST /v1/sign_ups/{id}/complete``."""
        return {"user": self.user.to_dict(), **self.new_session.to_dict()}


class SignUpsResource:
    """Sign-ups: unsafe metadata collected before the user exists."""

    def __init__(self, ctx: Context, users: UsersResource, sessions: SessionsResource) -> None:
        self._ctx = ctx
        self._users = users
        self._sessions = sessions

    async def create_sign_up(self, /, **fields: Any) -> SignUp:
        """Start a sign-up holding ``unsafe_metadata`` (or ``untrusted_metadata``).

        Public and private metadata cannot be set at sign-up:
        :class:`~sessionclaims.MetadataError` ``form_param_not_allowed`` (403)."""
        ctx = self._ctx
        tiers = canonical_tiers(fields)
        for name in sorted(set(fields) - {"unsafe_metadata", "untrusted_metadata"}):
            code = "form_param_not_allowed" if name in FRONTEND_FORBIDDEN else "unknown_field"
            status = 403 if name in FRONTEND_FORBIDDEN else 422
            raise MetadataError(code, f"{name} cannot be set at sign-up", param=name, status=status)
        empty: dict[str, dict[str, Any]] = {tier: {} for tier in TIERS}
        values = apply_metadata(empty, tiers, mode="replace", limits=ctx.limits)
        await ctx.ensure_open()
        record = SignUpRecord(
            id=new_id("sua"),
            status="pending",
            unsafe_metadata=values["unsafe_metadata"],
            created_at=ctx.now_ms(),
        )
        await ctx.store.insert_sign_up(record)
        return record.to_sign_up()

    async def get_sign_up(self, sign_up_id: str) -> SignUp:
        """The sign-up; raises :class:`~sessionclaims.SignUpNotFound`."""
        await self._ctx.ensure_open()
        record = await self._ctx.store.get_sign_up(sign_up_id)
        if record is None:
            raise SignUpNotFound(sign_up_id)
        return record.to_sign_up()

    async def complete_sign_up(
        self, sign_up_id: str, *, origin: str | None = None
    ) -> SignUpCompletion:
        """After the host app verified the person: create the user (the sign-up's unsafe
        metadata copied), its first session and token. Completing twice raises
        :class:`~sessionclaims.SignUpAlreadyCompleted` (HTTP 409)."""
        ctx = self._ctx
        await ctx.ensure_open()
        sign_up = await ctx.store.get_sign_up(sign_up_id)
        if sign_up is None:
            raise SignUpNotFound(sign_up_id)
        if sign_up.status != "pending":
            raise SignUpAlreadyCompleted(f"sign-up {sign_up_id!r} was completed already")
        now = ctx.now_ms()
        user = UserRecord(
            id=new_id("user"),
            external_id=None,
            created_at=now,
            updated_at=now,
            public_metadata={},
            private_metadata={},
            unsafe_metadata=dict(sign_up.unsafe_metadata),
        )
        ctx.issuer.check_budget(user)
        session, credential = self._sessions.new_record(user.id, origin)
        await ctx.store.complete_sign_up(sign_up_id, user, session, now_ms=now)
        token = ctx.issuer.session_token(user, session)
        return SignUpCompletion(
            user.to_user(), NewSession(session.to_session(now), token, credential)
        )

    complete = complete_sign_up
