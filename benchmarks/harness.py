"""Timing: alternating rounds, medians, nothing absolute.

The machines these run on are shared and noisy, so every figure is produced the same way
(performance.md, "The harness"):

* every peer of a scenario runs in the same process, in the same run;
* the peers take turns: round 1 runs A, B, C; round 2 runs B, C, A; round 3 C, A, B...
  so a slow patch of the machine hits every peer, and no peer always goes first;
* within a round a peer runs ``iterations`` calls back to back, timed with
  ``time.perf_counter_ns`` around the whole batch, with the garbage collector disabled
  (collected just before, outside the timed region);
* a peer's figure is the **median** over rounds of its per-call time; p25/p75 and every
  round are kept in the JSON so a reader can see the spread.

A peer is only a function ``batch(n) -> elapsed_ns`` that makes ``n`` calls and times
them itself, so that set-up (building a scope, picking the next token) stays out of the
timed region. :func:`asgi_batch` builds one for an ASGI app.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Config",
    "Peer",
    "Timing",
    "asgi_batch",
    "discard_send",
    "fresh_scope",
    "http_scope",
    "measure",
    "noop_receive",
    "paired_differences",
    "percentile",
]

Batch = Callable[[int], int]
"""``batch(n)`` makes ``n`` calls and returns the nanoseconds they took."""


@dataclass(frozen=True, slots=True)
class Config:
    """How hard to measure. ``full()`` for ``make bench``, ``quick()`` for ``--quick``."""

    name: str
    rounds: int
    """Rounds per scenario: each peer is timed once per round."""
    round_ms: float
    """Target duration of one peer's batch in one round (the iteration count is
    calibrated to it, unless a scenario fixes the count itself)."""
    warmup_ms: float
    """Calls made before timing (imports, caches, branch predictors)."""
    scale: float = 1.0
    """Multiplier for the sizes timed scenarios choose themselves (calls per round,
    token pools, cache fills): 1.0 in a full run, smaller in a quick one."""
    counted_requests: int = 10_000
    """Requests made by counted (untimed) scenarios such as P7."""

    @classmethod
    def full(cls) -> Config:
        return cls(name="full", rounds=15, round_ms=40.0, warmup_ms=30.0)

    @classmethod
    def quick(cls) -> Config:
        return cls(name="quick", rounds=5, round_ms=12.0, warmup_ms=8.0, scale=0.2)

    @classmethod
    def tiny(cls) -> Config:
        """For the smoke test: a few iterations, numbers meaningless."""
        return cls(
            name="tiny", rounds=2, round_ms=1.0, warmup_ms=0.5, scale=0.01, counted_requests=50
        )

    def scaled(self, full_size: int, minimum: int = 1) -> int:
        """``full_size`` scaled for this configuration, at least ``minimum``."""
        return max(minimum, round(full_size * self.scale))


@dataclass(slots=True)
class Peer:
    """One contestant of a scenario."""

    name: str
    batch: Batch
    iterations: int | None = None
    """Fixed calls per round; ``None`` calibrates to ``Config.round_ms``."""


@dataclass(slots=True)
class Timing:
    """What :func:`measure` found for one peer: per-call times of every round."""

    peer: str
    iterations: int
    rounds_ns: list[float] = field(default_factory=list)

    @property
    def rounds_us(self) -> list[float]:
        return [ns / 1000.0 for ns in self.rounds_ns]

    @property
    def median_us(self) -> float:
        return statistics.median(self.rounds_ns) / 1000.0

    @property
    def p25_us(self) -> float:
        return _quartiles(self.rounds_ns)[0] / 1000.0

    @property
    def p75_us(self) -> float:
        return _quartiles(self.rounds_ns)[2] / 1000.0


def _quartiles(values: list[float]) -> list[float]:
    if len(values) == 1:
        return [values[0]] * 3
    return statistics.quantiles(values, n=4, method="inclusive")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linearly interpolated (numpy's
    default), for per-call figures such as p50 / p99. ``values`` must not be empty."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def paired_differences(a: Timing, b: Timing) -> list[float]:
    """Per-round ``a - b`` in µs. Rounds are interleaved, so pairing them cancels most of
    the machine's drift; the median of these is the overhead of ``a`` over ``b``."""
    return [(x - y) / 1000.0 for x, y in zip(a.rounds_ns, b.rounds_ns, strict=True)]


