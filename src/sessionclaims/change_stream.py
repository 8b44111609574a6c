"""A verify-only service's side of the change stream: follow ``GET /v1/changes``.

:class:`ChangeStream` keeps one streaming ``httpx`` request open to the auth app, parses
its Server-Sent Events (the WHATWG rules: ``id``, ``event``, multi-line ``data``,
comments, any line ending) and feeds a :class:`~sessionclaims.freshness.Freshness` map,
the same one full mode keeps:

* ``token-claims-change`` → the user's tokens with an older ``ver`` are stale; with an
  ``organization_id``, that organization's tokens with an older ``org_ver`` (or, with a
  ``user_id`` too, that person's tokens of it with an older ``mem_ver``) — and when it
  was deleted, every such token;
* ``session-revoked`` → the session's tokens (or, without a session, the user's) are
  revoked;
* ``keys-changed`` → ``on_keys_changed`` (the middleware refetches the JWKS at once);
* ``reset`` → every token issued before ``at`` is stale.

When the connection drops it reconnects with backoff (at most ``backoff_max`` seconds
between attempts) and resumes with ``Last-Event-ID``. Meanwhile nothing new is learned,
so tokens are trusted until their ``exp``: the freshness bound degrades to the token
lifetime, and that is logged. :attr:`ChangeStream.live` is True once the replay after a
(re)connection is over; :attr:`ChangeStream.lag` is the seconds since the last event or
keep-alive, for health checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ._errors import ConfigurationError
from ._json import JSONError, loads_strict
from .freshness import Freshness

__all__ = ["ChangeStream", "ServerSentEvent", "SSEParser"]

logger = logging.getLogger("sessionclaims.change_stream")

_FIRST_RETRY = 0.05
_MAX_LINE = 64 * 1024


class ServerSentEvent:
    """One dispatched event: ``event`` (default ``"message"``), ``data`` and ``id``."""

    __slots__ = ("data", "event", "id")

    def __init__(self, event: str, data: str, id: str | None) -> None:
        self.event = event
        self.data = data
        self.id = id

    def __repr__(self) -> str:
        return f"ServerSentEvent({self.event!r}, {self.data!r}, id={self.id!r})"


class SSEParser:
    """The WHATWG event-stream interpretation, line by line (line endings removed).

    :meth:`line` returns an event when a blank line dispatches one. ``last_event_id`` is
    the stream's last event id: set by every dispatch, even one without data (how the
    auth app says where a new stream starts)."""

    __slots__ = ("_data", "_event", "_id", "last_event_id")

    def __init__(self, last_event_id: str | None = None) -> None:
        self.last_event_id = last_event_id
        self._data: list[str] = []
        self._event = ""
        self._id = last_event_id

    def line(self, line: str) -> ServerSentEvent | None:
        """Feed one line; a dispatched event, or ``None``."""
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None  # "retry" and unknown fields are ignored

    def _dispatch(self) -> ServerSentEvent | None:
        self.last_event_id = self._id
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent(event or "message", "\n".join(data), self.last_event_id)


class ChangeStream:
    """Follows an auth app's change stream into ``freshness`` (see the module doc).

    ``http_client`` may be the app's own ``httpx.AsyncClient``; otherwise one is created
    and closed by :meth:`stop`. ``clock`` is the wall clock the event times are read
    against; ``monotonic`` measures the lag."""

    def __init__(
        self,
        url: str,
        *,
        feed_key: str,
        freshness: Freshness,
        on_keys_changed: Callable[[], Awaitable[object]] | None = None,
        http_client: httpx.AsyncClient | None = None,
        backoff_max: float = 2.0,
        read_timeout: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ConfigurationError(f"changes_url must be an http(s) URL, got {url!r}")
        if not feed_key:
            raise ConfigurationError("changes_url= needs feed_key= (or the secret key)")
        self.url = url
        self.freshness = freshness
        self._headers = {"Authorization": f"Bearer {feed_key}", "Accept": "text/event-stream"}
        self._on_keys_changed = on_keys_changed
        self._client = http_client
        self._owns_client = http_client is None
        self._backoff_max = backoff_max
        self._read_timeout = read_timeout
        self._monotonic = monotonic
        self._task: asyncio.Task[None] | None = None
        self._key_tasks: set[asyncio.Task[object]] = set()
        self._last_seen = -math.inf
        self.last_event_id: str | None = None
        """The id of the last change applied (the resume point)."""
        self.connected = False
        """True while the stream's connection is open."""
        self.live = False
        """True once the replay after the current connection is over: the view is fresh."""
        self.events_applied = 0
        """Events applied since start (tests and operators read it)."""
        self.connections = 0
        """Connections opened since start."""
        self.attempts = 0
        """Connection attempts since start (each one a network call)."""

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the follower task runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start following (in the running event loop); does nothing if it runs already."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="sessionclaims-change-stream"
            )

    async def stop(self) -> None:
        """Stop following and close the connection (and the client if it is ours)."""
        task, self._task = self._task, None
        tasks = [t for t in (task, *self._key_tasks) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self.connected = self.live = False
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    @property
    def lag(self) -> float:
        """Seconds since the last event or keep-alive (``inf`` before the first)."""
        return max(0.0, self._monotonic() - self._last_seen)

    # -- following ----------------------------------------------------------------------
    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._follow_once()
                reason = "the auth app ended the stream"
            except (httpx.HTTPError, _Refused, OSError) as exc:
                reason = str(exc) or type(exc).__name__
            was_live = self.live
            self.connected = self.live = False
            failures = 0 if was_live else failures + 1
            delay = min(self._backoff_max, _FIRST_RETRY * 2.0 ** max(0, failures - 1))
            delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret
            logger.warning(
                "change stream %s is down (%s): tokens are trusted until their exp (the "
                "freshness bound is now the token lifetime); reconnecting in %.2f s",
                self.url,
                reason,
                delay,
            )
            await asyncio.sleep(delay)

    async def _follow_once(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        headers = dict(self._headers)
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        timeout = httpx.Timeout(5.0, read=self._read_timeout)
        self.attempts += 1
        async with self._client.stream("GET", self.url, headers=headers, timeout=timeout) as r:
            if r.status_code != 200 or not r.headers.get("content-type", "").startswith(
                "text/event-stream"
            ):
                level = logging.ERROR if r.status_code in (401, 403) else logging.WARNING
                logger.log(level, "change stream %s answered HTTP %d", self.url, r.status_code)
                raise _Refused(f"HTTP {r.status_code}")
            self.connected = True
            self.connections += 1
            parser = SSEParser(self.last_event_id)
            first = True
            async for line in r.aiter_lines():
                if first:
                    line = line.removeprefix("\ufeff")
                    first = False
                if len(line) > _MAX_LINE:
                    raise _Refused("a line over 64 KiB")
                self._last_seen = self._monotonic()
                if line.startswith(":"):
                    if line == ": ready" and not self.live:
                        self.live = True
                        logger.info("change stream %s is live", self.url)
                    continue
                event = parser.line(line)
                if parser.last_event_id is not None:
                    self.last_event_id = parser.last_event_id
                if event is not None:
                    self._apply(event)

    def _apply(self, event: ServerSentEvent) -> None:
        try:
            data = loads_strict(event.data.encode("utf-8", "surrogatepass"))
        except JSONError:
            logger.warning("change stream: event %r has no JSON data; ignored", event.event)
            return
        if not isinstance(data, dict):
            return
        at = data.get("at")
        if isinstance(at, bool) or not isinstance(at, int):
            return
        when = at / 1000
        freshness = self.freshness
        kind = event.event
        if kind == "token-claims-change":
            if not _claims_change(freshness, data, when):
                return
        elif kind == "session-revoked":
            session_id, user_id = data.get("session_id"), data.get("user_id")
            if isinstance(session_id, str):
                freshness.session_ended(session_id, when)
            elif isinstance(user_id, str):
                freshness.user_deleted(user_id, when)
            else:
                return
        elif kind == "keys-changed":
            if self._on_keys_changed is not None:
                task: asyncio.Task[object] = asyncio.ensure_future(self._on_keys_changed())
                self._key_tasks.add(task)
                task.add_done_callback(self._key_tasks.discard)
        elif kind == "reset":
            logger.warning("change stream: reset; tokens issued before %d ms are stale", at)
            freshness.stale_before(when)
        else:
            return
        self.events_applied += 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _claims_change(freshness: Freshness, data: dict[str, Any], when: float) -> bool:
    """Apply one ``token-claims-change``; False when its data is not one we know.

    With an ``organization_id`` it concerns that organization (no ``user_id``) or one
    person's membership in it; ``"deleted": true`` (and ``version`` null) says it is
    gone. Without one, it is a user's new version."""
    user_id, version = data.get("user_id"), data.get("version")
    org_id = data.get("organization_id")
    if org_id is None:
        if isinstance(user_id, str) and isinstance(version, int) and _is_int(version):
            freshness.user_changed(user_id, version, when)
            return True
        return False
    if not isinstance(org_id, str) or not (user_id is None or isinstance(user_id, str)):
        return False
    if data.get("deleted") is True or version is None:
        if user_id is None:
            freshness.organization_deleted(org_id, when)
        else:
            freshness.membership_deleted(org_id, user_id, when)
    elif isinstance(version, int) and _is_int(version):
        if user_id is None:
            freshness.organization_changed(org_id, version, when)
        else:
            freshness.membership_changed(org_id, user_id, version, when)
    else:
        return False
    return True


class _Refused(Exception):
    """The auth app did not open a stream."""
