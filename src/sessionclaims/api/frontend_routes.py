"""The frontend API: what a browser (or app) may do with its session token.

Session routes (``/v1/me``...) are authenticated by the very verification the middleware
runs: each is wrapped in :class:`FrontendAuthentication`, which runs
``SessionClaimsMiddleware(backend=...)`` unless the host app's middleware already did so
for the same backend. A signed-out request is a 401 ``unauthorized`` whose
``meta.reason`` says why (``token-expired``, ``session-revoked``...).

Cookie-authenticated requests that change state must come from an allowed ``Origin``
(CSRF): one of the backend's authorized parties or, when none are configured, the
request's own origin; else 403 ``origin_not_allowed``. Bearer requests are exempt (a
browser never attaches an ``Authorization`` header on its own).

A frontend write may only touch unsafe metadata (403 ``form_param_not_allowed`` for
public or private metadata, with nothing written). When it changes what the session
token contains, the answer carries a fresh token: ``X-Session-Token`` always, and
``Set-Cookie: __session`` when the request came with the cookie.

The client-session routes (``/v1/client/sessions/{session_id}/...``) authenticate with the
refresh credential, not the session token: they are listed by :meth:`FrontendAPI.routes`
without the wrapper, and use :func:`check_origin` for their cookie requests.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._errors import SessionClaimsError
from ..auth import Auth
from ..cookies import SESSION_COOKIE, is_secure, session_cookie
from ..middleware import BACKEND_SCOPE_KEY, TOKEN_SOURCE_SCOPE_KEY, SessionClaimsMiddleware
from ._bodies import frontend_tiers, read_json_object
from ._errors import ApiError
from .backend_routes import json_response, method_route

if TYPE_CHECKING:
    from ..backend import Backend

__all__ = [
    "BACKEND_SCOPE_KEY",
    "STATE_CHANGING_METHODS",
    "TOKEN_SOURCE_SCOPE_KEY",
    "FrontendAPI",
    "FrontendAuthentication",
    "check_origin",
    "require_session",
    "token_source",
]

logger = logging.getLogger("sessionclaims.api")

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
"""Methods whose cookie-authenticated requests must pass :func:`check_origin`."""

TokenSource = Literal["bearer", "cookie"]
"""Where a request's credential came from."""

_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def token_source(scope: Scope) -> TokenSource:
    """Where the middleware takes the credential from: a non-empty ``Authorization:
    Bearer`` header wins, as in the middleware; otherwise cookies (session or refresh)."""
    known = scope.get(TOKEN_SOURCE_SCOPE_KEY)
    if known in ("bearer", "cookie"):
        return "bearer" if known == "bearer" else "cookie"
    for name, value in scope.get("headers", ()):
        if name == b"authorization" and value[:7].lower() == b"bearer " and value[7:].strip():
            return "bearer"
    return "cookie"


