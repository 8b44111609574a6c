"""What every router of the API shares: the JSON answer, the one-route-per-path
dispatcher (so Starlette's 405 and its ``Allow`` header stay right) and the trailing-slash
rule (``/v1/me/`` is ``/v1/me``: some frameworks add the slash when they mount an app)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["Endpoint", "IgnoreTrailingSlash", "json_response", "method_route"]

Endpoint = Callable[[Request], Awaitable[Response]]
"""A route handler."""


def json_response(
    content: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON answer; ``Cache-Control: no-store`` unless ``headers`` say otherwise."""
    return JSONResponse(
        content, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})}
    )


def method_route(
    path: str,
    handlers: Mapping[str, Endpoint],
    *,
    name: str,
    middleware: Sequence[Middleware] | None = None,
) -> Route:
    """One route for ``path`` that dispatches on the method (``HEAD`` goes to ``GET``).

    One route per path keeps Starlette's 405 answer (and its ``Allow`` header) right."""
    table = {method.upper(): handler for method, handler in handlers.items()}
    if "GET" in table:
        table.setdefault("HEAD", table["GET"])

    async def endpoint(request: Request) -> Response:
        return await table[request.method](request)

    return Route(path, endpoint, methods=sorted(table), name=name, middleware=middleware)


class IgnoreTrailingSlash:
    """ASGI middleware: a path ending in one ``/`` is routed as the path without it, with
    no redirect. Litestar's ``asgi(..., is_mount=True)``, for one, hands a mounted app
    ``/v1/me/`` for a request to ``.../v1/me``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and path.endswith("/"):
            root_path = scope.get("root_path", "")
            inside = path[len(root_path) :] if path.startswith(root_path) else path
            if len(inside) > 1:
                scope = {**scope, "path": path[:-1]}
        await self.app(scope, receive, send)
