"""What the middleware puts in the ASGI scope: ``scope["auth"]`` and ``scope["user"]``.

``Auth`` is what a route reads (``request.auth.session_claims["role"]``); it also carries
``scopes``, so Starlette's own ``@requires("admin")`` works unchanged. ``AuthUser`` is the
Starlette ``BaseUser`` for signed-in requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from starlette.authentication import BaseUser

__all__ = ["Auth", "AuthUser"]

_NO_CLAIMS: Mapping[str, Any] = MappingProxyType({})


def _scopes_from(claims: Mapping[str, Any], scopes_claim: str | None) -> tuple[str, ...]:
    if not scopes_claim:
        return ("authenticated",)
    value = claims.get(scopes_claim)
    if isinstance(value, str):
        return ("authenticated", value)
    if isinstance(value, list | tuple):
        return ("authenticated", *(v for v in value if isinstance(v, str)))
    return ("authenticated",)


class Auth:
    """The authentication state of one request.

    ``session_claims`` is a read-only mapping of the verified claims (empty when signed
    out); ``sessionClaims`` is the same object, for code ported from the JavaScript SDKs.
    ``reason`` says why a request is signed out (``token-expired``, ``session-revoked``...).
    """

    __slots__ = ("is_signed_in", "reason", "scopes", "session_claims", "session_id", "user_id")

    is_signed_in: bool
    user_id: str | None
    session_id: str | None
    session_claims: Mapping[str, Any]
    reason: str | None
    scopes: tuple[str, ...]

    def __init__(
        self,
        session_claims: Mapping[str, Any] | None = None,
        *,
        reason: str | None = None,
        scopes_claim: str | None = "role",
    ) -> None:
        if session_claims is None:
            self.is_signed_in = False
            self.user_id = None
            self.session_id = None
            self.session_claims = _NO_CLAIMS
            self.reason = reason or "token-missing"
            self.scopes = ()
            return
        claims = (
            session_claims
            if isinstance(session_claims, MappingProxyType)
            else MappingProxyType(dict(session_claims))
        )
        self.is_signed_in = True
        sub = claims.get("sub")
        sid = claims.get("sid")
        self.user_id = sub if isinstance(sub, str) else None
        self.session_id = sid if isinstance(sid, str) else None
        self.session_claims = claims
        self.reason = None
        self.scopes = _scopes_from(claims, scopes_claim)

    @classmethod
    def signed_out(cls, reason: str) -> Auth:
        """A signed-out state with ``reason``."""
        return cls(None, reason=reason)

    @property
    def sessionClaims(self) -> Mapping[str, Any]:
        """Alias of ``session_claims``."""
        return self.session_claims

    def has(self, **claims: Any) -> bool:
        """True when signed in and every given claim equals the given value.

        ``auth.has(role="admin")``; ``auth.has()`` is simply ``is_signed_in``.
        """
        if not self.is_signed_in:
            return False
        session_claims = self.session_claims
        missing = object()
        return all(session_claims.get(name, missing) == value for name, value in claims.items())

    def has_scopes(self, scopes: Iterable[str]) -> bool:
        """True when every scope is in ``scopes`` (what Starlette's ``requires`` checks)."""
        return all(scope in self.scopes for scope in scopes)

    def __bool__(self) -> bool:
        return self.is_signed_in

    def __repr__(self) -> str:
        if self.is_signed_in:
            return f"<Auth signed in user_id={self.user_id!r} session_id={self.session_id!r}>"
        return f"<Auth signed out reason={self.reason!r}>"


class AuthUser(BaseUser):
    """The Starlette user of a signed-in request (``request.user``)."""

    __slots__ = ("auth",)

    def __init__(self, auth: Auth) -> None:
        self.auth = auth

    @property
    def is_authenticated(self) -> bool:
        return self.auth.is_signed_in

    @property
    def display_name(self) -> str:
        return self.auth.user_id or ""

    @property
    def identity(self) -> str:
        return self.auth.user_id or ""

    @property
    def user_id(self) -> str | None:
        """The user id (``sub``)."""
        return self.auth.user_id

    def __repr__(self) -> str:
        return f"<AuthUser {self.auth.user_id!r}>"
