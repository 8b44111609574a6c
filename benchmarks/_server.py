"""A uvicorn server in its own process, for the scenarios that need a real worker.

    python -m benchmarks._server --app bare
    python -m benchmarks._server --app full --database-url sqlite:////tmp/x.db \\
        --issuer https://auth.example.com --origin https://app.example.com \\
        [--template JSON] [--token-lifetime SECONDS] [--create-session]
    python -m benchmarks._server --app auth --database-url ... --secret-key SK --feed-key FK
    python -m benchmarks._server --app service --auth-url http://127.0.0.1:PORT --feed-key FK

One uvicorn worker on 127.0.0.1, on an ephemeral port. Once the app has started (the
backend open and following the change log, in ``full`` mode) and uvicorn listens, it
prints one line, ``READY <port> <token or ->``, and serves until SIGTERM. Routes: ``GET /`` answers
``ok`` (P5's load), ``GET /claims`` answers the request's auth as JSON (P4's polls).
With ``--create-session`` it creates a user (``role: admin``) and a session first, and
the token on the READY line is that session's.

P8's two apps: ``auth`` mounts ``backend.api`` at ``/auth`` (secret key and feed key
set); ``service`` is a verify-only service following that auth app's change stream, with
``GET /claims`` and ``GET /stats`` (the stream's ``live`` and ``lag``, and every network
call its middleware made).

It imports nothing from ``benchmarks.scenarios`` (that would import every peer).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

__all__ = ["ROUTES", "Ready", "build_app", "main"]


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def _claims(request: Request) -> JSONResponse:
    auth = request.scope.get("auth")
    if auth is None:
        return JSONResponse({"signed_in": False, "reason": "no-middleware", "claims": {}})
    return JSONResponse(
        {"signed_in": auth.is_signed_in, "reason": auth.reason, "claims": dict(auth.session_claims)}
    )


ROUTES = [Route("/", _hello), Route("/claims", _claims)]
"""``GET /`` answers ``ok``; ``GET /claims`` answers the request's auth as JSON."""


@dataclass
class Ready:
    """What the READY line carries besides the port: the session token the app's
    lifespan created (``-`` for none)."""

    token: str = "-"


class _Server(uvicorn.Server):
    """uvicorn, printing ``READY <port> <token>`` once it listens.

    uvicorn runs the app's lifespan start-up first and only then listens on the socket:
    a line printed from the lifespan comes before the port accepts connections, and a
    parent that connects as soon as it reads it can be refused (httpx.ConnectError)."""

    def __init__(self, config: uvicorn.Config, port: int, ready: Ready) -> None:
        super().__init__(config)
        self._port = port
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(f"READY {self._port} {self._ready.token}", flush=True)


def _auth_app(args: argparse.Namespace) -> Starlette:
    from sessionclaims import Backend

    backend = Backend(
        args.database_url,
        issuer=args.issuer,
        secret_key=args.secret_key,
        feed_keys=[args.feed_key],
        session_template=json.loads(args.template),
        authorized_parties=[args.origin],
        token_lifetime=args.token_lifetime,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with backend:
            yield

    return Starlette(routes=[Mount("/auth", app=backend.api)], lifespan=lifespan)


def _service_app(args: argparse.Namespace) -> ASGIApp:
    from sessionclaims import SessionClaimsMiddleware

    async def stats(request: Request) -> JSONResponse:
        stream = middleware.change_stream
        assert stream is not None
        return JSONResponse(
            {
                "live": stream.live,
                "lag": stream.lag,
                "events_applied": stream.events_applied,
                "network_calls": middleware.network_calls,
            }
        )

    inner = Starlette(routes=[*ROUTES, Route("/stats", stats)])
    middleware = SessionClaimsMiddleware(
        inner,
        jwks_url=f"{args.auth_url}/auth/.well-known/jwks.json",
        issuer=args.issuer,
        authorized_parties=[args.origin],
        changes_url=f"{args.auth_url}/auth/v1/changes",
        feed_key=args.feed_key,
    )
    return middleware


def build_app(args: argparse.Namespace, ready: Ready) -> ASGIApp:
    """The app of this worker; its lifespan puts the READY line's token in ``ready``."""
    routes = list(ROUTES)
    if args.app == "auth":
        return _auth_app(args)
    if args.app == "service":
        return _service_app(args)
    if args.app == "bare":
        return Starlette(routes=routes)

    from sessionclaims import Backend, SessionClaimsMiddleware

    backend = Backend(
        args.database_url,
        issuer=args.issuer,
        key_encryption_secret="sessionclaims-bench key-encryption secret",
        session_template=json.loads(args.template),
        authorized_parties=[args.origin],
        token_lifetime=args.token_lifetime,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await backend.ensure_open()
        if args.create_session:
            user = await backend.users.create_user(public_metadata={"role": "admin"})
            ready.token = (await backend.sessions.create_session(user.id)).token
        try:
            yield
        finally:
            await backend.aclose()

    return Starlette(
        routes=routes,
        middleware=[Middleware(SessionClaimsMiddleware, backend=backend)],
        lifespan=lifespan,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._server")
    parser.add_argument("--app", choices=("bare", "full", "auth", "service"), required=True)
    parser.add_argument("--database-url", default="sqlite://")
    parser.add_argument("--issuer", default="https://auth.example.com")
    parser.add_argument("--origin", default="https://app.example.com")
    parser.add_argument("--template", default='{"role": "{{user.public_metadata.role}}"}')
    parser.add_argument("--token-lifetime", type=int, default=60)
    parser.add_argument("--create-session", action="store_true")
    parser.add_argument("--secret-key")
    parser.add_argument("--feed-key")
    parser.add_argument("--auth-url")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only
    # when the listening socket says it is TCP. With proto 0 Nagle stays on, and a
    # response written in two sends (headers, body) waits for the client's delayed ACK:
    # ~40 ms per request on Linux loopback.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        "workers": 1,
        "timeout_graceful_shutdown": 1,  # P8's event streams never end by themselves
    }
    ready = Ready()
    server = _Server(uvicorn.Config(build_app(args, ready), **config), port, ready)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # pragma: no cover - interactive use
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