def _timed(batch: Batch, n: int) -> int:
    gc.collect()
    gc.disable()
    try:
        return batch(n)
    finally:
        gc.enable()


def _calibrate(peer: Peer, config: Config) -> int:
    """Warm the peer up, then choose how many calls fill ``config.round_ms``."""
    if peer.iterations is not None:
        _timed(peer.batch, max(1, min(peer.iterations, 10)))
        return peer.iterations
    n = 1
    warmup_ns = config.warmup_ms * 1e6
    spent = 0
    while True:
        elapsed = max(_timed(peer.batch, n), 1)
        spent += elapsed
        if spent >= warmup_ns and elapsed >= 200_000:  # 0.2 ms: enough to estimate from
            break
        n *= 2
    per_call = elapsed / n
    return max(3, round(config.round_ms * 1e6 / per_call))


def measure(peers: list[Peer], config: Config, *, rounds: int | None = None) -> dict[str, Timing]:
    """Time ``peers`` side by side: alternating rounds, per-call time per round."""
    names = [peer.name for peer in peers]
    if len(set(names)) != len(names):
        raise ValueError(f"peer names must be unique: {names}")
    rounds = rounds or config.rounds
    iterations = {peer.name: _calibrate(peer, config) for peer in peers}
    timings = {peer.name: Timing(peer.name, iterations[peer.name]) for peer in peers}
    for r in range(rounds):
        shift = r % len(peers)
        for peer in peers[shift:] + peers[:shift]:
            n = iterations[peer.name]
            timings[peer.name].rounds_ns.append(_timed(peer.batch, n) / n)
    return timings


# --- ASGI calls without a server -------------------------------------------------------


def http_scope(path: str = "/", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    """A complete ASGI ``http`` scope for ``GET path``, as uvicorn would build it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("ascii"),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"user-agent", b"sessionclaims-bench"),
            (b"accept", b"*/*"),
            *(headers or []),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }


_REQUEST: Mapping[str, Any] = {"type": "http.request", "body": b"", "more_body": False}


async def noop_receive() -> MutableMapping[str, Any]:
    return dict(_REQUEST)


async def discard_send(message: MutableMapping[str, Any]) -> None:
    return None


AsgiApp = Callable[..., Any]


def fresh_scope(scope: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``scope`` with new header objects, as a server builds per request."""
    copy = dict(scope)
    copy["headers"] = [(bytes(bytearray(k)), bytes(bytearray(v))) for k, v in scope["headers"]]
    copy["state"] = {}
    return copy


def asgi_batch(loop: asyncio.AbstractEventLoop, app: AsgiApp, scope: Mapping[str, Any]) -> Batch:
    """A batch that calls ``app`` directly, ``n`` times, each with its own scope.

    Like a server, every request gets a new scope dict and new header ``bytes`` objects
    (so nothing profits from a hash CPython cached on the previous request's objects),
    built just before the call, so they are as warm in the CPU cache as a server's
    freshly parsed headers. Building them (about a microsecond) is timed for every peer
    alike, so it cancels out of every overhead. The timer runs inside the coroutine:
    starting the event loop is not counted.
    """

    async def calls(n: int) -> int:
        template = dict(scope)
        receive = noop_receive
        send = discard_send
        start = time.perf_counter_ns()
        for _ in range(n):
            await app(fresh_scope(template), receive, send)
        return time.perf_counter_ns() - start

    def batch(n: int) -> int:
        return loop.run_until_complete(calls(n))

    return batch
