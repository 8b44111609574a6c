"""Drive ``GET /v1/changes`` of an ASGI app in-process, reading its body as it is sent.

(``httpx.ASGITransport`` waits for the whole body, and an event stream never ends.) The
app runs as a task; :meth:`StreamDriver.read_until` waits for SSE text to arrive, and
:meth:`StreamDriver.close` disconnects like a client that went away.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp

SECRET = "sk_test_4f9a1c"
FEED_KEY = "fk_test_9b2e77"


class StreamDriver:
    """One subscriber of an app's change stream."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        key: str = FEED_KEY,
        headers: Sequence[tuple[bytes, bytes]] = (),
        query: bytes = b"",
        blocked_after: int | None = None,
    ) -> None:
        self.start: dict[str, Any] | None = None
        self.text = ""
        self.ended = False
        self._arrived = asyncio.Event()
        self._disconnect = asyncio.Event()
        self._blocked_after = blocked_after
        self._sends = 0
        self._never = asyncio.Event()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/v1/changes",
            "raw_path": b"/v1/changes",
            "query_string": query,
            "root_path": "",
            "headers": [(b"authorization", b"Bearer " + key.encode()), *headers],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 80),
        }
        self.task = asyncio.create_task(self._run(app, scope))

    async def _run(self, app: ASGIApp, scope: dict[str, Any]) -> None:
        try:
            await app(scope, self._receive, self._send)
        finally:
            self.ended = True
            self._arrived.set()

    async def _receive(self) -> dict[str, Any]:
        if not hasattr(self, "_requested"):
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._disconnect.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        self._sends += 1
        if self._blocked_after is not None and self._sends > self._blocked_after:
            await self._never.wait()  # a client that stopped reading: the send never returns
        if message["type"] == "http.response.start":
            self.start = message
        else:
            self.text += message.get("body", b"").decode()
            if not message.get("more_body", False):
                self.ended = True
        self._arrived.set()

    @property
    def status(self) -> int:
        assert self.start is not None
        status: int = self.start["status"]
        return status

    def header(self, name: bytes) -> str | None:
        assert self.start is not None
        for key, value in self.start["headers"]:
            if key == name:
                return str(value.decode())
        return None

    async def read_until(self, needle: str, within: float = 10.0) -> str:
        """Wait until ``needle`` is in the body read so far (or the response ended)."""

        async def wait() -> None:
            while needle not in self.text and not self.ended:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(wait(), within)
        return self.text

    async def read_events(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        """Wait until ``count`` events arrived; return them all."""

        async def wait() -> None:
            while len(events(self.text)) < count and not self.ended:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(wait(), within)
        return events(self.text)

    async def close(self) -> None:
        self._disconnect.set()
        self._never.set()
        await asyncio.wait_for(self.task, 10)


def events(text: str) -> list[dict[str, Any]]:
    """The events of an SSE text: ``{"id", "event", "data"}`` (``data`` parsed), comments
    and id-only blocks left out."""
    found = []
    for block in text.split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
            found.append(fields)
    return found
