"""Every forged token of the shared corpus, through the middleware, as a Bearer token and as
the ``__session`` cookie: a signed-out request with the right reason, never an exception.

Run in verify-only mode (the corpus's reference verifier) and in full mode (a Backend
whose own key signed the corpus), through a real Starlette app called over ASGI with
raw header bytes, so no client library refuses or rewrites a hostile value first.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionclaims import Backend, SessionClaimsMiddleware
from sessionclaims.keys import KeySet

from .forged import (
    AUTHORIZED_PARTY,
    ISSUER,
    NOW,
    TRANSPORT_UNSAFE,
    forged_cookie_tokens,
    forged_tokens,
    signing_key,
)
from .helpers import FakeClock

pytestmark = pytest.mark.anyio
ALGORITHMS = ["ES256", "RS256", "EdDSA"]


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"signed_in": request.auth.is_signed_in, "reason": request.auth.reason})


async def ask(app: Any, header: bytes, value: bytes) -> dict[str, Any]:
    """One GET /whoami with one raw header; returns the JSON body (status must be 200)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/whoami",
        "raw_path": b"/whoami",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"app.example.com"), (header, value)],
        "client": ("127.0.0.1", 5000),
        "server": ("app.example.com", 443),
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    body: dict[str, Any] = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    return body


def verify_only_app(alg: str, clock: FakeClock) -> Starlette:
    key = signing_key(alg)
    return Starlette(
        routes=[Route("/whoami", whoami)],
        middleware=[
            Middleware(
                SessionClaimsMiddleware,
                jwks=KeySet([key.public_key]).to_jwks(),
                issuer=ISSUER,
                authorized_parties=[AUTHORIZED_PARTY],
                clock=clock,
            )
        ],
    )


def encoded(token: str) -> bytes:
    return token.encode("utf-8", "surrogatepass")


async def check_corpus(app: Any, forged: list[Any], cookie_only: list[Any]) -> int:
    checked = 0
    for name, token, reason in forged:
        for header, value in (
            (b"authorization", b"Bearer " + encoded(token)),
            (b"cookie", b"__session=" + encoded(token)),
        ):
            body = await ask(app, header, value)
            if name in TRANSPORT_UNSAFE:
                continue  # a transport may strip or refuse such bytes; no exception is the rule
            expected = "token-missing" if token == "" else reason  # an empty value is no token
            assert body == {"signed_in": False, "reason": expected}, (name, header)
            checked += 1
    for name, token, reason in cookie_only:
        assert await ask(app, b"cookie", b"__session=" + encoded(token)) == {
            "signed_in": False,
            "reason": reason,
        }, name
        bearer = await ask(app, b"authorization", b"Bearer " + encoded(token))
        assert bearer["signed_in"] is True, name
        checked += 2
    return checked


@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_forged_tokens_in_verify_only_mode(alg: str) -> None:
    clock = FakeClock(NOW)
    key = signing_key(alg)
    checked = await check_corpus(
        verify_only_app(alg, clock), forged_tokens(key, now=NOW), forged_cookie_tokens(key, now=NOW)
    )
    assert checked > 150


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[Backend]:
    clock = FakeClock(NOW)
    b = Backend(
        f"sqlite:///{tmp_path / 'auth.db'}",
        issuer=ISSUER,
        authorized_parties=[AUTHORIZED_PARTY],
        clock=clock,
    )
    async with b:
        yield b


async def test_forged_tokens_in_full_mode(backend: Backend) -> None:
    key = backend.keys.signer
    app = Starlette(
        routes=[Route("/whoami", whoami)],
        middleware=[Middleware(SessionClaimsMiddleware, backend=backend)],
    )
    checked = await check_corpus(app, forged_tokens(key, now=NOW), [])
    assert checked > 150
