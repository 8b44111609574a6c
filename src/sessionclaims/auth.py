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


def _text_claim(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    return value if isinstance(value, str) else None


def _permissions_from(claims: Mapping[str, Any]) -> tuple[str, ...]:
    value = claims.get("org_permissions")
    if not isinstance(value, list | tuple):
        return ()
    return tuple(v for v in value if isinstance(v, str))


class Auth:
    """The authentication state of one request.

    ``session_claims`` is a read-only mapping of the verified claims (empty when signed
    out); ``sessionClaims`` is the same object, for code ported from the JavaScript SDKs.
    ``reason`` says why a request is signed out (``token-expired``, ``session-revoked``...).

    With an active organization, ``org_id``, ``org_slug``, ``org_role`` and
    ``org_permissions`` hold the token's four organization claims (``None`` and ``()``
    without one), and ``scopes`` also holds the role and each permission, so that
    Starlette's ``@requires("org:invoices:read")`` works.
    """

    __slots__ = (
        "is_signed_in",
        "org_id",
        "org_permissions",
        "org_role",
        "org_slug",
        "reason",
        "scopes",
        "session_claims",
        "session_id",
        "user_id",
    )

    is_signed_in: bool
    user_id: str | None
    session_id: str | None
    session_claims: Mapping[str, Any]
    reason: str | None
    scopes: tuple[str, ...]
    org_id: str | None
    org_slug: str | None
    org_role: str | None
    org_permissions: tuple[str, ...]

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
            self.org_id = self.org_slug = self.org_role = None
            self.org_permissions = ()
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
        scopes = _scopes_from(claims, scopes_claim)
        self.org_id = _text_claim(claims, "org_id")
        if self.org_id is None:  # no active organization: the other three are ignored
            self.org_slug = self.org_role = None
            self.org_permissions = ()
        else:
            self.org_slug = _text_claim(claims, "org_slug")
            self.org_role = _text_claim(claims, "org_role")
            self.org_permissions = _permissions_from(claims)
            granted: tuple[str, ...] = (self.org_role,) if self.org_role is not None else ()
            granted += self.org_permissions
            scopes += tuple(g for g in dict.fromkeys(granted) if g not in scopes)
        self.scopes = scopes

    @classmethod
    def signed_out(cls, reason: str) -> Auth:
        """A signed-out state with ``reason``."""
        return cls(None, reason=reason)

    @property
    def sessionClaims(self) -> Mapping[str, Any]:
        """Alias of ``session_claims``."""
        return self.session_claims

    @property
    def orgId(self) -> str | None:
        """Alias of ``org_id``."""
        return self.org_id

    @property
    def orgSlug(self) -> str | None:
        """Alias of ``org_slug``."""
        return self.org_slug

    @property
    def orgRole(self) -> str | None:
        """Alias of ``org_role``."""
        return self.org_role

    @property
    def orgPermissions(self) -> tuple[str, ...]:
        """Alias of ``org_permissions``."""
        return self.org_permissions

    def has_permission(self, permission: str) -> bool:
        """True when signed in with an active organization whose role grants
        ``permission`` (``auth.has_permission("org:invoices:read")``)."""
        return permission in self.org_permissions

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
