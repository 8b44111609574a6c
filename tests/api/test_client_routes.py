"""``/v1/client/sessions/...``: refresh credential exchange and sign-out."""

from __future__ import annotations

import jwt
import pytest

from sessionclaims.cookies import REFRESH_COOKIE

from .helpers import APP_ORIGIN, Api, Member, assert_error

pytestmark = pytest.mark.anyio


def refresh_cookie(member: Member) -> dict[str, str]:
    return {"Cookie": f"{REFRESH_COOKIE}={member.refresh_credential}"}


def claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


async def test_refresh_credential_as_bearer_gets_a_session_token(api: Api, member: Member) -> None:
    response = await api.call(
        "POST", f"/v1/client/sessions/{member.session_id}/tokens", token=member.refresh_credential
    )
    assert response.status_code == 200
    token = response.json()["jwt"]
    assert claims(token)["sid"] == member.session_id
    assert claims(token)["role"] == "member"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("__session="))
    assert cookie.startswith(f"__session={token};")


async def test_refresh_cookie_needs_an_allowed_origin(api: Api, member: Member) -> None:
    path = f"/v1/client/sessions/{member.session_id}/tokens"
    no_origin = await api.call("POST", path, headers=refresh_cookie(member))
    assert_error(no_origin, 403, "origin_not_allowed")
    other = await api.call(
        "POST", path, headers=refresh_cookie(member), origin="https://evil.example.net"
    )
    assert_error(other, 403, "origin_not_allowed")
    ok = await api.call("POST", path, headers=refresh_cookie(member), origin=APP_ORIGIN)
    assert ok.status_code == 200


async def test_named_template_token(api: Api, member: Member) -> None:
    response = await api.call(
        "POST",
        f"/v1/client/sessions/{member.session_id}/tokens/reports",
        token=member.refresh_credential,
    )
    assert response.status_code == 200
    body = claims(response.json()["jwt"])
    assert body["aud"] == "reports-service"
    assert body["plan"] == "pro"
    assert body["sid"] == member.session_id
    assert "set-cookie" not in response.headers
    missing = await api.call(
        "POST",
        f"/v1/client/sessions/{member.session_id}/tokens/nope",
        token=member.refresh_credential,
    )
    assert_error(missing, 404, "resource_not_found")


@pytest.mark.parametrize(
    "credential",
    ["", "garbage", "sess_x.y", "sess_aaaaaaaaaaaaaaaaaaaaaaaaaa.forged"],
)
async def test_wrong_or_missing_credentials_are_401(
    api: Api, member: Member, credential: str
) -> None:
    response = await api.call(
        "POST",
        f"/v1/client/sessions/{member.session_id}/tokens",
        headers={"Authorization": f"Bearer {credential}"} if credential else {},
    )
    meta = assert_error(response, 401, "unauthorized")
    assert meta["reason"].startswith("refresh-credential")


async def test_a_credential_for_another_session_is_refused(api: Api, member: Member) -> None:
    other = await api.backend.sessions.create_session(member.user_id)
    response = await api.call(
        "POST", f"/v1/client/sessions/{other.session.id}/tokens", token=member.refresh_credential
    )
    assert_error(response, 401, "unauthorized")


async def test_revoked_session_cannot_refresh(api: Api, member: Member) -> None:
    await api.backend.sessions.revoke_session(member.session_id)
    response = await api.call(
        "POST", f"/v1/client/sessions/{member.session_id}/tokens", token=member.refresh_credential
    )
    assert_error(response, 409, "conflict")


async def test_end_with_the_session_token_clears_cookies(api: Api, member: Member) -> None:
    response = await api.call(
        "POST", f"/v1/client/sessions/{member.session_id}/end", token=member.token
    )
    assert response.status_code == 200
    assert response.json()["status"] == "ended"
    cookies = response.headers.get_list("set-cookie")
    assert any(c.startswith("__session=;") and "Max-Age=0" in c for c in cookies)
    assert any(c.startswith(f"{REFRESH_COOKIE}=;") and "Max-Age=0" in c for c in cookies)
    again = await api.call(
        "POST", f"/v1/client/sessions/{member.session_id}/tokens", token=member.refresh_credential
    )
    assert_error(again, 409, "conflict")
    signed_out = await api.call("GET", "/v1/me", token=member.token)
    meta = assert_error(signed_out, 401, "unauthorized")
    assert meta["reason"] == "session-revoked"


async def test_end_with_the_refresh_credential(api: Api, member: Member) -> None:
    response = await api.call(
        "POST", f"/v1/client/sessions/{member.session_id}/end", token=member.refresh_credential
    )
    assert response.status_code == 200
    assert response.json()["status"] == "ended"


async def test_end_someone_elses_session_is_refused(api: Api, member: Member) -> None:
    other = await api.backend.sessions.create_session(member.user_id)
    response = await api.call(
        "POST", f"/v1/client/sessions/{other.session.id}/end", token=member.token
    )
    assert_error(response, 401, "unauthorized")
    assert (await api.backend.sessions.get_session(other.session.id)).status == "active"


async def test_end_by_cookie_needs_an_allowed_origin(api: Api, member: Member) -> None:
    path = f"/v1/client/sessions/{member.session_id}/end"
    refused = await api.call("POST", path, cookie=member.token)
    assert_error(refused, 403, "origin_not_allowed")
    assert (await api.backend.sessions.get_session(member.session_id)).status == "active"
    ok = await api.call("POST", path, cookie=member.token, origin=APP_ORIGIN)
    assert ok.status_code == 200


async def test_hostile_session_ids_are_404(api: Api, member: Member) -> None:
    for hostile in ["..%2f..", "x" * 100, "sess_%00", "' OR 1=1 --"]:
        response = await api.call(
            "POST", f"/v1/client/sessions/{hostile}/tokens", token=member.refresh_credential
        )
        assert response.status_code == 404, hostile
