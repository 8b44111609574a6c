"""The frontend API (session token): /v1/me, CSRF, fresh tokens after writes, sign-ups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.helpers import FakeClock, make_backend, sqlite_url

from .helpers import (
    API_SETTINGS,
    APP_ORIGIN,
    Api,
    Member,
    assert_error,
    make_member,
    open_client,
    snapshot,
)

pytestmark = pytest.mark.anyio

WRITES = [("PATCH", "/v1/me"), ("PATCH", "/v1/me/metadata")]


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def session_cookies(response: Any) -> list[str]:
    return [v for v in response.headers.get_list("set-cookie") if v.startswith("__session=")]


# -- GET /v1/me -------------------------------------------------------------------------
async def test_me_has_no_private_metadata_key(api: Api, member: Member) -> None:
    for credential in ({"token": member.token}, {"cookie": member.token}):
        response = await api.call("GET", "/v1/me", **credential)
        assert response.status_code == 200, response.text
        user = response.json()
        assert "private_metadata" not in user
        assert "cus_123" not in response.text
        assert user == {
            "id": member.user_id,
            "object": "user",
            "external_id": None,
            "created_at": user["created_at"],
            "updated_at": user["updated_at"],
            "public_metadata": {"role": "member", "plan": "pro"},
            "unsafe_metadata": {"nickname": "ann", "theme": "dark"},
        }
        assert "x-session-token" not in response.headers  # a fresh token is not reissued


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "token-missing"),
        ({"Authorization": "Bearer not-a-jwt"}, "token-malformed"),
        ({"Authorization": "Bearer sk_test_4f9a1c"}, "token-malformed"),
        ({"Cookie": "__session=a.b.c"}, "token-malformed"),
    ],
)
async def test_me_signed_out_is_401_with_the_reason(
    api: Api, headers: dict[str, str], reason: str
) -> None:
    for method, path in [("GET", "/v1/me"), *WRITES]:
        response = await api.call(method, path, headers=headers, json={"unsafe_metadata": {}})
        meta = assert_error(response, 401, "unauthorized")
        assert meta == {"reason": reason}


async def test_expired_token_is_401(api: Api, member: Member, clock: FakeClock) -> None:
    clock.advance(120)
    meta = assert_error(await api.call("GET", "/v1/me", token=member.token), 401, "unauthorized")
    assert meta["reason"] == "token-expired"


async def test_revoked_session_is_401_and_clears_cookies(api: Api, member: Member) -> None:
    await api.backend.sessions.revoke_session(member.session_id)
    response = await api.call("GET", "/v1/me", cookie=member.token)
    assert assert_error(response, 401, "unauthorized")["reason"] == "session-revoked"
    cleared = session_cookies(response)
    assert cleared
    assert all("Max-Age=0" in c for c in cleared)


async def test_stale_token_is_reissued_on_read(api: Api, member: Member) -> None:
    await api.backend.users.update_user_metadata(member.user_id, public_metadata={"role": "boss"})
    response = await api.call("GET", "/v1/me", cookie=member.token)
    assert response.status_code == 200
    assert response.json()["public_metadata"]["role"] == "boss"
    assert claims_of(response.headers["x-session-token"])["role"] == "boss"
    assert len(session_cookies(response)) == 1


async def test_refresh_cookie_alone_signs_in(api: Api, member: Member, clock: FakeClock) -> None:
    clock.advance(120)
    response = await api.call(
        "GET",
        "/v1/me",
        headers={"Cookie": f"__session={member.token}; __refresh={member.refresh_credential}"},
    )
    assert response.status_code == 200, response.text
    # ...and counts as a cookie request: a write needs an allowed Origin.
    response = await api.call(
        "PATCH",
        "/v1/me",
        headers={"Cookie": f"__refresh={member.refresh_credential}"},
        json={"unsafe_metadata": {}},
    )
    assert_error(response, 403, "origin_not_allowed")


# -- writes -----------------------------------------------------------------------------
async def test_patch_me_replaces_unsafe_metadata(api: Api, member: Member) -> None:
    response = await api.call(
        "PATCH", "/v1/me", token=member.token, json={"unsafe_metadata": {"nickname": "zed"}}
    )
    assert response.status_code == 200, response.text
    user = response.json()
    assert "private_metadata" not in user
    assert user["unsafe_metadata"] == {"nickname": "zed"}
    stored = await api.backend.users.get_user(member.user_id)
    assert dict(stored.unsafe_metadata) == {"nickname": "zed"}
    assert dict(stored.private_metadata) == {"stripe_id": "cus_123"}
    # The nickname is a claim: a fresh token comes back (header only: it was a bearer call).
    fresh = response.headers["x-session-token"]
    assert claims_of(fresh)["nick"] == "zed"
    assert claims_of(fresh)["sid"] == member.session_id
    assert not session_cookies(response)
    again = await api.call("GET", "/v1/me", token=fresh)
    assert again.status_code == 200
    assert "x-session-token" not in again.headers


async def test_patch_me_metadata_merges_with_the_alias(api: Api, member: Member) -> None:
    response = await api.call(
        "PATCH",
        "/v1/me/metadata",
        token=member.token,
        json={"untrusted_metadata": {"nickname": "bo", "theme": None, "lang": "fr"}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["unsafe_metadata"] == {"nickname": "bo", "lang": "fr"}
    assert claims_of(response.headers["x-session-token"])["nick"] == "bo"


async def test_cookie_write_sets_the_session_cookie(api: Api, member: Member) -> None:
    response = await api.call(
        "PATCH",
        "/v1/me/metadata",
        cookie=member.token,
        origin=APP_ORIGIN,
        json={"unsafe_metadata": {"nickname": "cy"}},
    )
    assert response.status_code == 200, response.text
    token = response.headers["x-session-token"]
    assert claims_of(token)["nick"] == "cy"
    (cookie,) = session_cookies(response)
    assert cookie.startswith(f"__session={token};")
    assert "Max-Age=60" in cookie
    assert "Secure" in cookie
    assert "SameSite=Lax" in cookie
    assert "HttpOnly" not in cookie


async def test_write_that_changes_no_claim_sends_no_token(api: Api, member: Member) -> None:
    response = await api.call(
        "PATCH",
        "/v1/me/metadata",
        cookie=member.token,
        origin=APP_ORIGIN,
        json={"unsafe_metadata": {"theme": "light"}},
    )
    assert response.status_code == 200
    assert response.json()["unsafe_metadata"]["theme"] == "light"
    assert "x-session-token" not in response.headers
    assert not session_cookies(response)


async def test_write_with_a_stale_token_returns_only_the_newest(api: Api, member: Member) -> None:
    await api.backend.users.update_user_metadata(member.user_id, public_metadata={"role": "boss"})
    response = await api.call(
        "PATCH",
        "/v1/me",
        cookie=member.token,
        origin=APP_ORIGIN,
        json={"unsafe_metadata": {"nickname": "dee"}},
    )
    assert response.status_code == 200
    assert len(response.headers.get_list("x-session-token")) == 1
    claims = claims_of(response.headers["x-session-token"])
    assert (claims["role"], claims["nick"]) == ("boss", "dee")
    assert len(session_cookies(response)) == 1


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize("tier", ["public_metadata", "private_metadata", "trusted_metadata"])
async def test_frontend_cannot_write_public_or_private(
    api: Api, member: Member, method: str, path: str, tier: str
) -> None:
    before = await snapshot(api.backend, member.user_id)
    response = await api.call(
        method,
        path,
        token=member.token,
        json={"unsafe_metadata": {"nickname": "mallory"}, tier: {"role": "admin"}},
    )
    assert assert_error(response, 403, "form_param_not_allowed")["param"] == tier
    assert await snapshot(api.backend, member.user_id) == before


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"nickname": "x"}, "unknown_field", "nickname"),
        ({"unsafe_metadata": {}, "external_id": "x"}, "unknown_field", "external_id"),
        (
            {"unsafe_metadata": {}, "untrusted_metadata": {}},
            "ambiguous_field",
            "untrusted_metadata",
        ),
        ({"unsafe_metadata": ["x"]}, "invalid_metadata", "unsafe_metadata"),
        ({"unsafe_metadata": None}, "invalid_metadata", "unsafe_metadata"),
        (
            {"unsafe_metadata": {f"k{i}": 1 for i in range(21)}},
            "metadata_too_many_keys",
            "unsafe_metadata",
        ),
        ({"unsafe_metadata": {"k": "x" * 4100}}, "metadata_too_large", "unsafe_metadata"),
    ],
)
async def test_frontend_write_refusals(
    api: Api,
    member: Member,
    method: str,
    path: str,
    body: dict[str, Any],
    code: str,
    param: str,
) -> None:
    before = await snapshot(api.backend, member.user_id)
    response = await api.call(method, path, token=member.token, json=body)
    assert assert_error(response, 422, code)["param"] == param
    assert await snapshot(api.backend, member.user_id) == before


# -- CSRF -------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize(
    "origin",
    [
        None,
        "https://evil.example",
        "null",
        "http://app.example.com",
        "https://app.example.com.evil.example",
        "https://APP.example.com:8443",
    ],
)
async def test_cookie_write_needs_an_allowed_origin(
    api: Api, member: Member, method: str, path: str, origin: str | None
) -> None:
    before = await snapshot(api.backend, member.user_id)
    response = await api.call(
        method,
        path,
        cookie=member.token,
        origin=origin,
        json={"unsafe_metadata": {"nickname": "csrf"}},
    )
    assert_error(response, 403, "origin_not_allowed")
    assert await snapshot(api.backend, member.user_id) == before


async def test_origin_is_checked_before_the_body(api: Api, member: Member) -> None:
    response = await api.call(
        "PATCH",
        "/v1/me",
        cookie=member.token,
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 403, "origin_not_allowed")


@pytest.mark.parametrize("origin", [None, "https://evil.example"])
async def test_bearer_write_needs_no_origin(api: Api, member: Member, origin: str | None) -> None:
    response = await api.call(
        "PATCH",
        "/v1/me/metadata",
        token=member.token,
        origin=origin,
        json={"unsafe_metadata": {"nickname": "ok"}},
    )
    assert response.status_code == 200, response.text


async def test_cookie_read_needs_no_origin(api: Api, member: Member) -> None:
    response = await api.call("GET", "/v1/me", cookie=member.token)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("https://app.example.com:443", True),
        ("https://APP.EXAMPLE.COM", True),
        ("http://app.example.com", False),
        ("https://app.example.com:8443", False),
        ("https://other.example.com", False),
        (None, False),
    ],
)
async def test_without_authorized_parties_the_own_origin_is_allowed(
    tmp_path: Path, clock: FakeClock, origin: str | None, allowed: bool
) -> None:
    backend = make_backend(
        sqlite_url(tmp_path), clock, preset=API_SETTINGS, authorized_parties=None
    )
    async with backend:
        member = await make_member_without_origin(backend)
        client = open_client(backend.api, "", backend)
        async with client.http:
            response = await client.call(
                "PATCH",
                "/v1/me",
                cookie=member.token,
                origin=origin,
                json={"unsafe_metadata": {"nickname": "self"}},
            )
    if allowed:
        assert response.status_code == 200, response.text
    else:
        assert_error(response, 403, "origin_not_allowed")


async def make_member_without_origin(backend: Any) -> Member:
    user = await backend.users.create_user()
    new = await backend.sessions.create_session(user.id)
    return Member(user.id, new.session.id, new.token, new.refresh_credential)


# -- sign-ups ---------------------------------------------------------------------------
async def test_sign_up_flow(api: Api) -> None:
    response = await api.call(
        "POST", "/v1/sign_ups", json={"unsafe_metadata": {"nickname": "newbie", "ref": "ad"}}
    )
    assert response.status_code == 201, response.text
    sign_up = response.json()
    assert sign_up["object"] == "sign_up"
    assert sign_up["status"] == "pending"
    assert sign_up["unsafe_metadata"] == {"nickname": "newbie", "ref": "ad"}
    assert "public_metadata" not in sign_up
    assert "private_metadata" not in sign_up

    response = await api.backend_call("POST", f"/v1/sign_ups/{sign_up['id']}/complete")
    assert response.status_code == 200, response.text
    completion = response.json()
    assert set(completion) == {"user", "session", "token", "refresh_credential"}
    user = completion["user"]
    assert user["unsafe_metadata"] == {"nickname": "newbie", "ref": "ad"}
    assert user["public_metadata"] == {}
    assert user["private_metadata"] == {}
    assert completion["session"]["user_id"] == user["id"]
    assert claims_of(completion["token"])["nick"] == "newbie"
    stored = await api.backend.users.get_user(user["id"])
    assert dict(stored.unsafe_metadata) == {"nickname": "newbie", "ref": "ad"}
    me = await api.call("GET", "/v1/me", token=completion["token"])
    assert me.json()["id"] == user["id"]

    before = await snapshot(api.backend)
    again = await api.backend_call("POST", f"/v1/sign_ups/{sign_up['id']}/complete")
    assert_error(again, 409, "conflict")
    assert await snapshot(api.backend) == before


async def test_sign_up_takes_the_alias_and_an_empty_object(api: Api) -> None:
    response = await api.call("POST", "/v1/sign_ups", json={"untrusted_metadata": {"a": 1}})
    assert response.status_code == 201
    assert response.json()["unsafe_metadata"] == {"a": 1}
    response = await api.call("POST", "/v1/sign_ups", json={})
    assert response.status_code == 201
    assert response.json()["unsafe_metadata"] == {}


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"public_metadata": {"role": "admin"}}, 403, "form_param_not_allowed", "public_metadata"),
        (
            {"unsafe_metadata": {"a": 1}, "private_metadata": {"b": 2}},
            403,
            "form_param_not_allowed",
            "private_metadata",
        ),
        ({"trusted_metadata": {}}, 403, "form_param_not_allowed", "trusted_metadata"),
        ({"self": 1}, 422, "unknown_field", "self"),
        (
            {"unsafe_metadata": {}, "untrusted_metadata": {}},
            422,
            "ambiguous_field",
            "untrusted_metadata",
        ),
        ({"unsafe_metadata": [1]}, 422, "invalid_metadata", "unsafe_metadata"),
        ({"unsafe_metadata": {"x": "y" * 5000}}, 422, "metadata_too_large", "unsafe_metadata"),
    ],
)
async def test_sign_up_refusals_create_nothing(
    api: Api, body: dict[str, Any], status: int, code: str, param: str
) -> None:
    before = await snapshot(api.backend)
    response = await api.call("POST", "/v1/sign_ups", json=body)
    assert assert_error(response, status, code)["param"] == param
    assert await snapshot(api.backend) == before


async def test_sign_up_needs_no_session_and_no_origin(api: Api, member: Member) -> None:
    # Even with a cookie, a sign-up is not an authenticated request.
    response = await api.call("POST", "/v1/sign_ups", cookie=member.token, json={})
    assert response.status_code == 201


async def test_frontend_answers_do_not_leak_between_users(api: Api, member: Member) -> None:
    other = await make_member(api.backend)
    response = await api.call(
        "PATCH", "/v1/me/metadata", token=other.token, json={"unsafe_metadata": {"x": 1}}
    )
    assert response.json()["id"] == other.user_id
    mine = await api.backend.users.get_user(member.user_id)
    assert "x" not in mine.unsafe_metadata
