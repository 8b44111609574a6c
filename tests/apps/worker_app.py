"""An app served by `uvicorn --workers N` in the multi-process tests.

Every setting comes from SESSIONCLAIMS_* environment variables, as in production.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from sessionclaims import Backend, SessionClaimsMiddleware

backend = Backend()


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "pid": os.getpid(),
            "signed_in": request.auth.is_signed_in,
            "reason": request.auth.reason,
            "claims": dict(request.auth.session_claims),
        }
    )


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with backend:
        yield


app = Starlette(
    routes=[Route("/whoami", whoami), Mount("/auth", app=backend.api)],
    middleware=[Middleware(SessionClaimsMiddleware, backend=backend)],
    lifespan=lifespan,
)
