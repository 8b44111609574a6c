"""The core promise: the next request after a backend update sees the new claims.

Full mode, a real SQLite file, real ASGI apps, an injected clock (nothing sleeps for a
token to expire).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest

from sessionclaims import Backend
from sessionclaims.cookies import REFRESH_COOKIE

from .helpers import CountingStore, FakeClock, bearer, client, cookie_header, make_app, make_backend


@pytest.fixture
async def backend(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Backend]:
    b = make_backend(f"sqlite:///{tmp_path / 'auth.db'}", clock)
    async with b:
        yield b


def claims_of(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


@pytest.mark.anyio
async def test_role_change_is_seen_on_the_very_next_request(backend: Backend) -> None:
    user = await backend.users.create_user(public_metadata={"role": "member"})
    new = await backend.sessions.create_session(user.id)
    async with client(make_app(backend)) as c:
        first = await c.get("/whoami", headers=bearer(new.token))
        assert first.json()["claims"]["role"] == "member"
        assert "x-session-token" not in first.headers

        await backend.users.update_user_metadata(user.id, public_metadata={"role": "admin"})

        second = await c.get("/whoami", headers=bearer(new.token))  # the OLD token
        assert second.json()["signed_in"] is True
        assert second.json()["claims"]["role"] == "admin"
        reissued = second.headers["x-session-token"]
        assert claims_of(reissued)["role"] == "admin"
        assert claims_of(reissued)["sid"] == new.session.id
        assert claims_of(reissued)["azp"] == claims_of(new.token)["azp"]
        assert "set-cookie" not in second.headers  # it came as a Bearer token

        third = await c.get("/whoami", headers=bearer(reissued))
        assert third.json()["claims"]["role"] == "admin"
        assert "x-session-token" not in third.headers


@pytest.mark.anyio
async def test_the_same_stale_token_gets_the_same_reissued_token_without_store_calls(
    tmp_path: Path, clock: FakeClock
) -> None:
    backend = make_backend(f"sqlite:///{tmp_path / 'auth.db'}", clock)
    counting = CountingStore(backend.store)
    backend = make_backend(f"sqlite:///{tmp_path / 'auth.db'}", clock, store=counting)
    async with backend:
        user = await backend.users.create_user(public_metadata={"role": "member"})
        new = await backend.sessions.create_session(user.id)
        await backend.users.update_user_metadata(user.id, public_metadata={"role": "admin"})
        async with client(make_app(backend)) as c:
            first = await c.get("/whoami", headers=bearer(new.token))
            token = first.headers["x-session-token"]
            calls_after_first = len(counting.request_calls)
            for _ in range(20):
                again = await c.get("/whoami", headers=bearer(new.token))
                assert again.headers["x-session-token"] == token
                assert again.json()["claims"]["role"] == "admin"
            assert len(counting.request_calls) == calls_after_first


@pytest.mark.anyio
async def test_private_metadata_and_unread_keys_never_reissue(backend: Backend) -> None:
    user = await backend.users.create_user(public_metadata={"role": "member"})
    new = await backend.sessions.create_session(user.id)
    await backend.users.update_user_metadata(user.id, private_metadata={"stripe": "cus_1"})
    await backend.users.update_user_metadata(user.id, public_metadata={"unread": 1})
    async with client(make_app(backend)) as c:
        response = await c.get("/whoami", headers=bearer(new.token))
    assert response.json()["signed_in"] is True
    assert "x-session-token" not in response.headers
    assert backend.freshness.known_version(user.id) is None


@pytest.mark.anyio
async def test_unsafe_metadata_read_by_the_template_reissues(backend: Backend) -> None:
    user = await backend.users.create_user()
    new = await backend.sessions.create_session(user.id)
    await backend.users.replace_user_metadata(user.id, unsafe_metadata={"nickname": "Ada"})
    async with client(make_app(backend)) as c:
        response = await c.get("/whoami", headers=bearer(new.token))
    assert response.json()["claims"]["nickname"] == "Ada"


@pytest.mark.anyio
@pytest.mark.parametrize("how", ["revoke", "end", "delete_user"])
async def test_revoked_ended_deleted_are_signed_out_on_the_next_request(
    backend: Backend, how: str
) -> None:
    user = await backend.users.create_user()
    new = await backend.sessions.create_session(user.id)
    app = make_app(backend)
    async with client(app) as c:
        assert (await c.get("/whoami", headers=bearer(new.token))).json()["signed_in"]
        if how == "revoke":
            await backend.sessions.revoke_session(new.session.id)
        elif how == "end":
            await backend.sessions.end_session(new.session.id)
        else:
            await backend.users.delete_user(user.id)
        response = await c.get("/whoami", headers=cookie_header({"__session": new.token}))
    assert response.json()["signed_in"] is False
    assert response.json()["reason"] == "session-revoked"
    cleared = response.headers.get_list("set-cookie")
    assert any(h.startswith("__session=;") and "Max-Age=0" in h for h in cleared)
    assert any(h.startswith(f"{REFRESH_COOKIE}=;") and "Max-Age=0" in h for h in cleared)


@pytest.mark.anyio
async def test_cookie_reissue_sets_the_cookie_with_its_attributes(backend: Backend) -> None:
    user = await backend.users.create_user(public_metadata={"role": "member"})
    new = await backend.sessions.create_session(user.id)
    await backend.users.update_user_metadata(user.id, public_metadata={"role": "admin"})
    async with client(make_app(backend)) as c:
        response = await c.get("/stream", headers=cookie_header({"__session": new.token}))
    assert response.text == "abc"  # streaming body intact
    cookies = response.headers.get_list("set-cookie")
    session = next(h for h in cookies if h.startswith("__session="))
    token = session.split(";")[0].removeprefix("__session=")
    assert token == response.headers["x-session-token"]
    assert claims_of(token)["role"] == "admin"
    attributes = {a.strip() for a in session.split(";")[1:]}
    assert {"Path=/", "SameSite=Lax", "Secure", "Max-Age=60"} <= attributes
    assert "HttpOnly" not in attributes
    assert any(h.startswith("theme=dark") for h in cookies)  # the app's own cookie kept


@pytest.mark.anyio
async def test_http_scheme_cookie_is_not_secure(backend: Backend) -> None:
    user = await backend.users.create_user(public_metadata={"role": "member"})
    new = await backend.sessions.create_session(user.id)
    await backend.users.update_user_metadata(user.id, public_metadata={"role": "admin"})
    async with client(make_app(backend), base_url="http://app.example.com") as c:
        response = await c.get("/whoami", headers=cookie_header({"__session": new.token}))
    session = next(h for h in response.headers.get_list("set-cookie") if h.startswith("__session="))
    assert "Secure" not in session


@pytest.mark.anyio
async def test_expired_token_with_refresh_credential_is_reissued(
    backend: Backend, clock: FakeClock
) -> None:
    user = await backend.users.create_user(public_metadata={"role": "member"})
    new = await backend.sessions.create_session(user.id)
    clock.advance(3600)
    async with client(make_app(backend)) as c:
        expired = await c.get("/whoami", headers=cookie_header({"__session": new.token}))
        assert expired.json()["reason"] == "token-expired"
        refreshed = await c.get(
            "/whoami",
            headers=cookie_header({"__session": new.token, REFRESH_COOKIE: new.refresh_credential}),
        )
        assert refreshed.json()["signed_in"] is True
        token = refreshed.headers["x-session-token"]
        assert claims_of(token)["iat"] == int(clock())
        # the browser dropped __session (its Max-Age passed): the refresh cookie suffices
        only_refresh = await c.get(
            "/whoami", headers=cookie_header({REFRESH_COOKIE: new.refresh_credential})
        )
        assert only_refresh.json()["signed_in"] is True
        assert any(h.startswith("__session=") for h in only_refresh.headers.get_list("set-cookie"))
        forged = await c.get(
            "/whoami", headers=cookie_header({REFRESH_COOKIE: new.refresh_credential + "x"})
        )
        assert forged.json() == forged.json() | {"signed_in": False, "reason": "token-missing"}


@pytest.mark.anyio
async def test_session_expiry_signs_out_even_with_a_refresh_credential(
    backend: Backend, clock: FakeClock
) -> None:
    user = await backend.users.create_user()
    new = await backend.sessions.create_session(user.id)
    clock.advance(backend.settings.session_lifetime + 1)
    async with client(make_app(backend)) as c:
        response = await c.get(
            "/whoami", headers=cookie_header({REFRESH_COOKIE: new.refresh_credential})
        )
    assert response.json()["reason"] == "session-revoked"
    assert (await backend.sessions.get_session(new.session.id)).status == "expired"


@pytest.mark.anyio
async def test_zero_store_calls_over_10000_hot_requests(tmp_path: Path, clock: FakeClock) -> None:
    url = f"sqlite:///{tmp_path / 'auth.db'}"
    counting = CountingStore(make_backend(url, clock).store)
    backend = make_backend(url, clock, store=counting)
    async with backend:
        user = await backend.users.create_user(public_metadata={"role": "admin"})
        new = await backend.sessions.create_session(user.id)
        app = make_app(backend)
        async with client(app) as c:
            assert (await c.get("/whoami", headers=bearer(new.token))).json()["signed_in"]
            before = len(counting.request_calls)
            for _ in range(10_000):
                scope_headers = bearer(new.token)
                response = await c.get("/whoami", headers=scope_headers)
            assert response.json()["claims"]["role"] == "admin"
            assert len(counting.request_calls) == before


@pytest.mark.anyio
async def test_overflowing_the_freshness_map_falls_back_to_stale(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with make_backend(f"sqlite:///{tmp_path / 'a.db'}", clock, freshness_size=2) as backend:
        users = [await backend.users.create_user() for _ in range(3)]
        sessions = [await backend.sessions.create_session(u.id) for u in users]
        clock.advance(1)
        for u in users:  # three changes into a map of two: the first is dropped early
            await backend.users.replace_user_metadata(u.id, public_metadata={"role": "x"})
        assert backend.freshness.known_version(users[0].id) is None
        async with client(make_app(backend)) as c:
            response = await c.get("/whoami", headers=bearer(sessions[0].token))
        assert response.json()["claims"]["role"] == "x"  # judged stale, reissued
        assert "x-session-token" in response.headers


@pytest.mark.anyio
async def test_two_backends_on_one_sqlite_file_see_each_others_writes(
    tmp_path: Path, clock: FakeClock
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    async with make_backend(url, clock) as worker_a, make_backend(url, clock) as worker_b:
        user = await worker_a.users.create_user(public_metadata={"role": "member"})
        new = await worker_a.sessions.create_session(user.id)
        app_b = make_app(worker_b)
        async with client(app_b) as c:
            assert (await c.get("/whoami", headers=bearer(new.token))).json()["claims"][
                "role"
            ] == "member"
            await worker_a.users.update_user_metadata(user.id, public_metadata={"role": "admin"})
            deadline = time.monotonic() + 1.0  # the freshness bound across processes
            seen = None
            while time.monotonic() < deadline:
                seen = (await c.get("/whoami", headers=bearer(new.token))).json()["claims"]["role"]
                if seen == "admin":
                    break
                await _yield_to_feed()
            assert seen == "admin"


async def _yield_to_feed() -> None:
    import anyio

    await anyio.sleep(0.01)  # let worker B's feed task run; not a token-expiry sleep
