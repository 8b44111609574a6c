"""A small HTTP/1.1 load generator, for when ``wrk`` is not available.

    python -m benchmarks._loadgen http://127.0.0.1:PORT/ --connections 32 --duration 3 \\
        [--header "Authorization: Bearer ..."]

``--connections`` keep-alive connections (TCP_NODELAY) on one asyncio loop, each sending
``GET`` back to back for ``--duration`` seconds; prints one JSON line:
``{"requests": N, "seconds": S, "non_2xx": K, "errors": E}``. Slower than ``wrk`` (it is
Python), so with a fast server it can be the bottleneck: P5 says which one ran.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["main"]


@dataclass
class _Counts:
    requests: int = 0
    non_2xx: int = 0
    errors: int = 0


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


async def _connection(
    host: str, port: int, request: bytes, deadline: float, counts: _Counts
) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        counts.errors += 1
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while time.monotonic() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = _content_length(head)
            if length:
                await reader.readexactly(length)
            counts.requests += 1
            if head[9:10] != b"2":
                counts.non_2xx += 1
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        counts.errors += 1
    finally:
        writer.close()


async def _run(url: str, connections: int, duration: float, headers: list[str]) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    lines = [f"GET {parts.path or '/'} HTTP/1.1", f"Host: {host}:{port}", *headers, "", ""]
    request = "\r\n".join(lines).encode("latin-1")
    counts = _Counts()
    start = time.monotonic()
    deadline = start + duration
    await asyncio.gather(
        *(_connection(host, port, request, deadline, counts) for _ in range(connections))
    )
    seconds = time.monotonic() - start
    return {
        "requests": counts.requests,
        "seconds": seconds,
        "non_2xx": counts.non_2xx,
        "errors": counts.errors,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._loadgen")
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args(argv)
    result = asyncio.run(_run(args.url, args.connections, args.duration, args.header))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
