"""P7 the hot path makes no store call: counted, not timed.

A token is verified once (cold), then the same token is sent on ``counted_requests``
(10,000) more requests through the middleware, in process; every one of them must be
signed in, and the counters must not move.

Today this runs in **verify-only mode**: the middleware gets ``jwks_url=`` served by an
``httpx.MockTransport`` (passed as ``http_client=``); the counters are
``RemoteKeySet.fetch_count`` and the requests the transport saw. The expected count is 0.

Full mode (a ``Backend``) plugs in through :func:`full_mode_setup`: give it a backend
factory and set :data:`FULL_MODE_BACKEND_FACTORY` (or call :func:`count_hot_requests`
with it) and the same loop counts every call made to the backend's store, through
:class:`CountingStore`. See benchmarks/README.md.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from sessionclaims.auth import Auth
from sessionclaims.middleware import SessionClaimsMiddleware

from ..harness import Config, discard_send, fresh_scope, http_scope, noop_receive
from ..report import Row
from ._base import Scenario
from ._fixtures import ISSUER, KeyMaterial, starlette_app

__all__ = [
    "FULL_MODE_BACKEND_FACTORY",
    "SCENARIO",
    "CountingStore",
    "HotPathSetup",
    "count_hot_requests",
    "full_mode_setup",
    "run",
    "verify_only_setup",
]

JWKS_URL = "https://auth.example.com/.well-known/jwks.json"


@dataclass
class HotPathSetup:
    """An app behind ``SessionClaimsMiddleware``, a valid token, and what to count."""

    mode: str
    app: Any
    token: str
    counters: Mapping[str, Callable[[], int]]
    """Name (as printed) -> current value; P7 wants each to stay still."""
    aclose: Callable[[], Awaitable[None]] | None = None
    details: Callable[[], dict[str, Any]] = field(default=lambda: {})


SetupFactory = Callable[[], Awaitable[HotPathSetup]]


# --- verify-only mode (what runs today) -------------------------------------------------


async def verify_only_setup() -> HotPathSetup:
    """``jwks_url`` served by a MockTransport that counts what reaches it."""
    km = KeyMaterial.generate("ES256")
    transport_hits = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        transport_hits[0] += 1
        return httpx.Response(200, json=km.jwks, headers={"Cache-Control": "public, max-age=300"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    middleware = SessionClaimsMiddleware(
        starlette_app(), jwks_url=JWKS_URL, issuer=ISSUER, http_client=client
    )
    remote = middleware.authenticator.keys  # type: ignore[attr-defined]
    return HotPathSetup(
        mode="verify-only (jwks_url)",
        app=middleware,
        token=km.token(),
        counters={
            "JWKS fetches (RemoteKeySet.fetch_count)": lambda: int(remote.fetch_count),
            "HTTP requests reaching the transport": lambda: transport_hits[0],
        },
        aclose=client.aclose,
    )


# --- full mode (the hook) -----------------------------------------------------------------


class CountingStore:
    """Wraps a store and counts every method call made on it, per method name.

    Attribute reads pass through; callables are wrapped (coroutine functions stay
    coroutine functions), so it stands in for any ``Store``.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: collections.Counter[str] = collections.Counter()

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value) or name.startswith("__"):
            return value
        calls = self.calls
        if inspect.iscoroutinefunction(value):

            async def counted_async(*args: Any, **kwargs: Any) -> Any:
                calls[name] += 1
                return await value(*args, **kwargs)

            return counted_async

        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return value(*args, **kwargs)

        return counted


