"""Shared test helpers (fixtures live in conftest.py): the injectable clock, THE helper
that builds a backend and THE one that builds an app, a store-call counter, HTTP bits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route

from sessionclaims import Backend, SessionClaimsMiddleware
from sessionclaims.stores import open_store
from sessionclaims.stores.base import Store

from .stores.helpers import POSTGRES_URL, postgres_options, postgres_schema, require_postgres

ISSUER = "https://auth.example.com"
ORIGIN = "https://app.example.com"
TEMPLATE = {
    "role": "{{user.public_metadata.role || 'member'}}",
    "plan": "{{user.public_metadata.plan}}",
    "nickname": "{{user.unsafe_metadata.nickname}}",
}

FEED_TASK_PREFIX = "sessionclaims-feed"

FULL_MODE: Mapping[str, Any] = {
    "issuer": ISSUER,
    "secret_key": "sk_test_freshness",
    "session_template": TEMPLATE,
    "authorized_parties": [ORIGIN],
    "poll_interval": 0.05,
}
"""The settings :func:`make_backend` starts from unless given another ``preset``."""


class FakeClock:
    """An injectable clock (seconds since the epoch). Tests move it; nothing sleeps."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sqlite_url(directory: Path) -> str:
    """A real SQLite file in ``directory``."""
    return "sqlite:///" + str(directory / "auth.db")


class CountingStore:
    """Wraps a real store and records every call with the task that made it.

    Not a mock: every call goes to the real store. The change feed's own polling runs in
    tasks named ``sessionclaims-feed…``; ``request_calls`` leaves those out."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def record(*args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            self.calls.append((name, task.get_name() if task else "-"))
            return attr(*args, **kwargs)

        return record

    @property
    def request_calls(self) -> list[str]:
        return [name for name, task in self.calls if not task.startswith(FEED_TASK_PREFIX)]


def make_backend(
    url: str,
    clock: Callable[[], float],
    *,
    preset: Mapping[str, Any] = FULL_MODE,
    **settings: Any,
) -> Backend:
    """A backend on ``url`` with the settings of ``preset``, overridden by ``settings``."""
    return Backend(url, clock=clock, **{**preset, **settings})


SHARED_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
"""The ``kind`` parameters of :func:`shared_backends`."""


@contextlib.contextmanager
def shared_backends(
    kind: str, directory: Path, clock: Callable[[], float], **settings: Any
) -> Iterator[Callable[..., Backend]]:
    """Makes backends on one database, each one another worker (SQLite file in
    ``directory``) or instance (a fresh PostgreSQL schema, dropped afterwards)."""
    if kind == "sqlite":
        url = sqlite_url(directory)
        yield lambda **more: make_backend(url, clock, **{**settings, **more})
        return
    require_postgres()
    with postgres_schema() as schema:

        def on_postgres(**more: Any) -> Backend:
            store = open_store(POSTGRES_URL, **postgres_options(schema))
            return make_backend(POSTGRES_URL, clock, store=store, **{**settings, **more})

        yield on_postgres


async def whoami(request: Request) -> JSONResponse:
    auth = request.auth
    return JSONResponse(
        {
            "signed_in": auth.is_signed_in,
            "reason": auth.reason,
            "user_id": auth.user_id,
            "claims": dict(auth.session_claims),
        }
    )


async def stream(request: Request) -> StreamingResponse:
    async def body() -> Any:
        for part in (b"a", b"b", b"c"):
            yield part

    response = StreamingResponse(body(), media_type="text/plain")
    response.set_cookie("theme", "dark")
    return response


def make_app(
    backend: Backend | None = None,
    *,
    routes: Sequence[BaseRoute] | None = None,
    api_at: str | None = None,
    **middleware: Any,
) -> Starlette:
    """A host app behind ``SessionClaimsMiddleware``: full mode with ``backend``, else the
    ``middleware`` keywords (verify-only). ``routes`` default to ``/whoami`` and
    ``/stream``; ``api_at`` also mounts ``backend.api`` there."""
    if backend is not None:
        middleware["backend"] = backend
    all_routes = (
        list(routes)
        if routes is not None
        else [
            Route("/whoami", whoami),
            Route("/stream", stream),
        ]
    )
    if api_at is not None:
        assert backend is not None
        all_routes.append(Mount(api_at, app=backend.api))
    return Starlette(
        routes=all_routes, middleware=[Middleware(SessionClaimsMiddleware, **middleware)]
    )


def client(app: Any, base_url: str = ORIGIN) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    """A raw Cookie header (so the test client's cookie jar plays no part)."""
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Run an ASGI app's lifespan as a server does: startup on enter, shutdown on exit.

    A failed startup raises the app's own exception (Starlette re-raises it after sending
    ``lifespan.startup.failed``), so ``pytest.raises(StoreUnavailable)`` can catch it."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = (await outbox.get())["type"]
    if started != "lifespan.startup.complete":
        await task  # raises what the startup raised
        raise AssertionError(f"lifespan startup answered {started} without an exception")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await task
