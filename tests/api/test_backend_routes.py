"""The backend API (secret key): every route, its success and every error path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from sessionclaims import Backend, UserNotFound
from tests.helpers import FakeClock, make_backend, sqlite_url

from .helpers import (
    API_SETTINGS,
    APP_ORIGIN,
    HOSTILE_IDS,
    ISSUER,
    SECRET,
    Api,
    Member,
    assert_error,
    make_member,
    open_client,
    snapshot,
)

pytestmark = pytest.mark.anyio

UNKNOWN_USER = "user_00000000000000000000000000"
UNKNOWN_SESSION = "sess_00000000000000000000000000"

# Every backend route, with a body that would be accepted.
BACKEND_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/v1/users", {}),
    ("GET", "/v1/users", None),
    ("GET", "/v1/users/{user}", None),
    ("DELETE", "/v1/users/{user}", None),
    ("PATCH", "/v1/users/{user}/metadata", {}),
    ("PUT", "/v1/users/{user}/metadata", {}),
    ("POST", "/v1/sessions", {"user_id": "{user}"}),
    ("GET", "/v1/sessions", None),
    ("GET", "/v1/sessions/{session}", None),
    ("POST", "/v1/sessions/{session}/revoke", None),
    ("POST", "/v1/sessions/{session}/tokens", None),
    ("POST", "/v1/sessions/{session}/tokens/reports", None),
    ("POST", "/v1/sign_ups/sua_00000000000000000000000000/complete", None),
]


def fill(path: str, member: Member) -> str:
    return path.replace("{user}", member.user_id).replace("{session}", member.session_id)


def decode(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


# -- the secret key ---------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "body"), BACKEND_ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer sk_wrong", f"Basic {SECRET}", "Bearer ", f"Bearer {SECRET}x", SECRET],
)
async def test_every_backend_route_needs_the_secret_key(
    api: Api, member: Member, method: str, path: str, body: Any, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    before = await snapshot(api.backend, member.user_id)
    json_body = {"user_id": member.user_id} if body and "user_id" in body else body
    response = await api.call(method, fill(path, member), json=json_body, headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert await snapshot(api.backend, member.user_id) == before


async def test_the_session_token_is_not_the_secret_key(api: Api, member: Member) -> None:
    response = await api.call("GET", f"/v1/users/{member.user_id}", token=member.token)
    assert_error(response, 401, "unauthorized")


async def test_no_secret_key_configured_refuses_every_backend_route(
    tmp_path: Path, clock: FakeClock
) -> None:
    backend = make_backend(sqlite_url(tmp_path), clock, preset=API_SETTINGS, secret_key=None)
    async with backend:
        client = open_client(backend.api, "", backend)
        async with client.http:
            for method, path, _ in BACKEND_ROUTES:
                response = await client.call(
                    method, path.format(user="x", session="x"), secret="anything"
                )
                assert_error(response, 401, "unauthorized")
                assert "secret_key" in response.json()["errors"][0]["message"]
            # The public routes still work.
            assert (await client.call("GET", "/v1/jwks")).status_code == 200


# -- users ------------------------------------------------------------------------------
async def test_create_user_with_every_tier(api: Api) -> None:
    response = await api.backend_call(
        "POST",
        "/v1/users",
        json={
            "external_id": "ext-1",
            "trusted_metadata": {"role": "admin"},
            "private_metadata": {"stripe_id": "cus_1"},
            "untrusted_metadata": {"nickname": "bo"},
        },
    )
    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == {
        "id",
        "object",
        "external_id",
        "created_at",
        "updated_at",
        "public_metadata",
        "private_metadata",
        "unsafe_metadata",
    }
    assert user["object"] == "user"
    assert user["external_id"] == "ext-1"
    assert user["public_metadata"] == {"role": "admin"}
    assert user["private_metadata"] == {"stripe_id": "cus_1"}
    assert user["unsafe_metadata"] == {"nickname": "bo"}
    assert user["created_at"] == int(api.backend.clock() * 1000)
    stored = await api.backend.users.get_user(user["id"])
    assert stored.to_dict() == user


async def test_create_user_with_an_empty_object(api: Api) -> None:
    response = await api.backend_call("POST", "/v1/users", json={})
    assert response.status_code == 201
    assert response.json()["public_metadata"] == {}


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        (
            {"public_metadata": {}, "trusted_metadata": {}},
            422,
            "ambiguous_field",
            "trusted_metadata",
        ),
        ({"nickname": "x"}, 422, "unknown_field", "nickname"),
        ({"public_metadata": []}, 422, "invalid_metadata", "public_metadata"),
        ({"unsafe_metadata": None}, 422, "invalid_metadata", "unsafe_metadata"),
        ({"private_metadata": "x"}, 422, "invalid_metadata", "private_metadata"),
        (
            {"public_metadata": {f"k{i}": i for i in range(21)}},
            422,
            "metadata_too_many_keys",
            "public_metadata",
        ),
        ({"public_metadata": {"k": "x" * 5000}}, 422, "metadata_too_large", "public_metadata"),
        (
            {"public_metadata": {"k": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}},
            422,
            "metadata_too_deep",
            "public_metadata",
        ),
        ({"external_id": 5}, 422, "invalid_field", "external_id"),
        ({"external_id": "x" * 256}, 422, "invalid_field", "external_id"),
        ({"external_id": ""}, 422, "invalid_field", "external_id"),
        ({"external_id": "a\u0000b"}, 422, "invalid_field", "external_id"),
    ],
)
async def test_create_user_refusals(
    api: Api, body: dict[str, Any], status: int, code: str, param: str
) -> None:
    before = await snapshot(api.backend)
    response = await api.backend_call("POST", "/v1/users", json=body)
    assert assert_error(response, status, code).get("param") == param
    assert await snapshot(api.backend) == before


async def test_a_second_user_with_the_same_external_id_is_a_409_and_writes_nothing(
    api: Api,
) -> None:
    first = await api.backend_call("POST", "/v1/users", json={"external_id": "auth0|42"})
    assert first.status_code == 201, first.text
    before = await snapshot(api.backend)
    again = await api.backend_call(
        "POST", "/v1/users", json={"external_id": "auth0|42", "public_metadata": {"a": 1}}
    )
    assert assert_error(again, 409, "conflict") == {"param": "external_id"}
    assert await snapshot(api.backend) == before
    other = await api.backend_call("POST", "/v1/users", json={"external_id": "auth0|43"})
    assert other.status_code == 201


async def test_list_users_by_external_id_is_an_exact_match(api: Api, member: Member) -> None:
    created = await api.backend_call("POST", "/v1/users", json={"external_id": "Ada Lovelace"})
    for query, expected in [
        ("Ada Lovelace", [created.json()["id"]]),
        ("ada lovelace", []),
        ("Ada", []),
        ("%", []),
        ("Ada Lovelace ", []),
    ]:
        response = await api.backend_call("GET", "/v1/users", params={"external_id": query})
        assert response.status_code == 200, response.text
        page = response.json()
        assert [u["id"] for u in page["data"]] == expected, query
        assert page["total_count"] == len(expected)

    for external_id, query in [
        ("Zo\u00eb+1", "Zo%C3%AB%2B1"),
        ("a b", "a+b"),
        ("\ufffd", "%EF%BF%BD"),  # U+FFFD sent as such
    ]:
        created = await api.backend_call("POST", "/v1/users", json={"external_id": external_id})
        found = await api.backend_call("GET", f"/v1/users?external_id={query}")
        assert [u["id"] for u in found.json()["data"]] == [created.json()["id"]], query


# Raw query strings: what a client could send, percent-encoded or not.
HOSTILE_EXTERNAL_ID_QUERIES = [
    "external_id=",
    "external_id=" + "x" * 256,
    "external_id=" + "%F0%9F%98%80" * 256,  # 256 four-byte characters
    "external_id=" + "y" * 60_000,
    "external_id=a%00b",
    "external_id=%00",
    "external_id=%ED%A0%80",  # a lone surrogate, UTF-8 encoded
    "external_id=ada%ED%B0%80",
    "external_id=ada%ff",  # not UTF-8
    "external_id=%C0%AF",  # overlong UTF-8
    "external_id=%E2%82",  # truncated UTF-8
    "external_id=a&external_id=b",
    "external_id=a&external_id=a",
    "external_id=a&external_id=",
    "limit=1&external_id=&offset=0",
]


@pytest.mark.parametrize("query", HOSTILE_EXTERNAL_ID_QUERIES, ids=lambda q: q[:40])
async def test_list_users_by_a_hostile_external_id_is_a_422(
    api: Api, member: Member, query: str
) -> None:
    before = await snapshot(api.backend, member.user_id)
    response = await api.backend_call("GET", f"/v1/users?{query}")
    assert assert_error(response, 422, "invalid_field") == {"param": "external_id"}
    assert await snapshot(api.backend, member.user_id) == before


async def test_get_user_by_external_id_in_python(api: Api) -> None:
    user = await api.backend.users.create_user(external_id="auth0|7")
    assert (await api.backend.users.get_user_by_external_id("auth0|7")).id == user.id
    with pytest.raises(UserNotFound, match=r"external_id 'auth0\|8'"):
        await api.backend.users.get_user_by_external_id("auth0|8")


async def test_list_users_pages(api: Api, member: Member, clock: FakeClock) -> None:
    for _ in range(3):
        clock.advance(1)  # oldest first: the member, then these
        await api.backend.users.create_user()
    response = await api.backend_call("GET", "/v1/users")
    assert response.status_code == 200
    page = response.json()
    assert page["total_count"] == 4
    assert page["data"][0]["id"] == member.user_id
    assert "private_metadata" in page["data"][0]
    response = await api.backend_call("GET", "/v1/users", params={"limit": "2", "offset": "3"})
    assert response.json()["total_count"] == 4
    assert len(response.json()["data"]) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "abc"},
        {"limit": "-1"},
        {"limit": "1.5"},
        {"offset": "-1"},
        {"limit": "%ff"},
        {"limit": "\u0661"},
        {"offset": "9" * 40},
        {"limit": ""},
    ],
)
async def test_list_users_refuses_bad_paging(api: Api, params: dict[str, str]) -> None:
    response = await api.backend_call("GET", "/v1/users", params=params)
    assert assert_error(response, 422, "invalid_field")["param"] in params


async def test_get_user(api: Api, member: Member) -> None:
    response = await api.backend_call("GET", f"/v1/users/{member.user_id}")
    assert response.status_code == 200
    assert response.json()["private_metadata"] == {"stripe_id": "cus_123"}
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("user_id", [UNKNOWN_USER, *HOSTILE_IDS])
async def test_get_unknown_or_hostile_user_is_404(api: Api, user_id: str) -> None:
    response = await api.backend_call("GET", f"/v1/users/{user_id}")
    assert_error(response, 404, "resource_not_found")


async def test_delete_user_revokes_its_sessions(api: Api, member: Member) -> None:
    response = await api.backend_call("DELETE", f"/v1/users/{member.user_id}")
    assert response.status_code == 200
    assert response.json() == {"id": member.user_id, "object": "user", "deleted": True}
    assert_error(
        await api.backend_call("GET", f"/v1/users/{member.user_id}"), 404, "resource_not_found"
    )
    session = await api.backend_call("GET", f"/v1/sessions/{member.session_id}")
    assert session.json()["status"] == "revoked"
    assert_error(await api.call("GET", "/v1/me", token=member.token), 401, "unauthorized")
    assert_error(
        await api.backend_call("DELETE", f"/v1/users/{member.user_id}"), 404, "resource_not_found"
    )


@pytest.mark.parametrize("user_id", [UNKNOWN_USER, *HOSTILE_IDS])
async def test_delete_unknown_or_hostile_user_is_404(api: Api, user_id: str) -> None:
    assert_error(
        await api.backend_call("DELETE", f"/v1/users/{user_id}"), 404, "resource_not_found"
    )


# -- metadata ---------------------------------------------------------------------------
async def test_patch_metadata_merges(api: Api, member: Member) -> None:
    response = await api.backend_call(
        "PATCH",
        f"/v1/users/{member.user_id}/metadata",
        json={"trusted_metadata": {"role": "admin", "plan": None}, "private_metadata": {"seat": 3}},
    )
    assert response.status_code == 200, response.text
    user = response.json()
    assert user["public_metadata"] == {"role": "admin"}
    assert user["private_metadata"] == {"stripe_id": "cus_123", "seat": 3}
    assert user["unsafe_metadata"] == {"nickname": "ann", "theme": "dark"}
    assert (await api.backend.users.get_user(member.user_id)).to_dict() == user


async def test_put_metadata_replaces(api: Api, member: Member) -> None:
    response = await api.backend_call(
        "PUT",
        f"/v1/users/{member.user_id}/metadata",
        json={"untrusted_metadata": {"birthday": "11-30-1969"}, "private_metadata": {}},
    )
    assert response.status_code == 200, response.text
    user = response.json()
    assert user["unsafe_metadata"] == {"birthday": "11-30-1969"}
    assert user["private_metadata"] == {}
    assert user["public_metadata"] == {"role": "member", "plan": "pro"}


async def test_metadata_write_makes_the_old_token_reissue(api: Api, member: Member) -> None:
    await api.backend_call(
        "PATCH", f"/v1/users/{member.user_id}/metadata", json={"public_metadata": {"role": "x"}}
    )
    response = await api.call("GET", "/v1/me", token=member.token)
    assert response.status_code == 200
    assert decode(response.headers["x-session-token"])["role"] == "x"


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (
            {"unsafe_metadata": {}, "untrusted_metadata": {}},
            "ambiguous_field",
            "untrusted_metadata",
        ),
        ({"unsafe_metadata": {"a": 1}, "role": "admin"}, "unknown_field", "role"),
        (
            {"public_metadata": {"role": "admin"}, "unsafe_metadata": 1},
            "invalid_metadata",
            "unsafe_metadata",
        ),
        (
            {"public_metadata": {"a": 1}, "private_metadata": {f"k{i}": i for i in range(21)}},
            "metadata_too_many_keys",
            "private_metadata",
        ),
        ({"unsafe_metadata": {"a": "é" * 3000}}, "metadata_too_large", "unsafe_metadata"),
        (
            {
                "public_metadata": {
                    "a": {
                        "b": {
                            "c": {
                                "d": {
                                    "e": {
                                        "f": {
                                            "g": {
                                                "h": {
                                                    "i": {
                                                        "j": {
                                                            "k": {
                                                                "l": {"m": {"n": {"o": {"p": {}}}}}
                                                            }
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            },
            "metadata_too_deep",
            "public_metadata",
        ),
    ],
)
async def test_metadata_write_refusals_write_nothing(
    api: Api, member: Member, method: str, body: dict[str, Any], code: str, param: str
) -> None:
    before = await snapshot(api.backend, member.user_id)
    response = await api.backend_call(method, f"/v1/users/{member.user_id}/metadata", json=body)
    assert assert_error(response, 422, code)["param"] == param
    assert await snapshot(api.backend, member.user_id) == before


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("user_id", [UNKNOWN_USER, *HOSTILE_IDS])
async def test_metadata_write_to_unknown_user_is_404(api: Api, method: str, user_id: str) -> None:
    response = await api.backend_call(
        method, f"/v1/users/{user_id}/metadata", json={"public_metadata": {}}
    )
    assert_error(response, 404, "resource_not_found")


async def test_session_token_too_large_writes_nothing(tmp_path: Path, clock: FakeClock) -> None:
    backend = make_backend(
        sqlite_url(tmp_path),
        clock,
        preset=API_SETTINGS,
        max_token_bytes=700,
        session_template={
            "profile": "{{user.public_metadata.profile}}",
            "nick": "{{user.unsafe_metadata.nickname}}",
        },
    )
    async with backend:
        client = open_client(backend.api, "", backend)
        async with client.http:
            member = await make_member(backend)
            before = await snapshot(backend, member.user_id)
            response = await client.backend_call(
                "PATCH",
                f"/v1/users/{member.user_id}/metadata",
                json={
                    "public_metadata": {"profile": "p" * 300},
                    "private_metadata": {"also": "not written"},
                },
            )
            assert_error(response, 422, "session_token_too_large")
            assert await snapshot(backend, member.user_id) == before
            # The same through the frontend: the nickname is in the token too.
            response = await client.call(
                "PATCH",
                "/v1/me/metadata",
                token=member.token,
                json={"unsafe_metadata": {"nickname": "n" * 300}},
            )
            assert_error(response, 422, "session_token_too_large")
            assert await snapshot(backend, member.user_id) == before
            # A small change still fits.
            response = await client.backend_call(
                "PATCH",
                f"/v1/users/{member.user_id}/metadata",
                json={"public_metadata": {"profile": "p" * 10}},
            )
            assert response.status_code == 200


# -- sessions ---------------------------------------------------------------------------
async def test_create_session(api: Api, member: Member) -> None:
    response = await api.backend_call("POST", "/v1/sessions", json={"user_id": member.user_id})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"session", "token", "refresh_credential"}
    assert body["session"]["object"] == "session"
    assert body["session"]["status"] == "active"
    assert body["session"]["user_id"] == member.user_id
    claims = decode(body["token"])
    assert claims["iss"] == ISSUER
    assert claims["sub"] == member.user_id
    assert claims["sid"] == body["session"]["id"]
    assert claims["azp"] == APP_ORIGIN
    assert claims["role"] == "member"
    me = await api.call("GET", "/v1/me", token=body["token"])
    assert me.status_code == 200


async def test_create_session_takes_the_origin_header(tmp_path: Path, clock: FakeClock) -> None:
    backend = make_backend(
        sqlite_url(tmp_path),
        clock,
        preset=API_SETTINGS,
        authorized_parties=["https://a.example", "https://b.example"],
    )
    async with backend:
        client = open_client(backend.api, "", backend)
        async with client.http:
            member = await new_user_id(backend)
            response = await client.backend_call(
                "POST", "/v1/sessions", json={"user_id": member}, origin="https://b.example"
            )
            assert decode(response.json()["token"])["azp"] == "https://b.example"
            response = await client.backend_call(
                "POST", "/v1/sessions", json={"user_id": member}, origin="https://evil.example"
            )
            assert assert_error(response, 422, "invalid_origin")["param"] == "origin"


async def new_user_id(backend: Backend) -> str:
    return (await backend.users.create_user()).id


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 422, "invalid_field"),
        ({"user_id": 5}, 422, "invalid_field"),
        ({"user_id": None}, 422, "invalid_field"),
        ({"user_id": UNKNOWN_USER}, 404, "resource_not_found"),
        ({"user_id": "../x"}, 404, "resource_not_found"),
        ({"user_id": "' OR 1=1 --"}, 404, "resource_not_found"),
        ({"user_id": "\u0000"}, 404, "resource_not_found"),
        ({"user_id": "{user}", "origin": APP_ORIGIN}, 422, "unknown_field"),
    ],
)
async def test_create_session_refusals(
    api: Api, member: Member, body: dict[str, Any], status: int, code: str
) -> None:
    body = {k: (member.user_id if v == "{user}" else v) for k, v in body.items()}
    before = await snapshot(api.backend, member.user_id)
    assert_error(await api.backend_call("POST", "/v1/sessions", json=body), status, code)
    assert await snapshot(api.backend, member.user_id) == before


async def test_list_and_get_sessions(api: Api, member: Member) -> None:
    other = await make_member(api.backend)
    await api.backend.sessions.revoke_session(other.session_id)
    response = await api.backend_call("GET", "/v1/sessions")
    assert response.json()["total_count"] == 2
    response = await api.backend_call("GET", "/v1/sessions", params={"user_id": member.user_id})
    assert [s["id"] for s in response.json()["data"]] == [member.session_id]
    response = await api.backend_call("GET", "/v1/sessions", params={"status": "revoked"})
    assert [s["id"] for s in response.json()["data"]] == [other.session_id]
    response = await api.backend_call("GET", "/v1/sessions", params={"user_id": UNKNOWN_USER})
    assert response.json() == {"data": [], "total_count": 0}
    response = await api.backend_call("GET", f"/v1/sessions/{member.session_id}")
    session = response.json()
    assert set(session) == {
        "id",
        "object",
        "user_id",
        "status",
        "created_at",
        "expire_at",
        "last_active_at",
        "active_organization_id",
    }
    assert session["status"] == "active"


@pytest.mark.parametrize(
    "params", [{"status": "bogus"}, {"user_id": "../x"}, {"limit": "1000"}, {"offset": "x"}]
)
async def test_list_sessions_refusals(api: Api, params: dict[str, str]) -> None:
    response = await api.backend_call("GET", "/v1/sessions", params=params)
    assert assert_error(response, 422, "invalid_field")["param"] in params


@pytest.mark.parametrize("suffix", ["", "/revoke", "/tokens", "/tokens/reports"])
@pytest.mark.parametrize("session_id", [UNKNOWN_SESSION, *HOSTILE_IDS])
async def test_unknown_or_hostile_session_is_404(api: Api, suffix: str, session_id: str) -> None:
    method = "GET" if not suffix else "POST"
    assert_error(
        await api.backend_call(method, f"/v1/sessions/{session_id}{suffix}"),
        404,
        "resource_not_found",
    )


async def test_revoke_session(api: Api, member: Member) -> None:
    response = await api.backend_call("POST", f"/v1/sessions/{member.session_id}/revoke")
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    meta = assert_error(await api.call("GET", "/v1/me", token=member.token), 401, "unauthorized")
    assert meta["reason"] == "session-revoked"
    again = await api.backend_call("POST", f"/v1/sessions/{member.session_id}/revoke")
    assert_error(again, 409, "conflict")
    for path in ("/tokens", "/tokens/reports"):
        response = await api.backend_call("POST", f"/v1/sessions/{member.session_id}{path}")
        assert_error(response, 409, "conflict")


async def test_revoke_takes_no_fields(api: Api, member: Member) -> None:
    response = await api.backend_call(
        "POST", f"/v1/sessions/{member.session_id}/revoke", json={"reason": "x"}
    )
    assert assert_error(response, 422, "unknown_field")["param"] == "reason"
    assert (await api.backend.sessions.get_session(member.session_id)).status == "active"


async def test_session_token(api: Api, member: Member, clock: FakeClock) -> None:
    response = await api.backend_call("POST", f"/v1/sessions/{member.session_id}/tokens")
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"jwt"}
    claims = decode(response.json()["jwt"])
    assert claims["sid"] == member.session_id
    assert claims["role"] == "member"
    assert claims["nick"] == "ann"
    assert claims["exp"] - claims["iat"] == 60
    response = await api.backend_call(
        "POST", f"/v1/sessions/{member.session_id}/tokens", json={"expires_in_seconds": 30}
    )
    claims = decode(response.json()["jwt"])
    assert claims["exp"] - claims["iat"] == 30


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"expires_in_seconds": 3600}, "invalid_field"),
        ({"expires_in_seconds": 0}, "invalid_field"),
        ({"expires_in_seconds": "30"}, "invalid_field"),
        ({"expires_in_seconds": 30.0}, "invalid_field"),
        ({"expires_in_seconds": True}, "invalid_field"),
        ({"template": "reports"}, "unknown_field"),
    ],
)
async def test_session_token_refusals(
    api: Api, member: Member, body: dict[str, Any], code: str
) -> None:
    response = await api.backend_call("POST", f"/v1/sessions/{member.session_id}/tokens", json=body)
    assert_error(response, 422, code)


async def test_named_template_token(api: Api, member: Member) -> None:
    response = await api.backend_call("POST", f"/v1/sessions/{member.session_id}/tokens/reports")
    assert response.status_code == 200, response.text
    claims = decode(response.json()["jwt"])
    assert claims["aud"] == "reports-service"
    assert claims["plan"] == "pro"
    assert claims["sid"] == member.session_id
    assert claims["exp"] - claims["iat"] == 300


@pytest.mark.parametrize("template", ["nope", "-x", "%2E%2E", "a%00", "x" * 65, "session"])
async def test_unknown_template_is_404(api: Api, member: Member, template: str) -> None:
    response = await api.backend_call("POST", f"/v1/sessions/{member.session_id}/tokens/{template}")
    assert_error(response, 404, "resource_not_found")


@pytest.mark.parametrize("sign_up_id", ["sua_00000000000000000000000000", *HOSTILE_IDS])
async def test_complete_unknown_sign_up_is_404(api: Api, sign_up_id: str) -> None:
    before = await snapshot(api.backend)
    response = await api.backend_call("POST", f"/v1/sign_ups/{sign_up_id}/complete")
    assert_error(response, 404, "resource_not_found")
    assert await snapshot(api.backend) == before


# -- public routes, routing errors, the store ------------------------------------------
@pytest.mark.parametrize("path", ["/.well-known/jwks.json", "/v1/jwks"])
async def test_jwks_is_public_and_cacheable(api: Api, path: str) -> None:
    response = await api.call("GET", path)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert keys
    assert all("d" not in key and "p" not in key for key in keys)
    assert response.json() == api.backend.jwks()


async def test_jwks_opens_the_backend(tmp_path: Path, clock: FakeClock) -> None:
    backend = make_backend(sqlite_url(tmp_path), clock, preset=API_SETTINGS)
    try:
        client = open_client(backend.api, "", backend)
        async with client.http:
            assert not backend.is_open
            response = await client.call("GET", "/.well-known/jwks.json")
            assert response.status_code == 200
            assert response.json()["keys"]
    finally:
        await backend.aclose()


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/v1/users", {"GET", "HEAD", "POST"}),
        ("POST", "/v1/users/{user}", {"GET", "HEAD", "DELETE"}),
        ("GET", "/v1/users/{user}/metadata", {"PATCH", "PUT"}),
        ("GET", "/v1/sessions/{session}/revoke", {"POST"}),
        ("DELETE", "/v1/jwks", {"GET", "HEAD"}),
        ("POST", "/openapi.json", {"GET", "HEAD"}),
        ("PUT", "/v1/sign_ups", {"POST"}),
        ("DELETE", "/v1/me", {"GET", "HEAD", "PATCH"}),
    ],
)
async def test_wrong_method_is_405_in_the_error_format(
    api: Api, member: Member, method: str, path: str, allow: set[str]
) -> None:
    response = await api.backend_call(method, fill(path, member))
    assert_error(response, 405, "method_not_allowed")
    assert {m.strip() for m in response.headers["allow"].split(",")} == allow


@pytest.mark.parametrize("path", ["/nope", "/v1/users//", "/v1", "/v1/users/x/y/z", "/v2/users"])
async def test_unknown_path_is_404_in_the_error_format(api: Api, path: str) -> None:
    assert_error(await api.backend_call("GET", path), 404, "resource_not_found")


async def test_store_unavailable_is_503(api: Api, member: Member) -> None:
    await api.backend.store.close()
    response = await api.backend_call("GET", f"/v1/users/{member.user_id}")
    assert_error(response, 503, "store_unavailable")
    # a read tried to write nothing: it says only what went wrong
    assert response.json()["errors"][0]["message"] == "the store is unreachable"
    assert response.headers["retry-after"] == "1"
    response = await api.backend_call(
        "PATCH", f"/v1/users/{member.user_id}/metadata", json={"public_metadata": {"a": 1}}
    )
    assert_error(response, 503, "store_unavailable")
    message = response.json()["errors"][0]["message"]
    assert message == "the store is unreachable; nothing was written"
    assert "auth.db" not in response.text  # no store details leak


async def test_an_unexpected_error_is_a_500_in_the_error_format(
    backend: Backend,
    member: Member,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(user_id: str) -> Any:
        raise RuntimeError("a bug with a secret detail")

    monkeypatch.setattr(backend.users, "get_user", broken)
    client = open_client(backend.api, "", backend, raise_app_exceptions=False)
    async with client.http:
        response = await client.backend_call("GET", f"/v1/users/{member.user_id}")
    assert_error(response, 500, "internal_error")
    assert "secret detail" not in response.text
    assert "a bug with a secret detail" in caplog.text


async def test_a_newline_in_an_id_is_404(backend: Backend) -> None:
    # (A host app's Mount does not match a path holding a newline: it answers itself.)
    client = open_client(backend.api, "", backend)
    async with client.http:
        response = await client.backend_call("GET", "/v1/users/user%0Aid")
    assert_error(response, 404, "resource_not_found")


async def test_head_answers_like_get(api: Api, member: Member) -> None:
    response = await api.backend_call("HEAD", f"/v1/users/{member.user_id}")
    assert response.status_code == 200


async def test_transport_is_plain_http_too(backend: Backend, member: Member) -> None:
    """The API does not depend on https for the backend routes."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=backend.api), base_url="http://internal"
    ) as http:
        response = await http.get(
            f"/v1/users/{member.user_id}", headers={"Authorization": f"Bearer {SECRET}"}
        )
    assert response.status_code == 200
