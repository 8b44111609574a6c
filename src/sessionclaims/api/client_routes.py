"""``/v1/client/sessions/...``: what a browser or native client does with its session.

* ``POST /v1/client/sessions/{id}/tokens`` — a fresh session token for the refresh
  credential (the ``__refresh`` cookie, or ``Authorization: Bearer <refresh_credential>``
  for non-browser clients); ``{"jwt"}`` and ``Set-Cookie: __session``.
* ``POST /v1/client/sessions/{id}/tokens/{template}`` — a named template's token.
* ``POST /v1/client/sessions/{id}/end`` — sign out: the session becomes ``ended`` and both
  cookies are cleared. Authenticated by the refresh credential or by the session's token.

Cookie-authenticated calls go through the CSRF check (``Origin`` must be allowed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from .._credentials import bearer_credential, bearer_value, request_cookies
from .._errors import TokenError
from ..auth import Auth
from ..backend.sessions import session_id_of
from ..cookies import REFRESH_COOKIE, clear_cookie_headers, is_secure, session_cookie
from ._bodies import path_id, read_json_object, reject_unknown, template_name
from ._errors import ApiError
from ._routing import json_response, method_route
from ._session_auth import FrontendAuthentication, check_origin, token_source

if TYPE_CHECKING:
    from ..backend import Backend

__all__ = ["client_session_routes"]


def _credential(request: Request) -> tuple[str, bool] | None:
    """The refresh credential and whether it came from the cookie."""
    headers = request.scope["headers"]
    header = bearer_value(headers)
    if header is not None:
        value = bearer_credential(header)
        if session_id_of(value) is not None:
            return value, False
    cookie = request_cookies(headers).get(REFRESH_COOKIE)
    return (cookie, True) if cookie else None


def _unauthorized(reason: str) -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "a valid refresh credential for this session is required "
        f"({REFRESH_COOKIE} cookie or Authorization: Bearer <refresh_credential>): {reason}",
        meta={"reason": reason},
    )


async def _checked_credential(request: Request, backend: Backend, session_id: str) -> str:
    found = _credential(request)
    if found is None:
        raise _unauthorized("refresh-credential-missing")
    credential, from_cookie = found
    check_origin(request, backend, from_cookie=from_cookie)
    try:
        record = await backend.sessions.check_refresh_credential(credential)
    except TokenError as exc:
        raise _unauthorized(exc.reason) from None
    if record.id != session_id:
        raise _unauthorized("refresh-credential-invalid")
    return credential


def client_session_routes(backend: Backend) -> list[BaseRoute]:
    """The three client routes, bound to ``backend``."""

    async def session_token(request: Request) -> Response:
        session_id = path_id(request, "session_id", "session")
        reject_unknown(await read_json_object(request, required=False), ())
        credential = await _checked_credential(request, backend, session_id)
        token = await backend.sessions.refresh(credential)
        response = json_response({"jwt": token})
        cookie = session_cookie(token, secure=is_secure(request.scope))
        response.headers.append("Set-Cookie", cookie)
        return response

    async def template_token(request: Request) -> Response:
        session_id = path_id(request, "session_id", "session")
        name = template_name(request)
        reject_unknown(await read_json_object(request, required=False), ())
        credential = await _checked_credential(request, backend, session_id)
        return json_response({"jwt": await backend.sessions.refresh(credential, name)})

    async def end(request: Request) -> Response:
        session_id = path_id(request, "session_id", "session")
        reject_unknown(await read_json_object(request, required=False), ())
        auth = request.scope.get("auth")
        if isinstance(auth, Auth) and auth.is_signed_in and auth.session_id == session_id:
            check_origin(request, backend, from_cookie=token_source(request.scope) == "cookie")
        else:
            await _checked_credential(request, backend, session_id)
        session = await backend.sessions.end_session(session_id)
        response = json_response(session.to_dict())
        response.raw_headers += clear_cookie_headers(secure=is_secure(request.scope))
        return response

    signed_in = [Middleware(FrontendAuthentication, backend=backend)]
    prefix = "/v1/client/sessions/{session_id}"
    return [
        method_route(f"{prefix}/tokens", {"POST": session_token}, name="client_session_token"),
        method_route(
            f"{prefix}/tokens/{{template}}", {"POST": template_token}, name="client_template_token"
        ),
        method_route(f"{prefix}/end", {"POST": end}, name="client_end", middleware=signed_in),
    ]
