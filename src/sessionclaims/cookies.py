"""The two cookies of a browser session, and the one writer of their ``Set-Cookie`` values.

* ``__session``: the session JWT. ``Path=/; SameSite=Lax``, ``Secure`` on https,
  ``Max-Age`` = the token's lifetime (its ``exp`` - ``iat``, read from the token itself),
  **not** HttpOnly: frontend code may read its claims.
* ``__refresh``: the refresh credential. ``Path=/; HttpOnly; Secure; SameSite=Lax``,
  ``Max-Age`` = session lifetime. With it the middleware reissues an expired token.

Every ``Set-Cookie`` for these two cookies (the middleware's reissue, the API's routes,
:meth:`Backend.set_session_cookies <sessionclaims.Backend.set_session_cookies>`) is
written here. Reading cookies is :func:`sessionclaims._credentials.parse_cookies`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._b64 import b64url_decode

__all__ = [
    "REFRESH_COOKIE",
    "SESSION_COOKIE",
    "clear_cookie_headers",
    "is_secure",
    "refresh_cookie",
    "session_cookie",
    "token_headers",
    "token_lifetime",
]

SESSION_COOKIE = "__session"
REFRESH_COOKIE = "__refresh"


def is_secure(scope: Mapping[str, Any]) -> bool:
    """True when the request came over https / wss."""
    return scope.get("scheme") in ("https", "wss")


def token_lifetime(token: str) -> int:
    """``exp`` - ``iat`` of a token this library has just signed (not verified here: the
    caller minted it), never below 0."""
    claims = json.loads(b64url_decode(token.split(".")[1]))
    return max(int(claims["exp"]) - int(claims["iat"]), 0)


def session_cookie(token: str, *, secure: bool) -> str:
    """``Set-Cookie`` value for ``__session``; ``Max-Age`` is the token's lifetime."""
    value = f"{SESSION_COOKIE}={token}; Path=/; Max-Age={token_lifetime(token)}; SameSite=Lax"
    return value + "; Secure" if secure else value


def token_headers(token: str, *, cookie: bool, secure: bool) -> list[tuple[bytes, bytes]]:
    """The response headers that hand a client a new session token: ``X-Session-Token``
    always, ``Set-Cookie: __session`` when the request's token came from the cookie."""
    headers = [(b"x-session-token", token.encode("ascii"))]
    if cookie:
        headers.append((b"set-cookie", session_cookie(token, secure=secure).encode("latin-1")))
    return headers


def refresh_cookie(credential: str, *, max_age: int) -> str:
    """``Set-Cookie`` value for the refresh credential (always HttpOnly and Secure)."""
    return (
        f"{REFRESH_COOKIE}={credential}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
    )


def clear_cookie_headers(*, secure: bool) -> list[tuple[bytes, bytes]]:
    """Headers that delete both cookies."""
    session = f"{SESSION_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax" + ("; Secure" if secure else "")
    refresh = f"{REFRESH_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
    return [(b"set-cookie", session.encode("latin-1")), (b"set-cookie", refresh.encode("latin-1"))]
