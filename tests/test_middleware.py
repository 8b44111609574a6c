"""SessionClaimsMiddleware in verify-only mode, through real ASGI apps."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from sessionclaims import Auth, ConfigurationError, SessionClaimsMiddleware, SigningKey
from sessionclaims.keys import KeySet
from sessionclaims.tokens import encode_token

from .helpers import FakeClock, make_app

ISSUER = "https://auth.example.com"
APP_ORIGIN = "https://app.example.com"


def claims(clock: FakeClock, **extra: Any) -> dict[str, Any]:
    now = int(clock())
    base = {
        "iss": ISSUER,
        "sub": "user_1",
        "sid": "sess_1",
        "iat": now,
        "nbf": now - 5,
        "exp": now + 60,
        "azp": APP_ORIGIN,
        "role": "admin",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


async def whoami(request: Request) -> JSONResponse:
    auth = request.auth
    return JSONResponse(
        {
            "signed_in": auth.is_signed_in,
            "user_id": auth.user_id,
            "session_id": auth.session_id,
            "reason": auth.reason,
            "claims": dict(auth.session_claims),
            "alias_same": auth.sessionClaims is auth.session_claims,
            "scopes": list(auth.scopes),
            "is_admin": auth.has(role="admin"),
            "user": request.user.is_authenticated,
        }
    )


@requires("admin")
async def admin_only(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@requires("authenticated")
async def members(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def ws_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    auth = websocket.scope["auth"]
    await websocket.send_json(
        {
            "signed_in": auth.is_signed_in,
            "reason": auth.reason,
            "role": auth.session_claims.get("role"),
        }
    )
    await websocket.close()


ROUTES = [
    Route("/whoami", whoami),
    Route("/admin", admin_only),
    Route("/members", members),
    WebSocketRoute("/ws", ws_endpoint),
]
"""The routes of the middleware tests' app: ``make_app(routes=ROUTES, ...)``."""


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate("ES256")


@pytest.fixture
def app(key: SigningKey, clock: FakeClock) -> Starlette:
    return make_app(
        routes=ROUTES,
        jwks=KeySet([key.public_key]).to_jwks(),
        issuer=ISSUER,
        authorized_parties=[APP_ORIGIN],
        clock=clock,
    )


async def get(app: Any, path: str = "/whoami", **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=APP_ORIGIN) as client:
        return await client.get(path, **kwargs)


@pytest.mark.anyio
async def test_bearer_token_signs_in(app: Starlette, key: SigningKey, clock: FakeClock) -> None:
    token = encode_token(claims(clock), key)
    body = (await get(app, headers={"Authorization": f"Bearer {token}"})).json()
    assert body["signed_in"] is True
    assert body["user_id"] == "user_1"
    assert body["session_id"] == "sess_1"
    assert body["claims"]["role"] == "admin"
    assert body["alias_same"] is True
    assert body["scopes"] == ["authenticated", "admin"]
    assert body["is_admin"] is True
    assert body["user"] is True
    assert body["reason"] is None


@pytest.mark.anyio
async def test_cookie_token_signs_in(app: Starlette, key: SigningKey, clock: FakeClock) -> None:
    token = encode_token(claims(clock), key)
    response = await get(app, headers={"Cookie": f"theme=dark; __session={token}; x=1"})
    assert response.json()["signed_in"] is True


@pytest.mark.anyio
async def test_similar_cookie_name_is_not_the_session(
    app: Starlette, key: SigningKey, clock: FakeClock
) -> None:
    token = encode_token(claims(clock), key)
    body = (await get(app, headers={"Cookie": f"my__session={token}"})).json()
    assert body == body | {"signed_in": False, "reason": "token-missing"}


@pytest.mark.anyio
async def test_cookie_without_azp_is_refused_bearer_allowed(
    app: Starlette, key: SigningKey, clock: FakeClock
) -> None:
    token = encode_token(claims(clock, azp=None), key)
    by_cookie = (await get(app, headers={"Cookie": f"__session={token}"})).json()
    assert by_cookie["signed_in"] is False
    assert by_cookie["reason"] == "token-invalid-authorized-party"
    by_bearer = (await get(app, headers={"Authorization": f"Bearer {token}"})).json()
    assert by_bearer["signed_in"] is True


