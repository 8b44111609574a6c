"""FastAPI dependencies on top of :class:`~sessionclaims.SessionClaimsMiddleware`.

.. code-block:: python

    from fastapi import Depends, FastAPI
    from sessionclaims import Auth
    from sessionclaims.fastapi import HasClaims, SignedIn

    @app.get("/me")
    async def me(auth: Auth = Depends(SignedIn())):
        return {"user_id": auth.user_id}

    @app.delete("/projects/{id}")
    async def delete(id: str, auth: Auth = Depends(HasClaims(role="admin"))): ...

    @app.get("/invoices")
    async def invoices(auth: Auth = Depends(HasPermission("org:invoices:read"))): ...

    @app.post("/members")
    async def invite(auth: Auth = Depends(HasOrgRole("org:admin"))): ...

A signed-out request is answered 401 with ``WWW-Authenticate: Bearer
error="invalid_token"`` (or without ``error`` when no token was sent, RFC 6750 §3.1);
a signed-in request without the claims (permissions, role in the active organization)
is answered 403 with ``error="insufficient_scope"``.
The body is FastAPI's usual ``{"detail": {...}}`` with ``code``, ``message`` and, for
401, the machine-readable ``reason``.

Needs the ``fastapi`` extra: ``pip install 'sessionclaims[fastapi]'``.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from .auth import Auth
from .middleware import current_auth

__all__ = ["HasClaims", "HasOrgRole", "HasPermission", "SignedIn", "get_auth"]


def get_auth(connection: HTTPConnection) -> Auth:
    """The request's :class:`Auth` (signed out when the middleware is not installed)."""
    return current_auth(connection.scope)


def _unauthorized(auth: Auth, realm: str) -> HTTPException:
    reason = auth.reason or "token-missing"
    challenge = f'Bearer realm="{realm}"'
    if reason != "token-missing":
        challenge += f', error="invalid_token", error_description="{reason}"'
    return HTTPException(
        status_code=401,
        detail={"code": "unauthorized", "message": "sign in first", "reason": reason},
        headers={"WWW-Authenticate": challenge},
    )


class SignedIn:
    """Dependency: the request must be signed in; returns its :class:`Auth`."""

    def __init__(self, *, realm: str = "sessionclaims") -> None:
        self.realm = realm

    def __call__(self, connection: HTTPConnection) -> Auth:
        auth = current_auth(connection.scope)
        if not auth.is_signed_in:
            raise _unauthorized(auth, self.realm)
        return auth


class HasClaims(SignedIn):
    """Dependency: signed in, and every given claim equals the value.

    ``HasClaims(role="admin")``; 401 when signed out, 403 when a claim differs.
    """

    def __init__(self, *, realm: str = "sessionclaims", **claims: Any) -> None:
        super().__init__(realm=realm)
        if not claims:
            raise TypeError("HasClaims needs at least one claim, e.g. HasClaims(role='admin')")
        self.claims = claims

    def __call__(self, connection: HTTPConnection) -> Auth:
        auth = super().__call__(connection)
        if not auth.has(**self.claims):
            names = ", ".join(sorted(self.claims))
            raise _forbidden(f"the session's claims do not match ({names})", self.realm)
        return auth


def _forbidden(message: str, realm: str) -> HTTPException:
    return HTTPException(
        status_code=403,
        detail={"code": "forbidden", "message": message},
        headers={"WWW-Authenticate": f'Bearer realm="{realm}", error="insufficient_scope"'},
    )


class HasPermission(SignedIn):
    """Dependency: signed in, and the role in the active organization grants every
    given permission.

    ``HasPermission("org:invoices:read")``; 401 when signed out, 403 when a permission
    is missing (or no organization is active).
    """

    def __init__(self, *permissions: str, realm: str = "sessionclaims") -> None:
        super().__init__(realm=realm)
        if not permissions or not all(isinstance(p, str) and p for p in permissions):
            raise TypeError(
                "HasPermission needs permissions, e.g. HasPermission('org:invoices:read')"
            )
        self.permissions = permissions

    def __call__(self, connection: HTTPConnection) -> Auth:
        auth = super().__call__(connection)
        missing = [p for p in self.permissions if not auth.has_permission(p)]
        if missing:
            message = f"the active organization's role lacks {', '.join(missing)}"
            raise _forbidden(message, self.realm)
        return auth


class HasOrgRole(SignedIn):
    """Dependency: signed in, and the role in the active organization is one of the given.

    ``HasOrgRole("org:admin")``; 401 when signed out, 403 for another role (or no
    organization active).
    """

    def __init__(self, *roles: str, realm: str = "sessionclaims") -> None:
        super().__init__(realm=realm)
        if not roles or not all(isinstance(r, str) and r for r in roles):
            raise TypeError("HasOrgRole needs a role, e.g. HasOrgRole('org:admin')")
        self.roles = frozenset(roles)

    def __call__(self, connection: HTTPConnection) -> Auth:
        auth = super().__call__(connection)
        if auth.org_role not in self.roles:
            wanted = " or ".join(sorted(self.roles))
            raise _forbidden(f"the role in the active organization is not {wanted}", self.realm)
        return auth
