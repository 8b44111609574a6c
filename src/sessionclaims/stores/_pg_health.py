"""Whether the PostgreSQL server answers: the PostgreSQL store's circuit breaker.

While the server is known to be unreachable, store calls fail at once with
:class:`~sessionclaims.StoreUnavailable` instead of waiting for the pool's timeout, and
one background task tries a plain connection every ``interval`` seconds. When one
succeeds, ``on_back`` runs (the store builds a fresh pool, whose reconnection backoff
starts from zero) and calls go through again.

The store is marked unreachable only after a connection attempt of its own fails, so a
single dead connection (a backend terminated by an administrator) or a busy pool never
trips it: :meth:`Health.answers` probes first and trusts what the server says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import psycopg

from .._errors import StoreUnavailable

logger = logging.getLogger("sessionclaims.stores.postgres")

PROBE_INTERVAL = 0.1
"""Seconds between two connection attempts while the server is unreachable; also how
long a result of :meth:`Health.answers` is reused."""


class Health:
    """Reachability of one store's server, as last seen, and the probes that update it.

    ``probe`` connects once and closes (raising on failure); ``timeout`` bounds it.
    ``refused`` counts calls refused while unreachable (no pool wait), ``probes`` the
    connection attempts made to find out.
    """

    def __init__(
        self,
        probe: Callable[[], Awaitable[None]],
        on_back: Callable[[], Awaitable[None]],
        *,
        timeout: float,
        where: str,
        interval: float = PROBE_INTERVAL,
    ) -> None:
        self._probe = probe
        self._on_back = on_back
        self._timeout = timeout
        self._where = where
        self.interval = interval
        self.down_since: float | None = None
        """``time.monotonic()`` when the server was found unreachable; ``None`` while up."""
        self.refused = 0
        self.probes = 0
        self._reason = ""
        self._answered_at = -float("inf")
        self._probing: asyncio.Future[bool] | None = None
        self._recovering: asyncio.Task[None] | None = None

    @property
    def reachable(self) -> bool:
        """False from a failed probe until the server answers again."""
        return self.down_since is None

    def refuse_if_down(self) -> None:
        """Raise :class:`~sessionclaims.StoreUnavailable` at once while unreachable."""
        if self.down_since is not None:
            self.refused += 1
            raise self.unreachable()

    def unreachable(self) -> StoreUnavailable:
        """The error a call gets while the server is unreachable."""
        since = 0.0 if self.down_since is None else time.monotonic() - self.down_since
        return StoreUnavailable(
            f"the store {self._where} is unreachable (for {since:.1f} s: {self._reason});"
            " not waiting for a connection"
        )

    async def answers(self, *, reuse: float | None = None) -> bool:
        """Whether the server accepts a connection now. One probe at a time; a success
        is reused for ``reuse`` seconds (default ``interval``); a failure marks the
        store unreachable."""
        if self.down_since is not None:
            return False
        if time.monotonic() - self._answered_at < (self.interval if reuse is None else reuse):
            return True
        if self._probing is None:
            self._probing = asyncio.ensure_future(self._probe_once())
        return await asyncio.shield(self._probing)

    async def close(self) -> None:
        """Stop probing (the store is closing)."""
        tasks = [t for t in (self._probing, self._recovering) if t is not None]
        self._probing = self._recovering = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _attempt(self) -> BaseException | None:
        self.probes += 1
        try:
            async with asyncio.timeout(self._timeout):
                await self._probe()
        except (psycopg.Error, OSError, TimeoutError) as exc:
            return exc
        return None

    async def _probe_once(self) -> bool:
        try:
            failure = await self._attempt()
            if failure is None:
                self._answered_at = time.monotonic()
                return True
            self._mark_down(failure)
            return False
        finally:
            self._probing = None

    def _mark_down(self, failure: BaseException) -> None:
        if self.down_since is not None:
            return
        self.down_since = time.monotonic()
        self._reason = str(failure).strip().splitlines()[0] if str(failure).strip() else ""
        self._reason = self._reason or type(failure).__name__
        logger.warning(
            "store %s unreachable (%s): refusing calls until it answers", self._where, self._reason
        )
        self._recovering = asyncio.ensure_future(self._recover())

    async def _recover(self) -> None:
        assert self.down_since is not None
        while True:
            await asyncio.sleep(self.interval)
            if await self._attempt() is not None:
                continue
            try:
                await self._on_back()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                logger.info("store %s answered but is not ready yet: %s", self._where, exc)
                continue
            logger.warning(
                "store %s reachable again after %.1f s",
                self._where,
                time.monotonic() - self.down_since,
            )
            self._answered_at = time.monotonic()
            self.down_since = None
            self._recovering = None
            return
