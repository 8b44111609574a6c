"""The change feed: how a process learns of writes made by other processes.

It reads the store's change log by sequence number and feeds the freshness map (users,
sessions, organizations and memberships). SQLite
stores are polled every ``poll_interval`` (≤ 1 s, the freshness bound); stores that push
notifications (PostgreSQL LISTEN/NOTIFY) also wake it at once, and after a lost
connection it catches up from the log by sequence number. Notifications are an
optimisation; the log is the truth. Now and then (every minute) old log entries are
pruned and the ``maintenance`` callback runs (the backend deletes retired signing keys).
Each entry read is also handed to ``publish`` (the change stream of ``/v1/changes``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .._errors import StoreUnavailable
from ..freshness import Freshness
from ..stores.base import ChangeListener, ChangeRecord, Store

__all__ = ["ChangeFeed"]

logger = logging.getLogger("sessionclaims.feed")

_PRUNE_EVERY = 60.0
_STOP_TIMEOUT = 5.0


class ChangeFeed:
    """Follows the change log of ``store`` into ``freshness``."""

    def __init__(
        self,
        store: Store,
        freshness: Freshness,
        *,
        poll_interval: float,
        clock: Callable[[], float],
        on_keys_changed: Callable[[], Awaitable[None]],
        maintenance: Callable[[], Awaitable[object]] | None = None,
        publish: Callable[[ChangeRecord], None] | None = None,
    ) -> None:
        self._store = store
        self._freshness = freshness
        self._poll_interval = poll_interval
        self._clock = clock
        self._on_keys_changed = on_keys_changed
        self._maintenance = maintenance
        self._publish = publish
        self._last_seq = 0
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._last_prune = 0.0
        self._stopping = False
        self.healthy = True
        """False while the store cannot be read; the view is then possibly behind."""

    @property
    def last_seq(self) -> int:
        """The newest change this process has applied."""
        return self._last_seq

    async def start(self) -> None:
        """Catch up on the changes within the freshness horizon, then follow the log."""
        self._stopping = False
        horizon_ms = int((self._clock() - self._freshness.horizon) * 1000)
        await self._catch_up(min_created_at=horizon_ms)
        self._tasks.append(
            asyncio.create_task(self._poll_forever(), name="sessionclaims-feed-poll")
        )
        if isinstance(self._store, ChangeListener) and hasattr(self._store, "listen"):
            listen = self._store.listen(self.poll_once)
            self._tasks.append(asyncio.create_task(listen, name="sessionclaims-feed-listen"))

    async def stop(self) -> None:
        """Stop following. Bounded: a task that swallows its cancellation (a driver
        waiting on a connection may) still ends at its next loop, and is not waited on
        past ``_STOP_TIMEOUT``."""
        self._stopping = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=_STOP_TIMEOUT)
            for task in pending:
                logger.warning("change feed: task %s did not stop in time", task.get_name())
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                logger.debug("change feed task ended with %r", task.exception())

    async def poll_once(self) -> None:
        """Apply every change written since the last one applied."""
        await self._catch_up(min_created_at=None)

    async def _catch_up(self, *, min_created_at: int | None) -> None:
        async with self._lock:
            keys_changed = False
            while True:
                changes = await self._store.changes_since(self._last_seq, limit=1000)
                for change in changes:
                    if min_created_at is None or change.created_at >= min_created_at:
                        keys_changed |= self._apply(change)
                    if change.seq > self._last_seq:
                        self._last_seq = change.seq
                        if self._publish is not None:
                            self._publish(change)
                if len(changes) < 1000:
                    break
            if keys_changed:
                await self._on_keys_changed()

    def _apply(self, change: ChangeRecord) -> bool:
        at = change.created_at / 1000
        if change.kind == "user" and change.user_id is not None and change.version is not None:
            self._freshness.user_changed(change.user_id, change.version, at)
        elif change.kind == "user_deleted" and change.user_id is not None:
            self._freshness.user_deleted(change.user_id, at)
        elif change.kind == "session" and change.session_id is not None:
            self._freshness.session_ended(change.session_id, at)
        elif change.kind == "keys":
            return True
        else:
            self._apply_organization(change, at)
        return False

    def _apply_organization(self, change: ChangeRecord, at: float) -> None:
        """An organization's or a membership's change: one entry, whatever the member
        count (the fan-out happens when each member's token is checked)."""
        org_id, user_id, version = change.organization_id, change.user_id, change.version
        if org_id is None:
            return
        freshness = self._freshness
        if change.kind == "organization" and version is not None:
            freshness.organization_changed(org_id, version, at)
        elif change.kind == "organization_deleted":
            freshness.organization_deleted(org_id, at)
        elif change.kind == "membership" and user_id is not None and version is not None:
            freshness.membership_changed(org_id, user_id, version, at)
        elif change.kind == "membership_deleted" and user_id is not None:
            freshness.membership_deleted(org_id, user_id, at)

    async def step(self) -> None:
        """One round of following: apply new changes, expire old ones, and (at most once a
        minute by the clock) prune the change log and retired keys. The background task
        runs this every ``poll_interval``; tests call it to step the feed by hand."""
        try:
            await self.poll_once()
            self._freshness.expire()  # free what the horizon has passed
            await self._maybe_prune()
        except StoreUnavailable as exc:
            if self.healthy:
                logger.error("change feed: store unavailable (%s); retrying", exc)
            self.healthy = False
            return
        except Exception:  # the feed must outlive any single bad poll
            logger.exception("change feed: poll failed; retrying")
            self.healthy = False
            return
        if not self.healthy:
            logger.warning("change feed: store reachable again; caught up to %d", self._last_seq)
        self.healthy = True

    async def _poll_forever(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._poll_interval)
            await self.step()

    async def _maybe_prune(self) -> None:
        now = self._clock()
        if now - self._last_prune < _PRUNE_EVERY:
            return
        self._last_prune = now
        keep = max(2 * self._freshness.horizon, 600.0)
        await self._store.prune_changes(before_ms=int((now - keep) * 1000))
        if self._maintenance is not None:
            await self._maintenance()
