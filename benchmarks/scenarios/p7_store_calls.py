"""P7 the hot path makes no store call: counted, not timed.

A token is verified once (cold), then the same token is sent on ``counted_requests``
(10,000) more requests through the middleware, in process; every one of them must be
signed in, and the counters must not move.

It runs twice:

* **full mode** (a ``Backend``, through :func:`full_mode_setup` with
  :data:`FULL_MODE_BACKEND_FACTORY`): every call made to the backend's store is counted
  by :class:`CountingStore`, except calls made by tasks named ``sessionclaims-feed…``:
  those are the background change feed polling the change log, not the request path;
  they are counted apart (``feed_calls_by_method`` in the JSON) and said so in the row;
* **verify-only mode**: the middleware gets ``jwks_url=`` served by an
  ``httpx.MockTransport`` (passed as ``http_client=``); the counters are
  ``RemoteKeySet.fetch_count`` and the requests the transport saw.

The expected count is 0 in both. See benchmarks/README.md.
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
from ._full import ROLE_TEMPLATE

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
FEED_TASK_PREFIX = "sessionclaims-feed"
"""The change feed's background tasks are named ``sessionclaims-feed-poll`` / ``-listen``."""


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


def _in_feed_task() -> bool:
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop: a plain call
        return False
    return task is not None and task.get_name().startswith(FEED_TASK_PREFIX)


class CountingStore:
    """Wraps a store and counts every method call made on it, per method name.

    Attribute reads pass through; callables are wrapped (coroutine functions stay
    coroutine functions), so it stands in for any ``Store``. Calls made by the change
    feed's background tasks (named ``sessionclaims-feed…``) are counted apart, in
    :attr:`feed_calls`: they are not made by a request.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: collections.Counter[str] = collections.Counter()
        """Calls made outside the change feed's tasks (requests, set-up)."""
        self.feed_calls: collections.Counter[str] = collections.Counter()
        """Calls made by the change feed's background tasks."""

    @property
    def total(self) -> int:
        """Calls made outside the change feed's tasks."""
        return sum(self.calls.values())

    def _count(self, name: str) -> None:
        (self.feed_calls if _in_feed_task() else self.calls)[name] += 1

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value) or name.startswith("__"):
            return value
        count = self._count
        if inspect.iscoroutinefunction(value):

            async def counted_async(*args: Any, **kwargs: Any) -> Any:
                count(name)
                return await value(*args, **kwargs)

            return counted_async

        def counted(*args: Any, **kwargs: Any) -> Any:
            count(name)
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
            details=lambda: {
                "store_calls_by_method": dict(store.calls),
                "feed_calls_by_method": dict(store.feed_calls),
                "excluded": (
                    f"{sum(store.feed_calls.values())} background change-feed calls "
                    f"(tasks named {FEED_TASK_PREFIX}…) not counted"
                ),
            },
        )

    return setup


def _full_mode_backend(store: CountingStore) -> Any:
    from sessionclaims import Backend

    return Backend(store=store, issuer=ISSUER, session_template=ROLE_TEMPLATE)


FULL_MODE_BACKEND_FACTORY: Callable[[CountingStore], Any] | None = _full_mode_backend
"""The backend factory P7's full-mode run uses (see :func:`full_mode_setup`); ``None``
runs verify-only mode alone."""


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
        for i in range(requests):
            if i % 100 == 0:
                # Let background tasks run between requests, as a server's loop would
                # (the change feed's poller may read the change log here: not counted).
                await asyncio.sleep(0)
            call: MutableMapping[str, Any] = fresh_scope(scope)
            await app(call, noop_receive, discard_send)
            signed_in += bool(call["auth"].is_signed_in)
        deltas = {name: read() - before[name] for name, read in setup.counters.items()}
        return HotPathCount(setup.mode, requests, signed_in, deltas, setup.details())
    finally:
        if setup.aclose is not None:
            await setup.aclose()


def run(config: Config) -> list[Row]:
    factories: list[SetupFactory] = [verify_only_setup]
    if FULL_MODE_BACKEND_FACTORY is not None:
        factories.insert(0, full_mode_setup(FULL_MODE_BACKEND_FACTORY))
    rows: list[Row] = []
    for factory in factories:
        count = asyncio.run(count_hot_requests(factory, config.counted_requests))
        rows.extend(_rows(count))
    return rows


def _rows(count: HotPathCount) -> list[Row]:
    all_in = count.signed_in == count.requests
    excluded = count.details.get("excluded")
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
                ratio_text=f"{delta} over {count.requests:,} hot requests"
                + (f" ({excluded})" if excluded else ""),
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
