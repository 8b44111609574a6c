"""The backend API (``Authorization: Bearer <secret key>``) and the public JWKS routes.

Everything a server that holds the secret key may do: users and their three tiers of
metadata, sessions (and their active organization) and their tokens, completing sign-ups
(docs/http-api.md, "Backend API"); organizations and memberships are in
:mod:`.organization_routes`, behind the same check.
The secret key is compared in constant time; with no secret key configured, every route
here answers 401 and says how to configure one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from .._credentials import bearer_credential, bearer_value
from ..models import SESSION_STATUSES
from ._bodies import (
    backend_tiers,
    is_id,
    page_bounds,
    path_id,
    query_id,
    query_texts,
    read_json_object,
    reject_unknown,
    template_name,
)
from ._errors import ApiError
from ._keys import ApiKeys
from ._routing import Endpoint, json_response, method_route
from .organization_routes import OrganizationRoutes

if TYPE_CHECKING:
    from ..backend import Backend

__all__ = ["BackendAPI", "active_organization", "public_routes", "switch_organization"]

JWKS_MAX_AGE = 300
"""Seconds a JWKS answer may be cached (a rotated-out key verifies far longer)."""


def request_origin(request: Request) -> str | None:
    """The ``Origin`` header, for a new session's ``azp`` (``null`` counts as absent)."""
    origin = request.headers.get("origin")
    return None if origin in (None, "", "null") else origin


