"""A verify-only service following the change stream (services.md): the SSE parser, the
events applied to the freshness map, and the middleware against a real auth server under
uvicorn on loopback (fresh tokens with no network call, a role change reissued once, a
revocation refused with no call, keys-changed, the reissue route unreachable, the auth
server restarted, a clean start and stop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from sessionclaims import Backend, SessionClaimsMiddleware
from sessionclaims.change_stream import ChangeStream, ServerSentEvent, SSEParser
from sessionclaims.freshness import FRESH, REVOKED, STALE, Freshness

pytestmark = pytest.mark.anyio

ISSUER = "https://auth.example.com"
SECRET = "sk_test_stream"
FEED_KEY = "fk_test_stream"
ADMIN = {"Authorization": f"Bearer {SECRET}"}


# -- the parser --------------------------------------------------------------------------
def parse(lines: list[str]) -> tuple[list[ServerSentEvent], SSEParser]:
    parser = SSEParser()
    found = [e for line in lines if (e := parser.line(line)) is not None]
    return found, parser


def test_sse_parser_follows_the_whatwg_rules() -> None:
    found, parser = parse(
        [
            ": a comment",
            "id: 7",
            "event: token-claims-change",
            "data: first",
            "data:second",
            "data",
            "retry: 100",
            "unknown: field",
            "",
            "data:  two spaces",
            "",
            "id: 8",
            "",  # an id with no data: no event, but the last event id moves
            "id: bad\0id",
            "event: x",
            "",
        ]
    )
    assert [(e.event, e.data, e.id) for e in found] == [
        ("token-claims-change", "first\nsecond\n", "7"),
        ("message", " two spaces", "7"),
    ]
    assert parser.last_event_id == "8"


# -- events into the freshness map -------------------------------------------------------
def stream_with(freshness: Freshness, **kwargs: Any) -> ChangeStream:
    return ChangeStream(
        "http://127.0.0.1:9/v1/changes", feed_key="k", freshness=freshness, **kwargs
    )


def test_events_feed_the_freshness_map() -> None:
    now = time.time()
    at = int(now * 1000)
    freshness = Freshness(horizon=600)
    stream = stream_with(freshness)
    iat = int(now) - 5

    def event(kind: str, data: str) -> None:
        stream._apply(ServerSentEvent(kind, data, "1"))

    event(
        "token-claims-change",
        f'{{"user_id": "user_a", "organization_id": null, "version": 3, "at": {at}}}',
    )
    assert freshness.check("user_a", "sess_a", 2, iat) == STALE
    assert freshness.check("user_a", "sess_a", 3, iat) == FRESH
    event("session-revoked", f'{{"session_id": "sess_b", "user_id": "user_b", "at": {at}}}')
    assert freshness.check("user_b", "sess_b", 1, iat) == REVOKED
    event("session-revoked", f'{{"session_id": null, "user_id": "user_c", "at": {at}}}')
    assert freshness.check("user_c", "sess_c", 1, iat) == REVOKED
    for hostile in ("not json", "[]", '{"at": "x"}', '{"user_id": 5, "at": 1}', "{" * 5000):
        event("token-claims-change", hostile)
    assert stream.events_applied == 3
    assert freshness.check("user_d", "sess_d", 1, iat) == FRESH
    event("reset", f'{{"at": {at}}}')
    assert freshness.check("user_d", "sess_d", 1, iat) == STALE  # issued before the reset
    assert freshness.check("user_d", "sess_d", 1, int(now) + 1) == FRESH


def test_organization_events_feed_the_per_organization_maps() -> None:
    now = time.time()
    at = int(now * 1000)
    freshness = Freshness(horizon=600)
    stream = stream_with(freshness)
    iat = int(now) - 5

    def event(data: str) -> None:
        stream._apply(ServerSentEvent("token-claims-change", data, "1"))

    def check(user_id: str, org_id: str, org_ver: int, mem_ver: int) -> int:
        return freshness.check(user_id, "sess_x", 1, iat, org_id, org_ver, mem_ver)

    # an organization's change: every member's older tokens of it, nobody else's
    event(f'{{"user_id": null, "organization_id": "org_a", "version": 4, "at": {at}}}')
    assert check("user_a", "org_a", 3, 1) == STALE
    assert check("user_b", "org_a", 3, 7) == STALE
    assert check("user_a", "org_a", 4, 1) == FRESH
    assert check("user_a", "org_b", 3, 1) == FRESH
    assert freshness.check("user_a", "sess_x", 1, iat) == FRESH  # no active organization
    # a membership's change: that person's tokens of that organization only
    event(f'{{"user_id": "user_a", "organization_id": "org_b", "version": 2, "at": {at}}}')
    assert check("user_a", "org_b", 1, 1) == STALE
    assert check("user_a", "org_b", 1, 2) == FRESH
    assert check("user_b", "org_b", 1, 1) == FRESH
    assert freshness.known_version("user_a") is None  # not taken for the user's version
    # deletions: stale whatever the versions, never revoked (the session lives on)
    event(
        f'{{"user_id": null, "organization_id": "org_c", "version": null, "deleted": true, '
        f'"at": {at}}}'
    )
    assert check("user_a", "org_c", 99, 99) == STALE
    event(
        f'{{"user_id": "user_a", "organization_id": "org_d", "version": null, '
        f'"deleted": true, "at": {at}}}'
    )
    assert check("user_a", "org_d", 99, 99) == STALE
    assert check("user_b", "org_d", 1, 1) == FRESH
    assert stream.events_applied == 4
    for hostile in (
        f'{{"user_id": null, "organization_id": 5, "version": 1, "at": {at}}}',
        f'{{"user_id": 5, "organization_id": "org_e", "version": 1, "at": {at}}}',
        f'{{"user_id": null, "organization_id": "org_e", "version": "1", "at": {at}}}',
        f'{{"user_id": null, "organization_id": "org_e", "version": true, "at": {at}}}',
    ):
        event(hostile)
    assert stream.events_applied == 4
    assert check("user_a", "org_e", 1, 1) == FRESH


async def test_keys_changed_calls_back_at_once() -> None:
    called = asyncio.Event()

    async def refetch() -> None:
        called.set()

    stream = stream_with(Freshness(horizon=600), on_keys_changed=refetch)
    stream._apply(ServerSentEvent("keys-changed", '{"at": 1}', "1"))
    await asyncio.wait_for(called.wait(), 5)
    await stream.stop()


# -- against a real auth server ----------------------------------------------------------
class AuthServer:
    """The auth app (a Backend on a SQLite file, mounted at /auth) under uvicorn in a thread;
    it can be stopped and started again on the same port."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def backend(self) -> Backend:
        """A backend on the auth server's store (another process would see the same)."""
        return Backend(
            f"sqlite:///{self.db}",
            issuer=ISSUER,
            secret_key=SECRET,
            feed_keys=[FEED_KEY],
            session_template={"role": "{{user.public_metadata.role || 'member'}}"},
            changes_keepalive=0.2,
        )

    def start(self) -> None:
        backend = self.backend()

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            async with backend:
                yield

        app = Starlette(routes=[Mount("/auth", app=backend.api)], lifespan=lifespan)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(
            app, log_level="critical", lifespan="on", timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:  # waiting for the server to bind
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        self._server, self._thread, self._sock = server, thread, sock

    def stop(self) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.should_exit = True
        self._thread.join(15)
        self._sock.close()
        self._server = self._thread = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def auth(tmp_path: Path) -> Iterator[AuthServer]:
    server = AuthServer(tmp_path / "auth.db")
    server.start()
    try:
        yield server
    finally:
        if server._server is not None:
            server.stop()


async def whoami(request: Request) -> JSONResponse:
    auth = request.auth
    return JSONResponse(
        {
            "signed_in": auth.is_signed_in,
            "reason": auth.reason,
            "role": auth.session_claims.get("role"),
        }
    )


def service_for(auth: AuthServer, **options: Any) -> SessionClaimsMiddleware:
    return SessionClaimsMiddleware(
        Starlette(routes=[Route("/whoami", whoami)]),
        jwks_url=f"{auth.base}/auth/.well-known/jwks.json",
        issuer=ISSUER,
        changes_url=f"{auth.base}/auth/v1/changes",
        feed_key=FEED_KEY,
        **options,
    )


@contextlib.asynccontextmanager
async def running(service: SessionClaimsMiddleware) -> AsyncIterator[httpx.AsyncClient]:
    """The service with its lifespan, and a client calling it in-process."""
    messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.create_task(
        service({"type": "lifespan", "asgi": {"version": "3.0"}}, messages.get, sent.put)
    )
    await messages.put({"type": "lifespan.startup"})
    assert (await sent.get())["type"] == "lifespan.startup.complete"
    transport = httpx.ASGITransport(app=service)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            yield http
    finally:
        await messages.put({"type": "lifespan.shutdown"})
        assert (await sent.get())["type"] == "lifespan.shutdown.complete"
        await lifespan


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (at most 10 s) for something the auth server pushes to arrive."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def new_session(auth: AuthServer, role: str = "member") -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"{auth.base}/auth", headers=ADMIN) as http:
        user = (await http.post("/v1/users", json={"public_metadata": {"role": role}})).json()
        created = (await http.post("/v1/sessions", json={"user_id": user["id"]})).json()
        return {
            "user_id": user["id"],
            "session_id": created["session"]["id"],
            "token": created["token"],
        }


async def admin_call(auth: AuthServer, method: str, path: str, **kwargs: Any) -> None:
    async with httpx.AsyncClient(base_url=f"{auth.base}/auth", headers=ADMIN) as http:
        response = await http.request(method, path, **kwargs)
        assert response.status_code == 200, response.text


def stream_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "sessionclaims-change-stream"]


