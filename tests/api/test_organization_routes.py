"""Organizations, memberships and the active organization over HTTP (docs/http-api.md,
"Organizations"): every backend and frontend route, its answer and its refusals, through
the real ASGI app (mounted and bare) on a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest

from sessionclaims import Backend
from tests.helpers import FakeClock, make_backend, sqlite_url

from .helpers import (
    API_SETTINGS,
    APP_ORIGIN,
    ROLES,
    SESSION_TEMPLATE,
    Api,
    Member,
    assert_error,
    make_member,
    snapshot,
)

pytestmark = pytest.mark.anyio

UNKNOWN_ORG = "org_00000000000000000000000000"
UNKNOWN_USER = "user_00000000000000000000000000"
ORG_CLAIMS = ("org_id", "org_slug", "org_role", "org_permissions")
ORG_TEMPLATE = {
    **SESSION_TEMPLATE,
    "org_plan": "{{org.public_metadata.plan}}",
    "seat": "{{membership.public_metadata.seat}}",
}


@pytest.fixture
async def backend(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Backend]:
    """The API tests' backend, with roles and an organization field in the template."""
    instance = make_backend(
        sqlite_url(tmp_path), clock, preset=API_SETTINGS, roles=ROLES, session_template=ORG_TEMPLATE
    )
    await instance.ensure_open()
    try:
        yield instance
    finally:
        await instance.aclose()


@dataclass
class Org:
    """An organization whose admin is ``admin`` (created with ``created_by``)."""

    id: str
    slug: str
    admin: Member


@pytest.fixture
async def org(backend: Backend, member: Member) -> Org:
    created = await backend.organizations.create_organization(
        "Acme Corp",
        slug="acme",
        created_by=member.user_id,
        public_metadata={"plan": "pro"},
        private_metadata={"stripe": "cus_9"},
    )
    return Org(created.id, created.slug, member)


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def private_keys(value: Any) -> list[str]:
    """Every ``private_metadata`` key anywhere in a JSON value."""
    if isinstance(value, dict):
        found = ["private_metadata"] if "private_metadata" in value else []
        return found + [k for v in value.values() for k in private_keys(v)]
    if isinstance(value, list):
        return [k for v in value for k in private_keys(v)]
    return []


def session_cookies(response: Any) -> list[str]:
    return [v for v in response.headers.get_list("set-cookie") if v.startswith("__session=")]


