"""Organizations in a Starlette app: the role in the active organization, from the token."""

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from sessionclaims import Backend, SessionClaimsMiddleware

backend = Backend(
    "sqlite:///auth.db",  # the secret key comes from SESSIONCLAIMS_SECRET_KEY
    issuer="http://127.0.0.1:8000",
    roles={
        "org:admin": ["org:invoices:read", "org:invoices:write"],
        "org:member": ["org:invoices:read"],
    },
    authorized_parties=["http://127.0.0.1:8000"],
)


async def workspace(request: Request) -> JSONResponse:
    auth = request.auth  # the active organization's claims: no database call
    return JSONResponse({"org": auth.org_slug, "role": auth.org_role})


@requires("org:invoices:write")  # a permission of the role in the active organization
async def new_invoice(request: Request) -> JSONResponse:
    return JSONResponse({"created_in": request.auth.org_id}, status_code=201)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with backend:
        yield


app = Starlette(
    routes=[
        Route("/workspace", workspace),
        Route("/invoices", new_invoice, methods=["POST"]),
        Mount("/auth", app=backend.api),
    ],
    middleware=[Middleware(SessionClaimsMiddleware, backend=backend)],
    lifespan=lifespan,
)