async def test_a_service_sees_changes_on_its_next_request(auth: AuthServer) -> None:
    person = await new_session(auth)
    bearer = {"Authorization": f"Bearer {person['token']}"}
    service = service_for(auth)
    stream = service.change_stream
    assert stream is not None
    async with running(service) as http:
        await until(lambda: stream.live, "the stream to be live")
        first = await http.get("/whoami", headers=bearer)
        assert first.json() == {"signed_in": True, "reason": None, "role": "member"}
        calls = service.network_calls
        for _ in range(200):  # fresh tokens: no network call at all
            assert (await http.get("/whoami", headers=bearer)).json()["role"] == "member"
        assert service.network_calls == calls

        applied = stream.events_applied
        await admin_call(
            auth,
            "PATCH",
            f"/v1/users/{person['user_id']}/metadata",
            json={"public_metadata": {"role": "admin"}},
        )
        await until(lambda: stream.events_applied > applied, "the role change")
        answer = await http.get("/whoami", headers=bearer)  # the very next request
        assert answer.json()["role"] == "admin"
        new_token = answer.headers["x-session-token"]
        assert "set-cookie" not in answer.headers
        assert service.network_calls == calls + 1  # one reissue
        again = await http.get("/whoami", headers=bearer)  # the same stale token again
        assert again.json()["role"] == "admin"
        assert again.headers["x-session-token"] == new_token
        cookie = await http.get("/whoami", headers={"Cookie": f"__session={person['token']}"})
        assert cookie.json()["role"] == "admin"
        assert cookie.headers["set-cookie"].startswith(f"__session={new_token};")
        fresh = await http.get("/whoami", headers={"Authorization": f"Bearer {new_token}"})
        assert fresh.json()["role"] == "admin"
        assert "x-session-token" not in fresh.headers
        assert service.network_calls == calls + 1

        applied = stream.events_applied
        await admin_call(auth, "POST", f"/v1/sessions/{person['session_id']}/revoke")
        await until(lambda: stream.events_applied > applied, "the revocation")
        for token in (person["token"], new_token):
            answer = await http.get("/whoami", headers={"Authorization": f"Bearer {token}"})
            assert answer.json() == {"signed_in": False, "reason": "session-revoked", "role": None}
        assert service.network_calls == calls + 1  # refused with no call

        assert len(stream_tasks()) == 1
    assert stream_tasks() == []  # stopped with the lifespan
    assert not stream.running
    assert not stream.connected


