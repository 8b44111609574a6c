"""The scenarios, in the order they run and print.

Adding one (P3 reissue, P4 freshness, P5 HTTP load, P6 memory, ...) means writing one
module that defines ``SCENARIO = Scenario(...)`` and adding it to :data:`SCENARIOS`.
"""

from __future__ import annotations

from ._base import Scenario
from .cache_memory import SCENARIO as CACHE_MEMORY
from .p1_hot import SCENARIO as P1_HOT
from .p2_cold import SCENARIO as P2_COLD
from .p3_reissue import SCENARIO as P3_REISSUE
from .p4_freshness import SCENARIO as P4_FRESHNESS
from .p7_store_calls import SCENARIO as P7_STORE_CALLS

__all__ = ["SCENARIOS", "Scenario", "select"]

SCENARIOS: list[Scenario] = [P1_HOT, P2_COLD, P3_REISSUE, P4_FRESHNESS, P7_STORE_CALLS, CACHE_MEMORY]


def select(only: str | None) -> list[Scenario]:
    """The scenarios named in ``only`` (comma-separated ids, case-insensitive), or all."""
    if not only:
        return list(SCENARIOS)
    wanted = [name.strip().upper() for name in only.split(",") if name.strip()]
    known = {scenario.id.upper(): scenario for scenario in SCENARIOS}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[name] for name in wanted]
