"""``backend.api``: the HTTP API (docs/http-api.md) as a Starlette app.

Mount it anywhere (``Mount("/auth", app=backend.api)``) or serve it alone. Routes:

* public: ``GET /.well-known/jwks.json``, ``GET /v1/jwks``, ``GET /openapi.json``;
* backend (``Authorization: Bearer <secret key>``): :mod:`.backend_routes`;
* frontend (session token or none): :mod:`.frontend_routes`;
* other services (secret key or a feed key): :mod:`.service_routes`.

Every error, including an unknown path or a wrong method, is answered in the one error
format by :mod:`._errors`.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from ..backend import Backend
from ._errors import EXCEPTION_HANDLERS
from ._routing import IgnoreTrailingSlash
from .backend_routes import BackendAPI, public_routes
from .client_routes import client_session_routes
from .frontend_routes import FrontendAPI
from .openapi import openapi_routes
from .service_routes import ServiceAPI

__all__ = ["build_api"]


def build_api(backend: Backend) -> Starlette:
    """The HTTP API of ``backend`` (what :attr:`Backend.api <sessionclaims.Backend.api>`
    returns). A path with one trailing slash answers as the path without it (no
    redirect)."""
    backend_api = BackendAPI(backend)
    routes: list[BaseRoute] = [
        *public_routes(backend),
        *backend_api.routes(),
        *ServiceAPI(backend, backend_api).routes(),
        *FrontendAPI(backend).routes(),
        *client_session_routes(backend),
    ]
    routes += openapi_routes(lambda: app.routes)
    app = Starlette(
        routes=routes,
        middleware=[Middleware(IgnoreTrailingSlash)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.router.redirect_slashes = False
    return app


Backend.api_builder = build_api
