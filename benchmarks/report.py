"""Results: one Markdown table for the README, the same data as JSON.

Every scenario returns :class:`Row` objects; this module only formats them. A row is
either timed (``median_us`` set) or counted (``value`` + ``unit``, e.g. fetches or bytes),
and carries its own ratio text, because "ratio to ours" reads differently per scenario:
P1 compares overheads over bare Starlette, P2 compares whole verify calls.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["X", "Row", "environment", "render_table", "to_json", "write_json"]

SCHEMA_VERSION = 1

X = "\N{MULTIPLICATION SIGN}"
"""The sign ratios are printed with ("12x" reads worse in a table)."""

PEER_PACKAGES = (
    "starlette",
    "PyJWT",
    "cryptography",
    "joserfc",
    "clerk-backend-api",
    "cachetools",
    "httpx",
)


@dataclass(slots=True)
class Row:
    """One line of the table."""

    scenario: str
    """Short id: ``P1``, ``P2/ES256``, ``P7``..."""
    title: str
    peer: str
    median_us: float | None = None
    p25_us: float | None = None
    p75_us: float | None = None
    rounds_us: list[float] = field(default_factory=list)
    iterations: int | None = None
    """Calls per round."""
    ratio: float | None = None
    """The number the target is about (its meaning is in ``ratio_text``)."""
    ratio_text: str = ""
    target: str = ""
    ok: bool | None = None
    """``None``: informational row (no target), or peer unavailable."""
    ours: bool = False
    value: float | None = None
    """For counted rows: the count / size (see ``unit``)."""
    unit: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# --- environment ----------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in PEER_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        from sessionclaims.__about__ import __version__

        versions["sessionclaims"] = __version__
    except ImportError:  # pragma: no cover - the package is always there in this repo
        versions["sessionclaims"] = "unknown"
    return versions


def _git_revision() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    revision = done.stdout.strip()
    if not revision:
        return None
    return revision + ("-dirty" if dirty.stdout.strip() else "")


def environment() -> dict[str, Any]:
    """Where and when the figures come from."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _cpu_model(),
        "processor": platform.processor(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(terse=True),
        "executable": sys.executable,
        "versions": _versions(),
        "git": _git_revision(),
    }


# --- table ------------------------------------------------------------------------------


def _us(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _holds(row: Row) -> str:
    if row.ok is None:
        return "—"
    return "✅" if row.ok else "❌"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def header_line(env: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    return (
        f"Benchmarks of {env['date']} on {env['machine']} ({env['cores']} cores), "
        f"{env['python']}, {env['platform']}; {config['rounds']} interleaved rounds per "
        f"scenario, medians ({config['name']} run)."
    )


def render_table(rows: Iterable[Row], env: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """The Markdown the README carries: a header line, then one table."""
    lines = [
        header_line(env, config),
        "",
        "| scenario | peer | median µs/request | ratio to ours | target | holds |",
        "| --- | --- | ---: | --- | --- | :---: |",
    ]
    for row in rows:
        peer = f"**{row.peer}**" if row.ours else row.peer
        measured = _us(row.median_us)
        ratio = row.ratio_text or "—"
        if row.note:
            ratio = f"{ratio} ({row.note})" if row.ratio_text else row.note
        lines.append(
            "| "
            + " | ".join(
                _cell(cell)
                for cell in (
                    f"{row.scenario} {row.title}",
                    peer,
                    measured,
                    ratio,
                    row.target or "—",
                    _holds(row),
                )
            )
            + " |"
        )
    return "\n".join(lines)


# --- JSON ---------------------------------------------------------------------------------


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def to_json(
    rows: Iterable[Row],
    env: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    duration_s: float,
    errors: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "environment": dict(env),
        "config": dict(config),
        "duration_s": round(duration_s, 2),
        "errors": dict(errors or {}),
        "results": [_rounded(asdict(row)) for row in rows],
    }


def write_json(document: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