async def org_whoami(request: Request) -> JSONResponse:
    auth = request.auth
    return JSONResponse({"org_id": auth.org_id, "org_role": auth.org_role})


async def test_a_service_applies_organization_changes_per_organization(
    auth: AuthServer,
) -> None:
    async with auth.backend() as writer:  # another process on the auth app's store
        orgs = writer.organizations
        alice, bob = await writer.users.create_user(), await writer.users.create_user()
        acme = await orgs.create_organization("Acme", created_by=alice.id)
        globex = await orgs.create_organization("Globex", created_by=bob.id)
        in_acme = await writer.sessions.create_session(alice.id, active_organization_id=acme.id)
        in_globex = await writer.sessions.create_session(bob.id, active_organization_id=globex.id)
        service = SessionClaimsMiddleware(
            Starlette(routes=[Route("/whoami", org_whoami)]),
            jwks_url=f"{auth.base}/auth/.well-known/jwks.json",
            issuer=ISSUER,
            changes_url=f"{auth.base}/auth/v1/changes",
            feed_key=FEED_KEY,
        )
        stream = service.change_stream
        assert stream is not None
        async with running(service) as http:
            await until(lambda: stream.live, "the stream to be live")

            async def seen(token: str) -> tuple[dict[str, Any], str | None]:
                response = await http.get("/whoami", headers={"Authorization": f"Bearer {token}"})
                return response.json(), response.headers.get("x-session-token")

            assert (await seen(in_acme.token))[0]["org_role"] == "org:admin"
            assert (await seen(in_globex.token))[0]["org_role"] == "org:admin"
            applied = stream.events_applied
            await orgs.update_membership(acme.id, alice.id, role="org:member")
            await until(lambda: stream.events_applied > applied, "the membership event")
            calls = service.network_calls
            claims, token = await seen(in_acme.token)
            assert (claims, service.network_calls) == (
                {"org_id": acme.id, "org_role": "org:member"},
                calls + 1,  # one reissue
            )
            assert token is not None
            assert (await seen(in_globex.token))[1] is None  # another organization: fresh
            applied = stream.events_applied
            await orgs.delete_organization(acme.id)
            await until(lambda: stream.events_applied > applied, "the deletion event")
            assert (await seen(token))[0] == {"org_id": None, "org_role": None}
            assert (await seen(in_globex.token))[0]["org_role"] == "org:admin"
            assert service.network_calls == calls + 2