# -- organizations ----------------------------------------------------------------------
async def test_create_organization(api: Api, member: Member) -> None:
    response = await api.backend_call(
        "POST",
        "/v1/organizations",
        json={
            "name": "Globex",
            "slug": "globex",
            "trusted_metadata": {"plan": "team"},
            "private_metadata": {"seats": 5},
            "created_by": member.user_id,
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "object",
        "name",
        "slug",
        "created_at",
        "updated_at",
        "public_metadata",
        "private_metadata",
        "members_count",
    }
    assert body["id"].startswith("org_")
    assert body["object"] == "organization"
    assert (body["name"], body["slug"]) == ("Globex", "globex")
    assert body["public_metadata"] == {"plan": "team"}
    assert body["private_metadata"] == {"seats": 5}
    assert body["members_count"] == 1
    assert response.headers["cache-control"] == "no-store"
    members = await api.backend_call("GET", f"/v1/organizations/{body['id']}/memberships")
    (creator,) = members.json()["data"]
    assert (creator["user_id"], creator["role"]) == (member.user_id, "org:admin")


async def test_create_organization_derives_the_slug(api: Api) -> None:
    response = await api.backend_call("POST", "/v1/organizations", json={"name": "Initech"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["slug"]
    assert body["slug"] == body["slug"].lower()
    assert body["members_count"] == 0
    assert body["public_metadata"] == {}
    assert body["private_metadata"] == {}


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({}, 422, "invalid_field", "name"),
        ({"name": 5}, 422, "invalid_field", "name"),
        ({"name": "A", "slug": "Not A Slug"}, 422, "invalid_slug", "slug"),
        ({"name": "A", "slug": ""}, 422, "invalid_slug", "slug"),
        ({"name": "A", "slug": "a" * 65}, 422, "invalid_slug", "slug"),
        ({"name": "A", "slug": 7}, 422, "invalid_slug", "slug"),
        ({"name": "A", "unsafe_metadata": {}}, 422, "unknown_field", "unsafe_metadata"),
        ({"name": "A", "untrusted_metadata": {}}, 422, "unknown_field", "untrusted_metadata"),
        ({"name": "A", "owner": "x"}, 422, "unknown_field", "owner"),
        (
            {"name": "A", "public_metadata": {}, "trusted_metadata": {}},
            422,
            "ambiguous_field",
            "trusted_metadata",
        ),
        ({"name": "A", "public_metadata": []}, 422, "invalid_metadata", "public_metadata"),
        ({"name": "A", "created_by": 5}, 422, "invalid_field", "created_by"),
    ],
)
async def test_create_organization_refusals_write_nothing(
    api: Api, body: dict[str, Any], status: int, code: str, param: str
) -> None:
    before = await snapshot(api.backend)
    response = await api.backend_call("POST", "/v1/organizations", json=body)
    assert assert_error(response, status, code).get("param") == param
    assert await snapshot(api.backend) == before


@pytest.mark.parametrize("created_by", [UNKNOWN_USER, "../x"])
async def test_create_organization_with_an_unknown_creator_is_404(
    api: Api, created_by: str
) -> None:
    before = await snapshot(api.backend)
    response = await api.backend_call(
        "POST", "/v1/organizations", json={"name": "Ghost", "created_by": created_by}
    )
    assert_error(response, 404, "resource_not_found")
    assert await snapshot(api.backend) == before


async def test_a_taken_slug_is_409(api: Api, org: Org) -> None:
    before = await snapshot(api.backend, org.admin.user_id, org_id=org.id)
    response = await api.backend_call(
        "POST", "/v1/organizations", json={"name": "Other", "slug": "acme"}
    )
    assert assert_error(response, 409, "conflict")["param"] == "slug"
    other = await api.backend_call(
        "POST", "/v1/organizations", json={"name": "Other", "slug": "other"}
    )
    assert other.status_code == 201
    before = await snapshot(api.backend, org.admin.user_id, org_id=org.id)
    response = await api.backend_call(
        "PATCH", f"/v1/organizations/{other.json()['id']}", json={"slug": "acme"}
    )
    assert assert_error(response, 409, "conflict")["param"] == "slug"
    assert await snapshot(api.backend, org.admin.user_id, org_id=org.id) == before


async def test_list_organizations(api: Api, org: Org, clock: FakeClock) -> None:
    for name in ("Beta Labs", "Gamma"):
        clock.advance(1)
        response = await api.backend_call("POST", "/v1/organizations", json={"name": name})
        assert response.status_code == 201
    page = (await api.backend_call("GET", "/v1/organizations")).json()
    assert page["total_count"] == 3
    assert [o["name"] for o in page["data"]] == ["Acme Corp", "Beta Labs", "Gamma"]
    assert page["data"][0]["private_metadata"] == {"stripe": "cus_9"}
    page = (
        await api.backend_call("GET", "/v1/organizations", params={"limit": "1", "offset": "1"})
    ).json()
    assert ([o["name"] for o in page["data"]], page["total_count"]) == (["Beta Labs"], 3)
    for query, names in (("LABS", ["Beta Labs"]), ("acme", ["Acme Corp"]), ("%", [])):
        page = (await api.backend_call("GET", "/v1/organizations", params={"query": query})).json()
        assert [o["name"] for o in page["data"]] == names, query
        assert page["total_count"] == len(names)


@pytest.mark.parametrize(
    "params",
    [{"limit": "501"}, {"limit": "0"}, {"offset": "-1"}, {"limit": "x"}, {"query": ""}],
)
async def test_list_organizations_refuses_bad_paging(api: Api, params: dict[str, str]) -> None:
    response = await api.backend_call("GET", "/v1/organizations", params=params)
    assert assert_error(response, 422, "invalid_field")["param"] in params


@pytest.mark.parametrize("query", ["%ED%A0%80", "acme%ff", "%C0%AF", "a&query=b"])
async def test_list_organizations_refuses_a_query_that_is_not_one_utf8_text(
    api: Api, query: str
) -> None:
    response = await api.backend_call("GET", f"/v1/organizations?query={query}")
    assert assert_error(response, 422, "invalid_field") == {"param": "query"}


async def test_get_organization_by_id_or_slug(api: Api, org: Org) -> None:
    by_id = await api.backend_call("GET", f"/v1/organizations/{org.id}")
    by_slug = await api.backend_call("GET", f"/v1/organizations/{org.slug}")
    assert by_id.status_code == by_slug.status_code == 200
    assert by_id.json() == by_slug.json()
    assert by_id.json()["private_metadata"] == {"stripe": "cus_9"}
    assert by_id.json()["members_count"] == 1


@pytest.mark.parametrize("org_id", [UNKNOWN_ORG, "no-such-slug", "Acme", "a" * 65])
async def test_get_unknown_organization_is_404(api: Api, org: Org, org_id: str) -> None:
    response = await api.backend_call("GET", f"/v1/organizations/{org_id}")
    assert_error(response, 404, "resource_not_found")


async def test_update_organization(api: Api, org: Org) -> None:
    response = await api.backend_call(
        "PATCH", f"/v1/organizations/{org.id}", json={"name": "Acme Inc", "slug": "acme-inc"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["slug"]) == ("Acme Inc", "acme-inc")
    assert body["public_metadata"] == {"plan": "pro"}
    found = await api.backend_call("GET", "/v1/organizations/acme-inc")
    assert found.json()["id"] == org.id
    assert_error(await api.backend_call("GET", "/v1/organizations/acme"), 404, "resource_not_found")


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"slug": "UPPER"}, "invalid_slug", "slug"),
        ({"slug": 3}, "invalid_slug", "slug"),
        ({"name": ["x"]}, "invalid_field", "name"),
        ({"public_metadata": {"plan": "x"}}, "unknown_field", "public_metadata"),
        ({"members_count": 9}, "unknown_field", "members_count"),
    ],
)
async def test_update_organization_refusals_write_nothing(
    api: Api, org: Org, body: dict[str, Any], code: str, param: str
) -> None:
    before = await snapshot(api.backend, org.admin.user_id, org_id=org.id)
    response = await api.backend_call("PATCH", f"/v1/organizations/{org.id}", json=body)
    assert assert_error(response, 422, code)["param"] == param
    assert await snapshot(api.backend, org.admin.user_id, org_id=org.id) == before


