"""``serve`` (the HTTP API standalone) and ``demo`` (the example app), both on uvicorn.

The listening socket is bound before uvicorn starts, so a busy port is one clear error
line and ``--port 0`` picks a free port (the printed URL shows which). ``serve`` opens the
backend before the server accepts connections and closes it in the server's lifespan
shutdown (so after a graceful SIGINT / SIGTERM too).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import inspect
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

import sessionclaims

from ..backend import Backend
from ._common import CLIError, Output, make_backend, shown_url

__all__ = ["demo", "find_demo", "serve"]

_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]

DEMO_PATH = Path("examples", "demo", "app.py")
"""Where the demo lives, relative to a source checkout."""
CHECKOUT_ROOT = Path(sessionclaims.__file__).resolve().parents[2]
"""The source checkout this package runs from (meaningful for an editable install)."""


class _ServedAPI:
    """``backend.api`` plus the ASGI lifespan: the backend is closed on shutdown."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.api = backend.api

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "lifespan":
            await self.api(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.backend.ensure_open()
                except Exception as exc:  # reported by uvicorn, which then exits
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.backend.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise CLIError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


_GRACEFUL_SHUTDOWN = 5


async def _run_server(app: Any, sock: socket.socket, log_level: str) -> None:
    # A change-stream subscriber never ends its response: give shutdown a bound.
    config = uvicorn.Config(
        app,
        interface="asgi3",
        lifespan="on",
        log_level=log_level,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN,
    )
    server = uvicorn.Server(config)
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits when the app's startup fails
        raise CLIError("the server did not start (see the log above)") from exc
    finally:
        sock.close()


# -- serve ------------------------------------------------------------------------------
def serve(args: argparse.Namespace, out: Output) -> int:
    """``serve [--host HOST] [--port PORT]``: the HTTP API standalone."""
    sock = _bind(args.host, args.port)
    url = _url(sock)

    async def run() -> None:
        backend = make_backend(args)
        try:
            await backend.ensure_open()  # store errors are reported before serving
            settings = backend.settings
            out.result(
                {
                    "url": url,
                    "jwks_url": f"{url}/.well-known/jwks.json",
                    "openapi_url": f"{url}/openapi.json",
                    "database_url": shown_url(settings.database_url),
                    "issuer": settings.issuer,
                },
                lambda: _serve_banner(out, url, backend),
            )
            sys.stdout.flush()
            await _run_server(_ServedAPI(backend), sock, args.log_level)
        finally:
            if backend.is_open:
                await backend.aclose()

    try:
        asyncio.run(run())
    finally:
        sock.close()
    return 0


def _serve_banner(out: Output, url: str, backend: Backend) -> None:
    settings = backend.settings
    out.line(f"sessionclaims API on {url}  (Press CTRL+C to quit)")
    out.line(f"  JWKS     {url}/.well-known/jwks.json")
    out.line(f"  OpenAPI  {url}/openapi.json")
    out.line(f"  store    {shown_url(settings.database_url)}")
    out.line(f"  issuer   {settings.issuer}")
    if not settings.secret_key:
        out.line(
            "  note: no secret key is configured (SESSIONCLAIMS_SECRET_KEY), so the "
            "backend API (/v1/users, /v1/sessions...) refuses every request"
        )


# -- demo -------------------------------------------------------------------------------
def find_demo() -> Path | None:
    """``examples/demo/app.py`` under the current directory, else under the checkout."""
    for root in (Path.cwd(), CHECKOUT_ROOT):
        candidate = root / DEMO_PATH
        if candidate.is_file():
            return candidate
    return None


def _load_create_app(path: Path) -> Callable[..., Any]:
    name = "sessionclaims_demo_app"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CLIError(f"cannot load the demo from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # the demo may import its sibling modules
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        sys.path.remove(str(path.parent))
        raise CLIError(f"cannot load the demo from {path}: {type(exc).__name__}: {exc}") from exc
    create_app = getattr(module, "create_app", None)
    if not callable(create_app):
        raise CLIError(f"{path} defines no create_app(database_url) function")
    return create_app  # type: ignore[no-any-return]


def _create_demo_app(
    create_app: Callable[..., Any], database_url: str, url: str, *, fresh: bool = False
) -> Any:
    """``create_app(database_url, origin=url)``; ``origin`` (the demo's issuer and only
    authorized party) is passed when the demo's ``create_app`` takes it, and
    ``fresh=True`` (start over) when asked for."""
    parameters: Mapping[str, inspect.Parameter]
    try:
        parameters = inspect.signature(create_app).parameters
    except (TypeError, ValueError):
        parameters = {}
    extra: dict[str, Any] = {"origin": url} if "origin" in parameters else {}
    if fresh:
        if "fresh" not in parameters:
            raise CLIError("this demo cannot start over: its create_app takes no fresh=")
        extra["fresh"] = True
    try:
        return create_app(database_url, **extra)
    except Exception as exc:
        raise CLIError(f"the demo app failed to start: {type(exc).__name__}: {exc}") from exc


def demo(args: argparse.Namespace, out: Output) -> int:
    """``demo [--port PORT] [--fresh]``: the example app, on ``./sessionclaims-demo.db`` by
    default; ``--fresh`` starts it over with its seeded people."""
    path = find_demo()
    if path is None:
        raise CLIError(
            f"cannot find the demo app ({DEMO_PATH.as_posix()}): the demo ships with the "
            "source checkout of sessionclaims, not with the installed package. Clone the "
            "repository and run `sessionclaims demo` from its directory"
        )
    database_url = args.database_url or (
        "sqlite:///" + str(Path("sessionclaims-demo.db").resolve())
    )
    first_run = _is_new_sqlite_file(database_url)
    create_app = _load_create_app(path)
    sock = _bind("127.0.0.1", args.port)
    url = _url(sock)
    try:
        app = _create_demo_app(create_app, database_url, url, fresh=args.fresh)
    except BaseException:
        sock.close()
        raise
    out.result(
        {
            "url": url,
            "database_url": shown_url(database_url),
            "demo": str(path),
            "fresh": args.fresh,
        },
        lambda: _demo_banner(out, url, database_url, fresh=args.fresh, first_run=first_run),
    )
    sys.stdout.flush()
    try:
        asyncio.run(_run_server(app, sock, args.log_level))
    finally:
        sock.close()
    return 0


def _is_new_sqlite_file(database_url: str) -> bool:
    """Whether ``database_url`` names an SQLite file that does not exist yet."""
    if not database_url.startswith("sqlite:///"):
        return False
    return not Path(database_url.removeprefix("sqlite:///").partition("?")[0]).exists()


def _demo_banner(
    out: Output, url: str, database_url: str, *, fresh: bool, first_run: bool = False
) -> None:
    out.line("sessionclaims demo is running.")
    out.line(f"Open {url} in your browser  (Press CTRL+C to quit)")
    out.line(f"  store  {shown_url(database_url)}")
    if fresh:
        out.line("  data   starting over: the demo people are seeded anew")
    elif first_run:
        out.line("  data   a new database, seeded with the demo people (kept between runs)")
    else:
        out.line("  data   kept from earlier runs (`sessionclaims demo --fresh` starts over)")
