"""The OpenAPI 3.1 document of the HTTP API, served at ``GET /openapi.json``.

:data:`OPERATIONS` describes every operation the API can have. The served document holds
exactly those whose route exists in the app (so it matches what the routes really do);
``tests/api/test_openapi.py`` fails when a route has no description here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from ..__about__ import __version__
from ..models import DEFAULT_PAGE_SIZE, PAGE_SIZE_LIMIT, SESSION_STATUSES
from ..reasons import SIGN_OUT_REASONS
from ._bodies import MAX_BODY_BYTES, MAX_QUERY_TEXT
from ._routing import json_response, method_route

__all__ = ["OPERATIONS", "openapi_document", "openapi_routes", "route_methods"]

_ID_PATTERN = "^[A-Za-z0-9_]{1,64}$"
_TEMPLATE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_SLUG_PATTERN = "^[a-z0-9-]{1,64}$"
_ID_OR_SLUG_PATTERN = "^([A-Za-z0-9_]{1,64}|[a-z0-9-]{1,64})$"
_PARAM_RE = re.compile(r"{(\w+)}")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(
    properties: dict[str, Any], *, required: Sequence[str] = (), closed: bool = True
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


_MS = {"type": "integer", "description": "Unix time in milliseconds"}
_METADATA = _ref("Metadata")
_USER_FIELDS: dict[str, Any] = {
    "id": {"type": "string"},
    "object": {"const": "user"},
    "external_id": {"type": ["string", "null"]},
    "created_at": _MS,
    "updated_at": _MS,
    "public_metadata": _METADATA,
    "private_metadata": _METADATA,
    "unsafe_metadata": _METADATA,
}
_FRONTEND_USER_FIELDS = {k: v for k, v in _USER_FIELDS.items() if k != "private_metadata"}
_TIER_FIELDS = {
    "public_metadata": _METADATA,
    "trusted_metadata": {**_METADATA, "description": "alias of public_metadata"},
    "private_metadata": _METADATA,
    "unsafe_metadata": _METADATA,
    "untrusted_metadata": {**_METADATA, "description": "alias of unsafe_metadata"},
}
_UNSAFE_FIELDS = {k: v for k, v in _TIER_FIELDS.items() if k.startswith(("unsafe", "untrusted"))}
_ORG_TIER_FIELDS = {k: v for k, v in _TIER_FIELDS.items() if k not in _UNSAFE_FIELDS}
_ORGANIZATION_FIELDS: dict[str, Any] = {
    "id": {"type": "string"},
    "object": {"const": "organization"},
    "name": {"type": "string"},
    "slug": {"type": "string", "pattern": _SLUG_PATTERN},
    "created_at": _MS,
    "updated_at": _MS,
    "public_metadata": _METADATA,
    "private_metadata": _METADATA,
    "members_count": {"type": "integer", "minimum": 0},
}
_MEMBERSHIP_FIELDS: dict[str, Any] = {
    "id": {"type": "string"},
    "object": {"const": "organization_membership"},
    "organization_id": {"type": "string"},
    "user_id": {"type": "string"},
    "role": {"type": "string", "description": "a configured role key, like org:admin"},
    "permissions": {
        "type": "array",
        "items": {"type": "string"},
        "description": "the role's permissions (the Backend's roles setting)",
    },
    "created_at": _MS,
    "updated_at": _MS,
    "public_metadata": _METADATA,
    "private_metadata": _METADATA,
}


def _public(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k != "private_metadata"}


def _listing(item: str) -> dict[str, Any]:
    return _object(
        {"data": {"type": "array", "items": _ref(item)}, "total_count": {"type": "integer"}},
        required=["data", "total_count"],
    )


def _deleted(kind: str) -> dict[str, Any]:
    return _object(
        {"id": {"type": "string"}, "object": {"const": kind}, "deleted": {"const": True}},
        required=["id", "object", "deleted"],
    )


def _with_organization(membership: dict[str, Any], organization: str) -> dict[str, Any]:
    fields = {**membership, "organization": _ref(organization)}
    return _object(fields, required=list(fields))


_ACTIVE_ORGANIZATION = {
    "type": ["string", "null"],
    "description": "the organization id to make active; null clears it (403 not_a_member "
    "unless the session's user is a member)",
}
_SESSION_FIELDS: dict[str, Any] = {
    "session": _ref("Session"),
    "token": {"type": "string", "description": "the session token (JWT)"},
    "refresh_credential": {"type": "string", "description": "shown once; store it safely"},
}

SCHEMAS: dict[str, Any] = {
    "Metadata": {"type": "object", "description": "a JSON object; limits in docs/concepts.md"},
    "User": _object(_USER_FIELDS, required=list(_USER_FIELDS)),
    "FrontendUser": _object(_FRONTEND_USER_FIELDS, required=list(_FRONTEND_USER_FIELDS)),
    "Session": _object(
        {
            "id": {"type": "string"},
            "object": {"const": "session"},
            "user_id": {"type": "string"},
            "status": {"enum": list(SESSION_STATUSES)},
            "created_at": _MS,
            "expire_at": _MS,
            "last_active_at": _MS,
            "active_organization_id": {"type": ["string", "null"]},
        },
        required=[
            "id",
            "object",
            "user_id",
            "status",
            "created_at",
            "expire_at",
            "last_active_at",
            "active_organization_id",
        ],
    ),
    "SignUp": _object(
        {
            "id": {"type": "string"},
            "object": {"const": "sign_up"},
            "status": {"enum": ["pending", "complete"]},
            "unsafe_metadata": _METADATA,
            "created_at": _MS,
            "user_id": {"type": ["string", "null"]},
        },
        required=["id", "object", "status", "unsafe_metadata"],
    ),
    "NewSession": _object(_SESSION_FIELDS, required=list(_SESSION_FIELDS)),
    "SignUpCompletion": _object(
        {"user": _ref("User"), **_SESSION_FIELDS}, required=["user", *_SESSION_FIELDS]
    ),
    "UserList": _listing("User"),
    "SessionList": _listing("Session"),
    "DeletedUser": _deleted("user"),
    "Organization": _object(_ORGANIZATION_FIELDS, required=list(_ORGANIZATION_FIELDS)),
    "FrontendOrganization": _object(
        _public(_ORGANIZATION_FIELDS), required=list(_public(_ORGANIZATION_FIELDS))
    ),
    "Membership": _object(_MEMBERSHIP_FIELDS, required=list(_MEMBERSHIP_FIELDS)),
    "MembershipWithOrganization": _with_organization(_MEMBERSHIP_FIELDS, "Organization"),
    "FrontendMembershipWithOrganization": _with_organization(
        _public(_MEMBERSHIP_FIELDS), "FrontendOrganization"
    ),
    "OrganizationList": _listing("Organization"),
    "MembershipList": _listing("Membership"),
    "UserMembershipList": _listing("MembershipWithOrganization"),
    "FrontendMembershipList": _listing("FrontendMembershipWithOrganization"),
    "DeletedOrganization": _deleted("organization"),
    "DeletedMembership": _deleted("organization_membership"),
    "SessionToken": _object(
        {
            "session": _ref("Session"),
            "jwt": {"type": "string", "description": "a session token with the new org claims"},
        },
        required=["session", "jwt"],
    ),
    "Token": _object({"jwt": {"type": "string"}}, required=["jwt"]),
    "JWKS": _object(
        {"keys": {"type": "array", "items": {"type": "object"}}}, required=["keys"], closed=False
    ),
    "Error": _object(
        {
            "errors": {
                "type": "array",
                "minItems": 1,
                "items": _object(
                    {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "meta": {
                            "type": "object",
                            "description": "param, reason...",
                            "properties": {
                                "reason": {
                                    "type": "string",
                                    "enum": sorted(SIGN_OUT_REASONS),
                                    "description": "why a 401 request is signed out "
                                    "(docs/security.md)",
                                }
                            },
                        },
                    },
                    required=["code", "message", "meta"],
                ),
            }
        },
        required=["errors"],
    ),
    "CreateUser": _object(
        {"external_id": {"type": ["string", "null"], "maxLength": 255}, **_TIER_FIELDS}
    ),
    "MetadataWrite": _object(_TIER_FIELDS),
    "CreateOrganization": _object(
        {
            "name": {"type": "string"},
            "slug": {
                "type": ["string", "null"],
                "pattern": _SLUG_PATTERN,
                "description": "derived from the name when not given",
            },
            "created_by": {
                "type": ["string", "null"],
                "description": "a user id: the first member, with the role org:admin",
            },
            **_ORG_TIER_FIELDS,
        },
        required=["name"],
    ),
    "UpdateOrganization": _object(
        {"name": {"type": ["string", "null"]}, "slug": {"type": ["string", "null"]}}
    ),
    "OrganizationMetadataWrite": _object(_ORG_TIER_FIELDS),
    "CreateMembership": _object(
        {
            "user_id": {"type": "string"},
            "role": {"type": ["string", "null"], "description": "default org:member"},
        },
        required=["user_id"],
    ),
    "UpdateMembership": _object({"role": {"type": "string"}}, required=["role"]),
    "CreateSession": _object(
        {"user_id": {"type": "string"}, "active_organization_id": _ACTIVE_ORGANIZATION},
        required=["user_id"],
    ),
    "UpdateSession": _object(
        {"active_organization_id": _ACTIVE_ORGANIZATION}, required=["active_organization_id"]
    ),
    "ActiveOrganizationRequest": _object(
        {"organization_id": _ACTIVE_ORGANIZATION}, required=["organization_id"]
    ),
    "TokenRequest": _object({"expires_in_seconds": {"type": "integer", "minimum": 1}}),
    "Empty": _object({}),
    "ReissueRequest": _object(
        {"token": {"type": "string", "description": "a session token of this backend"}},
        required=["token"],
    ),
    "UnsafeMetadataWrite": _object(_UNSAFE_FIELDS),
}
"""``components.schemas``: the objects of docs/http-api.md and the request bodies."""

_ERROR_WHEN = {
    400: "the body is not JSON, or not an object (malformed_json); a bad resume point "
    "(invalid_resume_point)",
    401: "missing or wrong secret key / session token (unauthorized, meta.reason)",
    403: "not allowed (form_param_not_allowed, origin_not_allowed); not a member of the "
    "organization to make active (not_a_member)",
    404: "unknown user / session / sign-up / template / organization / membership "
    "(resource_not_found)",
    405: "method not allowed (method_not_allowed)",
    409: "state conflict (conflict; meta.param external_id, slug or user_id when taken)",
    413: f"body over {MAX_BODY_BYTES} bytes (request_too_large)",
    422: "well-formed but invalid (invalid_metadata, metadata_too_large, unknown_field, "
    "invalid_slug, unknown_role, session_token_too_large...)",
    503: "the store is unreachable; a write wrote nothing (store_unavailable)",
}
RESPONSES: dict[str, Any] = {
    str(status): {
        "description": when,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    for status, when in _ERROR_WHEN.items()
}
"""``components.responses``: one error response per status, all in the error format."""
SECURITY_SCHEMES: dict[str, Any] = {
    "secretKey": {"type": "http", "scheme": "bearer", "description": "the secret key"},
    "sessionToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "__session"},
    "refreshCookie": {"type": "apiKey", "in": "cookie", "name": "__refresh"},
    "refreshCredential": {
        "type": "http",
        "scheme": "bearer",
        "description": "the refresh credential (non-browser clients)",
    },
    "feedKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "a feed key: opens only the change stream and the reissue route",
    },
}
"""``components.securitySchemes``: secret key, session token / cookie, refresh credential."""
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "secret": [{"secretKey": []}],
    "feed": [{"secretKey": []}, {"feedKey": []}],
    "session": [{"sessionToken": []}, {"sessionCookie": []}],
    "refresh": [{"refreshCookie": []}, {"refreshCredential": []}],
    "none": [],
}
_TOKEN_HEADERS = {
    "X-Session-Token": {
        "description": "a fresh session token: always after a change of the active "
        "organization, after a metadata write when it changed the claims",
        "schema": {"type": "string"},
    },
    "Set-Cookie": {
        "description": "__session=<fresh token>, for cookie requests",
        "schema": {"type": "string"},
    },
}
_LIMIT = (
    "limit",
    {"type": "integer", "minimum": 1, "maximum": PAGE_SIZE_LIMIT, "default": DEFAULT_PAGE_SIZE},
)
_OFFSET = ("offset", {"type": "integer", "minimum": 0, "default": 0})
_QUERY: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {
    ("/v1/users", "get"): [
        _LIMIT,
        _OFFSET,
        ("external_id", {"type": "string", "minLength": 1, "maxLength": 255}),
    ],
    ("/v1/organizations", "get"): [
        _LIMIT,
        _OFFSET,
        (
            "query",
            {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_QUERY_TEXT,
                "description": "a case-insensitive part of the name or the slug",
            },
        ),
    ],
    ("/v1/organizations/{org_id}/memberships", "get"): [_LIMIT, _OFFSET],
    ("/v1/users/{user_id}/organization_memberships", "get"): [_LIMIT, _OFFSET],
    ("/v1/me/organization_memberships", "get"): [_LIMIT, _OFFSET],
    ("/v1/sessions", "get"): [
        ("user_id", {"type": "string", "pattern": _ID_PATTERN}),
        ("status", {"enum": list(SESSION_STATUSES)}),
        _LIMIT,
        _OFFSET,
    ],
}

# path, method, success status, its schema, request body ("Name?" = optional), auth,
# errors beyond those the path, body and auth imply, summary
# fmt: off
_TABLE: list[tuple[str, str, int, str, str | None, str, tuple[int, ...], str]] = [
    ("/v1/users", "post", 201, "User", "CreateUser", "secret", (409,),
     "Create a user (409 conflict, meta.param external_id, when another user has it)"),
    ("/v1/users", "get", 200, "UserList", None, "secret", (422,),
     "List users, oldest first; external_id= finds the one that has it"),
    ("/v1/users/{user_id}", "get", 200, "User", None, "secret", (), "Get a user"),
    ("/v1/users/{user_id}", "delete", 200, "DeletedUser", None, "secret", (),
     "Delete a user; its sessions are revoked"),
    ("/v1/users/{user_id}/metadata", "patch", 200, "User", "MetadataWrite", "secret", (),
     "Merge metadata into each tier sent (top level; null deletes a key)"),
    ("/v1/users/{user_id}/metadata", "put", 200, "User", "MetadataWrite", "secret", (),
     "Replace each tier sent"),
    ("/v1/sessions", "post", 201, "NewSession", "CreateSession", "secret", (403, 404),
     "Create a session for a person the app has authenticated, optionally with an active "
     "organization"),
    ("/v1/sessions", "get", 200, "SessionList", None, "secret", (422,), "List sessions"),
    ("/v1/sessions/{session_id}", "get", 200, "Session", None, "secret", (), "Get a session"),
    ("/v1/sessions/{session_id}", "patch", 200, "SessionToken", "UpdateSession", "secret",
     (403, 409), "Set (or clear, null) the session's active organization; its new token"),
    ("/v1/sessions/{session_id}/revoke", "post", 200, "Session", "Empty?", "secret", (409,),
     "Revoke a session"),
    ("/v1/sessions/{session_id}/tokens", "post", 200, "Token", "TokenRequest?", "secret",
     (409,), "A session token from the session template"),
    ("/v1/sessions/{session_id}/tokens/{template}", "post", 200, "Token", "Empty?", "secret",
     (409,), "A token from a named template"),
    ("/v1/sign_ups/{sign_up_id}/complete", "post", 200, "SignUpCompletion", "Empty?",
     "secret", (409,), "Complete a sign-up: its user, first session and token"),
    ("/v1/me", "get", 200, "FrontendUser", None, "session", (404,),
     "The signed-in user (never any private metadata)"),
    ("/v1/me", "patch", 200, "FrontendUser", "UnsafeMetadataWrite", "session", (403, 404),
     "Replace the signed-in user's unsafe metadata"),
    ("/v1/me/metadata", "patch", 200, "FrontendUser", "UnsafeMetadataWrite", "session",
     (403, 404), "Merge into the signed-in user's unsafe metadata"),
    ("/v1/me/organization_memberships", "get", 200, "FrontendMembershipList", None,
     "session", (422,), "The signed-in user's memberships with their organizations "
     "(public tiers only)"),
    ("/v1/me/active_organization", "post", 200, "SessionToken", "ActiveOrganizationRequest",
     "session", (403, 409), "Set (or clear, null) the active organization; the answer's "
     "token already carries the new org claims"),
    ("/v1/organizations", "post", 201, "Organization", "CreateOrganization", "secret",
     (404, 409), "Create an organization (409 conflict, meta.param slug, when taken; "
     "created_by becomes its first admin)"),
    ("/v1/organizations", "get", 200, "OrganizationList", None, "secret", (422,),
     "List organizations, oldest first; query= matches the name or the slug"),
    ("/v1/organizations/{org_id}", "get", 200, "Organization", None, "secret", (),
     "Get an organization by id or by slug"),
    ("/v1/organizations/{org_id}", "patch", 200, "Organization", "UpdateOrganization",
     "secret", (409,), "Rename an organization or change its slug"),
    ("/v1/organizations/{org_id}", "delete", 200, "DeletedOrganization", None, "secret", (),
     "Delete an organization and its memberships"),
    ("/v1/organizations/{org_id}/metadata", "patch", 200, "Organization",
     "OrganizationMetadataWrite", "secret", (), "Merge metadata into each tier sent"),
    ("/v1/organizations/{org_id}/metadata", "put", 200, "Organization",
     "OrganizationMetadataWrite", "secret", (), "Replace each tier sent"),
    ("/v1/organizations/{org_id}/memberships", "post", 201, "Membership", "CreateMembership",
     "secret", (409,), "Add a member (409 conflict, meta.param user_id, when already one)"),
    ("/v1/organizations/{org_id}/memberships", "get", 200, "MembershipList", None, "secret",
     (422,), "List an organization's memberships, oldest first"),
    ("/v1/organizations/{org_id}/memberships/{user_id}", "patch", 200, "Membership",
     "UpdateMembership", "secret", (), "Change a member's role"),
    ("/v1/organizations/{org_id}/memberships/{user_id}", "delete", 200, "DeletedMembership",
     None, "secret", (), "Remove a member"),
    ("/v1/organizations/{org_id}/memberships/{user_id}/metadata", "patch", 200, "Membership",
     "OrganizationMetadataWrite", "secret", (), "Merge metadata into each tier sent"),
    ("/v1/organizations/{org_id}/memberships/{user_id}/metadata", "put", 200, "Membership",
     "OrganizationMetadataWrite", "secret", (), "Replace each tier sent"),
    ("/v1/users/{user_id}/organization_memberships", "get", 200, "UserMembershipList", None,
     "secret", (422,), "A user's memberships, each with its organization"),
    ("/v1/sign_ups", "post", 201, "SignUp", "UnsafeMetadataWrite", "none", (403,),
     "Start a sign-up holding unsafe metadata"),
    ("/v1/client/sessions/{session_id}/tokens", "post", 200, "Token", None, "refresh",
     (403, 409), "A fresh session token for the refresh credential"),
    ("/v1/client/sessions/{session_id}/tokens/{template}", "post", 200, "Token", None,
     "refresh", (403, 409), "A named template's token for the refresh credential"),
    ("/v1/client/sessions/{session_id}/end", "post", 200, "Session", None, "refresh",
     (403, 409), "Sign out: end the session and clear the cookies"),
    ("/v1/tokens/reissue", "post", 200, "Token", "ReissueRequest", "feed", (),
     "A fresh token of the same session (401 with meta.reason when refused)"),
    ("/v1/jwks", "get", 200, "JWKS", None, "none", (), "The public signing keys"),
    ("/.well-known/jwks.json", "get", 200, "JWKS", None, "none", (), "The public signing keys"),
]
# fmt: on


def _operation(
    path: str,
    method: str,
    status: int,
    schema: str,
    body: str | None,
    auth: str,
    extra: tuple[int, ...],
    summary: str,
) -> dict[str, Any]:
    errors = {503, *extra}
    if auth != "none":
        errors.add(401)
    if "{" in path:
        errors.add(404)
    if body is not None:
        errors.update((400, 413, 422))
    success: dict[str, Any] = {
        "description": summary,
        "content": {"application/json": {"schema": _ref(schema)}},
    }
    if auth == "session" and method != "get":
        success["headers"] = _TOKEN_HEADERS
    operation: dict[str, Any] = {
        "summary": summary,
        "tags": [path.split("/")[2] if path.startswith("/v1/") else "public"],
        "security": _SECURITY[auth],
        "responses": {
            str(status): success,
            **{str(e): {"$ref": f"#/components/responses/{e}"} for e in sorted(errors)},
        },
    }
    if body is not None:
        operation["requestBody"] = {
            "required": not body.endswith("?"),
            "content": {"application/json": {"schema": _ref(body.rstrip("?"))}},
        }
    parameters = [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in _QUERY.get((path, method), ())
    ]
    parameters += _PATH_OVERRIDES.get((path, method), [])
    if parameters:
        operation["parameters"] = parameters
    return operation


_PATH_OVERRIDES: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("/v1/organizations/{org_id}", "get"): [
        {
            "name": "org_id",
            "in": "path",
            "required": True,
            "description": "the organization's id or its slug",
            "schema": {"type": "string", "pattern": _ID_OR_SLUG_PATTERN},
        }
    ],
}
"""Path parameters an operation reads differently from its path's other operations."""


OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    (row[0], row[1]): _operation(*row) for row in _TABLE
}
"""Every operation the API can have, keyed by ``(path, method)``."""
OPERATIONS["/v1/changes", "get"] = {
    "summary": "The change stream: Server-Sent Events from the change log (docs/deployment.md)",
    "tags": ["changes"],
    "security": _SECURITY["feed"],
    "parameters": [
        {
            "name": "after",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
            "description": "replay every change after this id (Last-Event-ID wins)",
        },
        {
            "name": "Last-Event-ID",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
        },
    ],
    "responses": {
        "200": {
            "description": "events token-claims-change, session-revoked, keys-changed and "
            "reset; a ': keep-alive' comment at least every 15 s",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **{str(e): {"$ref": f"#/components/responses/{e}"} for e in (400, 401, 503)},
    },
}
OPERATIONS["/openapi.json", "get"] = {
    "summary": "This document",
    "tags": ["public"],
    "security": [],
    "responses": {
        "200": {
            "description": "the OpenAPI 3.1 document",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
}


def route_methods(routes: Iterable[BaseRoute], prefix: str = "") -> dict[str, set[str]]:
    """``{path: {methods}}`` of every route, mounted ones included (``HEAD`` left out)."""
    found: dict[str, set[str]] = {}
    for route in routes:
        if isinstance(route, Mount):
            for path, methods in route_methods(route.routes, prefix + route.path).items():
                found.setdefault(path, set()).update(methods)
        elif isinstance(route, Route) and route.methods:
            methods = {m.lower() for m in route.methods if m != "HEAD"}
            found.setdefault(prefix + route.path, set()).update(methods)
    return found


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {
                "type": "string",
                "pattern": _TEMPLATE_PATTERN if name == "template" else _ID_PATTERN,
            },
        }
        for name in _PARAM_RE.findall(path)
    ]


def openapi_document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the operations that ``routes`` really have."""
    paths: dict[str, Any] = {}
    for path, methods in sorted(route_methods(routes).items()):
        item: dict[str, Any] = {}
        for method in sorted(methods):
            operation = OPERATIONS.get((path, method))
            if operation is not None:
                item[method] = operation
        if item:
            parameters = _path_parameters(path)
            paths[path] = {"parameters": parameters, **item} if parameters else item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sessionclaims",
            "version": __version__,
            "description": "Users, organizations, metadata, sessions and session tokens. "
            "Every error has "
            'the body {"errors": [{"code", "message", "meta"}]}.',
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "responses": RESPONSES,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def openapi_routes(routes: Callable[[], Iterable[BaseRoute]]) -> list[BaseRoute]:
    """``GET /openapi.json``; ``routes`` gives the app's routes when first asked."""
    document: dict[str, Any] = {}

    async def openapi(request: Request) -> Response:
        if not document:
            document.update(openapi_document(routes()))
        return json_response(document, headers={"Cache-Control": "public, max-age=300"})

    return [method_route("/openapi.json", {"GET": openapi}, name="openapi")]