class BackendAPI:
    """The routes of the backend API, bound to one :class:`~sessionclaims.Backend`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        settings = backend.settings
        self.keys = ApiKeys(settings.secret_key, settings.feed_keys)

    # -- authorization ------------------------------------------------------------------
    def authorize(self, request: Request, *, feed: bool = False) -> None:
        """401 ``unauthorized`` unless the request carries the secret key (or, with
        ``feed``, a feed key)."""
        keys = self.keys
        if not (keys.configured if feed else keys.has_secret):
            raise ApiError(
                401,
                "unauthorized",
                "the backend API is disabled because no secret key is configured: pass "
                "secret_key= to Backend or set SESSIONCLAIMS_SECRET_KEY",
            )
        header = bearer_value(request.scope["headers"])
        presented = bearer_credential(header).encode("latin-1") if header is not None else None
        if not presented:
            raise ApiError(
                401, "unauthorized", "send the secret key as 'Authorization: Bearer <secret key>'"
            )
        kind = keys.match(presented)
        if kind == "feed" and not feed:
            raise ApiError(
                401,
                "unauthorized",
                "a feed key opens only GET /v1/changes and POST /v1/tokens/reissue",
            )
        if kind is None:
            raise ApiError(401, "unauthorized", "the secret key is wrong")

    def _guarded(self, handler: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            self.authorize(request)
            return await handler(request)

        return endpoint

    def routes(self) -> list[BaseRoute]:
        """Every backend route (the table of docs/http-api.md)."""
        g = self._guarded
        return [
            method_route(
                "/v1/users",
                {"GET": g(self.list_users), "POST": g(self.create_user)},
                name="users",
            ),
            method_route(
                "/v1/users/{user_id}",
                {"GET": g(self.get_user), "DELETE": g(self.delete_user)},
                name="user",
            ),
            method_route(
                "/v1/users/{user_id}/metadata",
                {"PATCH": g(self.merge_metadata), "PUT": g(self.replace_metadata)},
                name="user_metadata",
            ),
            method_route(
                "/v1/sessions",
                {"GET": g(self.list_sessions), "POST": g(self.create_session)},
                name="sessions",
            ),
            method_route(
                "/v1/sessions/{session_id}",
                {"GET": g(self.get_session), "PATCH": g(self.update_session)},
                name="session",
            ),
            method_route(
                "/v1/sessions/{session_id}/revoke",
                {"POST": g(self.revoke_session)},
                name="session_revoke",
            ),
            method_route(
                "/v1/sessions/{session_id}/tokens",
                {"POST": g(self.session_token)},
                name="session_token",
            ),
            method_route(
                "/v1/sessions/{session_id}/tokens/{template}",
                {"POST": g(self.template_token)},
                name="session_template_token",
            ),
            method_route(
                "/v1/sign_ups/{sign_up_id}/complete",
                {"POST": g(self.complete_sign_up)},
                name="sign_up_complete",
            ),
            *OrganizationRoutes(self.backend, g).routes(),
        ]

    # -- users --------------------------------------------------------------------------
    async def create_user(self, request: Request) -> Response:
        """``POST /v1/users``: 201 user (all tiers)."""
        body = await read_json_object(request)
        tiers = backend_tiers(body, also=("external_id",))
        user = await self.backend.users.create_user(external_id=body.get("external_id"), **tiers)
        return json_response(user.to_dict(), status=201)

    async def list_users(self, request: Request) -> Response:
        """``GET /v1/users?limit=&offset=&external_id=``: a page of users, oldest first;
        with ``external_id``, the one user that has it (exact match) or none."""
        limit, offset = page_bounds(request)
        wanted = query_texts(request, "external_id")
        if len(wanted) > 1:
            raise ApiError(
                422, "invalid_field", "give external_id once", meta={"param": "external_id"}
            )
        page = await self.backend.users.list_users(
            limit=limit, offset=offset, external_id=wanted[0] if wanted else None
        )
        return json_response(
            {"data": [user.to_dict() for user in page.data], "total_count": page.total_count}
        )

    async def get_user(self, request: Request) -> Response:
        """``GET /v1/users/{user_id}``: the user (all tiers)."""
        user = await self.backend.users.get_user(path_id(request, "user_id", "user"))
        return json_response(user.to_dict())

    async def delete_user(self, request: Request) -> Response:
        """``DELETE /v1/users/{user_id}``: its sessions are revoked at once."""
        user_id = path_id(request, "user_id", "user")
        await self.backend.users.delete_user(user_id)
        return json_response({"id": user_id, "object": "user", "deleted": True})

    async def merge_metadata(self, request: Request) -> Response:
        """``PATCH /v1/users/{user_id}/metadata``: top-level **merge** of each tier sent."""
        return await self._write_metadata(request, "merge")

    async def replace_metadata(self, request: Request) -> Response:
        """``PUT /v1/users/{user_id}/metadata``: each tier sent is **replaced** whole."""
        return await self._write_metadata(request, "replace")

    async def _write_metadata(
        self, request: Request, mode: Literal["merge", "replace"]
    ) -> Response:
        user_id = path_id(request, "user_id", "user")
        tiers = backend_tiers(await read_json_object(request))
        written = await self.backend.users.write(user_id, tiers, mode=mode)
        return json_response(written.user.to_dict())

    # -- sessions -----------------------------------------------------------------------
    async def create_session(self, request: Request) -> Response:
        """``POST /v1/sessions`` ``{user_id, active_organization_id?}``: 201 session, first
        token, refresh credential."""
        body = await read_json_object(request)
        reject_unknown(body, ("user_id", "active_organization_id"))
        user_id = body.get("user_id")
        if not isinstance(user_id, str):
            raise ApiError(
                422,
                "invalid_field",
                "user_id (a user id string) is required",
                meta={"param": "user_id"},
            )
        if not is_id(user_id):
            raise ApiError(404, "resource_not_found", "user not found", meta={"resource": "user"})
        new = await self.backend.sessions.create_session(
            user_id,
            origin=request_origin(request),
            active_organization_id=active_organization(body, "active_organization_id"),
        )
        return json_response(new.to_dict(), status=201)

    async def list_sessions(self, request: Request) -> Response:
        """``GET /v1/sessions?user_id=&status=&limit=&offset=``."""
        user_id = query_id(request, "user_id")
        status = request.query_params.get("status")
        if status is not None and status not in SESSION_STATUSES:
            raise ApiError(
                422,
                "invalid_field",
                f"status must be one of {', '.join(SESSION_STATUSES)}",
                meta={"param": "status"},
            )
        limit, offset = page_bounds(request)
        page = await self.backend.sessions.list_sessions(
            user_id=user_id, status=status, limit=limit, offset=offset
        )
        return json_response(
            {"data": [s.to_dict() for s in page.data], "total_count": page.total_count}
        )

    async def get_session(self, request: Request) -> Response:
        """``GET /v1/sessions/{session_id}``: the session, with its effective status."""
        session_id = path_id(request, "session_id", "session")
        session = await self.backend.sessions.get_session(session_id)
        return json_response(session.to_dict())

    async def update_session(self, request: Request) -> Response:
        """``PATCH /v1/sessions/{session_id}`` ``{active_organization_id}`` (``null``
        clears it): ``{session, jwt}``, the token already carrying the new org claims."""
        session_id = path_id(request, "session_id", "session")
        body = await read_json_object(request)
        reject_unknown(body, ("active_organization_id",))
        org_id = active_organization(body, "active_organization_id", required=True)
        return json_response(await switch_organization(self.backend, session_id, org_id))

    async def revoke_session(self, request: Request) -> Response:
        """``POST /v1/sessions/{session_id}/revoke``: 409 if it is not active."""
        session_id = path_id(request, "session_id", "session")
        reject_unknown(await read_json_object(request, required=False), ())
        session = await self.backend.sessions.revoke_session(session_id)
        return json_response(session.to_dict())

    async def session_token(self, request: Request) -> Response:
        """``POST /v1/sessions/{session_id}/tokens`` ``{expires_in_seconds?}``: ``{jwt}``."""
        session_id = path_id(request, "session_id", "session")
        body = await read_json_object(request, required=False)
        reject_unknown(body, ("expires_in_seconds",))
        jwt = await self.backend.sessions.get_token(
            session_id, expires_in_seconds=body.get("expires_in_seconds")
        )
        return json_response({"jwt": jwt})

    async def template_token(self, request: Request) -> Response:
        """``POST /v1/sessions/{session_id}/tokens/{template}``: a named template's ``{jwt}``."""
        session_id = path_id(request, "session_id", "session")
        template = template_name(request)
        reject_unknown(await read_json_object(request, required=False), ())
        jwt = await self.backend.sessions.get_token(session_id, template)
        return json_response({"jwt": jwt})

    # -- sign-ups -----------------------------------------------------------------------
    async def complete_sign_up(self, request: Request) -> Response:
        """``POST /v1/sign_ups/{sign_up_id}/complete``: the user, session and first token."""
        sign_up_id = path_id(request, "sign_up_id", "sign-up")
        reject_unknown(await read_json_object(request, required=False), ())
        completion = await self.backend.sign_ups.complete(
            sign_up_id, origin=request_origin(request)
        )
        return json_response(completion.to_dict())