async def test_keys_changed_refetches_the_jwks_at_once(auth: AuthServer) -> None:
    service = service_for(auth, jwks_refetch_cooldown=3600)
    stream = service.change_stream
    assert stream is not None
    person = await new_session(auth)
    async with running(service) as http:
        await http.get("/whoami", headers={"Authorization": f"Bearer {person['token']}"})
        await until(lambda: stream.live, "the stream to be live")
        authenticator: Any = service.authenticator
        fetches = authenticator.keys.fetch_count
        # Another process rotates (the CLI would): the auth server learns of it from the
        # change log and tells the service, which refetches despite the long cooldown.
        async with auth.backend() as rotator:
            await rotator.keys.rotate()
        await until(lambda: authenticator.keys.fetch_count > fetches, "the JWKS refetch")


async def test_an_unreachable_reissue_route_signs_out_with_store_unavailable(
    auth: AuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    person = await new_session(auth)
    service = service_for(auth, reissue_url=f"http://127.0.0.1:{_free_port()}/v1/tokens/reissue")
    stream = service.change_stream
    assert stream is not None
    bearer = {"Authorization": f"Bearer {person['token']}"}
    async with running(service) as http:
        await until(lambda: stream.live, "the stream to be live")
        assert (await http.get("/whoami", headers=bearer)).json()["role"] == "member"
        applied = stream.events_applied
        await admin_call(
            auth,
            "PATCH",
            f"/v1/users/{person['user_id']}/metadata",
            json={"public_metadata": {"role": "admin"}},
        )
        await until(lambda: stream.events_applied > applied, "the role change")
        with caplog.at_level(logging.ERROR, logger="sessionclaims.middleware"):
            answer = await http.get("/whoami", headers=bearer)
        assert answer.status_code == 200
        assert answer.json() == {"signed_in": False, "reason": "store-unavailable", "role": None}
        assert "unreachable" in caplog.text


async def test_the_service_resumes_after_the_auth_server_restarts(
    auth: AuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    person = await new_session(auth)
    bearer = {"Authorization": f"Bearer {person['token']}"}
    service = service_for(auth)
    stream = service.change_stream
    assert stream is not None
    async with running(service) as http:
        await until(lambda: stream.live, "the stream to be live")
        assert (await http.get("/whoami", headers=bearer)).json()["role"] == "member"
        with caplog.at_level(logging.WARNING, logger="sessionclaims.change_stream"):
            await asyncio.to_thread(auth.stop)
            await until(lambda: not stream.connected, "the stream to notice")
        assert "trusted until their exp" in caplog.text  # the degraded bound is logged
        assert stream.lag >= 0
        # While it is down, tokens are trusted until exp.
        assert (await http.get("/whoami", headers=bearer)).json()["role"] == "member"
        # A write made while the service cannot hear it (straight into the store).
        async with auth.backend() as writer:
            await writer.users.update_user_metadata(
                person["user_id"], public_metadata={"role": "admin"}
            )
        await asyncio.to_thread(auth.start)
        await until(lambda: stream.live, "the stream to reconnect")
        assert stream.connections == 2
        answer = await http.get("/whoami", headers=bearer)
        assert answer.json()["role"] == "admin"  # replayed from Last-Event-ID
        assert stream.lag < 60


async def test_without_a_lifespan_the_first_request_starts_it_and_aclose_stops_it(
    auth: AuthServer,
) -> None:
    service = service_for(auth)
    stream = service.change_stream
    assert stream is not None
    assert not stream.running
    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        answer = await http.get("/whoami")
        assert answer.json()["reason"] == "token-missing"
        assert stream.running
        await until(lambda: stream.live, "the stream to be live")
    await service.aclose()
    assert stream_tasks() == []
    assert not stream.running


def test_stream_options_are_checked(tmp_path: Path) -> None:
    from sessionclaims import ConfigurationError

    app = Starlette()
    url = "https://auth.example.com/auth/v1/changes"
    jwks = "https://auth.example.com/auth/.well-known/jwks.json"
    with pytest.raises(ConfigurationError, match="feed_key"):
        SessionClaimsMiddleware(app, jwks_url=jwks, issuer=ISSUER, changes_url=url)
    with pytest.raises(ConfigurationError, match="reissue_url"):
        SessionClaimsMiddleware(
            app, jwks_url=jwks, issuer=ISSUER, changes_url="https://a.example/feed", feed_key="k"
        )
    with pytest.raises(ConfigurationError, match="changes_url"):
        SessionClaimsMiddleware(app, jwks_url=jwks, issuer=ISSUER, feed_key="k")
    backend = Backend(f"sqlite:///{tmp_path / 'a.db'}", issuer=ISSUER)
    with pytest.raises(ConfigurationError, match="verify-only"):
        SessionClaimsMiddleware(app, backend=backend, changes_url=url, feed_key="k")
    service = SessionClaimsMiddleware(
        app, jwks_url=jwks, issuer=ISSUER, changes_url=url, feed_key="k"
    )
    authenticator: Any = service.authenticator
    assert authenticator.reissue_url == "https://auth.example.com/auth/v1/tokens/reissue"