def _first_token_wins(send: Send) -> Send:
    """Keep only the first ``X-Session-Token`` and ``__session`` cookie of a response.

    A route that wrote metadata puts the token it minted first; the middleware appends the
    one it reissued for the request's stale token after it. The route's is the newer."""

    async def send_deduplicated(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept: list[tuple[bytes, bytes]] = []
            token_seen = cookie_seen = False
            for name, value in message.get("headers", ()):
                lowered = name.lower()
                if lowered == b"x-session-token":
                    if token_seen:
                        continue
                    token_seen = True
                elif lowered == b"set-cookie" and value.startswith(SESSION_COOKIE.encode() + b"="):
                    if cookie_seen:
                        continue
                    cookie_seen = True
                kept.append((name, value))
            message = {**message, "headers": kept}
        await send(message)

    return send_deduplicated


class FrontendAuthentication:
    """ASGI wrapper of a session route: verifies the session token like the middleware.

    When the host app's :class:`~sessionclaims.SessionClaimsMiddleware` has already
    authenticated the request with this same backend (``scope["auth"]`` is an ``Auth`` and
    ``scope["sessionclaims.backend"] is backend``), nothing is verified or reissued twice.
    Otherwise the middleware runs here. Either way ``scope["sessionclaims.token_source"]``
    is set for the route (CSRF, cookies)."""

    def __init__(self, app: ASGIApp, *, backend: Backend) -> None:
        self.app = app
        self.backend = backend
        self._middleware = SessionClaimsMiddleware(app, backend=backend)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if isinstance(scope.get("auth"), Auth) and scope.get(BACKEND_SCOPE_KEY) is self.backend:
            scope[TOKEN_SOURCE_SCOPE_KEY] = token_source(scope)
            await self.app(scope, receive, send)
            return
        scope[TOKEN_SOURCE_SCOPE_KEY] = token_source({"headers": scope.get("headers", ())})
        scope[BACKEND_SCOPE_KEY] = self.backend
        await self._middleware(scope, receive, _first_token_wins(send))


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


def check_origin(request: Request, backend: Backend) -> None:
    """CSRF: a cookie-authenticated request that changes state needs an allowed ``Origin``.

    Allowed: the backend's ``authorized_parties``, or, when none are configured, the
    request's own origin (scheme, host and port). 403 ``origin_not_allowed`` otherwise."""
    scope = request.scope
    if request.method not in STATE_CHANGING_METHODS or token_source(scope) != "cookie":
        return
    origin = request.headers.get("origin")
    parties = backend.settings.authorized_parties
    if origin is not None:
        if parties:
            allowed = origin in parties
        else:
            own = _own_origin(scope)
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


class FrontendAPI:
    """The routes of the frontend API, bound to one :class:`~sessionclaims.Backend`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def routes(self) -> list[BaseRoute]:
        """Session routes (wrapped in :class:`FrontendAuthentication`) and sign-ups."""
        session = [Middleware(FrontendAuthentication, backend=self.backend)]
        return [
            method_route(
                "/v1/me",
                {"GET": self.get_me, "PATCH": self.replace_unsafe_metadata},
                name="me",
                middleware=session,
            ),
            method_route(
                "/v1/me/metadata",
                {"PATCH": self.merge_unsafe_metadata},
                name="me_metadata",
                middleware=session,
            ),
            method_route("/v1/sign_ups", {"POST": self.create_sign_up}, name="sign_ups"),
            *self.client_session_routes(),
        ]

    def client_session_routes(self) -> list[BaseRoute]:
        """``/v1/client/sessions/{session_id}/tokens[/{template}]`` and ``.../end``.

        They authenticate with the refresh credential (``__refresh`` cookie, or
        ``Authorization: Bearer <refresh_credential>``), so they are not wrapped in
        :class:`FrontendAuthentication`; cookie requests go through :func:`check_origin`."""
        from .client_routes import client_session_routes  # it builds on this module

        return client_session_routes(self.backend)

    # -- the signed-in user -------------------------------------------------------------
    async def get_me(self, request: Request) -> Response:
        """``GET /v1/me``: the user without any ``private_metadata`` key."""
        auth = require_session(request)
        assert auth.user_id is not None
        user = await self.backend.users.get_user(auth.user_id)
        return json_response(user.to_dict(include_private=False))

    async def replace_unsafe_metadata(self, request: Request) -> Response:
        """``PATCH /v1/me`` ``{unsafe_metadata}``: **replace** the unsafe metadata."""
        return await self._write(request, "replace")

    async def merge_unsafe_metadata(self, request: Request) -> Response:
        """``PATCH /v1/me/metadata`` ``{unsafe_metadata}``: **merge** into it."""
        return await self._write(request, "merge")

    async def _write(self, request: Request, mode: Literal["merge", "replace"]) -> Response:
        auth = require_session(request)
        assert auth.user_id is not None
        check_origin(request, self.backend)
        tiers = frontend_tiers(await read_json_object(request), where="from the frontend")
        before, after = await self.backend.users.write(auth.user_id, tiers, mode=mode)
        response = json_response(after.to_user().to_dict(include_private=False))
        if after.version != before.version and auth.session_id is not None:
            await self._attach_fresh_token(request, auth.session_id, response)
        return response

    async def _attach_fresh_token(
        self, request: Request, session_id: str, response: Response
    ) -> None:
        """The write changed the token's claims: hand the client one that has them."""
        try:
            token = await self.backend.sessions.get_token(session_id)
        except SessionClaimsError as exc:
            # The write is done; the next request gets its token from the middleware.
            logger.warning("metadata written, but no fresh token for %s: %s", session_id, exc)
            return
        response.headers.append("X-Session-Token", token)
        if token_source(request.scope) == "cookie":
            cookie = session_cookie(
                token,
                max_age=self.backend.settings.token_lifetime,
                secure=is_secure(request.scope),
            )
            response.headers.append("Set-Cookie", cookie)

    # -- sign-ups -----------------------------------------------------------------------
    async def create_sign_up(self, request: Request) -> Response:
        """``POST /v1/sign_ups`` ``{unsafe_metadata?}``: 201 sign-up; no session needed."""
        tiers: Mapping[str, Any] = frontend_tiers(
            await read_json_object(request), where="at sign-up"
        )
        sign_up = await self.backend.sign_ups.create_sign_up(**tiers)
        return json_response(sign_up.to_dict(), status=201)
