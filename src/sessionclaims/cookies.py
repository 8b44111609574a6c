"""The two cookies of a browser session.

* ``__session``: the session JWT. ``Path=/; SameSite=Lax``, ``Secure`` on https,
  ``Max-Age`` = token lifetime, **not** HttpOnly: frontend code may read its claims.
* ``__refresh``: the refresh credential. ``Path=/; HttpOnly; Secure; SameSite=Lax``,
  ``Max-Age`` = session lifetime. With it the middleware reissues an expired token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "REFRESH_COOKIE",
    "SESSION_COOKIE",
    "clear_cookie_headers",
    "is_secure",
    "refresh_cookie",
    "session_cookie",
]

SESSION_COOKIE = "__session"
REFRESH_COOKIE = "__refresh"


def is_secure(scope: Mapping[str, Any]) -> bool:
    """True when the request came over https / wss."""
    return scope.get("scheme") in ("https", "wss")


def session_cookie(token: str, *, max_age: int, secure: bool) -> str:
    """``Set-Cookie`` value for ``__session``."""
    value = f"{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; SameSite=Lax"
    return value + "; Secure" if secure else value


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
