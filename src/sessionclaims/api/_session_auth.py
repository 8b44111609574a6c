"""Session-token authentication of the API's routes, shared by the routers.

Session routes (``/v1/me``...) are authenticated by the very verification the middleware
runs: each is wrapped in :class:`FrontendAuthentication`, which runs
``SessionClaimsMiddleware(backend=...)`` unless the host app's middleware already did so
for the same backend. The middleware also sets where the token came from
(``scope["sessionclaims.token_source"]``) and is the one place where a token the route
minted wins over one it reissued. A signed-out request is a 401 ``unauthorized`` whose
``meta.reason`` says why (``token-expired``, ``session-revoked``...).

Cookie-authenticated requests that change state must come from an allowed ``Origin``
(CSRF, :func:`check_origin`): one of the backend's authorized parties or, when none are
configured, the request's own origin; else 403 ``origin_not_allowed``. Bearer requests are
exempt (a browser never attaches an ``Authorization`` header on its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .._credentials import bearer_value
from ..auth import Auth
from ..middleware import BACKEND_SCOPE_KEY, TOKEN_SOURCE_SCOPE_KEY, SessionClaimsMiddleware
from ._errors import ApiError

if TYPE_CHECKING:
    from ..backend import Backend

__all__ = [
    "STATE_CHANGING_METHODS",
    "FrontendAuthentication",
    "TokenSource",
    "check_origin",
    "require_session",
    "token_source",
]

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""Methods whose cookie-authenticated requests must pass :func:`check_origin`."""

TokenSource = Literal["bearer", "cookie"]
"""Where a request's credential came from."""

_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def token_source(scope: Scope) -> TokenSource:
    """Where the middleware took the credential from (it sets it in full mode); otherwise
    read from the headers the same way: a Bearer credential wins, else cookies."""
    known = scope.get(TOKEN_SOURCE_SCOPE_KEY)
    if known in ("bearer", "cookie"):
        return "bearer" if known == "bearer" else "cookie"
    return "bearer" if bearer_value(scope.get("headers", ())) is not None else "cookie"


class FrontendAuthentication:
    """ASGI wrapper of a session route: verifies the session token like the middleware.

    When the host app's :class:`~sessionclaims.SessionClaimsMiddleware` has already
    authenticated the request with this same backend (``scope["auth"]`` is an ``Auth`` and
    ``scope["sessionclaims.backend"] is backend``), nothing is verified or reissued twice.
    Otherwise the middleware runs here."""

    def __init__(self, app: ASGIApp, *, backend: Backend) -> None:
        self.app = app
        self.backend = backend
        self._middleware = SessionClaimsMiddleware(app, backend=backend)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            isinstance(scope.get("auth"), Auth) and scope.get(BACKEND_SCOPE_KEY) is self.backend
        ):
            await self.app(scope, receive, send)
            return
        await self._middleware(scope, receive, send)


def require_session(request: Request) -> Auth:
    """The signed-in ``Auth`` of the request, or 401 ``unauthorized`` with ``meta.reason``."""
    auth = request.scope.get("auth")
    if not isinstance(auth, Auth):
        auth = Auth.signed_out("middleware-missing")
    if not auth.is_signed_in or auth.user_id is None:
        reason = auth.reason or "token-invalid"
        raise ApiError(
            401,
            "unauthorized",
            f"a valid session token is required (__session cookie or Authorization: Bearer); "
            f"this request is signed out: {reason}",
            meta={"reason": reason},
        )
    return auth


def _normalized_origin(origin: str) -> str:
    origin = origin.strip().lower()
    scheme = origin.partition("://")[0]
    default = _DEFAULT_PORTS.get(scheme)
    if default and origin.endswith(default):
        origin = origin[: -len(default)]
    return origin


def _own_origin(scope: Scope) -> str | None:
    host = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
            break
    if not host:
        return None
    return _normalized_origin(f"{scope.get('scheme', 'http')}://{host}")


def check_origin(request: Request, backend: Backend, *, from_cookie: bool) -> None:
    """CSRF: a cookie-authenticated request that changes state needs an allowed ``Origin``.

    ``from_cookie`` says whether the request's credential (session token or refresh
    credential) came from a cookie. Allowed: the backend's ``authorized_parties``, or,
    when none are configured, the request's own origin (scheme, host and port). 403
    ``origin_not_allowed`` otherwise."""
    if request.method not in STATE_CHANGING_METHODS or not from_cookie:
        return
    origin = request.headers.get("origin")
    parties = backend.settings.authorized_parties
    if origin is not None:
        if parties:
            allowed = origin in parties
        else:
            own = _own_origin(request.scope)
            allowed = own is not None and _normalized_origin(origin) == own
        if allowed:
            return
    shown = "no Origin header" if origin is None else "Origin is not allowed"
    raise ApiError(
        403,
        "origin_not_allowed",
        f"a cookie-authenticated {request.method} needs an Origin listed in the authorized "
        f"parties (or the API's own origin when none are configured); {shown}",
    )
