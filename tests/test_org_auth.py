"""The active organization on ``Auth``, Starlette ``@requires`` and the FastAPI
dependencies, through real ASGI apps (verify-only tokens carrying the four claims)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionclaims import Auth, SessionClaimsMiddleware, SigningKey
from sessionclaims.fastapi import HasOrgRole, HasPermission
from sessionclaims.keys import KeySet
from sessionclaims.tokens import encode_token

from .helpers import FakeClock
from .test_middleware import APP_ORIGIN, ISSUER, claims

ORG = {
    "org_id": "org_1",
    "org_slug": "acme",
    "org_role": "org:admin",
    "org_permissions": ["org:invoices:read", "org:invoices:write"],
}


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate("ES256")


def bearer(key: SigningKey, clock: FakeClock, **extra: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {encode_token(claims(clock, **extra), key)}"}


async def whoami(request: Request) -> JSONResponse:
    auth: Auth = request.auth
    return JSONResponse(
        {
            "org": [auth.org_id, auth.org_slug, auth.org_role, list(auth.org_permissions)],
            "aliases": [auth.orgId, auth.orgSlug, auth.orgRole, list(auth.orgPermissions)],
            "scopes": list(auth.scopes),
            "can_read": auth.has_permission("org:invoices:read"),
            "can_delete": auth.has_permission("org:delete"),
        }
    )


@requires("org:invoices:read")
async def invoices(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@requires("org:admin")
async def admin(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def starlette_app(key: SigningKey, clock: FakeClock) -> Starlette:
    return Starlette(
        routes=[Route("/whoami", whoami), Route("/invoices", invoices), Route("/admin", admin)],
        middleware=[
            Middleware(
                SessionClaimsMiddleware,
                jwks=KeySet([key.public_key]).to_jwks(),
                issuer=ISSUER,
                clock=clock,
            )
        ],
    )


async def get(app: Any, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=APP_ORIGIN) as client:
        return await client.get(path, headers=headers or {})


@pytest.mark.anyio
async def test_auth_reads_the_active_organization(key: SigningKey, clock: FakeClock) -> None:
    app = starlette_app(key, clock)
    body = (await get(app, "/whoami", bearer(key, clock, **ORG))).json()
    expected = ["org_1", "acme", "org:admin", ["org:invoices:read", "org:invoices:write"]]
    assert body["org"] == expected
    assert body["aliases"] == expected
    assert body["scopes"] == [
        "authenticated",
        "admin",
        "org:admin",
        "org:invoices:read",
        "org:invoices:write",
    ]
    assert body["can_read"] is True
    assert body["can_delete"] is False


@pytest.mark.anyio
async def test_no_active_organization_reads_empty(key: SigningKey, clock: FakeClock) -> None:
    app = starlette_app(key, clock)
    body = (await get(app, "/whoami", bearer(key, clock))).json()
    assert body["org"] == [None, None, None, []]
    assert body["aliases"] == [None, None, None, []]
    assert body["scopes"] == ["authenticated", "admin"]
    assert body["can_read"] is False
    signed_out = (await get(app, "/whoami")).json()
    assert signed_out["org"] == [None, None, None, []]
    assert signed_out["can_read"] is False


@pytest.mark.anyio
async def test_malformed_org_claims_grant_nothing(key: SigningKey, clock: FakeClock) -> None:
    app = starlette_app(key, clock)
    odd = {"org_id": 7, "org_role": ["org:admin"], "org_permissions": "org:invoices:read"}
    body = (await get(app, "/whoami", bearer(key, clock, **odd))).json()
    assert body["org"] == [None, None, None, []]
    assert body["scopes"] == ["authenticated", "admin"]
    # permissions without an org_id count for nothing either
    lone = {"org_permissions": ["org:invoices:read"], "org_role": "org:admin"}
    body = (await get(app, "/whoami", bearer(key, clock, **lone))).json()
    assert body["can_read"] is False
    assert "org:invoices:read" not in body["scopes"]


@pytest.mark.anyio
async def test_starlette_requires_a_permission(key: SigningKey, clock: FakeClock) -> None:
    app = starlette_app(key, clock)
    member = dict(ORG, org_role="org:member", org_permissions=["org:invoices:read"])
    assert (await get(app, "/invoices", bearer(key, clock, **member))).status_code == 200
    assert (await get(app, "/admin", bearer(key, clock, **member))).status_code == 403
    assert (await get(app, "/admin", bearer(key, clock, **ORG))).status_code == 200
    assert (await get(app, "/invoices", bearer(key, clock))).status_code == 403
    guest = dict(ORG, org_role="org:guest", org_permissions=[])
    assert (await get(app, "/invoices", bearer(key, clock, **guest))).status_code == 403


def fastapi_app(key: SigningKey, clock: FakeClock) -> FastAPI:
    app = FastAPI()

    @app.get("/invoices")
    async def read(auth: Auth = Depends(HasPermission("org:invoices:read"))) -> dict[str, Any]:
        return {"org_id": auth.org_id}

    @app.get("/write")
    async def write(
        auth: Auth = Depends(HasPermission("org:invoices:read", "org:invoices:write")),
    ) -> dict[str, Any]:
        return {"ok": True}

    @app.get("/members")
    async def members(auth: Auth = Depends(HasOrgRole("org:admin", "org:owner"))) -> dict[str, Any]:
        return {"role": auth.org_role}

    app.add_middleware(
        SessionClaimsMiddleware, jwks=KeySet([key.public_key]).to_jwks(), issuer=ISSUER, clock=clock
    )
    return app


@pytest.mark.anyio
async def test_fastapi_has_permission(key: SigningKey, clock: FakeClock) -> None:
    app = fastapi_app(key, clock)
    ok = await get(app, "/invoices", bearer(key, clock, **ORG))
    assert ok.status_code == 200
    assert ok.json() == {"org_id": "org_1"}
    member = dict(ORG, org_role="org:member", org_permissions=["org:invoices:read"])
    refused = await get(app, "/write", bearer(key, clock, **member))
    assert refused.status_code == 403
    assert refused.json()["detail"]["code"] == "forbidden"
    assert "org:invoices:write" in refused.json()["detail"]["message"]
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert (await get(app, "/write", bearer(key, clock, **ORG))).status_code == 200
    no_org = await get(app, "/invoices", bearer(key, clock))
    assert no_org.status_code == 403
    assert (await get(app, "/invoices")).status_code == 401


@pytest.mark.anyio
async def test_fastapi_has_org_role(key: SigningKey, clock: FakeClock) -> None:
    app = fastapi_app(key, clock)
    ok = await get(app, "/members", bearer(key, clock, **ORG))
    assert ok.json() == {"role": "org:admin"}
    member = await get(app, "/members", bearer(key, clock, **dict(ORG, org_role="org:member")))
    assert member.status_code == 403
    assert member.json()["detail"]["code"] == "forbidden"
    assert (await get(app, "/members", bearer(key, clock))).status_code == 403
    assert (await get(app, "/members")).status_code == 401


def test_dependencies_need_arguments() -> None:
    with pytest.raises(TypeError):
        HasPermission()
    with pytest.raises(TypeError):
        HasOrgRole()
    with pytest.raises(TypeError):
        HasOrgRole("")