@pytest.mark.anyio
async def test_bearer_wins_over_cookie(app: Starlette, key: SigningKey, clock: FakeClock) -> None:
    bearer = encode_token(claims(clock, sub="bearer_user"), key)
    cookie = encode_token(claims(clock, sub="cookie_user"), key)
    body = (
        await get(
            app, headers={"Authorization": f"Bearer {bearer}", "Cookie": f"__session={cookie}"}
        )
    ).json()
    assert body["user_id"] == "bearer_user"


@pytest.mark.anyio
async def test_no_token_is_signed_out_not_rejected(app: Starlette) -> None:
    response = await get(app)
    assert response.status_code == 200
    assert response.json()["signed_in"] is False
    assert response.json()["reason"] == "token-missing"
    assert response.json()["claims"] == {}


@pytest.mark.anyio
async def test_expiry_follows_the_injected_clock(
    app: Starlette, key: SigningKey, clock: FakeClock
) -> None:
    token = encode_token(claims(clock), key)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await get(app, headers=headers)).json()["signed_in"] is True
    clock.advance(60 + 4)  # inside the 5 s leeway
    assert (await get(app, headers=headers)).json()["signed_in"] is True
    clock.advance(1)
    body = (await get(app, headers=headers)).json()
    assert body["signed_in"] is False
    assert body["reason"] == "token-expired"


@pytest.mark.anyio
async def test_starlette_requires_works_unchanged(
    app: Starlette, key: SigningKey, clock: FakeClock
) -> None:
    admin = encode_token(claims(clock, role="admin"), key)
    member = encode_token(claims(clock, role="member"), key)
    assert (
        await get(app, "/admin", headers={"Authorization": f"Bearer {admin}"})
    ).status_code == 200
    assert (
        await get(app, "/admin", headers={"Authorization": f"Bearer {member}"})
    ).status_code == 403
    assert (await get(app, "/admin")).status_code == 403
    assert (
        await get(app, "/members", headers={"Authorization": f"Bearer {member}"})
    ).status_code == 200
    assert (await get(app, "/members")).status_code == 403


@pytest.mark.anyio
async def test_list_claim_gives_several_scopes(key: SigningKey, clock: FakeClock) -> None:
    app = make_app(
        routes=ROUTES,
        jwks=KeySet([key.public_key]).to_jwks(),
        issuer=ISSUER,
        clock=clock,
        scopes_claim="permissions",
    )
    token = encode_token(claims(clock, permissions=["read", "write", 3]), key)
    body = (await get(app, headers={"Authorization": f"Bearer {token}"})).json()
    assert body["scopes"] == ["authenticated", "read", "write"]


@pytest.mark.anyio
async def test_plain_asgi_app_without_starlette(key: SigningKey, clock: FakeClock) -> None:
    seen: dict[str, Any] = {}

    async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        auth: Auth = scope["auth"]
        seen["auth"] = auth
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": (auth.user_id or "-").encode()})

    wrapped = SessionClaimsMiddleware(
        raw_app, jwks=KeySet([key.public_key]).to_jwks(), issuer=ISSUER, clock=clock
    )
    token = encode_token(claims(clock), key)
    response = await get(wrapped, "/", headers={"Authorization": f"Bearer {token}"})
    assert response.text == "user_1"
    assert seen["auth"].session_claims["role"] == "admin"
    with pytest.raises(TypeError):
        seen["auth"].session_claims["role"] = "owner"  # read-only mapping


@pytest.mark.anyio
async def test_lifespan_passes_through_untouched(key: SigningKey) -> None:
    received: list[dict[str, Any]] = []

    async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        received.append(dict(scope))
        message = await receive()
        await send({"type": "lifespan.startup.complete", "echo": message["type"]})

    wrapped = SessionClaimsMiddleware(raw_app, public_key=key.public_key.to_pem(), issuer=ISSUER)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    await wrapped(scope, receive, send)
    assert received == [scope]
    assert "auth" not in received[0]
    assert sent == [{"type": "lifespan.startup.complete", "echo": "lifespan.startup"}]


