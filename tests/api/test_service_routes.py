"""``GET /v1/changes`` and ``POST /v1/tokens/reissue`` (services.md), in-process: feed keys,
the events and their data, resuming, ``reset``, keep-alives, dropping a subscriber that
stopped reading, hostile resume points and the reissue route's answers."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionclaims import Backend
from sessionclaims._broadcast import Broadcaster
from sessionclaims.api.openapi import OPERATIONS
from sessionclaims.stores.base import ChangeRecord
from tests.forged import TRANSPORT_UNSAFE, forged_tokens
from tests.helpers import FakeClock, make_backend, sqlite_url

from .helpers import (
    API_SETTINGS,
    APP_ORIGIN,
    SECRET,
    assert_error,
    make_member,
)
from .stream_driver import FEED_KEY, StreamDriver, events

pytestmark = pytest.mark.anyio

OTHER_FEED_KEY = "fk_test_second_key"


@pytest.fixture
async def backend(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Backend]:
    instance = make_backend(
        sqlite_url(tmp_path),
        clock,
        preset=API_SETTINGS,
        feed_keys=[FEED_KEY, OTHER_FEED_KEY],
        changes_keepalive=0.05,
    )
    async with instance:
        yield instance


@pytest.fixture
async def http(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=backend.api)
    async with httpx.AsyncClient(transport=transport, base_url="http://auth") as client:
        yield client


def decode_unverified(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# -- feed keys ---------------------------------------------------------------------------
SECRET_ROUTES = sorted(
    (path, method)
    for (path, method), op in OPERATIONS.items()
    if op["security"] == [{"secretKey": []}]
)


def concrete(path: str) -> str:
    return (
        path.replace("{user_id}", "user_x")
        .replace("{session_id}", "sess_x")
        .replace("{sign_up_id}", "sua_x")
        .replace("{org_id}", "org_x")
        .replace("{template}", "reports")
    )


async def test_a_feed_key_opens_no_other_backend_route(
    http: httpx.AsyncClient, backend: Backend
) -> None:
    assert len(SECRET_ROUTES) >= 28
    for path, method in SECRET_ROUTES:
        if path in ("/v1/changes", "/v1/tokens/reissue"):
            continue
        for key in (FEED_KEY, OTHER_FEED_KEY):
            response = await http.request(
                method.upper(), concrete(path), headers=bearer(key), content=b"{}"
            )
            meta = assert_error(response, 401, "unauthorized")
            assert meta == {}, (path, method)
            assert "feed key" in response.json()["errors"][0]["message"]
        # The secret key gets past authorization on the same request.
        response = await http.request(
            method.upper(), concrete(path), headers=bearer(SECRET), content=b"{}"
        )
        assert response.status_code != 401, (path, method)


@pytest.mark.parametrize("key", [None, "", "wrong", FEED_KEY + "x", FEED_KEY[:-1], "Bearer"])
async def test_the_service_routes_refuse_a_missing_or_wrong_key(
    http: httpx.AsyncClient, key: str | None
) -> None:
    headers = {} if key is None else bearer(key)
    assert_error(await http.get("/v1/changes", headers=headers), 401, "unauthorized")
    response = await http.post("/v1/tokens/reissue", headers=headers, json={"token": "x"})
    assert_error(response, 401, "unauthorized")


async def test_feed_keys_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSIONCLAIMS_FEED_KEYS", " fk_one , fk_two ,")
    backend = make_backend(sqlite_url(tmp_path), FakeClock(), preset=API_SETTINGS)
    assert backend.settings.feed_keys == ("fk_one", "fk_two")
    assert "fk_one" not in repr(backend.settings)


# -- the stream --------------------------------------------------------------------------
async def test_a_new_subscriber_starts_at_the_newest_change(backend: Backend) -> None:
    member = await make_member(backend)
    await backend.users.update_user_metadata(member.user_id, public_metadata={"role": "admin"})
    newest = await backend.store.last_change_seq()
    stream = StreamDriver(backend.api)
    text = await stream.read_until(": ready")
    assert stream.status == 200
    assert str(stream.header(b"content-type")).startswith("text/event-stream")
    assert text.startswith(f"id: {newest}\n\n")
    assert events(text) == []  # nothing replayed
    await stream.close()


async def test_each_change_is_one_event_without_metadata_values(backend: Backend) -> None:
    member = await make_member(backend)
    stream = StreamDriver(backend.api, key=SECRET)
    await stream.read_until(": ready")
    await backend.users.update_user_metadata(
        member.user_id, public_metadata={"role": "admin-secret-value"}
    )
    await backend.users.update_user_metadata(member.user_id, private_metadata={"stripe": "cus_x"})
    await backend.sessions.revoke_session(member.session_id)
    await backend.keys.rotate()
    text = await stream.read_until("keys-changed")
    assert "admin-secret-value" not in text
    assert "cus_x" not in text
    got = events(text)
    user = await backend.store.get_user(member.user_id)
    assert user is not None
    now_ms = int(backend.clock() * 1000)
    assert [e["event"] for e in got] == [
        "token-claims-change",
        "session-revoked",
        "keys-changed",
    ]  # the private-only write made no event
    assert got[0]["data"] == {
        "user_id": member.user_id,
        "organization_id": None,
        "version": user.version,
        "at": now_ms,
    }
    assert got[1]["data"] == {
        "session_id": member.session_id,
        "user_id": member.user_id,
        "at": now_ms,
    }
    assert got[2]["data"] == {"at": now_ms}
    ids = [int(e["id"]) for e in got]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    await backend.users.delete_user(member.user_id)
    text = await stream.read_until('"session_id": null')
    assert events(text)[-1]["data"] == {"session_id": None, "user_id": member.user_id, "at": now_ms}
    await stream.close()


async def test_organization_changes_are_events_per_organization(backend: Backend) -> None:
    member = await make_member(backend)
    org = await backend.organizations.create_organization("Acme", created_by=member.user_id)
    stream = StreamDriver(backend.api, key=FEED_KEY)
    await stream.read_until(": ready")
    orgs = backend.organizations
    await orgs.update_organization_metadata(org.id, public_metadata={"plan": "secret-plan"})
    await orgs.update_organization_metadata(org.id, private_metadata={"crm": "cus_x"})
    await orgs.update_membership(org.id, member.user_id, role="org:member")
    await orgs.delete_membership(org.id, member.user_id)
    await orgs.delete_organization(org.id)
    got = [e for e in await stream.read_events(4) if e["event"] == "token-claims-change"]
    text = stream.text
    await stream.close()
    assert "secret-plan" not in text
    assert "cus_x" not in text
    now_ms = int(backend.clock() * 1000)
    assert [e["data"] for e in got] == [  # the private-only write made no event
        {"user_id": None, "organization_id": org.id, "version": 2, "at": now_ms},
        {"user_id": member.user_id, "organization_id": org.id, "version": 2, "at": now_ms},
        {
            "user_id": member.user_id,
            "organization_id": org.id,
            "version": None,
            "at": now_ms,
            "deleted": True,
        },
        {
            "user_id": None,
            "organization_id": org.id,
            "version": None,
            "at": now_ms,
            "deleted": True,
        },
    ]


@pytest.mark.parametrize("how", ["header", "query"])
async def test_resuming_replays_every_change_after_the_point(backend: Backend, how: str) -> None:
    member = await make_member(backend)
    start = await backend.store.last_change_seq()
    for role in ("a", "b", "c"):
        await backend.users.update_user_metadata(member.user_id, public_metadata={"role": role})
    await backend.sessions.revoke_session(member.session_id)
    point = str(start + 1).encode()
    stream = StreamDriver(
        backend.api,
        headers=[(b"last-event-id", point)] if how == "header" else [],
        query=b"after=" + point if how == "query" else b"",
    )
    got = events(await stream.read_until(": ready"))
    assert [e["event"] for e in got] == ["token-claims-change"] * 2 + ["session-revoked"]
    assert [int(e["id"]) for e in got] == [start + 2, start + 3, start + 4]
    await stream.close()


async def test_a_point_older_than_the_retained_log_starts_with_reset(
    backend: Backend, clock: FakeClock
) -> None:
    member = await make_member(backend)
    for role in ("a", "b"):
        await backend.users.update_user_metadata(member.user_id, public_metadata={"role": role})
    clock.advance(3600)
    await backend.users.update_user_metadata(member.user_id, public_metadata={"role": "c"})
    newest = await backend.store.last_change_seq()
    await backend.store.prune_changes(before_ms=int(clock() * 1000) - 1)
    stream = StreamDriver(backend.api, headers=[(b"last-event-id", b"0")])
    got = events(await stream.read_until(": ready"))
    assert got[0]["event"] == "reset"
    assert "id" not in got[0]
    assert got[0]["data"] == {"at": int(clock() * 1000)}
    assert [int(e["id"]) for e in got[1:]] == [newest]
    await stream.close()


async def test_a_point_beyond_the_log_resets_to_now(backend: Backend, clock: FakeClock) -> None:
    newest = await backend.store.last_change_seq()
    stream = StreamDriver(backend.api, query=b"after=999999")
    text = await stream.read_until(": ready")
    assert events(text) == [{"event": "reset", "data": {"at": int(clock() * 1000)}}]
    assert f"id: {newest}\n\n" in text
    await stream.close()


@pytest.mark.parametrize(
    "value",
    [b"x", b"-1", b"1.5", b"1e3", b"0x10", b"9" * 19, b"1" * 10_240, b"\xff", b"1 2", b"+1"],
)
@pytest.mark.parametrize("how", ["header", "query"])
async def test_a_hostile_resume_point_is_a_400(
    http: httpx.AsyncClient, value: bytes, how: str
) -> None:
    if how == "header":
        response = await http.get(
            "/v1/changes",
            headers=[(b"authorization", b"Bearer " + FEED_KEY.encode()), (b"last-event-id", value)],
        )
    else:
        response = await http.get(
            "/v1/changes", headers=bearer(FEED_KEY), params={"after": value.decode("latin-1")}
        )
    meta = assert_error(response, 400, "invalid_resume_point")
    assert meta == {"param": "Last-Event-ID" if how == "header" else "after"}


async def test_a_quiet_stream_sends_keep_alives(backend: Backend) -> None:
    stream = StreamDriver(backend.api)
    text = await stream.read_until(": keep-alive\n\n")
    assert events(text) == []
    await stream.close()
    assert backend.changes.subscriber_count == 0


async def test_a_subscriber_that_stops_reading_is_dropped(backend: Backend) -> None:
    backend.changes.queue_size = 8
    member = await make_member(backend)
    watcher = StreamDriver(backend.api)
    await watcher.read_until(": ready")
    stuck = StreamDriver(backend.api, blocked_after=2)  # start, head; then no more reads
    await stuck.read_until("\n\n")  # subscribed: its first line arrived
    assert backend.changes.subscriber_count == 2
    for n in range(12):
        await backend.users.update_user_metadata(member.user_id, public_metadata={"role": str(n)})
        await watcher.read_events(n + 1)  # a subscriber that reads keeps up
    await asyncio.wait_for(stuck.task, 10)  # the stuck one ended: dropped, not buffered
    assert backend.changes.dropped_count == 1
    assert backend.changes.subscriber_count == 1
    await watcher.close()


def test_a_full_queue_drops_the_subscriber_and_keeps_nothing() -> None:
    async def run() -> None:
        broadcaster = Broadcaster(queue_size=3)
        slow = broadcaster.subscribe()
        for seq in range(1, 6):
            broadcaster.publish(ChangeRecord(seq, "user", "user_a", None, seq, 0))
        assert slow.dropped
        assert len(slow.frames) == 0
        assert broadcaster.subscriber_count == 0

    asyncio.run(run())


# -- the reissue route -------------------------------------------------------------------
async def reissue(http: httpx.AsyncClient, token: Any, key: str = FEED_KEY) -> httpx.Response:
    return await http.post("/v1/tokens/reissue", headers=bearer(key), json={"token": token})


@pytest.mark.parametrize("key", [FEED_KEY, SECRET])
async def test_reissue_gives_a_fresh_token_of_the_same_session(
    http: httpx.AsyncClient, backend: Backend, clock: FakeClock, key: str
) -> None:
    member = await make_member(backend)
    await backend.users.update_user_metadata(member.user_id, public_metadata={"role": "admin"})
    clock.advance(10)
    response = await reissue(http, member.token, key)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"jwt"}
    new = decode_unverified(response.json()["jwt"])
    old = decode_unverified(member.token)
    assert (new["sid"], new["sub"], new["azp"]) == (old["sid"], old["sub"], APP_ORIGIN)
    assert new["role"] == "admin"
    assert new["iat"] == old["iat"] + 10
    assert new["ver"] > old["ver"]
    backend.verifier.verify(response.json()["jwt"], backend.keys.key_set)


async def test_reissue_refuses_what_the_spec_refuses(
    http: httpx.AsyncClient, backend: Backend, clock: FakeClock, tmp_path: Path
) -> None:
    member = await make_member(backend)
    other = await make_member(backend)
    await backend.sessions.revoke_session(other.session_id)
    response = await reissue(http, other.token)
    assert assert_error(response, 401, "unauthorized") == {"reason": "session-revoked"}

    clock.advance(backend.settings.token_lifetime + backend.settings.clock_skew + 1)
    response = await reissue(http, member.token)
    assert assert_error(response, 401, "unauthorized") == {"reason": "token-expired"}

    foreign = make_backend(
        sqlite_url(tmp_path / "other"),
        clock,
        preset=API_SETTINGS,
        issuer="https://other.example.com",
    )
    (tmp_path / "other").mkdir()
    async with foreign:
        user = await foreign.users.create_user()
        token = (await foreign.sessions.create_session(user.id)).token
    response = await reissue(http, token)
    assert assert_error(response, 401, "unauthorized")["reason"] in (
        "token-unknown-key",
        "token-invalid-issuer",
    )
    head, payload, signature = member.token.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    clock.advance(-backend.settings.token_lifetime)
    response = await reissue(http, tampered)
    assert assert_error(response, 401, "unauthorized") == {"reason": "token-invalid-signature"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 422, "invalid_field"),
        ({"token": ""}, 422, "invalid_field"),
        ({"token": 5}, 422, "invalid_field"),
        ({"token": None}, 422, "invalid_field"),
        ({"token": "x", "extra": 1}, 422, "unknown_field"),
        ({"token": "x" * 9000}, 401, "unauthorized"),
        ({"token": "a.b.c"}, 401, "unauthorized"),
    ],
)
async def test_reissue_bodies(
    http: httpx.AsyncClient, body: dict[str, Any], status: int, code: str
) -> None:
    response = await http.post("/v1/tokens/reissue", headers=bearer(FEED_KEY), json=body)
    assert_error(response, status, code)


async def test_reissue_refuses_every_forged_token_with_its_reason(
    http: httpx.AsyncClient, backend: Backend, clock: FakeClock
) -> None:
    from tests.forged import NOW

    clock.now = NOW
    checked = 0
    for name, token, reason in forged_tokens(backend.keys.signer, authorized_party=APP_ORIGIN):
        body = json.dumps({"token": token}).encode()
        response = await http.post("/v1/tokens/reissue", headers=bearer(FEED_KEY), content=body)
        assert response.status_code in (400, 401, 413, 422), (name, response.text)
        if name in TRANSPORT_UNSAFE or token == "" or len(body) > 64 * 1024:
            continue
        assert assert_error(response, 401, "unauthorized") == {"reason": reason}, name
        checked += 1
    assert checked > 60


def test_feed_key_settings_are_checked(tmp_path: Path) -> None:
    from sessionclaims import ConfigurationError

    config = tmp_path / "auth.toml"
    config.write_text('issuer = "https://auth.example.com"\nfeed_keys = ["fk_a", "fk_b"]\n')
    backend = Backend("sqlite://", config_file=str(config))
    assert backend.settings.feed_keys == ("fk_a", "fk_b")
    for bad in ({"feed_keys": [""]}, {"feed_keys": 5}, {"feed_keys": [SECRET]}):
        with pytest.raises(ConfigurationError):
            make_backend(sqlite_url(tmp_path), FakeClock(), preset=API_SETTINGS, **bad)
    for keepalive in (0, 16, "x"):
        with pytest.raises(ConfigurationError):
            make_backend(
                sqlite_url(tmp_path), FakeClock(), preset=API_SETTINGS, changes_keepalive=keepalive
            )