async def test_delete_organization(api: Api, org: Org) -> None:
    response = await api.backend_call("DELETE", f"/v1/organizations/{org.id}")
    assert response.status_code == 200
    assert response.json() == {"id": org.id, "object": "organization", "deleted": True}
    assert_error(
        await api.backend_call("GET", f"/v1/organizations/{org.id}"), 404, "resource_not_found"
    )
    mine = await api.backend_call("GET", f"/v1/users/{org.admin.user_id}/organization_memberships")
    assert mine.json() == {"data": [], "total_count": 0}
    assert_error(
        await api.backend_call("DELETE", f"/v1/organizations/{org.id}"), 404, "resource_not_found"
    )


async def test_organization_metadata_merge_and_replace(api: Api, org: Org) -> None:
    path = f"/v1/organizations/{org.id}/metadata"
    merged = await api.backend_call(
        "PATCH",
        path,
        json={"trusted_metadata": {"plan": "team", "region": "eu"}, "private_metadata": {"x": 1}},
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["public_metadata"] == {"plan": "team", "region": "eu"}
    assert merged.json()["private_metadata"] == {"stripe": "cus_9", "x": 1}
    merged = await api.backend_call("PATCH", path, json={"public_metadata": {"region": None}})
    assert merged.json()["public_metadata"] == {"plan": "team"}
    replaced = await api.backend_call("PUT", path, json={"private_metadata": {}})
    assert replaced.status_code == 200
    assert replaced.json()["private_metadata"] == {}
    assert replaced.json()["public_metadata"] == {"plan": "team"}


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"unsafe_metadata": {"a": 1}}, "unknown_field", "unsafe_metadata"),
        ({"name": "x"}, "unknown_field", "name"),
        ({"public_metadata": {}, "trusted_metadata": {}}, "ambiguous_field", "trusted_metadata"),
        ({"public_metadata": "x"}, "invalid_metadata", "public_metadata"),
        (
            {"private_metadata": {f"k{i}": i for i in range(21)}},
            "metadata_too_many_keys",
            "private_metadata",
        ),
        ({"public_metadata": {"big": "x" * 5000}}, "metadata_too_large", "public_metadata"),
    ],
)
async def test_organization_metadata_refusals_write_nothing(
    api: Api, org: Org, method: str, body: dict[str, Any], code: str, param: str
) -> None:
    before = await snapshot(api.backend, org.admin.user_id, org_id=org.id)
    response = await api.backend_call(method, f"/v1/organizations/{org.id}/metadata", json=body)
    assert assert_error(response, 422, code)["param"] == param
    assert await snapshot(api.backend, org.admin.user_id, org_id=org.id) == before


