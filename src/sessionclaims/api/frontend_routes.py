"""The frontend API: what a browser (or app) may do with its session token.

Session routes (``/v1/me``...) are wrapped in
:class:`~sessionclaims.api._session_auth.FrontendAuthentication` (the middleware's own
verification); cookie requests that change state pass
:func:`~sessionclaims.api._session_auth.check_origin` (CSRF).

A frontend write may only touch unsafe metadata (403 ``form_param_not_allowed`` for
public or private metadata, with nothing written). When it changes what the session
token contains, the answer carries a fresh token: ``X-Session-Token`` always, and
``Set-Cookie: __session`` when the request came with the cookie.

The person's organizations: ``GET /v1/me/organization_memberships`` (public tiers only)
and ``POST /v1/me/active_organization`` (answered with the new token, which already holds
the new organization claims). No frontend route writes an organization or a membership.

The client-session routes (``/v1/client/sessions/...``) are in :mod:`.client_routes`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from .._errors import SessionClaimsError
from ..cookies import is_secure, token_headers
from ._bodies import (
    forbid_frontend_tiers,
    frontend_tiers,
    page_bounds,
    read_json_object,
    reject_unknown,
)
from ._errors import ApiError
from ._routing import json_response, method_route
from ._session_auth import FrontendAuthentication, check_origin, require_session, token_source
from .backend_routes import active_organization, switch_organization
from .organization_routes import membership_with_organization

if TYPE_CHECKING:
    from ..backend import Backend

__all__ = ["FrontendAPI"]

logger = logging.getLogger("sessionclaims.api")


class FrontendAPI:
    """The routes of the frontend API, bound to one :class:`~sessionclaims.Backend`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def routes(self) -> list[BaseRoute]:
        """Session routes (wrapped in ``FrontendAuthentication``) and sign-ups."""
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
            method_route(
                "/v1/me/organization_memberships",
                {"GET": self.my_memberships},
                name="me_organization_memberships",
                middleware=session,
            ),
            method_route(
                "/v1/me/active_organization",
                {"POST": self.set_active_organization},
                name="me_active_organization",
                middleware=session,
            ),
            method_route("/v1/sign_ups", {"POST": self.create_sign_up}, name="sign_ups"),
        ]

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
        check_origin(request, self.backend, from_cookie=token_source(request.scope) == "cookie")
        tiers = frontend_tiers(await read_json_object(request), where="from the frontend")
        written = await self.backend.users.write(auth.user_id, tiers, mode=mode)
        response = json_response(written.user.to_dict(include_private=False))
        if written.token_claims_changed and auth.session_id is not None:
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
        cookie = token_source(request.scope) == "cookie"
        response.raw_headers += token_headers(token, cookie=cookie, secure=is_secure(request.scope))

    # -- organizations --------------------------------------------------------------------
    async def my_memberships(self, request: Request) -> Response:
        """``GET /v1/me/organization_memberships?limit=&offset=``: each membership with its
        organization, public tiers only (no ``private_metadata`` key anywhere)."""
        auth = require_session(request)
        assert auth.user_id is not None
        limit, offset = page_bounds(request)
        page = await self.backend.organizations.list_user_memberships(
            auth.user_id, limit=limit, offset=offset
        )
        data = [membership_with_organization(m, o, include_private=False) for m, o in page.data]
        return json_response({"data": data, "total_count": page.total_count})

    async def set_active_organization(self, request: Request) -> Response:
        """``POST /v1/me/active_organization`` ``{organization_id}`` (``null`` clears it):
        ``{session, jwt}``; the new token also comes as ``X-Session-Token`` and, for a
        cookie request, ``Set-Cookie: __session``."""
        auth = require_session(request)
        from_cookie = token_source(request.scope) == "cookie"
        check_origin(request, self.backend, from_cookie=from_cookie)
        body = await read_json_object(request)
        forbid_frontend_tiers(body, where="here", allowed="this route takes organization_id")
        reject_unknown(body, ("organization_id",))
        org_id = active_organization(body, "organization_id", required=True)
        if auth.session_id is None:  # pragma: no cover - a signed-in session token has a sid
            raise ApiError(401, "unauthorized", "the session token names no session")
        answer = await switch_organization(self.backend, auth.session_id, org_id)
        response = json_response(answer)
        response.raw_headers += token_headers(
            answer["jwt"], cookie=from_cookie, secure=is_secure(request.scope)
        )
        return response

    # -- sign-ups -----------------------------------------------------------------------
    async def create_sign_up(self, request: Request) -> Response:
        """``POST /v1/sign_ups`` ``{unsafe_metadata?}``: 201 sign-up; no session needed."""
        tiers: Mapping[str, Any] = frontend_tiers(
            await read_json_object(request), where="at sign-up"
        )
        sign_up = await self.backend.sign_ups.create_sign_up(**tiers)
        return json_response(sign_up.to_dict(), status=201)
