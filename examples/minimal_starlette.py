"""Session claims in a Starlette app: run ``uvicorn minimal_starlette:app``."""

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from sessionclaims import Backend, SessionClaimsMiddleware

backend = Backend(
    "sqlite:///auth.db",  # the secret key comes from SESSIONCLAIMS_SECRET_KEY
    issuer="http://127.0.0.1:8000",
    session_template={"role": "{{user.public_metadata.role || 'member'}}"},
    authorized_parties=["http://127.0.0.1:8000"],
)


async def dashboard(request: Request) -> JSONResponse:
    role = request.auth.session_claims.get("role")  # from the verified token: no database call
    return JSONResponse({"signed_in": request.auth.is_signed_in, "role": role})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with backend:  # opens the store at start-up: a bad database URL stops the app here
        yield


app = Starlette(
    routes=[Route("/dashboard", dashboard), Mount("/auth", app=backend.api)],
    middleware=[Middleware(SessionClaimsMiddleware, backend=backend)],
    lifespan=lifespan,
)
