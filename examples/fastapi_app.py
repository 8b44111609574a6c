"""FastAPI with sessionclaims: ``SignedIn()`` and ``HasClaims(role="admin")`` dependencies.

Run: ``SESSIONCLAIMS_SECRET_KEY=sk_test_... uvicorn fastapi_app:app`` (needs the
``fastapi`` extra). Signed-out requests get 401, signed-in ones without the claims 403,
both as JSON with a ``WWW-Authenticate`` header.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI

from sessionclaims import Auth, Backend, SessionClaimsMiddleware
from sessionclaims.fastapi import HasClaims, SignedIn

backend = Backend(
    "sqlite:///auth.db",  # the secret key comes from SESSIONCLAIMS_SECRET_KEY
    issuer="http://127.0.0.1:8000",
    session_template={
        "role": "{{user.public_metadata.role || 'member'}}",
        "plan": "{{user.public_metadata.plan || 'free'}}",
    },
    authorized_parties=["http://127.0.0.1:8000"],
)

SignedInAuth = Annotated[Auth, Depends(SignedIn())]
AdminAuth = Annotated[Auth, Depends(HasClaims(role="admin"))]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with backend:  # open the store at start-up, close it at shutdown
        yield


app = FastAPI(title="sessionclaims + FastAPI", lifespan=lifespan)
app.add_middleware(SessionClaimsMiddleware, backend=backend)
app.mount("/auth", backend.api)  # /auth/v1/users (secret key), /auth/v1/me (session)...


@app.get("/me")
async def me(auth: SignedInAuth) -> dict[str, Any]:
    # Claims of the verified session token: no database call.
    claims = auth.session_claims
    return {"user_id": auth.user_id, "role": claims.get("role"), "plan": claims.get("plan")}


@app.get("/admin/report")
async def admin_report(auth: AdminAuth) -> dict[str, Any]:
    return {"report": "only admins see this", "for": auth.user_id}
