"""``python -m benchmarks`` (``make bench``): run the scenarios, print one table, write JSON.

    python -m benchmarks                 # every scenario, full run (a few minutes at most)
    python -m benchmarks --quick         # ~10 s smoke run; numbers are rough
    python -m benchmarks --only P1,P2    # pick scenarios by id
    python -m benchmarks --list          # what there is

The exit status is 0 unless a scenario crashed (or, with ``--strict``, a target failed).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .harness import Config
from .report import Row, environment, render_table, to_json, write_json

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="sessionclaims against its peers, side by side, in one process.",
    )
    parser.add_argument("--quick", action="store_true", help="a ~10 s smoke run (rough numbers)")
    parser.add_argument("--only", metavar="IDS", help="comma-separated scenario ids, e.g. P1,P2")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where to write the JSON (default: benchmarks/results/latest.json)",
    )
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a target does not hold"
    )
    return parser


def run(
    config: Config,
    *,
    only: str | None = None,
    output: Path | None = DEFAULT_OUTPUT,
    log: Any = sys.stderr,
) -> tuple[str, dict[str, Any]]:
    """Run the selected scenarios; return the Markdown and the JSON document."""
    from .scenarios import select  # imports the library and every peer

    scenarios = select(only)
    env = environment()
    config_doc = {**asdict(config), "scenarios": [s.id for s in scenarios]}
    rows: list[Row] = []
    errors: dict[str, str] = {}
    started = time.perf_counter()
    for scenario in scenarios:
        print(f"[bench] {scenario.id} {scenario.title} ...", file=log, flush=True)
        t0 = time.perf_counter()
        try:
            rows.extend(scenario.run(config))
        except Exception as exc:
            errors[scenario.id] = "".join(traceback.format_exception_only(exc)).strip()
            traceback.print_exc(file=log)
            rows.append(
                Row(
                    scenario=scenario.id,
                    title=scenario.title,
                    peer="(scenario failed)",
                    note=f"error: {errors[scenario.id]}",
                    ok=False,
                )
            )
        print(f"[bench] {scenario.id} done in {time.perf_counter() - t0:.1f} s", file=log)
    duration = time.perf_counter() - started
    table = render_table(rows, env, config_doc)
    document = to_json(rows, env, config_doc, duration_s=duration, errors=errors)
    document["markdown"] = table
    if output is not None:
        write_json(document, output)
    return table, document


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        from .scenarios import SCENARIOS

        for scenario in SCENARIOS:
            print(f"{scenario.id:6} {scenario.title}: {scenario.description}")
        return 0
    config = Config.quick() if args.quick else Config.full()
    if args.rounds:
        config = Config(**{**asdict(config), "rounds": args.rounds})
    try:
        table, document = run(config, only=args.only, output=args.output)
    except ValueError as exc:  # unknown scenario id
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table)
    print(f"\n(JSON: {args.output}; {document['duration_s']} s)", file=sys.stderr)
    if document["errors"]:
        return 1
    failed = [row for row in document["results"] if row["ok"] is False]
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