async def test_a_metadata_write_over_the_token_budget_is_422(api: Api, org: Org) -> None:
    switched = await api.backend_call(
        "PATCH",
        f"/v1/sessions/{org.admin.session_id}",
        json={"active_organization_id": org.id},
    )
    assert switched.status_code == 200, switched.text
    before = await snapshot(api.backend, org.admin.user_id, org_id=org.id)
    response = await api.backend_call(
        "PATCH",
        f"/v1/organizations/{org.id}/metadata",
        json={"public_metadata": {"plan": "p" * 4000}},
    )
    assert_error(response, 422, "session_token_too_large")
    assert await snapshot(api.backend, org.admin.user_id, org_id=org.id) == before


async def test_a_membership_write_over_the_token_budget_is_422(api: Api, org: Org) -> None:
    before = await snapshot(api.backend, org.admin.user_id, org_id=org.id)
    response = await api.backend_call(
        "PATCH",
        f"/v1/organizations/{org.id}/memberships/{org.admin.user_id}/metadata",
        json={"public_metadata": {"seat": "s" * 4000}},
    )
    assert_error(response, 422, "session_token_too_large")
    assert await snapshot(api.backend, org.admin.user_id, org_id=org.id) == before


# -- memberships ------------------------------------------------------------------------
async def test_membership_lifecycle(api: Api, backend: Backend, org: Org, clock: FakeClock) -> None:
    other = await make_member(backend)
    clock.advance(1)
    base = f"/v1/organizations/{org.id}/memberships"
    created = await api.backend_call("POST", base, json={"user_id": other.user_id})
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {
        "id",
        "object",
        "organization_id",
        "user_id",
        "role",
        "permissions",
        "created_at",
        "updated_at",
        "public_metadata",
        "private_metadata",
    }
    assert body["id"].startswith("mem_")
    assert body["object"] == "organization_membership"
    assert (body["organization_id"], body["user_id"]) == (org.id, other.user_id)
    assert (body["role"], body["permissions"]) == ("org:member", ["org:invoices:read"])
    org_now = await api.backend_call("GET", f"/v1/organizations/{org.id}")
    assert org_now.json()["members_count"] == 2

    listed = (await api.backend_call("GET", base)).json()
    assert listed["total_count"] == 2
    assert [m["user_id"] for m in listed["data"]] == [org.admin.user_id, other.user_id]
    page = (await api.backend_call("GET", base, params={"limit": "1", "offset": "1"})).json()
    assert ([m["user_id"] for m in page["data"]], page["total_count"]) == ([other.user_id], 2)

    updated = await api.backend_call("PATCH", f"{base}/{other.user_id}", json={"role": "org:admin"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["role"] == "org:admin"
    assert updated.json()["permissions"] == ["org:invoices:read", "org:invoices:write"]

    merged = await api.backend_call(
        "PATCH",
        f"{base}/{other.user_id}/metadata",
        json={"trusted_metadata": {"seat": 3}, "private_metadata": {"note": "vip"}},
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["public_metadata"] == {"seat": 3}
    assert merged.json()["private_metadata"] == {"note": "vip"}
    replaced = await api.backend_call(
        "PUT", f"{base}/{other.user_id}/metadata", json={"public_metadata": {"desk": 9}}
    )
    assert replaced.json()["public_metadata"] == {"desk": 9}
    assert replaced.json()["private_metadata"] == {"note": "vip"}

    deleted = await api.backend_call("DELETE", f"{base}/{other.user_id}")
    assert deleted.status_code == 200
    assert deleted.json() == {
        "id": body["id"],
        "object": "organization_membership",
        "deleted": True,
    }
    assert_error(
        await api.backend_call("DELETE", f"{base}/{other.user_id}"), 404, "resource_not_found"
    )
    org_now = await api.backend_call("GET", f"/v1/organizations/{org.id}")
    assert org_now.json()["members_count"] == 1


async def test_membership_with_a_role(api: Api, backend: Backend, org: Org) -> None:
    other = await make_member(backend)
    created = await api.backend_call(
        "POST",
        f"/v1/organizations/{org.id}/memberships",
        json={"user_id": other.user_id, "role": "org:admin"},
    )
    assert created.status_code == 201
    assert created.json()["role"] == "org:admin"


async def test_a_second_membership_is_409(api: Api, org: Org) -> None:
    before = await snapshot(api.backend, org.admin.user_id, org_id=org.id)
    response = await api.backend_call(
        "POST", f"/v1/organizations/{org.id}/memberships", json={"user_id": org.admin.user_id}
    )
    assert assert_error(response, 409, "conflict")["param"] == "user_id"
    assert await snapshot(api.backend, org.admin.user_id, org_id=org.id) == before


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({}, 422, "invalid_field", "user_id"),
        ({"user_id": 5}, 422, "invalid_field", "user_id"),
        ({"user_id": "{other}", "role": "org:owner"}, 422, "unknown_role", "role"),
        ({"user_id": "{other}", "role": 1}, 422, "unknown_role", "role"),
        ({"user_id": "{other}", "public_metadata": {}}, 422, "unknown_field", "public_metadata"),
        ({"user_id": UNKNOWN_USER}, 404, "resource_not_found", None),
        ({"user_id": "../x"}, 404, "resource_not_found", None),
    ],
)
async def test_create_membership_refusals_write_nothing(
    api: Api,
    backend: Backend,
    org: Org,
    body: dict[str, Any],
    status: int,
    code: str,
    param: str | None,
) -> None:
    other = await make_member(backend)
    if body.get("user_id") == "{other}":
        body = {**body, "user_id": other.user_id}
    before = await snapshot(api.backend, other.user_id, org_id=org.id)
    response = await api.backend_call("POST", f"/v1/organizations/{org.id}/memberships", json=body)
    assert assert_error(response, status, code).get("param") == param
    assert await snapshot(api.backend, other.user_id, org_id=org.id) == before


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({}, "invalid_field", "role"),
        ({"role": None}, "invalid_field", "role"),
        ({"role": "org:owner"}, "unknown_role", "role"),
        ({"role": "org:member", "user_id": "x"}, "unknown_field", "user_id"),
    ],
)
async def test_update_membership_refusals_write_nothing(
    api: Api, org: Org, body: dict[str, Any], code: str, param: str
) -> None:
    before = await snapshot(api.backend, org.admin.user_id, org_id=org.id)
    response = await api.backend_call(
        "PATCH", f"/v1/organizations/{org.id}/memberships/{org.admin.user_id}", json=body
    )
    assert assert_error(response, 422, code)["param"] == param
    assert await snapshot(api.backend, org.admin.user_id, org_id=org.id) == before


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_membership_metadata_takes_no_unsafe_tier(api: Api, org: Org, method: str) -> None:
    before = await snapshot(api.backend, org.admin.user_id, org_id=org.id)
    response = await api.backend_call(
        method,
        f"/v1/organizations/{org.id}/memberships/{org.admin.user_id}/metadata",
        json={"unsafe_metadata": {"a": 1}},
    )
    assert assert_error(response, 422, "unknown_field")["param"] == "unsafe_metadata"
    assert await snapshot(api.backend, org.admin.user_id, org_id=org.id) == before


