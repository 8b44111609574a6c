"""The backend API's organization routes (``Authorization: Bearer <secret key>``).

Organizations, their two metadata tiers, their memberships (with their own two tiers) and
a user's memberships (docs/http-api.md, "Organizations"). Every route goes through the
backend API's secret-key check, so a feed key is a 401 here as everywhere but the stream
and the reissue route. Bodies are read strictly (:mod:`._bodies`): an unsafe tier or any
field a route does not take is a 422 ``unknown_field``; ids in the path must look like ids
(or, for ``GET /v1/organizations/{org_id}``, like a slug) before anything is looked up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from ._bodies import (
    is_id,
    organization_tiers,
    page_bounds,
    path_id,
    path_id_or_slug,
    query_text,
    read_json_object,
    reject_unknown,
)
from ._errors import ApiError
from ._routing import Endpoint, json_response, method_route

if TYPE_CHECKING:
    from ..backend import Backend
    from ..models import Membership, Organization

__all__ = ["OrganizationRoutes", "membership_with_organization"]

_ORGANIZATION = "organization"
_MEMBERSHIP = "organization_membership"


def membership_with_organization(
    membership: Membership, organization: Organization, *, include_private: bool
) -> dict[str, Any]:
    """A membership object with its organization under ``organization``; the frontend
    passes ``include_private=False`` (neither object then has a ``private_metadata`` key)."""
    return {
        **membership.to_dict(include_private=include_private),
        "organization": organization.to_dict(include_private=include_private),
    }


def _optional_string(body: Mapping[str, Any], name: str, code: str, what: str) -> str | None:
    """``body[name]`` when it is a string, ``None`` when absent or null; else 422 ``code``."""
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise ApiError(422, code, f"{name} must be {what}", meta={"param": name})


def _user_id(body: Mapping[str, Any], name: str) -> str | None:
    """A user id in a body: 422 when not a string, 404 when it cannot be an id."""
    value = _optional_string(body, name, "invalid_field", "a user id string")
    if value is not None and not is_id(value):
        raise ApiError(404, "resource_not_found", "user not found", meta={"resource": "user"})
    return value


def _name(body: Mapping[str, Any], *, required: bool) -> str | None:
    value = _optional_string(body, "name", "invalid_field", "a string")
    if required and value is None:
        raise ApiError(422, "invalid_field", "name (a string) is required", meta={"param": "name"})
    return value


def _slug(body: Mapping[str, Any]) -> str | None:
    return _optional_string(
        body, "slug", "invalid_slug", "a string of 1-64 characters a-z, 0-9 and -"
    )


def _role(body: Mapping[str, Any], *, required: bool) -> str | None:
    value = _optional_string(body, "role", "unknown_role", "a role key string (like org:member)")
    if required and value is None:
        raise ApiError(
            422, "invalid_field", "role (a role key string) is required", meta={"param": "role"}
        )
    return value


def _deleted(object_id: str, kind: str) -> Response:
    return json_response({"id": object_id, "object": kind, "deleted": True})


class OrganizationRoutes:
    """The organization routes, bound to one backend; ``guard`` wraps each handler in the
    secret-key check."""

    def __init__(self, backend: Backend, guard: Callable[[Endpoint], Endpoint]) -> None:
        self.backend = backend
        self._guard = guard

    def routes(self) -> list[BaseRoute]:
        """Every organization route (docs/http-api.md, "Organizations")."""
        g = self._guard
        org = "/v1/organizations/{org_id}"
        member = org + "/memberships/{user_id}"
        return [
            method_route(
                "/v1/organizations",
                {"GET": g(self.list_organizations), "POST": g(self.create_organization)},
                name="organizations",
            ),
            method_route(
                org,
                {
                    "GET": g(self.get_organization),
                    "PATCH": g(self.update_organization),
                    "DELETE": g(self.delete_organization),
                },
                name="organization",
            ),
            method_route(
                org + "/metadata",
                {"PATCH": g(self.merge_metadata), "PUT": g(self.replace_metadata)},
                name="organization_metadata",
            ),
            method_route(
                org + "/memberships",
                {"GET": g(self.list_memberships), "POST": g(self.create_membership)},
                name="organization_memberships",
            ),
            method_route(
                member,
                {"PATCH": g(self.update_membership), "DELETE": g(self.delete_membership)},
                name="organization_membership",
            ),
            method_route(
                member + "/metadata",
                {
                    "PATCH": g(self.merge_membership_metadata),
                    "PUT": g(self.replace_membership_metadata),
                },
                name="organization_membership_metadata",
            ),
            method_route(
                "/v1/users/{user_id}/organization_memberships",
                {"GET": g(self.list_user_memberships)},
                name="user_organization_memberships",
            ),
        ]

    # -- organizations ------------------------------------------------------------------
    async def create_organization(self, request: Request) -> Response:
        """``POST /v1/organizations`` ``{name, slug?, public_metadata?, private_metadata?,
        created_by?}``: 201 organization; ``created_by`` becomes its first admin."""
        body = await read_json_object(request)
        tiers = organization_tiers(body, also=("name", "slug", "created_by"))
        name = _name(body, required=True)
        assert name is not None
        organization = await self.backend.organizations.create_organization(
            name, slug=_slug(body), created_by=_user_id(body, "created_by"), **tiers
        )
        return json_response(organization.to_dict(), status=201)

    async def list_organizations(self, request: Request) -> Response:
        """``GET /v1/organizations?limit=&offset=&query=``: oldest first; ``query`` is a
        case-insensitive part of the name or the slug."""
        limit, offset = page_bounds(request)
        page = await self.backend.organizations.list_organizations(
            limit=limit, offset=offset, query=query_text(request, "query")
        )
        return json_response(
            {"data": [o.to_dict() for o in page.data], "total_count": page.total_count}
        )

    async def get_organization(self, request: Request) -> Response:
        """``GET /v1/organizations/{org_id}``: by id or by slug (all tiers)."""
        wanted = path_id_or_slug(request, "org_id", _ORGANIZATION)
        organization = await self.backend.organizations.get_organization(wanted)
        return json_response(organization.to_dict())

    async def update_organization(self, request: Request) -> Response:
        """``PATCH /v1/organizations/{org_id}`` ``{name?, slug?}``."""
        org_id = path_id(request, "org_id", _ORGANIZATION)
        body = await read_json_object(request)
        reject_unknown(body, ("name", "slug"))
        organization = await self.backend.organizations.update_organization(
            org_id, name=_name(body, required=False), slug=_slug(body)
        )
        return json_response(organization.to_dict())

    async def delete_organization(self, request: Request) -> Response:
        """``DELETE /v1/organizations/{org_id}``: its memberships go too; sessions that had
        it active have none from their next token on."""
        org_id = path_id(request, "org_id", _ORGANIZATION)
        await self.backend.organizations.delete_organization(org_id)
        return _deleted(org_id, _ORGANIZATION)

    async def merge_metadata(self, request: Request) -> Response:
        """``PATCH /v1/organizations/{org_id}/metadata``: top-level **merge** per tier."""
        return await self._organization_metadata(request, "merge")

    async def replace_metadata(self, request: Request) -> Response:
        """``PUT /v1/organizations/{org_id}/metadata``: each tier sent **replaced** whole."""
        return await self._organization_metadata(request, "replace")

    async def _organization_metadata(
        self, request: Request, mode: Literal["merge", "replace"]
    ) -> Response:
        org_id = path_id(request, "org_id", _ORGANIZATION)
        tiers = organization_tiers(await read_json_object(request))
        resource = self.backend.organizations
        write = (
            resource.update_organization_metadata
            if mode == "merge"
            else resource.replace_organization_metadata
        )
        organization = await write(org_id, **tiers)
        return json_response(organization.to_dict())

    # -- memberships --------------------------------------------------------------------
    async def create_membership(self, request: Request) -> Response:
        """``POST /v1/organizations/{org_id}/memberships`` ``{user_id, role?}``: 201."""
        org_id = path_id(request, "org_id", _ORGANIZATION)
        body = await read_json_object(request)
        reject_unknown(body, ("user_id", "role"))
        user_id = _user_id(body, "user_id")
        if user_id is None:
            raise ApiError(
                422,
                "invalid_field",
                "user_id (a user id string) is required",
                meta={"param": "user_id"},
            )
        membership = await self.backend.organizations.create_membership(
            org_id, user_id, role=_role(body, required=False)
        )
        return json_response(membership.to_dict(), status=201)

    async def list_memberships(self, request: Request) -> Response:
        """``GET /v1/organizations/{org_id}/memberships?limit=&offset=``: oldest first."""
        org_id = path_id(request, "org_id", _ORGANIZATION)
        limit, offset = page_bounds(request)
        # an unknown organization (a slug is not its id) is a 404 from list_memberships
        page = await self.backend.organizations.list_memberships(
            organization_id=org_id, limit=limit, offset=offset
        )
        return json_response(
            {"data": [m.to_dict() for m in page.data], "total_count": page.total_count}
        )

    async def update_membership(self, request: Request) -> Response:
        """``PATCH /v1/organizations/{org_id}/memberships/{user_id}`` ``{role}``."""
        org_id, user_id = self._membership_ids(request)
        body = await read_json_object(request)
        reject_unknown(body, ("role",))
        role = _role(body, required=True)
        assert role is not None
        membership = await self.backend.organizations.update_membership(org_id, user_id, role=role)
        return json_response(membership.to_dict())

    async def delete_membership(self, request: Request) -> Response:
        """``DELETE /v1/organizations/{org_id}/memberships/{user_id}``; the person's
        sessions with it active have none from their next token on."""
        org_id, user_id = self._membership_ids(request)
        membership = await self.backend.organizations.delete_membership(org_id, user_id)
        return _deleted(membership.id, _MEMBERSHIP)

    async def merge_membership_metadata(self, request: Request) -> Response:
        """``PATCH .../memberships/{user_id}/metadata``: top-level **merge** per tier."""
        return await self._membership_metadata(request, "merge")

    async def replace_membership_metadata(self, request: Request) -> Response:
        """``PUT .../memberships/{user_id}/metadata``: each tier sent **replaced** whole."""
        return await self._membership_metadata(request, "replace")

    async def _membership_metadata(
        self, request: Request, mode: Literal["merge", "replace"]
    ) -> Response:
        org_id, user_id = self._membership_ids(request)
        tiers = organization_tiers(await read_json_object(request))
        resource = self.backend.organizations
        write = (
            resource.update_membership_metadata
            if mode == "merge"
            else resource.replace_membership_metadata
        )
        membership = await write(org_id, user_id, **tiers)
        return json_response(membership.to_dict())

    def _membership_ids(self, request: Request) -> tuple[str, str]:
        org_id = path_id(request, "org_id", _ORGANIZATION)
        return org_id, path_id(request, "user_id", "membership")

    # -- a user's memberships -----------------------------------------------------------
    async def list_user_memberships(self, request: Request) -> Response:
        """``GET /v1/users/{user_id}/organization_memberships``: each membership with its
        organization (all tiers), oldest first."""
        user_id = path_id(request, "user_id", "user")
        limit, offset = page_bounds(request)
        page = await self.backend.organizations.list_user_memberships(
            user_id, limit=limit, offset=offset
        )  # an unknown user is a 404 from list_user_memberships
        data = [membership_with_organization(m, o, include_private=True) for m, o in page.data]
        return json_response({"data": data, "total_count": page.total_count})
