"""CACHE memory per verified-token cache entry (tracemalloc, not timed).

``N`` distinct ES256 session tokens (the default algorithm, claims as in P1) arrive as
header bytes, are decoded to ``str`` the way the middleware does it, and verified once
by one ``TokenVerifier`` whose cache holds them all. The memory still allocated
afterwards (after a full collection), divided by ``N``, is what one cached token costs:
the token string the cache keeps alive, its claims, and the cache's own bookkeeping.
Allocations made once per verifier are excluded by verifying one token before tracing.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from typing import Any

from sessionclaims.tokens import TokenVerifier, VerifyOptions

from ..harness import Config
from ..report import Row
from ._base import Scenario
from ._fixtures import ISSUER, KeyMaterial

__all__ = ["SCENARIO", "bytes_per_entry", "run"]

FULL_ENTRIES = 5_000


def bytes_per_entry(entries: int, alg: str = "ES256") -> dict[str, Any]:
    km = KeyMaterial.generate(alg)
    raw_tokens = [km.token(n).encode("latin-1") for n in range(entries + 1)]
    verifier = TokenVerifier(
        VerifyOptions(issuer=ISSUER), clock=time.time, cache_size=entries * 2 + 16
    )
    key_set = km.key_set
    verifier.verify(raw_tokens.pop().decode("latin-1"), key_set)  # per-verifier set-up
    token_str_bytes = sys.getsizeof(raw_tokens[0].decode("latin-1"))

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for raw in raw_tokens:
            verifier.verify(raw.decode("latin-1"), key_set)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    per_entry = (after - before) / entries
    return {
        "entries": entries,
        "alg": alg,
        "bytes_per_entry": per_entry,
        "token_chars": len(raw_tokens[0]),
        "token_str_bytes": token_str_bytes,
        "other_bytes_per_entry": per_entry - token_str_bytes,
    }


def run(config: Config) -> list[Row]:
    entries = config.scaled(FULL_ENTRIES, minimum=20)
    found = bytes_per_entry(entries)
    per_entry = found["bytes_per_entry"]
    return [
        Row(
            scenario="CACHE",
            title="verified-token cache memory",
            peer=f"sessionclaims TokenVerifier, {entries:,} cached {found['alg']} tokens",
            ours=True,
            value=per_entry,
            unit="bytes/entry",
            ratio=per_entry,
            ratio_text=(
                f"{per_entry:,.0f} bytes/entry (token string {found['token_str_bytes']} B "
                f"+ {found['other_bytes_per_entry']:,.0f} B claims and bookkeeping)"
            ),
            target="report only",
            extra=found,
        )
    ]


SCENARIO = Scenario(
    id="CACHE",
    title="verified-token cache memory",
    run=run,
    description="tracemalloc: bytes retained per verified token held in the cache",
)
