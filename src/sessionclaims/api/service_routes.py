"""The routes other services use (docs/deployment.md), opened by the secret key or a feed key.

* ``GET /v1/changes``: the change log as Server-Sent Events. A new connection starts at
  the newest change (its first line, ``id: <seq>``, says where); ``Last-Event-ID`` or
  ``?after=`` replays every change after that point first, preceded by ``event: reset``
  when the point is older than the retained log (or unknown to it). Then every change as
  it happens, a ``: keep-alive`` comment whenever the stream has been quiet for
  ``changes_keepalive`` seconds, and a ``: ready`` comment once the replay is over.
* ``POST /v1/tokens/reissue`` ``{"token"}``: a fresh token of the same session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from .._broadcast import Subscriber, event_frame, frame
from .._errors import StoreUnavailable
from .._reissue import reissue_session_token
from ._bodies import read_json_object, reject_unknown
from ._errors import ApiError
from ._routing import json_response, method_route
from .backend_routes import BackendAPI

if TYPE_CHECKING:
    from ..backend import Backend

__all__ = ["EventStream", "ServiceAPI", "resume_point"]

logger = logging.getLogger("sessionclaims.changes")

_SEQ_RE = re.compile(r"[0-9]{1,18}")
_REPLAY_PAGE = 500
_FINAL_SEND_TIMEOUT = 1.0


def resume_point(request: Request) -> int | None:
    """The ``Last-Event-ID`` header, else ``?after=``; 400 ``invalid_resume_point`` for
    anything but a decimal sequence number below 10**18."""
    for param, raw in (
        ("Last-Event-ID", request.headers.get("last-event-id")),
        ("after", request.query_params.get("after")),
    ):
        if raw is None:
            continue
        if _SEQ_RE.fullmatch(raw.strip()) is None:
            raise ApiError(
                400,
                "invalid_resume_point",
                f"{param} must be the id of a change: a decimal integer below 10**18",
                meta={"param": param},
            )
        return int(raw)
    return None


class EventStream(Response):
    """The ``text/event-stream`` answer of one subscriber (a raw ASGI body loop)."""

    media_type = "text/event-stream"

    def __init__(
        self, backend: Backend, subscriber: Subscriber, *, start: int, head: bytes
    ) -> None:
        super().__init__(headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self._backend = backend
        self._subscriber = subscriber
        self._start = start
        self._head = head

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        backend, subscriber = self._backend, self._subscriber
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            writer = asyncio.create_task(self._write(send))
            listener = asyncio.create_task(_until_disconnect(receive))
            dropped = asyncio.create_task(subscriber.gone.wait())
            tasks = (writer, listener, dropped)
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            disconnected = listener.done()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not disconnected:
                # Dropped or failed: end the response if the client still takes bytes; if
                # it does not, returning unfinished makes the server close the connection.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        send({"type": "http.response.body", "body": b"", "more_body": False}),
                        _FINAL_SEND_TIMEOUT,
                    )
        finally:
            backend.changes.unsubscribe(subscriber)

    async def _write(self, send: Send) -> None:
        async def body(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        backend, subscriber = self._backend, self._subscriber
        keepalive = backend.settings.changes_keepalive
        last = self._start
        try:
            await body(self._head)
            while True:  # the replay: what the log holds after the resume point
                changes = await backend.store.changes_since(last, limit=_REPLAY_PAGE)
                frames = []
                for change in changes:
                    data = event_frame(change)
                    if data is not None:
                        frames.append(data)
                    last = change.seq
                if frames:
                    await body(b"".join(frames))
                if len(changes) < _REPLAY_PAGE:
                    break
            await body(b": ready\n\n")
            while not subscriber.dropped:  # then every change as the feed publishes it
                queued = subscriber.frames
                if queued:
                    frames = []
                    while queued:
                        seq, data = queued.popleft()
                        if seq > last:
                            frames.append(data)
                            last = seq
                    if frames:
                        await body(b"".join(frames))
                    continue
                subscriber.wake.clear()
                try:
                    await asyncio.wait_for(subscriber.wake.wait(), keepalive)
                except TimeoutError:
                    await body(b": keep-alive\n\n")
        except StoreUnavailable as exc:
            logger.warning("change stream: store unavailable during the replay (%s)", exc)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class ServiceAPI:
    """``GET /v1/changes`` and ``POST /v1/tokens/reissue`` for ``backend``."""

    def __init__(self, backend: Backend, backend_api: BackendAPI) -> None:
        self.backend = backend
        self._authorize = backend_api.authorize

    def routes(self) -> list[BaseRoute]:
        """The two routes."""
        return [
            method_route("/v1/changes", {"GET": self.changes}, name="changes"),
            method_route("/v1/tokens/reissue", {"POST": self.reissue}, name="tokens_reissue"),
        ]

    async def changes(self, request: Request) -> Response:
        """``GET /v1/changes``: the change stream (see the module doc)."""
        self._authorize(request, feed=True)
        after = resume_point(request)
        backend = self.backend
        await backend.ensure_open()
        subscriber = backend.changes.subscribe()
        try:
            start, head = await self._start_point(after)
        except BaseException:
            backend.changes.unsubscribe(subscriber)
            raise
        return EventStream(backend, subscriber, start=start, head=head)

    async def _start_point(self, after: int | None) -> tuple[int, bytes]:
        """Where the replay starts, and what the stream says before it."""
        store = self.backend.store
        newest = await store.last_change_seq()
        if after is None:
            return newest, f"id: {newest}\n\n".encode("ascii")
        oldest = await store.changes_since(0, limit=1)
        if after > newest:  # a point this log never had: nothing known about it
            at = int(self.backend.clock() * 1000)
            return newest, frame("reset", {"at": at}) + f"id: {newest}\n\n".encode("ascii")
        if oldest and after < oldest[0].seq - 1:  # the changes in between were pruned
            return oldest[0].seq - 1, frame("reset", {"at": oldest[0].created_at})
        return after, b""

    async def reissue(self, request: Request) -> Response:
        """``POST /v1/tokens/reissue`` ``{"token"}``: 200 ``{jwt}``, or 401 with the reason."""
        self._authorize(request, feed=True)
        body = await read_json_object(request)
        reject_unknown(body, ("token",))
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise ApiError(
                422,
                "invalid_field",
                "token (a session token string) is required",
                meta={"param": "token"},
            )
        return json_response({"jwt": await reissue_session_token(self.backend, token)})
