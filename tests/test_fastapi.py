"""The FastAPI dependencies: 401 / 403 as JSON with a WWW-Authenticate header."""

from __future__ import annotations

import httpx
import pytest
from fastapi import Depends, FastAPI

from sessionclaims import Auth, SessionClaimsMiddleware, SigningKey
from sessionclaims.fastapi import HasClaims, SignedIn, get_auth
from sessionclaims.keys import KeySet
from sessionclaims.tokens import encode_token

from .helpers import FakeClock
from .test_middleware import ISSUER, claims


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate("ES256")


@pytest.fixture
def app(key: SigningKey, clock: FakeClock) -> FastAPI:
    app = FastAPI()

    @app.get("/me")
    async def me(auth: Auth = Depends(SignedIn())) -> dict[str, object]:
        return {"user_id": auth.user_id}

    @app.get("/admin")
    async def admin(auth: Auth = Depends(HasClaims(role="admin"))) -> dict[str, object]:
        return {"ok": True}

    @app.get("/maybe")
    async def maybe(auth: Auth = Depends(get_auth)) -> dict[str, object]:
        return {"signed_in": auth.is_signed_in}

    app.add_middleware(
        SessionClaimsMiddleware, jwks=KeySet([key.public_key]).to_jwks(), issuer=ISSUER, clock=clock
    )
    return app


async def call(app: FastAPI, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.example.com") as c:
        return await c.get(path, headers=headers)


@pytest.mark.anyio
async def test_signed_in_dependency(app: FastAPI, key: SigningKey, clock: FakeClock) -> None:
    ok = await call(app, "/me", encode_token(claims(clock), key))
    assert ok.status_code == 200
    assert ok.json() == {"user_id": "user_1"}

    missing = await call(app, "/me")
    assert missing.status_code == 401
    assert missing.json()["detail"]["reason"] == "token-missing"
    assert missing.headers["www-authenticate"] == 'Bearer realm="sessionclaims"'

    clock.advance(3600)
    expired = await call(app, "/me", encode_token(claims(FakeClock(clock.now - 3600)), key))
    assert expired.status_code == 401
    assert expired.json()["detail"] == {
        "code": "unauthorized",
        "message": "sign in first",
        "reason": "token-expired",
    }
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]


@pytest.mark.anyio
async def test_has_claims_dependency(app: FastAPI, key: SigningKey, clock: FakeClock) -> None:
    assert (await call(app, "/admin", encode_token(claims(clock), key))).status_code == 200
    member = await call(app, "/admin", encode_token(claims(clock, role="member"), key))
    assert member.status_code == 403
    assert member.json()["detail"]["code"] == "forbidden"
    assert 'error="insufficient_scope"' in member.headers["www-authenticate"]
    assert (await call(app, "/admin")).status_code == 401


@pytest.mark.anyio
async def test_get_auth_never_refuses(app: FastAPI) -> None:
    response = await call(app, "/maybe")
    assert response.json() == {"signed_in": False}


def test_has_claims_needs_a_claim() -> None:
    with pytest.raises(TypeError):
        HasClaims()
