"""PostgreSQL ``LISTEN`` with reconnection: the push half of the change feed.

Two tasks cooperate. The reader keeps one dedicated connection listening and sets a
"wake" event on every notification, after every (re)connection and after every
liveness check; the deliverer waits for the event and awaits ``on_change``. Calls never
overlap, and a burst of notifications that arrives during one call costs one more call,
not one per notification. ``on_change`` reads the change log by sequence number, so a
wake-up too many is harmless and one too few is impossible: every notification, and
every stretch of time in which one could have been lost, is followed by a call.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import sql

from .._errors import StoreUnavailable

logger = logging.getLogger("sessionclaims.stores.postgres")

_FIRST_RETRY = 0.05


def _backoff(failures: int, ceiling: float) -> float:
    """Exponential backoff with jitter: ~0.05 s, 0.1 s, 0.2 s, ... up to ``ceiling``."""
    delay = min(ceiling, _FIRST_RETRY * 2.0 ** max(0, failures - 1))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret


async def listen_forever(
    *,
    connect: Callable[[], Awaitable[psycopg.AsyncConnection[Any]]],
    channel: str,
    on_change: Callable[[], Awaitable[None]],
    backoff_max: float,
    check_interval: float,
    where: str,
) -> None:
    """Listen on ``channel`` and call ``on_change`` until cancelled (see module doc)."""
    wake = asyncio.Event()
    reader = asyncio.create_task(_read(connect, channel, wake, backoff_max, check_interval, where))
    deliverer = asyncio.create_task(_deliver(wake, on_change, backoff_max))
    try:
        # Neither task returns; if one fails unexpectedly, its error ends the listener
        # rather than leaving a half that no longer works.
        done, _ = await asyncio.wait({reader, deliverer}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        reader.cancel()
        deliverer.cancel()
        await asyncio.gather(reader, deliverer, return_exceptions=True)


async def _deliver(
    wake: asyncio.Event, on_change: Callable[[], Awaitable[None]], backoff_max: float
) -> None:
    failures = 0
    while True:
        await wake.wait()
        wake.clear()
        try:
            await on_change()
        except Exception as exc:
            failures += 1
            delay = _backoff(failures, backoff_max)
            logger.warning(
                "change callback failed (%s); calling it again in %.2f s",
                exc,
                delay,
                exc_info=not isinstance(exc, StoreUnavailable),
            )
            await asyncio.sleep(delay)
            wake.set()
        else:
            failures = 0


async def _read(
    connect: Callable[[], Awaitable[psycopg.AsyncConnection[Any]]],
    channel: str,
    wake: asyncio.Event,
    backoff_max: float,
    check_interval: float,
    where: str,
) -> None:
    listen = sql.SQL("LISTEN {}").format(sql.Identifier(channel))
    failures = 0
    while True:
        try:
            conn = await connect()
        except psycopg.Error as exc:
            failures += 1
            delay = _backoff(failures, backoff_max)
            logger.warning("cannot listen on %s (%s); retrying in %.2f s", where, exc, delay)
            await asyncio.sleep(delay)
            continue
        try:
            async with conn:
                await conn.execute(listen)
                if failures:
                    logger.info("listening on %s again after %d failure(s)", where, failures)
                failures = 0
                wake.set()  # catch up on whatever was written while we were not listening
                while True:
                    async for _ in conn.notifies(timeout=check_interval):
                        wake.set()
                    # Quiet for a while: make sure the connection is still alive (a dead
                    # peer behind a silent network would otherwise go unnoticed), then
                    # wake the caller, in case a notification arrived during the check.
                    await asyncio.wait_for(conn.execute("SELECT 1"), timeout=check_interval)
                    wake.set()
        except (psycopg.Error, TimeoutError) as exc:
            failures += 1
            delay = _backoff(failures, backoff_max)
            logger.warning(
                "lost the listening connection to %s (%s); reconnecting in %.2f s",
                where,
                str(exc).strip() or type(exc).__name__,
                delay,
            )
            await asyncio.sleep(delay)
