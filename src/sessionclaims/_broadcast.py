"""The auth app's side of the change stream: every change-log entry, to every subscriber.

The change feed publishes each entry it reads from the store's log (its own process's
writes and every other instance's) to :class:`Broadcaster`, which turns it into one
Server-Sent Events frame (docs/deployment.md) and appends that frame to each subscriber's
queue. A queue is bounded: a subscriber that stops reading and falls ``queue_size``
frames behind is dropped (its connection is closed; the client resumes with
``Last-Event-ID``), so a slow client never costs unbounded memory.

Frames carry identifiers, versions and the time in Unix milliseconds, never a metadata
value. A store that cannot push (SQLite) is polled every :data:`FAST_POLL` seconds while
anyone is subscribed, so a write reaches the stream well within the freshness bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from .stores.base import ChangeRecord

__all__ = ["FAST_POLL", "Broadcaster", "Subscriber", "event_frame", "frame"]

logger = logging.getLogger("sessionclaims.changes")

FAST_POLL = 0.05
"""Seconds between change-log reads while a stream has subscribers and the store cannot
push notifications."""

QUEUE_SIZE = 4096
"""Frames a subscriber may fall behind before it is dropped: more than two pages of the
feed's reads (1000 changes each), so a subscriber that keeps reading is never dropped
for a burst. Frames are shared between subscribers; each queued one costs a slot."""


_DELETIONS = frozenset({"organization_deleted", "membership_deleted"})
"""Change kinds sent as ``token-claims-change`` with ``"deleted": true``: the
organization (or the membership) is gone, so every token naming it is stale; the session
lives on (it is not a ``session-revoked``)."""


def frame(event: str, data: dict[str, Any], seq: int | None = None) -> bytes:
    """One SSE event: ``id:`` (when given), ``event:`` and one ``data:`` line."""
    head = f"id: {seq}\n" if seq is not None else ""
    body = json.dumps(data, separators=(", ", ": "), ensure_ascii=True)
    return f"{head}event: {event}\ndata: {body}\n\n".encode("ascii")


def event_frame(change: ChangeRecord) -> bytes | None:
    """The frame for one change-log entry (``None`` for a kind with no event)."""
    at = change.created_at
    organization_id = getattr(change, "organization_id", None)
    kind = change.kind
    if kind == "keys":
        return frame("keys-changed", {"at": at}, change.seq)
    if kind == "session" or kind == "user_deleted":
        data = {"session_id": change.session_id, "user_id": change.user_id, "at": at}
        return frame("session-revoked", data, change.seq)
    if kind == "user" or organization_id is not None:
        claims_change: dict[str, Any] = {
            "user_id": change.user_id,
            "organization_id": organization_id,
            "version": change.version,
            "at": at,
        }
        if kind in _DELETIONS:
            claims_change["deleted"] = True
        return frame("token-claims-change", claims_change, change.seq)
    logger.debug("change %d of kind %r has no stream event", change.seq, kind)
    return None


class Subscriber:
    """One connection's queue of ``(seq, frame)``; ``dropped`` once it fell too far behind."""

    __slots__ = ("_maxsize", "dropped", "frames", "gone", "wake")

    def __init__(self, maxsize: int) -> None:
        self.frames: deque[tuple[int, bytes]] = deque()
        self.wake = asyncio.Event()
        self.gone = asyncio.Event()
        """Set when the subscriber is dropped (its connection is to be closed)."""
        self.dropped = False
        self._maxsize = maxsize

    def offer(self, item: tuple[int, bytes]) -> bool:
        """Queue ``(seq, frame)``; False (and ``dropped``) when the queue is full."""
        if len(self.frames) >= self._maxsize:
            self.dropped = True
            self.frames.clear()
            self.wake.set()
            self.gone.set()
            return False
        self.frames.append(item)
        self.wake.set()
        return True


class Broadcaster:
    """Fans change-log entries out to the stream's subscribers (see the module doc)."""

    def __init__(
        self,
        *,
        poll: Callable[[], Awaitable[None]] | None = None,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self._subscribers: set[Subscriber] = set()
        self._poll = poll
        self._poll_task: asyncio.Task[None] | None = None
        self.queue_size = queue_size
        self.dropped_count = 0
        """Subscribers dropped for falling behind, since start."""

    def follow(self, poll: Callable[[], Awaitable[None]] | None) -> None:
        """Set what reads the log while anyone is subscribed (``None``: the store pushes)."""
        self._poll = poll

    @property
    def subscriber_count(self) -> int:
        """Connections following the stream now."""
        return len(self._subscribers)

    def subscribe(self) -> Subscriber:
        """A new subscriber; frames published from now on are queued for it."""
        subscriber = Subscriber(self.queue_size)
        self._subscribers.add(subscriber)
        if self._poll is not None and (self._poll_task is None or self._poll_task.done()):
            self._poll_task = asyncio.create_task(self._poll_while_subscribed())
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Stop queueing frames for ``subscriber``."""
        self._subscribers.discard(subscriber)

    def publish(self, change: ChangeRecord) -> None:
        """Queue the change's frame for every subscriber; drop those that are full."""
        if not self._subscribers:
            return
        data = event_frame(change)
        if data is None:
            return
        item = (change.seq, data)
        for subscriber in list(self._subscribers):
            if not subscriber.offer(item):
                self._subscribers.discard(subscriber)
                self.dropped_count += 1
                logger.warning("change stream: dropped a subscriber that stopped reading")

    async def aclose(self) -> None:
        """Stop the fast poll (subscribers end with their connections)."""
        task, self._poll_task = self._poll_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _poll_while_subscribed(self) -> None:
        poll = self._poll
        while self._subscribers and poll is not None:
            try:
                await poll()
            except Exception as exc:  # the feed logs store trouble; keep following
                logger.debug("change stream: poll failed: %r", exc)
            await asyncio.sleep(FAST_POLL)
