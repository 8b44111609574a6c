"""Verify-only mode against a real JWKS server on loopback (uvicorn in a thread)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sessionclaims import SigningKey
from sessionclaims.jwks_client import RemoteKeySet
from sessionclaims.keys import KeySet
from sessionclaims.tokens import encode_token

from .helpers import FakeClock, make_app
from .servers import running_server
from .test_middleware import ISSUER, ROUTES, claims


class Issuer:
    """A tiny identity provider: publishes a JWKS, counts fetches, can fail on demand."""

    def __init__(self) -> None:
        self.keys = [SigningKey.generate("ES256")]
        self.fetches = 0
        self.failing = False

    def publish(self, key: SigningKey) -> None:
        self.keys.append(key)

    async def jwks(self, request: Request) -> Response:
        self.fetches += 1
        if self.failing:
            return Response("upstream down", status_code=503)
        return JSONResponse(KeySet([k.public_key for k in self.keys]).to_jwks())

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/.well-known/jwks.json", self.jwks)])


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def jwks_url(issuer: Issuer) -> Iterator[str]:
    with running_server(issuer.app()) as base:
        yield base + "/.well-known/jwks.json"


async def who(app: Any, token: str) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://app.example.com") as c:
        body: dict[str, Any] = (
            await c.get("/whoami", headers={"Authorization": f"Bearer {token}"})
        ).json()
        return body


@pytest.mark.anyio
async def test_verifies_with_keys_fetched_over_http(
    issuer: Issuer, jwks_url: str, clock: FakeClock
) -> None:
    app = make_app(routes=ROUTES, jwks_url=jwks_url, issuer=ISSUER, clock=clock)
    token = encode_token(claims(clock), issuer.keys[0])
    assert (await who(app, token))["signed_in"] is True
    assert (await who(app, token))["signed_in"] is True
    assert issuer.fetches == 1  # cached


@pytest.mark.anyio
async def test_key_rotation_on_the_server_is_picked_up_at_once(
    issuer: Issuer, jwks_url: str, clock: FakeClock
) -> None:
    app = make_app(routes=ROUTES, jwks_url=jwks_url, issuer=ISSUER, clock=clock)
    first = encode_token(claims(clock), issuer.keys[0])
    assert (await who(app, first))["signed_in"] is True
    new_key = SigningKey.generate("EdDSA")
    issuer.publish(new_key)  # the issuer rotates just after our start-up
    second = encode_token(claims(clock, sub="user_2"), new_key)
    body = await who(app, second)
    assert body["signed_in"] is True
    assert body["user_id"] == "user_2"
    assert issuer.fetches == 2
    assert (await who(app, first))["signed_in"] is True  # the old key still verifies


@pytest.mark.anyio
async def test_a_flood_of_random_kids_costs_at_most_one_fetch(
    issuer: Issuer, jwks_url: str, clock: FakeClock
) -> None:
    app = make_app(routes=ROUTES, jwks_url=jwks_url, issuer=ISSUER, clock=clock)
    good = encode_token(claims(clock), issuer.keys[0])
    assert (await who(app, good))["signed_in"] is True
    before = issuer.fetches
    attacker = SigningKey.generate("ES256")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://app.example.com") as c:
        for _ in range(1000):
            # every token names a different, random kid
            key = SigningKey(
                load_pem_private_key(attacker.private_pem(), None), kid=secrets.token_hex(8)
            )
            forged = encode_token(claims(clock), key)
            response = await c.get("/whoami", headers={"Authorization": f"Bearer {forged}"})
            assert response.json()["reason"] == "token-unknown-key"
    assert issuer.fetches - before <= 1


@pytest.mark.anyio
async def test_last_good_key_set_keeps_serving_when_refetch_fails(
    issuer: Issuer, jwks_url: str
) -> None:
    clock = FakeClock()
    keys = RemoteKeySet(jwks_url, cache_ttl=60, refetch_cooldown=30, clock=clock)
    try:
        first = await keys.get_key_set()
        assert issuer.keys[0].kid in first
        issuer.failing = True
        clock.advance(61)  # past the TTL: a refresh starts in the background and fails
        still = await keys.get_key_set()
        assert issuer.keys[0].kid in still
        if keys._background is not None:
            await keys._background
        assert issuer.fetches == 2
        assert issuer.keys[0].kid in keys.key_set
        assert await keys.refresh_for_unknown_kid("nope") is False
        assert issuer.keys[0].kid in keys.key_set
        issuer.failing = False
        clock.advance(31)
        new_key = SigningKey.generate("RS256")
        issuer.publish(new_key)
        assert await keys.refresh_for_unknown_kid(new_key.kid) is True
    finally:
        await keys.aclose()


@pytest.mark.anyio
async def test_unreachable_issuer_signs_out_with_a_reason(clock: FakeClock) -> None:
    app = make_app(
        routes=ROUTES, jwks_url="http://127.0.0.1:9/jwks.json", issuer=ISSUER, clock=clock
    )
    key = SigningKey.generate("ES256")
    body = await who(app, encode_token(claims(clock), key))
    assert body["signed_in"] is False
    assert body["reason"] == "jwks-unavailable"


@pytest.mark.anyio
async def test_mock_transport_client_is_used_and_not_closed() -> None:
    key = SigningKey.generate("ES256")
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(200, json=KeySet([key.public_key]).to_jwks())

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    keys = RemoteKeySet("https://idp.example.com/jwks", http_client=client)
    assert key.kid in await keys.get_key_set()
    await keys.aclose()
    assert not client.is_closed
    await client.aclose()
    assert calls == ["https://idp.example.com/jwks"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"keys": "x"}',
        b'{"keys": [{"kty": "oct", "k": "AAAA"}]}',
        b'{"keys": [], "keys": []}',
    ],
)
async def test_a_bad_jwks_document_keeps_nothing(body: bytes) -> None:
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, content=body))
    )
    keys = RemoteKeySet("https://idp.example.com/jwks", http_client=client)
    ks = await keys.get_key_set()
    assert len(ks) == 0
    await client.aclose()


@pytest.mark.anyio
async def test_middleware_fetches_through_an_app_supplied_client(
    issuer: Issuer, clock: FakeClock
) -> None:
    """The JWKS is fetched with the client the app passed (its transport, its settings)."""
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=KeySet([k.public_key for k in issuer.keys]).to_jwks())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        app = make_app(
            routes=ROUTES,
            jwks_url="https://idp.example.com/jwks",
            issuer=ISSUER,
            clock=clock,
            http_client=client,
        )
        token = encode_token(claims(clock), issuer.keys[0])
        assert (await who(app, token))["signed_in"] is True
        assert seen == ["https://idp.example.com/jwks"]
        assert not client.is_closed  # the app's client is the app's to close