def active_organization(
    body: Mapping[str, Any], name: str, *, required: bool = False
) -> str | None:
    """The organization id ``body[name]`` to make active (``None``: none). Absent when
    ``required`` or not a string: 422 ``invalid_field``; a string that cannot be an id is
    no organization the person is a member of: 403 ``not_a_member``, without a store
    call."""
    if required and name not in body:
        raise ApiError(
            422,
            "invalid_field",
            f"{name} (an organization id, or null to clear it) is required",
            meta={"param": name},
        )
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(
            422,
            "invalid_field",
            f"{name} must be an organization id string or null",
            meta={"param": name},
        )
    if not is_id(value):
        raise ApiError(
            403,
            "not_a_member",
            "the session's user is not a member of this organization",
            meta={"param": "organization_id"},
        )
    return value


async def switch_organization(
    backend: Backend, session_id: str, org_id: str | None
) -> dict[str, Any]:
    """Make ``org_id`` (or none) the session's active organization: ``{session, jwt}``."""
    token = await backend.sessions.set_active_organization(session_id, org_id)
    session = await backend.sessions.get_session(session_id)
    return {"session": session.to_dict(), "jwt": token}


def public_routes(backend: Backend) -> list[BaseRoute]:
    """``GET /.well-known/jwks.json`` and ``GET /v1/jwks``: the public keys, no auth."""

    async def jwks(request: Request) -> Response:
        await backend.ensure_open()
        return json_response(
            backend.jwks(), headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"}
        )

    return [
        method_route("/.well-known/jwks.json", {"GET": jwks}, name="well_known_jwks"),
        method_route("/v1/jwks", {"GET": jwks}, name="jwks"),
    ]
