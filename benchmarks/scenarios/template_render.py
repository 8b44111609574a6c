"""TPL template render cost: an example session template on ~4 KB of public metadata.

The example session template (``metadata`` = the whole public metadata, ``role``
with a fallback, an interpolated ``greeting`` from unsafe metadata, a nested ``org.plan``)
is compiled once; what is timed is ``CompiledTemplate.render(user, session)`` for a user
whose public metadata is ~4 KB as compact JSON. For scale, the same run times one
``json.dumps`` (compact) of that metadata, the least any token carrying it pays again
when it is signed. Report only.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from typing import Any

from sessionclaims.models import Session
from sessionclaims.stores.base import UserRecord
from sessionclaims.templates import compile_template

from ..harness import Config, Peer, measure
from ..report import Row, X
from ._base import Scenario
from ._full import big_metadata, compact_size

__all__ = ["EXAMPLE_TEMPLATE", "SCENARIO", "run"]

EXAMPLE_TEMPLATE: dict[str, Any] = {
    "metadata": "{{user.public_metadata}}",
    "role": "{{user.public_metadata.role || 'member'}}",
    "greeting": "Hello {{user.unsafe_metadata.nickname}}",
    "org": {"plan": "{{user.public_metadata.plan}}"},
}
"""The example session template: every kind of value a template renders."""

RENDER = "sessionclaims CompiledTemplate.render (the example template)"
DUMPS = "json.dumps of the same public metadata (compact; reference)"


def run(config: Config) -> list[Row]:
    templates_logger = logging.getLogger("sessionclaims.templates")
    level = templates_logger.level
    templates_logger.setLevel(logging.ERROR)  # the example reads unsafe metadata: it warns
    try:
        template = compile_template(EXAMPLE_TEMPLATE, name="session")
    finally:
        templates_logger.setLevel(level)
    metadata = big_metadata(profile_bytes=2800)
    now = int(time.time() * 1000)
    user = UserRecord(
        id="user_" + "a" * 26,
        external_id=None,
        created_at=now,
        updated_at=now,
        public_metadata=metadata,
        private_metadata={},
        unsafe_metadata={"nickname": "Ada"},
    ).to_user()
    session = Session(
        id="sess_" + "b" * 26,
        user_id=user.id,
        status="active",
        created_at=now,
        expire_at=now + 3_600_000,
        last_active_at=now,
    )
    claims = template.render(user, session)
    if claims["role"] != "admin" or claims["greeting"] != "Hello Ada" or "metadata" not in claims:
        raise RuntimeError(f"unexpected render: {sorted(claims)}")
    render = template.render
    dumps = json.dumps

    def render_batch(n: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(n):
            render(user, session)
        return time.perf_counter_ns() - start

    def dumps_batch(n: int) -> int:
        start = time.perf_counter_ns()
        for _ in range(n):
            dumps(metadata, separators=(",", ":"), ensure_ascii=False)
        return time.perf_counter_ns() - start

    timings = measure([Peer(RENDER, render_batch), Peer(DUMPS, dumps_batch)], config)
    ratio = statistics.median(
        x / y for x, y in zip(timings[RENDER].rounds_ns, timings[DUMPS].rounds_ns, strict=True)
    )
    size = compact_size(metadata)
    title = f"template render ({size / 1000:.1f} KB public metadata)"
    extra = {"public_metadata_bytes": size, "claims_bytes": compact_size(claims)}
    rows = []
    for name in (RENDER, DUMPS):
        timing = timings[name]
        ours = name == RENDER
        rows.append(
            Row(
                scenario="TPL",
                title=title,
                peer=name,
                ours=ours,
                median_us=timing.median_us,
                p25_us=timing.p25_us,
                p75_us=timing.p75_us,
                rounds_us=timing.rounds_us,
                iterations=timing.iterations,
                ratio=ratio if ours else None,
                ratio_text=(
                    f"{timing.median_us:.1f} µs per render = {ratio:.2f}{X} one json.dumps"
                    if ours
                    else "reference"
                ),
                target="report only" if ours else "",
                extra=extra,
            )
        )
    return rows


SCENARIO = Scenario(
    id="TPL",
    title="template render",
    run=run,
    description="µs to render the example session template for ~4 KB public metadata",
)