async def test_membership_routes_of_unknown_things_are_404(
    api: Api, backend: Backend, org: Org
) -> None:
    stranger = await make_member(backend)
    for org_id, user_id in (
        (UNKNOWN_ORG, org.admin.user_id),
        (org.id, stranger.user_id),
        (org.id, UNKNOWN_USER),
    ):
        base = f"/v1/organizations/{org_id}/memberships/{user_id}"
        for method, path, body in (
            ("PATCH", base, {"role": "org:member"}),
            ("DELETE", base, None),
            ("PATCH", base + "/metadata", {"public_metadata": {"a": 1}}),
            ("PUT", base + "/metadata", {"public_metadata": {"a": 1}}),
        ):
            response = await api.backend_call(method, path, json=body)
            assert_error(response, 404, "resource_not_found")
    for method, body in (("GET", None), ("POST", {"user_id": stranger.user_id})):
        response = await api.backend_call(
            method, f"/v1/organizations/{UNKNOWN_ORG}/memberships", json=body
        )
        assert_error(response, 404, "resource_not_found")
    # An organization's memberships are listed by its id, not its slug.
    response = await api.backend_call("GET", f"/v1/organizations/{org.slug}/memberships")
    assert_error(response, 404, "resource_not_found")


# -- a user's memberships ---------------------------------------------------------------
async def test_a_users_memberships_hold_their_organizations(
    api: Api, backend: Backend, org: Org, clock: FakeClock
) -> None:
    clock.advance(1)
    second = await backend.organizations.create_organization("Umbrella")
    await backend.organizations.create_membership(second.id, org.admin.user_id)
    response = await api.backend_call(
        "GET", f"/v1/users/{org.admin.user_id}/organization_memberships"
    )
    assert response.status_code == 200
    page = response.json()
    assert page["total_count"] == 2
    first, other = page["data"]
    assert first["object"] == "organization_membership"
    assert first["organization"]["id"] == org.id == first["organization_id"]
    assert first["organization"]["private_metadata"] == {"stripe": "cus_9"}
    assert (first["role"], other["role"]) == ("org:admin", "org:member")
    assert other["organization"]["name"] == "Umbrella"
    page = (
        await api.backend_call(
            "GET",
            f"/v1/users/{org.admin.user_id}/organization_memberships",
            params={"limit": "1", "offset": "1"},
        )
    ).json()
    assert ([m["organization_id"] for m in page["data"]], page["total_count"]) == ([second.id], 2)


