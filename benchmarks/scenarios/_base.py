"""What a scenario is, and what scenarios share (keys, tokens, apps)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..harness import Config
from ..report import Row

__all__ = ["Scenario"]


@dataclass(frozen=True, slots=True)
class Scenario:
    """One benchmark: ``run(config)`` returns the rows it contributes to the table."""

    id: str
    """What ``--only`` selects by (``P1``)."""
    title: str
    run: Callable[[Config], list[Row]]
    description: str = ""
