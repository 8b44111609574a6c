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

A signed-out request is answered 401 with ``WWW-Authenticate: Bearer
error="invalid_token"`` (or without ``error`` when no token was sent, RFC 6750 §3.1);
a signed-in request without the claims is answered 403 with ``error="insufficient_scope"``.
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

__all__ = ["HasClaims", "SignedIn", "get_auth"]


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
            raise HTTPException(
                status_code=403,
                detail={
                    "code": "forbidden",
                    "message": f"the session's claims do not match ({names})",
                },
                headers={
                    "WWW-Authenticate": f'Bearer realm="{self.realm}", error="insufficient_scope"'
                },
            )
        return auth
