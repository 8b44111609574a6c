"""``GET /openapi.json`` describes exactly the routes the API has."""

from __future__ import annotations

import importlib.util
import re
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from sessionclaims import Backend, __version__
from sessionclaims.api.openapi import route_methods

from .helpers import Api, assert_error

pytestmark = pytest.mark.anyio

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


async def fetch(api: Api) -> Any:
    response = await api.call("GET", "/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


async def test_every_route_is_documented_and_nothing_else(api: Api, backend: Backend) -> None:
    document = await fetch(api)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == __version__
    documented = {
        path: {method for method in item if method in HTTP_METHODS}
        for path, item in document["paths"].items()
    }
    assert documented == route_methods(backend.api.routes)
    # Spot checks against http-api.md.
    for path, method in [
        ("/v1/users", "post"),
        ("/v1/users/{user_id}/metadata", "put"),
        ("/v1/me", "patch"),
        ("/v1/sign_ups", "post"),
        ("/.well-known/jwks.json", "get"),
        ("/v1/sessions/{session_id}/tokens/{template}", "post"),
        ("/v1/organizations/{org_id}/memberships/{user_id}/metadata", "put"),
        ("/v1/users/{user_id}/organization_memberships", "get"),
        ("/v1/sessions/{session_id}", "patch"),
        ("/v1/me/active_organization", "post"),
        ("/v1/me/organization_memberships", "get"),
    ]:
        assert method in document["paths"][path]


async def test_mounted_routes_are_walked_too(backend: Backend) -> None:
    host = Starlette(routes=[Mount("/auth", app=backend.api)])
    inner = route_methods(backend.api.routes)
    assert route_methods(host.routes) == {"/auth" + path: m for path, m in inner.items()}


async def test_operations_describe_bodies_errors_and_security(api: Api) -> None:
    document = await fetch(api)
    paths, components = document["paths"], document["components"]
    assert components["schemas"]["Error"]["required"] == ["errors"]
    assert "private_metadata" not in components["schemas"]["FrontendUser"]["properties"]
    patch = paths["/v1/users/{user_id}/metadata"]["patch"]
    assert patch["requestBody"]["required"] is True
    assert set(patch["responses"]) >= {"200", "400", "401", "404", "413", "422", "503"}
    assert patch["security"] == [{"secretKey": []}]
    assert "403" in paths["/v1/me"]["patch"]["responses"]
    assert "X-Session-Token" in paths["/v1/me"]["patch"]["responses"]["200"]["headers"]
    assert paths["/v1/sessions/{session_id}/tokens"]["post"]["requestBody"]["required"] is False
    assert paths["/.well-known/jwks.json"]["get"]["security"] == []
    schemas = components["schemas"]
    for frontend in ("FrontendOrganization", "FrontendMembershipWithOrganization"):
        assert "private_metadata" not in schemas[frontend]["properties"]
    assert "unsafe_metadata" not in schemas["OrganizationMetadataWrite"]["properties"]
    assert "active_organization_id" in schemas["Session"]["required"]
    switch = paths["/v1/me/active_organization"]["post"]
    assert {"200", "403", "409"} <= set(switch["responses"])
    assert "X-Session-Token" in switch["responses"]["200"]["headers"]
    by_slug = paths["/v1/organizations/{org_id}"]["get"]["parameters"]
    assert [(p["name"], p["in"]) for p in by_slug] == [("org_id", "path")]
    assert "a-z0-9-" in by_slug[0]["schema"]["pattern"]
    for path, item in paths.items():
        for method in set(item) & HTTP_METHODS:
            for status, response in item[method]["responses"].items():
                if status.startswith(("4", "5")):
                    assert response == {"$ref": f"#/components/responses/{status}"}
                    assert status in components["responses"]
        declared = {p["name"] for p in item.get("parameters", ())}
        assert declared == set(re.findall(r"{(\w+)}", path))


async def test_undocumented_methods_are_405(api: Api) -> None:
    document = await fetch(api)
    for path, item in document["paths"].items():
        response = await api.call("OPTIONS", re.sub(r"{\w+}", "x", path))
        assert_error(response, 405, "method_not_allowed")
        allowed = {m.strip().lower() for m in response.headers["allow"].split(",")}
        assert allowed - {"head"} == set(item) & HTTP_METHODS


@pytest.mark.skipif(
    importlib.util.find_spec("openapi_spec_validator") is None,
    reason="openapi-spec-validator is not installed",
)
async def test_the_document_validates_as_openapi_3_1(api: Api) -> None:
    from openapi_spec_validator import OpenAPIV31SpecValidator

    OpenAPIV31SpecValidator(await fetch(api)).validate()
