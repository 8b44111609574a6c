"""ISSUE session issuance cost against a bare signature.

The user and template of P3 (~4 KB public metadata, most of it in a ~3.9 KB ES256 token),
a backend on a temporary SQLite file. Three peers, interleaved:

* ``encode_token`` of the same claims with the backend's key: JSON, base64 and one ES256
  signature — the floor of any issuance;
* ``backend.issuer.session_token(user, session)``: render the template, add the standard
  claims, sign, check the size budget (what a reissue pays after its store reads);
* ``backend.sessions.create_session(user_id)``: the public call that signs a person in —
  read the user, insert the session, issue its first token (store round trips included).

Ratios are per round, to ``encode_token``. Report only.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from sessionclaims.tokens import encode_token

from ..harness import Config, Peer, Timing, measure
from ..report import Row, X
from ._base import Scenario
from ._full import (
    BIG_TEMPLATE,
    compact_size,
    create_big_user,
    make_backend,
    scratch_dir,
    sqlite_url,
)

__all__ = ["SCENARIO", "run"]

FULL_CREATES = 30

ENCODE = "encode_token (bare ES256 signature of the same claims; floor)"
SESSION_TOKEN = "sessionclaims issuer.session_token (render + claims + sign + size check)"
CREATE = "sessionclaims backend.sessions.create_session (user read + insert + first token)"


def run(config: Config) -> list[Row]:
    loop = asyncio.new_event_loop()
    try:
        with scratch_dir("issue") as directory:
            backend = make_backend(sqlite_url(directory, "issue"), template=BIG_TEMPLATE)
            try:
                loop.run_until_complete(backend.ensure_open())
                user_id, _ = loop.run_until_complete(create_big_user(backend))
                new = loop.run_until_complete(backend.sessions.create_session(user_id))
                user = loop.run_until_complete(backend.store.get_user(user_id))
                session = loop.run_until_complete(backend.store.get_session(new.session.id))
                assert user is not None
                assert session is not None
                issuer = backend.issuer
                signer = backend.keys.signer
                claims = issuer.session_claims(user, session, now=int(time.time()))
                token_bytes = len(new.token)

                def encode_batch(n: int) -> int:
                    start = time.perf_counter_ns()
                    for _ in range(n):
                        encode_token(claims, signer)
                    return time.perf_counter_ns() - start

                def session_token_batch(n: int) -> int:
                    start = time.perf_counter_ns()
                    for _ in range(n):
                        issuer.session_token(user, session)
                    return time.perf_counter_ns() - start

                async def creates(n: int) -> int:
                    start = time.perf_counter_ns()
                    for _ in range(n):
                        await backend.sessions.create_session(user_id)
                    return time.perf_counter_ns() - start

                timings = measure(
                    [
                        Peer(ENCODE, encode_batch),
                        Peer(SESSION_TOKEN, session_token_batch),
                        Peer(
                            CREATE,
                            lambda n: loop.run_until_complete(creates(n)),
                            config.scaled(FULL_CREATES, minimum=3),
                        ),
                    ],
                    config,
                )
            finally:
                loop.run_until_complete(backend.aclose())
    finally:
        loop.close()
    return _rows(timings, token_bytes, compact_size(user.public_metadata))


def _rows(timings: dict[str, Timing], token_bytes: int, metadata_bytes: int) -> list[Row]:
    title = (
        f"session issuance (ES256, {metadata_bytes / 1000:.1f} KB public metadata, "
        f"{token_bytes:,}-byte token; SQLite file)"
    )
    floor = timings[ENCODE]

    def row(name: str, **fields: Any) -> Row:
        timing = timings[name]
        return Row(
            scenario="ISSUE",
            title=title,
            peer=name,
            median_us=timing.median_us,
            p25_us=timing.p25_us,
            p75_us=timing.p75_us,
            rounds_us=timing.rounds_us,
            iterations=timing.iterations,
            extra={"token_bytes": token_bytes, "public_metadata_bytes": metadata_bytes},
            **fields,
        )

    rows = [row(ENCODE, ratio_text="floor")]
    for name in (SESSION_TOKEN, CREATE):
        ratio = statistics.median(
            x / y for x, y in zip(timings[name].rounds_ns, floor.rounds_ns, strict=True)
        )
        rows.append(
            row(
                name,
                ours=True,
                ratio=ratio,
                ratio_text=f"{ratio:.2f}{X} encode_token",
                target="report only",
            )
        )
    return rows


SCENARIO = Scenario(
    id="ISSUE",
    title="session issuance",
    run=run,
    description=(
        "issuer.session_token and sessions.create_session vs a bare encode_token signature"
    ),
)
