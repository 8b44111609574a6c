"""The scenarios, in the order they run and print.

Adding one means writing one module that defines ``SCENARIO = Scenario(...)`` and adding
it to :data:`SCENARIOS`.
"""

from __future__ import annotations

from ._base import Scenario
from .cache_memory import SCENARIO as CACHE_MEMORY
from .issuance import SCENARIO as ISSUANCE
from .metadata_merges import SCENARIO as METADATA_MERGES
from .p1_hot import SCENARIO as P1_HOT
from .p2_cold import SCENARIO as P2_COLD
from .p3_reissue import SCENARIO as P3_REISSUE
from .p4_freshness import SCENARIO as P4_FRESHNESS
from .p5_http_load import SCENARIO as P5_HTTP_LOAD
from .p6_scale import SCENARIO as P6_SCALE
from .p7_store_calls import SCENARIO as P7_STORE_CALLS
from .p8_services import SCENARIO as P8_SERVICES
from .p9_org_fanout import SCENARIO as P9_ORG_FANOUT
from .p10_outage import SCENARIO as P10_OUTAGE
from .template_render import SCENARIO as TEMPLATE_RENDER

__all__ = ["SCENARIOS", "Scenario", "select"]

SCENARIOS: list[Scenario] = [
    P1_HOT,
    P2_COLD,
    P3_REISSUE,
    P4_FRESHNESS,
    P5_HTTP_LOAD,
    P6_SCALE,
    P7_STORE_CALLS,
    P8_SERVICES,
    P9_ORG_FANOUT,
    P10_OUTAGE,
    CACHE_MEMORY,
    TEMPLATE_RENDER,
    ISSUANCE,
    METADATA_MERGES,
]


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
