"""A service that only verifies session tokens: it trusts the auth server's JWKS URL.

It has no database and no secret key. It fetches the public keys from the auth server
(cached; refetched when an unknown key id shows up) and reads claims from each request's
token. It cannot reissue: when the auth server changes someone's role, this service sees
the new role once the browser carries a reissued token (at the latest when the old one
expires, 60 s by default).

Configuration (environment variables, with defaults for an auth server on port 8000 that
mounts its API at /auth, like ``minimal_starlette.py``):

* ``SESSIONCLAIMS_JWKS_URL``  http://127.0.0.1:8000/auth/.well-known/jwks.json
* ``SESSIONCLAIMS_ISSUER``    http://127.0.0.1:8000 (the exact ``iss`` of the tokens)
* ``SESSIONCLAIMS_AUTHORIZED_PARTIES``  http://127.0.0.1:8000 (comma-separated)

Run: ``uvicorn verify_only_service:app --port 8001``.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionclaims import SessionClaimsMiddleware

JWKS_URL = os.environ.get(
    "SESSIONCLAIMS_JWKS_URL", "http://127.0.0.1:8000/auth/.well-known/jwks.json"
)
ISSUER = os.environ.get("SESSIONCLAIMS_ISSUER", "http://127.0.0.1:8000")
AUTHORIZED_PARTIES = [
    party.strip()
    for party in os.environ.get("SESSIONCLAIMS_AUTHORIZED_PARTIES", ISSUER).split(",")
    if party.strip()
]

jwks_http = httpx.AsyncClient(timeout=5.0)  # fetches the JWKS; closed at shutdown


async def whoami(request: Request) -> JSONResponse:
    auth = request.auth
    if not auth.is_signed_in:
        return JSONResponse({"signed_in": False, "reason": auth.reason}, status_code=401)
    return JSONResponse(
        {"signed_in": True, "user_id": auth.user_id, "role": auth.session_claims.get("role")}
    )


@requires("admin")  # 403 unless the token's role claim is "admin"
async def admin_stats(request: Request) -> JSONResponse:
    return JSONResponse({"stats": "for admins", "user_id": request.auth.user_id})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await jwks_http.aclose()


app = Starlette(
    routes=[Route("/whoami", whoami), Route("/admin/stats", admin_stats)],
    middleware=[
        Middleware(
            SessionClaimsMiddleware,
            jwks_url=JWKS_URL,
            issuer=ISSUER,
            authorized_parties=AUTHORIZED_PARTIES,
            http_client=jwks_http,
        )
    ],
    lifespan=lifespan,
)