async def test_memberships_of_a_user_without_any_and_of_an_unknown_user(
    api: Api, member: Member
) -> None:
    response = await api.backend_call("GET", f"/v1/users/{member.user_id}/organization_memberships")
    assert response.json() == {"data": [], "total_count": 0}
    response = await api.backend_call("GET", f"/v1/users/{UNKNOWN_USER}/organization_memberships")
    assert_error(response, 404, "resource_not_found")
    response = await api.backend_call(
        "GET", f"/v1/users/{member.user_id}/organization_memberships", params={"limit": "501"}
    )
    assert assert_error(response, 422, "invalid_field")["param"] == "limit"


# -- the active organization: backend ---------------------------------------------------
async def test_switch_the_active_organization_by_session(api: Api, org: Org) -> None:
    path = f"/v1/sessions/{org.admin.session_id}"
    response = await api.backend_call("PATCH", path, json={"active_organization_id": org.id})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"session", "jwt"}
    assert body["session"]["id"] == org.admin.session_id
    assert body["session"]["active_organization_id"] == org.id
    token = claims(body["jwt"])
    assert token["sid"] == org.admin.session_id
    assert token["org_id"] == org.id
    assert token["org_slug"] == "acme"
    assert token["org_role"] == "org:admin"
    assert token["org_permissions"] == ["org:invoices:read", "org:invoices:write"]
    assert token["org_plan"] == "pro"
    assert not session_cookies(response)
    got = await api.backend_call("GET", path)
    assert got.json()["active_organization_id"] == org.id

    cleared = await api.backend_call("PATCH", path, json={"active_organization_id": None})
    assert cleared.status_code == 200
    assert cleared.json()["session"]["active_organization_id"] is None
    assert not set(ORG_CLAIMS) & set(claims(cleared.json()["jwt"]))


async def test_sessions_carry_their_active_organization(api: Api, member: Member) -> None:
    session = (await api.backend_call("GET", f"/v1/sessions/{member.session_id}")).json()
    assert session["active_organization_id"] is None
    listed = (await api.backend_call("GET", "/v1/sessions")).json()
    assert all("active_organization_id" in s for s in listed["data"])


