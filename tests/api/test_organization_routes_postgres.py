"""Every organization route of both tables, over HTTP, on PostgreSQL: one walk through the
mounted app on a real server (test_organization_routes.py covers each route in depth on
SQLite; the stores share one contract suite, this proves the HTTP layer on the other)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.helpers import FakeClock, make_app, shared_backends

from .helpers import API_SETTINGS, APP_ORIGIN, ROLES, SESSION_TEMPLATE, Api, open_client

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

TEMPLATE = {**SESSION_TEMPLATE, "plan": "{{org.public_metadata.plan}}"}
ORG_CLAIMS = {"org_id", "org_slug", "org_role", "org_permissions"}


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["errors"][0]["code"]


async def test_every_organization_route_on_postgres(tmp_path: Path, clock: FakeClock) -> None:
    settings = {**API_SETTINGS, "roles": ROLES, "session_template": TEMPLATE}
    with shared_backends("postgres", tmp_path, clock, **settings) as make:
        backend = make()
        await backend.ensure_open()
        try:
            api = open_client(make_app(backend, routes=[], api_at="/auth"), "/auth", backend)
            async with api.http:
                await _walk(api)
        finally:
            await backend.aclose()


async def _walk(api: Api) -> None:
    users = api.backend.users
    ann, bob = await users.create_user(), await users.create_user()
    call = api.backend_call

    created = await call(
        "POST",
        "/v1/organizations",
        json={"name": "Acme Corp", "public_metadata": {"plan": "pro"}, "created_by": ann.id},
    )
    assert created.status_code == 201, created.text
    org = created.json()
    assert (org["slug"], org["members_count"]) == ("acme-corp", 1)
    org_id = org["id"]
    taken = await call("POST", "/v1/organizations", json={"name": "X", "slug": "acme-corp"})
    assert code(taken) == (409, "conflict")
    assert taken.json()["errors"][0]["meta"]["param"] == "slug"
    bad = await call("POST", "/v1/organizations", json={"name": "X", "slug": "Acme"})
    assert code(bad) == (422, "invalid_slug")

    listed = await call("GET", "/v1/organizations", params={"query": "ACME", "limit": "500"})
    assert [o["id"] for o in listed.json()["data"]] == [org_id]
    assert listed.json()["total_count"] == 1
    assert (await call("GET", "/v1/organizations", params={"query": "_"})).json()[
        "total_count"
    ] == 0
    by_slug = await call("GET", "/v1/organizations/acme-corp")
    assert by_slug.json()["id"] == org_id
    renamed = await call("PATCH", f"/v1/organizations/{org_id}", json={"slug": "acme"})
    assert renamed.json()["slug"] == "acme"
    merged = await call(
        "PATCH", f"/v1/organizations/{org_id}/metadata", json={"private_metadata": {"n": 1}}
    )
    assert merged.json()["private_metadata"] == {"n": 1}
    replaced = await call(
        "PUT", f"/v1/organizations/{org_id}/metadata", json={"trusted_metadata": {"plan": "team"}}
    )
    assert replaced.json()["public_metadata"] == {"plan": "team"}
    too_large = await call(
        "PATCH",
        f"/v1/organizations/{org_id}/metadata",
        json={"public_metadata": {"plan": "x" * 3900}},
    )
    assert code(too_large) == (422, "session_token_too_large")

    memberships = f"/v1/organizations/{org_id}/memberships"
    joined = await call("POST", memberships, json={"user_id": bob.id})
    assert joined.status_code == 201, joined.text
    assert (joined.json()["role"], joined.json()["permissions"]) == (
        "org:member",
        ROLES["org:member"],
    )
    assert code(await call("POST", memberships, json={"user_id": bob.id})) == (409, "conflict")
    wrong_role = await call("PATCH", f"{memberships}/{bob.id}", json={"role": "org:owner"})
    assert code(wrong_role) == (422, "unknown_role")
    promoted = await call("PATCH", f"{memberships}/{bob.id}", json={"role": "org:admin"})
    assert promoted.json()["role"] == "org:admin"
    seat = await call(
        "PATCH", f"{memberships}/{bob.id}/metadata", json={"public_metadata": {"seat": 3}}
    )
    assert seat.json()["public_metadata"] == {"seat": 3}
    cleared = await call("PUT", f"{memberships}/{bob.id}/metadata", json={"public_metadata": {}})
    assert cleared.json()["public_metadata"] == {}
    page = await call("GET", memberships)
    assert page.json()["total_count"] == 2
    mine = await call("GET", f"/v1/users/{bob.id}/organization_memberships")
    assert mine.json()["data"][0]["organization"]["id"] == org_id

    # Sessions: created with it active, switched by the backend and by the frontend.
    session = await call(
        "POST", "/v1/sessions", json={"user_id": bob.id, "active_organization_id": org_id}
    )
    assert session.status_code == 201, session.text
    session_id = session.json()["session"]["id"]
    assert session.json()["session"]["active_organization_id"] == org_id
    assert claims(session.json()["token"])["org_role"] == "org:admin"
    outsider = await users.create_user()
    refused = await call(
        "POST", "/v1/sessions", json={"user_id": outsider.id, "active_organization_id": org_id}
    )
    assert code(refused) == (403, "not_a_member")
    switched = await call(
        "PATCH", f"/v1/sessions/{session_id}", json={"active_organization_id": None}
    )
    assert set(switched.json()) == {"session", "jwt"}
    assert not ORG_CLAIMS & set(claims(switched.json()["jwt"]))

    token = switched.json()["jwt"]
    frontend = await api.call("GET", "/v1/me/organization_memberships", token=token)
    assert frontend.json()["total_count"] == 1
    assert "private_metadata" not in frontend.text
    by_cookie = await api.call(
        "POST",
        "/v1/me/active_organization",
        cookie=token,
        origin=APP_ORIGIN,
        json={"organization_id": org_id},
    )
    assert by_cookie.status_code == 200, by_cookie.text
    new_token = by_cookie.json()["jwt"]
    assert by_cookie.headers["x-session-token"] == new_token
    assert any(c.startswith("__session=") for c in by_cookie.headers.get_list("set-cookie"))
    assert claims(new_token)["org_id"] == org_id

    deleted = await call("DELETE", f"{memberships}/{bob.id}")
    assert deleted.json()["deleted"] is True
    after = await call("GET", f"/v1/sessions/{session_id}")
    assert after.json()["active_organization_id"] is None
    gone = await call("DELETE", f"/v1/organizations/{org_id}")
    assert (gone.status_code, gone.json()["deleted"]) == (200, True)
    assert code(await call("GET", "/v1/organizations/acme")) == (404, "resource_not_found")
