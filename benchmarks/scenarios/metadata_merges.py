"""MERGE metadata merges per second: SQLite file vs PostgreSQL, alone and contended.

Every merge is ``backend.users.update_user_metadata(user_id, public_metadata={key: n})``
with a key the user does not have yet (a read-modify-write inside the store's
transaction: the limits, the template comparison, the write; the session template reads
only ``role``, so no version bump). ``metadata_max_keys`` is raised so the keys fit.

* **one writer**: merges back to back, SQLite and PostgreSQL interleaved by the harness
  (a new user per batch, untimed);
* **8 concurrent writers, one Backend**: 8 asyncio tasks on one backend (one worker's
  concurrent requests), all on the same user;
* **8 concurrent writers, 8 Backends**: one writer per backend instance on the same store
  (8 workers: 8 SQLite connections contending for the file's write lock, or 8 PostgreSQL
  pools contending for the row lock).

Concurrent runs alternate SQLite / PostgreSQL over a few rounds (a new user each); the
figure is merges/s of the whole run (8 x M merges / wall time). **Nothing lost**: after
each run the user must hold exactly the 8 x M keys written, each with its value.
PostgreSQL rows run in a fresh schema, dropped afterwards; they are marked unavailable
if the store cannot be imported or the server reached.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sessionclaims import Backend

from ..harness import Config, Peer, measure
from ..report import Row, X
from ._base import Scenario
from ._full import PgUnavailable, make_backend, pg_schema, scratch_dir, sqlite_url

__all__ = ["SCENARIO", "run"]

WRITERS = 8
FULL_SEQUENTIAL = 40
FULL_PER_WRITER = 20
FULL_CONCURRENT_ROUNDS = 3
MAX_KEYS = 500

SQLITE = "SQLite file"
POSTGRES = "PostgreSQL"


@dataclass
class _Store:
    name: str
    url: str
    backends: list[Backend] = field(default_factory=list)


@contextmanager
def _stores(unavailable: dict[str, str]) -> Iterator[list[_Store]]:
    with ExitStack() as stack:
        directory = stack.enter_context(scratch_dir("merge"))
        stores = [_Store(SQLITE, sqlite_url(directory, "merge"))]
        try:
            stores.append(_Store(POSTGRES, stack.enter_context(pg_schema("merge"))))
        except PgUnavailable as exc:
            unavailable[POSTGRES] = str(exc)
        yield stores


async def _open(store: _Store, count: int) -> None:
    while len(store.backends) < count:
        backend = make_backend(store.url, metadata_max_keys=MAX_KEYS)
        await backend.ensure_open()
        store.backends.append(backend)


async def _new_user(backend: Backend) -> str:
    return (await backend.users.create_user(public_metadata={"role": "member"})).id


async def _sequential(backend: Backend, n: int) -> int:
    user_id = await _new_user(backend)
    merge = backend.users.update_user_metadata
    start = time.perf_counter_ns()
    for i in range(n):
        await merge(user_id, public_metadata={f"k{i:03d}": i})
    elapsed = time.perf_counter_ns() - start
    keys = (await backend.users.get_user(user_id)).public_metadata
    if len(keys) != n + 1:
        raise RuntimeError(f"sequential merges lost: {len(keys) - 1} keys of {n}")
    return elapsed


async def _concurrent(backends: list[Backend], per_writer: int) -> tuple[float, int, int]:
    """``(seconds, keys expected, keys found with the right value)``."""
    user_id = await _new_user(backends[0])

    async def writer(w: int) -> None:
        merge = backends[w % len(backends)].users.update_user_metadata
        for j in range(per_writer):
            await merge(user_id, public_metadata={f"w{w}_{j:02d}": j})

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    seconds = time.perf_counter() - start
    found = (await backends[0].users.get_user(user_id)).public_metadata
    good = sum(found.get(f"w{w}_{j:02d}") == j for w in range(WRITERS) for j in range(per_writer))
    expected = WRITERS * per_writer
    if len(found) != expected + 1:
        good = min(good, len(found) - 1)
    return seconds, expected, good


def run(config: Config) -> list[Row]:
    sequential_n = config.scaled(FULL_SEQUENTIAL, minimum=3)
    per_writer = config.scaled(FULL_PER_WRITER, minimum=2)
    concurrent_rounds = FULL_CONCURRENT_ROUNDS if config.scale >= 1 else 1
    unavailable: dict[str, str] = {}
    loop = asyncio.new_event_loop()
    rows: list[Row] = []
    try:
        with _stores(unavailable) as stores:
            try:
                for store in stores:
                    loop.run_until_complete(_open(store, 1))

                def sequential_peer(store: _Store) -> Peer:
                    backend = store.backends[0]
                    return Peer(
                        store.name,
                        lambda n: loop.run_until_complete(_sequential(backend, n)),
                        sequential_n,
                    )

                timings = measure([sequential_peer(s) for s in stores], config)
                rows.extend(_sequential_rows(timings, stores, unavailable, sequential_n))

                for instances in (1, WRITERS):
                    for store in stores:
                        loop.run_until_complete(_open(store, instances))
                    runs: dict[str, list[tuple[float, int, int]]] = {s.name: [] for s in stores}
                    for r in range(concurrent_rounds):
                        order = stores if r % 2 == 0 else stores[::-1]
                        for store in order:
                            found = loop.run_until_complete(
                                _concurrent(store.backends[:instances], per_writer)
                            )
                            runs[store.name].append(found)
                    rows.extend(_concurrent_rows(runs, instances, unavailable))
            finally:
                for store in stores:
                    for backend in store.backends:
                        loop.run_until_complete(backend.aclose())
    finally:
        loop.close()
    return rows


def _title(kind: str) -> str:
    return f"metadata merges/s ({kind})"


def _unavailable_row(title: str, reason: str) -> Row:
    return Row(scenario="MERGE", title=title, peer=POSTGRES, note=f"unavailable: {reason}")


def _sequential_rows(
    timings: dict[str, Any], stores: list[_Store], unavailable: dict[str, str], n: int
) -> list[Row]:
    title = _title("one writer, back to back")
    rows = []
    sqlite_timing = timings[SQLITE]
    for store in stores:
        timing = timings[store.name]
        per_s = 1e6 / timing.median_us
        text = f"{per_s:,.0f} merges/s"
        ratio = None
        if store.name != SQLITE:
            ratio = statistics.median(
                y / x for x, y in zip(timing.rounds_ns, sqlite_timing.rounds_ns, strict=True)
            )
            text += f" = {ratio:.2f}{X} SQLite's"
        rows.append(
            Row(
                scenario="MERGE",
                title=title,
                peer=f"sessionclaims users.update_user_metadata, {store.name}",
                ours=True,
                median_us=timing.median_us,
                p25_us=timing.p25_us,
                p75_us=timing.p75_us,
                rounds_us=timing.rounds_us,
                iterations=timing.iterations,
                value=per_s,
                unit="merges/s",
                ratio=ratio,
                ratio_text=text,
                target="report only",
                extra={"store": store.name, "merges_per_batch": n},
            )
        )
    if POSTGRES in unavailable:
        rows.append(_unavailable_row(title, unavailable[POSTGRES]))
    return rows


def _concurrent_rows(
    runs: dict[str, list[tuple[float, int, int]]], instances: int, unavailable: dict[str, str]
) -> list[Row]:
    kind = "one Backend" if instances == 1 else f"{instances} Backends, one each"
    title = _title(f"{WRITERS} concurrent writers on one user, {kind}")
    rows = []
    rates: dict[str, float] = {}
    for name, found in runs.items():
        per_s = [expected / seconds for seconds, expected, _ in found]
        rates[name] = statistics.median(per_s)
        lost = sum(expected - good for _, expected, good in found)
        written = sum(expected for _, expected, _ in found)
        text = f"{rates[name]:,.0f} merges/s; {written - lost:,}/{written:,} keys kept"
        ratio = None
        if name != SQLITE and SQLITE in rates:
            ratio = rates[name] / rates[SQLITE]
            text += f"; {ratio:.2f}{X} SQLite's"
        rows.append(
            Row(
                scenario="MERGE",
                title=title,
                peer=f"sessionclaims users.update_user_metadata, {name}",
                ours=True,
                median_us=1e6 / rates[name],
                rounds_us=[1e6 / x for x in per_s],
                value=rates[name],
                unit="merges/s",
                ratio=ratio,
                ratio_text=text,
                target="nothing lost",
                ok=lost == 0,
                extra={
                    "store": name,
                    "writers": WRITERS,
                    "backends": instances,
                    "merges_per_writer": found[0][1] // WRITERS,
                    "runs": [
                        {"seconds": s, "keys_written": e, "keys_kept": g} for s, e, g in found
                    ],
                    "median_us_means": "1e6 / merges per second (inverse throughput)",
                },
            )
        )
    if POSTGRES in unavailable:
        rows.append(_unavailable_row(title, unavailable[POSTGRES]))
    return rows


SCENARIO = Scenario(
    id="MERGE",
    title="metadata merges",
    run=run,
    description=(
        "users.update_user_metadata merges/s, SQLite file vs PostgreSQL: one writer, and 8 "
        "concurrent writers on one user (nothing lost)"
    ),
)