async def test_create_a_session_with_an_active_organization(api: Api, org: Org) -> None:
    response = await api.backend_call(
        "POST",
        "/v1/sessions",
        json={"user_id": org.admin.user_id, "active_organization_id": org.id},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["session"]["active_organization_id"] == org.id
    token = claims(body["token"])
    assert (token["org_id"], token["org_role"]) == (org.id, "org:admin")


@pytest.mark.parametrize(
    "org_id",
    ["{other_org}", UNKNOWN_ORG, "../x", "no such org"],
    ids=["other", "unknown", "a", "b"],
)
async def test_a_session_of_a_non_member_is_403(
    api: Api, backend: Backend, org: Org, member: Member, org_id: str
) -> None:
    other = await backend.organizations.create_organization("Elsewhere")
    wanted = other.id if org_id == "{other_org}" else org_id
    before = await snapshot(
        api.backend, member.user_id, org_id=org.id, session_id=member.session_id
    )
    response = await api.backend_call(
        "POST", "/v1/sessions", json={"user_id": member.user_id, "active_organization_id": wanted}
    )
    assert assert_error(response, 403, "not_a_member")["param"] == "organization_id"
    response = await api.backend_call(
        "PATCH", f"/v1/sessions/{member.session_id}", json={"active_organization_id": wanted}
    )
    assert assert_error(response, 403, "not_a_member")["param"] == "organization_id"
    after = await snapshot(api.backend, member.user_id, org_id=org.id, session_id=member.session_id)
    assert after == before


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "active_organization_id"),
        ({"active_organization_id": 5}, "active_organization_id"),
        ({"active_organization_id": ["org_x"]}, "active_organization_id"),
    ],
)
async def test_update_session_refusals(
    api: Api, member: Member, body: dict[str, Any], param: str
) -> None:
    before = await snapshot(api.backend, member.user_id, session_id=member.session_id)
    response = await api.backend_call("PATCH", f"/v1/sessions/{member.session_id}", json=body)
    assert assert_error(response, 422, "invalid_field")["param"] == param
    response = await api.backend_call(
        "PATCH", f"/v1/sessions/{member.session_id}", json={**body, "status": "x"}
    )
    assert assert_error(response, 422, "unknown_field")["param"] == "status"
    assert await snapshot(api.backend, member.user_id, session_id=member.session_id) == before


async def test_switching_on_an_ended_session_is_409(api: Api, org: Org) -> None:
    await api.backend_call("POST", f"/v1/sessions/{org.admin.session_id}/revoke")
    response = await api.backend_call(
        "PATCH", f"/v1/sessions/{org.admin.session_id}", json={"active_organization_id": org.id}
    )
    assert_error(response, 409, "conflict")
    response = await api.backend_call(
        "PATCH",
        "/v1/sessions/sess_00000000000000000000000000",
        json={"active_organization_id": None},
    )
    assert_error(response, 404, "resource_not_found")


# -- the frontend -----------------------------------------------------------------------
async def test_my_memberships_show_public_tiers_only(api: Api, backend: Backend, org: Org) -> None:
    await backend.organizations.update_membership_metadata(
        org.id, org.admin.user_id, public_metadata={"seat": 1}, private_metadata={"note": "x"}
    )
    for credential in ({"token": org.admin.token}, {"cookie": org.admin.token}):
        response = await api.call("GET", "/v1/me/organization_memberships", **credential)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["total_count"] == 1
        (item,) = page["data"]
        assert item["organization_id"] == org.id
        assert item["role"] == "org:admin"
        assert item["public_metadata"] == {"seat": 1}
        assert item["organization"]["public_metadata"] == {"plan": "pro"}
        assert item["organization"]["slug"] == "acme"
        assert private_keys(page) == []
        assert "cus_9" not in response.text
        assert "note" not in response.text


async def test_my_memberships_need_a_session(api: Api, org: Org) -> None:
    assert_error(await api.call("GET", "/v1/me/organization_memberships"), 401, "unauthorized")
    response = await api.call("GET", "/v1/me/organization_memberships", secret=None, token="x.y.z")
    assert_error(response, 401, "unauthorized")