def full_mode_setup(
    backend_factory: Callable[[CountingStore], Any],
    *,
    inner_store: Callable[[], Any] | None = None,
) -> SetupFactory:
    """THE HOOK for full mode: count store calls instead of JWKS fetches.

    ``backend_factory(store)`` must build a ``Backend`` on the store it is given (a
    :class:`CountingStore` around ``inner_store()``, an in-memory SQLite store by
    default), e.g.::

        full_mode_setup(lambda store: Backend(store=store, issuer=ISSUER,
                                              session_template={"role": "admin"}))

    Only the public API is used after that: ``ensure_open``, ``users.create_user``,
    ``sessions.create_session`` (its ``.token`` is the hot token), and
    ``SessionClaimsMiddleware(app, backend=backend)``.
    """

    async def setup() -> HotPathSetup:
        if inner_store is None:
            from sessionclaims.stores import open_store

            store = CountingStore(open_store("sqlite://"))
        else:
            store = CountingStore(inner_store())
        backend = backend_factory(store)
        await backend.ensure_open()
        user = await backend.users.create_user(public_metadata={"role": "admin"})
        new = await backend.sessions.create_session(user.id)
        return HotPathSetup(
            mode="full (Backend)",
            app=SessionClaimsMiddleware(starlette_app(), backend=backend),
            token=new.token,
            counters={"store calls": lambda: store.total},
            aclose=backend.aclose,
            details=lambda: {"store_calls_by_method": dict(store.calls)},
        )

    return setup


FULL_MODE_BACKEND_FACTORY: Callable[[CountingStore], Any] | None = None
"""Set to a backend factory (see :func:`full_mode_setup`) to run P7 in full mode."""


# --- the count ------------------------------------------------------------------------------


@dataclass
class HotPathCount:
    mode: str
    requests: int
    signed_in: int
    deltas: dict[str, int]
    details: dict[str, Any]


def _bearer_scope(token: str) -> dict[str, Any]:
    return http_scope("/", [(b"authorization", f"Bearer {token}".encode("ascii"))])


async def count_hot_requests(setup_factory: SetupFactory, requests: int) -> HotPathCount:
    """One cold request, then ``requests`` hot ones; how far each counter moved."""
    setup = await setup_factory()
    try:
        scope = _bearer_scope(setup.token)
        first = fresh_scope(scope)
        await setup.app(first, noop_receive, discard_send)
        if not (isinstance(first.get("auth"), Auth) and first["auth"].is_signed_in):
            raise RuntimeError(f"the first (cold) request was not signed in: {first.get('auth')!r}")
        before = {name: read() for name, read in setup.counters.items()}
        signed_in = 0
        app = setup.app
        for _ in range(requests):
            call: MutableMapping[str, Any] = fresh_scope(scope)
            await app(call, noop_receive, discard_send)
            signed_in += bool(call["auth"].is_signed_in)
        deltas = {name: read() - before[name] for name, read in setup.counters.items()}
        return HotPathCount(setup.mode, requests, signed_in, deltas, setup.details())
    finally:
        if setup.aclose is not None:
            await setup.aclose()


def run(config: Config) -> list[Row]:
    factory: SetupFactory = (
        full_mode_setup(FULL_MODE_BACKEND_FACTORY)
        if FULL_MODE_BACKEND_FACTORY is not None
        else verify_only_setup
    )
    count = asyncio.run(count_hot_requests(factory, config.counted_requests))
    all_in = count.signed_in == count.requests
    rows = []
    for name, delta in count.deltas.items():
        rows.append(
            Row(
                scenario="P7",
                title="hot path store calls",
                peer=f"sessionclaims {count.mode}: {name}",
                ours=True,
                value=delta,
                unit="calls",
                ratio=float(delta),
                ratio_text=f"{delta} over {count.requests:,} hot requests",
                target="0 (counted, not timed)",
                ok=delta == 0 and all_in,
                note="" if all_in else f"only {count.signed_in} signed in",
                extra={
                    "mode": count.mode,
                    "requests": count.requests,
                    "signed_in": count.signed_in,
                    **count.details,
                },
            )
        )
    return rows


SCENARIO = Scenario(
    id="P7",
    title="hot path store calls",
    run=run,
    description="counted: no JWKS fetch (verify-only) / store call (full mode) when hot",
)