async def websocket_conversation(app: Any, headers: list[tuple[bytes, bytes]]) -> list[Any]:
    """Drive one websocket connection through the ASGI app; return what it sent."""
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "wss",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": b"",
        "headers": headers,
        "subprotocols": [],
        "server": ("app.example.com", 443),
        "client": ("127.0.0.1", 5000),
        "root_path": "",
    }
    await app(scope, receive, send)
    return [json.loads(m["text"]) for m in sent if m["type"] == "websocket.send"]


@pytest.mark.anyio
async def test_websocket_scope_gets_auth(app: Starlette, key: SigningKey, clock: FakeClock) -> None:
    token = encode_token(claims(clock), key)
    signed_in = await websocket_conversation(app, [(b"authorization", f"Bearer {token}".encode())])
    assert signed_in == [{"signed_in": True, "reason": None, "role": "admin"}]
    signed_out = await websocket_conversation(app, [])
    assert signed_out == [{"signed_in": False, "reason": "token-missing", "role": None}]


@pytest.mark.anyio
async def test_public_key_pem_mode(key: SigningKey, clock: FakeClock) -> None:
    app = make_app(
        routes=ROUTES, public_key=key.public_key.to_pem().decode(), issuer=ISSUER, clock=clock
    )
    token = encode_token(claims(clock), key)
    assert (await get(app, headers={"Authorization": f"Bearer {token}"})).json()["signed_in"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer a.b",
        "Basic dXNlcjpwYXNz",
        "Bearer \x00\x01",
        "bearer " + "A" * 20_000,
        "Bearer ...",
        "Bearer ééé",
    ],
)
async def test_hostile_authorization_headers_are_signed_out(app: Starlette, header: str) -> None:
    response = await get(app, headers={"Authorization": header.encode("latin-1")})  # type: ignore[dict-item]
    assert response.status_code == 200
    assert response.json()["signed_in"] is False
    assert response.json()["reason"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "cookie",
    [
        "__session=",
        "__session",
        '__session=""',
        "=;;;=",
        "__session=a;__session=b",
        "__session=" + "x" * 9000,
        '__session="abc',
    ],
)
async def test_hostile_cookies_are_signed_out(app: Starlette, cookie: str) -> None:
    response = await get(app, headers={"Cookie": cookie})
    assert response.status_code == 200
    assert response.json()["signed_in"] is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"issuer": ISSUER},
        {"jwks": {"keys": []}, "issuer": ISSUER},
        {"jwks_url": "https://x/jwks", "public_key": "pem", "issuer": ISSUER},
        {"jwks_url": "https://auth.example.com/.well-known/jwks.json"},
        {"jwks_url": "ftp://auth.example.com/jwks", "issuer": ISSUER},
    ],
)
def test_configuration_mistakes_fail_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        SessionClaimsMiddleware(make_app, **kwargs)  # type: ignore[arg-type]


def test_algorithms_can_be_narrowed_but_never_to_hmac(key: SigningKey) -> None:
    with pytest.raises(ConfigurationError):
        SessionClaimsMiddleware(
            make_app,
            jwks=KeySet([key.public_key]).to_jwks(),  # type: ignore[arg-type]
            issuer=ISSUER,
            algorithms=["HS256"],
        )


@pytest.mark.anyio
async def test_audience_lets_a_service_accept_tokens_minted_for_it(
    key: SigningKey, clock: FakeClock
) -> None:
    reports = make_app(
        routes=ROUTES,
        jwks=KeySet([key.public_key]).to_jwks(),
        issuer=ISSUER,
        clock=clock,
        audience="reports-service",
    )
    plain = make_app(
        routes=ROUTES, jwks=KeySet([key.public_key]).to_jwks(), issuer=ISSUER, clock=clock
    )
    token = encode_token(claims(clock, aud="reports-service"), key)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await get(reports, headers=headers)).json()["signed_in"] is True
    refused = (await get(plain, headers=headers)).json()
    assert refused["reason"] == "token-invalid-audience"