async def test_switch_by_bearer(api: Api, org: Org) -> None:
    response = await api.call(
        "POST",
        "/v1/me/active_organization",
        token=org.admin.token,
        json={"organization_id": org.id},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session"]["active_organization_id"] == org.id
    assert "private_metadata" not in response.text
    assert response.headers["x-session-token"] == body["jwt"]
    assert not session_cookies(response)
    token = claims(body["jwt"])
    assert token["org_id"] == org.id
    assert token["org_slug"] == "acme"
    assert token["org_role"] == "org:admin"
    assert token["org_permissions"] == ["org:invoices:read", "org:invoices:write"]
    # The new token works at once and the session keeps its organization.
    me = await api.call("GET", "/v1/me", token=body["jwt"])
    assert me.status_code == 200
    session = await api.backend_call("GET", f"/v1/sessions/{org.admin.session_id}")
    assert session.json()["active_organization_id"] == org.id

    cleared = await api.call(
        "POST", "/v1/me/active_organization", token=body["jwt"], json={"organization_id": None}
    )
    assert cleared.status_code == 200
    assert not set(ORG_CLAIMS) & set(claims(cleared.json()["jwt"]))
    assert cleared.headers["x-session-token"] == cleared.json()["jwt"]


async def test_switch_by_cookie_sets_the_cookie(api: Api, org: Org) -> None:
    response = await api.call(
        "POST",
        "/v1/me/active_organization",
        cookie=org.admin.token,
        origin=APP_ORIGIN,
        json={"organization_id": org.id},
    )
    assert response.status_code == 200, response.text
    token = response.json()["jwt"]
    (cookie,) = session_cookies(response)
    assert cookie.startswith(f"__session={token};")
    assert "SameSite=Lax" in cookie
    assert response.headers["x-session-token"] == token
    assert claims(token)["org_id"] == org.id


@pytest.mark.parametrize("origin", [None, "https://evil.example", "null"])
async def test_a_cookie_switch_needs_an_allowed_origin(
    api: Api, org: Org, origin: str | None
) -> None:
    member = org.admin
    before = await snapshot(
        api.backend, member.user_id, org_id=org.id, session_id=member.session_id
    )
    response = await api.call(
        "POST",
        "/v1/me/active_organization",
        cookie=member.token,
        origin=origin,
        json={"organization_id": org.id},
    )
    assert_error(response, 403, "origin_not_allowed")
    assert "x-session-token" not in response.headers
    after = await snapshot(api.backend, member.user_id, org_id=org.id, session_id=member.session_id)
    assert after == before


async def test_switching_to_an_organization_of_others_is_403(
    api: Api, backend: Backend, org: Org, member: Member
) -> None:
    outsider = await make_member(backend)
    before = await snapshot(
        api.backend, outsider.user_id, org_id=org.id, session_id=outsider.session_id
    )
    for wanted in (org.id, UNKNOWN_ORG, "../../x"):
        response = await api.call(
            "POST",
            "/v1/me/active_organization",
            token=outsider.token,
            json={"organization_id": wanted},
        )
        assert assert_error(response, 403, "not_a_member")["param"] == "organization_id"
        assert "x-session-token" not in response.headers
    after = await snapshot(
        api.backend, outsider.user_id, org_id=org.id, session_id=outsider.session_id
    )
    assert after == before


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({}, 422, "invalid_field", "organization_id"),
        ({"organization_id": 1}, 422, "invalid_field", "organization_id"),
        ({"organization_id": None, "role": "org:admin"}, 422, "unknown_field", "role"),
        (
            {"organization_id": None, "public_metadata": {}},
            403,
            "form_param_not_allowed",
            "public_metadata",
        ),
        ({"private_metadata": {}}, 403, "form_param_not_allowed", "private_metadata"),
    ],
)
async def test_switch_refusals(
    api: Api, org: Org, body: dict[str, Any], status: int, code: str, param: str
) -> None:
    member = org.admin
    before = await snapshot(
        api.backend, member.user_id, org_id=org.id, session_id=member.session_id
    )
    response = await api.call("POST", "/v1/me/active_organization", token=member.token, json=body)
    assert assert_error(response, status, code)["param"] == param
    after = await snapshot(api.backend, member.user_id, org_id=org.id, session_id=member.session_id)
    assert after == before


async def test_no_frontend_route_writes_an_organization(api: Api, org: Org) -> None:
    token = org.admin.token
    for method, path in (
        ("POST", "/v1/organizations"),
        ("PATCH", f"/v1/organizations/{org.id}"),
        ("PATCH", f"/v1/organizations/{org.id}/metadata"),
        ("POST", f"/v1/organizations/{org.id}/memberships"),
        ("PATCH", f"/v1/organizations/{org.id}/memberships/{org.admin.user_id}"),
        ("DELETE", f"/v1/organizations/{org.id}"),
    ):
        response = await api.call(method, path, token=token, json={"name": "x"})
        assert_error(response, 401, "unauthorized")
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        response = await api.call(method, "/v1/me/organization_memberships", token=token, json={})
        assert_error(response, 405, "method_not_allowed")
    response = await api.backend_call("GET", f"/v1/organizations/{org.id}")
    assert response.json()["name"] == "Acme Corp"
