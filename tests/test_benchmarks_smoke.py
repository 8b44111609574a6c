"""The benchmark harness runs end to end on a tiny configuration.

Behaviour only: the JSON is written with the documented structure and the table renders.
No timing is asserted anywhere (performance.md: speed is measured by ``benchmarks/``,
never checked by a test).
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
from benchmarks.__main__ import main
from benchmarks.__main__ import run as run_benchmarks
from benchmarks.harness import Config, Peer, measure
from benchmarks.scenarios import SCENARIOS, select

ROW_FIELDS = {
    "scenario",
    "title",
    "peer",
    "median_us",
    "p25_us",
    "p75_us",
    "rounds_us",
    "iterations",
    "ratio",
    "ratio_text",
    "target",
    "ok",
    "ours",
    "value",
    "unit",
    "note",
    "extra",
}


def test_measure_interleaves_rounds_and_keeps_every_round() -> None:
    calls: list[str] = []

    def peer(name: str) -> Peer:
        def batch(n: int) -> int:
            calls.append(name)
            return n * 1000

        return Peer(name, batch, iterations=5)

    timings = measure([peer("a"), peer("b"), peer("c")], Config.tiny(), rounds=3)
    assert [len(t.rounds_ns) for t in timings.values()] == [3, 3, 3]
    # after the warm-up calls, each round starts with a different peer
    assert calls[-9:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert timings["a"].median_us == pytest.approx(1.0)


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        select("P1,NOPE")
    assert [s.id for s in select("p7")] == ["P7"]


def test_tiny_run_writes_json_and_renders_the_table(tmp_path: Path) -> None:
    output = tmp_path / "latest.json"
    table, document = run_benchmarks(
        Config.tiny(), only="P1,P7,CACHE", output=output, log=io.StringIO()
    )

    on_disk = json.loads(output.read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(document))
    assert on_disk["schema"] == 1
    assert on_disk["errors"] == {}
    assert on_disk["config"]["scenarios"] == ["P1", "P7", "CACHE"]
    env = on_disk["environment"]
    for key in ("date", "machine", "cores", "python", "versions"):
        assert env[key]
    results = on_disk["results"]
    assert {row["scenario"] for row in results} == {"P1", "P7", "CACHE"}
    for row in results:
        assert set(row) == ROW_FIELDS

    p1 = {row["peer"]: row for row in results if row["scenario"] == "P1"}
    ours = next(row for row in p1.values() if row["ours"])
    assert ours["median_us"] is not None
    assert "overhead_us" in ours["extra"]
    assert len(ours["rounds_us"]) == Config.tiny().rounds
    assert any("PyJWT" in name for name in p1)
    assert any("Clerk" in name for name in p1)  # timed, or listed as unavailable

    p7 = [row for row in results if row["scenario"] == "P7"]
    assert p7
    assert all(row["value"] == 0 and row["ok"] is True for row in p7)

    lines = table.splitlines()
    assert lines[0].startswith("Benchmarks of ")
    assert lines[2] == "| scenario | peer | median µs/request | ratio to ours | target | holds |"
    assert len(lines) == 4 + len(results)
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[2:])
    assert on_disk["markdown"] == table


def test_cold_path_scenario_runs_on_a_tiny_pool(tmp_path: Path) -> None:
    _, document = run_benchmarks(
        Config.tiny(), only="P2", output=tmp_path / "p2.json", log=io.StringIO()
    )
    assert document["errors"] == {}
    algs = {row["extra"]["alg"] for row in document["results"]}
    assert algs == {"ES256", "RS256", "EdDSA"}
    ours = [row for row in document["results"] if row["ours"]]
    # Per algorithm: ours with its cache filling up, and with its cache already full.
    assert len(ours) == 6
    assert sum("cache full" in row["peer"] for row in ours) == 3
    assert all(row["ratio"] is not None and row["target"] for row in ours)


def test_cli_lists_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    for scenario in SCENARIOS:
        assert scenario.id in listed


class _FakeStore:
    """Just enough of a store for the counting wrapper: every method is a coroutine."""

    async def get_user(self, user_id: str) -> None:
        return None


def test_p7_full_mode_hook_counts_store_calls() -> None:
    from benchmarks.scenarios._fixtures import ISSUER
    from benchmarks.scenarios.p7_store_calls import count_hot_requests, full_mode_setup

    from sessionclaims import Backend

    setup = full_mode_setup(
        lambda store: Backend(store=store, issuer=ISSUER, session_template={"role": "admin"})
    )
    count = asyncio.run(count_hot_requests(setup, 100))
    assert count.signed_in == 100
    assert count.deltas == {"store calls": 0}  # hot requests: no store call at all
    calls = count.details["store_calls_by_method"]
    assert calls["insert_user"] == 1  # the set-up's calls are counted
    assert calls["insert_session"] == 1


def test_counting_store_leaves_out_the_change_feed_tasks() -> None:
    from benchmarks.scenarios.p7_store_calls import CountingStore

    store = CountingStore(_FakeStore())

    async def main() -> None:
        await store.get_user("user_1")
        feed = asyncio.create_task(store.get_user("user_1"), name="sessionclaims-feed-poll")
        other = asyncio.create_task(store.get_user("user_1"), name="request")
        await asyncio.gather(feed, other)

    asyncio.run(main())
    assert store.calls == {"get_user": 2}
    assert store.feed_calls == {"get_user": 1}
    assert store.total == 2


def test_percentile_interpolates_like_numpy() -> None:
    from benchmarks.harness import percentile

    assert percentile([3.0], 99) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile(list(map(float, range(101))), 99) == pytest.approx(99.0)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def _rows_of(document: dict[str, Any], scenario: str) -> list[dict[str, Any]]:
    return [row for row in document["results"] if row["scenario"] == scenario]


def test_full_mode_scenarios_run_on_a_tiny_configuration(tmp_path: Path) -> None:
    """P3, P6, P9, TPL, ISSUE and MERGE end to end (in process; MERGE also on PostgreSQL when
    the server is reachable, else its rows say why not). Behaviour only, no timing."""
    _, document = run_benchmarks(
        Config.tiny(),
        only="P3,P6,P9,TPL,ISSUE,MERGE",
        output=tmp_path / "f.json",
        log=io.StringIO(),
    )
    assert document["errors"] == {}

    p3 = _rows_of(document, "P3")
    assert len(p3) == 5
    reissue = [row for row in p3 if "reissue request" in row["peer"]]
    assert len(reissue) == 2
    for row in reissue:
        assert row["extra"]["p50_us"] > 0
        assert row["extra"]["p99_us"] >= row["extra"]["p50_us"]
        assert row["extra"]["token_bytes"] <= 4000
        assert row["extra"]["public_metadata_bytes"] > 3500
    assert "store.get_user" in reissue[0]["extra"]["breakdown_p50_us"]

    # P6 checks behaviour (every older token stale, bounded map), not speed.
    p6 = _rows_of(document, "P6")
    assert [row["ok"] for row in p6] == [True, True]
    for row in p6:
        assert row["extra"]["older_tokens_stale"] == row["extra"]["older_tokens_checked"]
        assert row["extra"]["tracked"] <= row["extra"]["freshness_size"]

    # P9: the organization token is served hot; every member's older token is stale; after
    # the real store write every member's next request is reissued with the new claims.
    p9 = _rows_of(document, "P9")
    counted = [row for row in p9 if row["unit"] == "requests"]
    assert [row["value"] for row in counted] == [10_000, 100]
    assert [row["ok"] for row in counted] == [True, True]
    writes = [row for row in p9 if row["title"] == "org store write" and row["unit"] == ""]
    assert len(writes) == 1
    assert writes[0]["extra"]["members"] == 100
    assert len(writes[0]["rounds_us"]) == len(writes[0]["extra"]["one_member_rounds_us"]) > 0
    assert any(row["unit"] == "bytes" and row["value"] > 0 for row in p9)

    assert {row["peer"] for row in _rows_of(document, "TPL")} >= {
        "sessionclaims CompiledTemplate.render (the example template)"
    }
    assert len(_rows_of(document, "ISSUE")) == 3

    merges = _rows_of(document, "MERGE")
    kept = [row for row in merges if row["target"] == "nothing lost"]
    assert kept
    assert all(row["ok"] is True for row in kept)
    for row in merges:
        assert row["value"] is not None or row["note"].startswith("unavailable: ")


@pytest.mark.slow
def test_process_scenarios_run_on_a_tiny_configuration(tmp_path: Path) -> None:
    """P4 (a second uvicorn process) and P5 (two servers and a load generator) end to end,
    a few seconds in all. The same-process freshness promise is behaviour: 0 stale."""
    _, document = run_benchmarks(
        Config.tiny(), only="P4,P5", output=tmp_path / "p.json", log=io.StringIO()
    )
    assert document["errors"] == {}

    p4 = [row for row in _rows_of(document, "P4") if row["value"] is not None]  # rows that ran
    same_process = [row for row in p4 if "same process" in row["peer"]]
    assert same_process
    assert all(row["value"] == 0 and row["ok"] is True for row in same_process)
    across = [row for row in p4 if row["unit"] == "ms"]
    assert across
    assert all(row["extra"]["timeouts"] == 0 for row in across)

    p5 = _rows_of(document, "P5")
    assert len(p5) == 3  # bare, ours, the A/A control
    assert all(row["value"] > 0 for row in p5)
    assert sum(row["ours"] for row in p5) == 1


@pytest.mark.slow
def test_services_scenario_runs_on_a_tiny_configuration(tmp_path: Path) -> None:
    """P8 end to end: the auth app and the verify-only service as two uvicorn processes, a
    few seconds in all. Behaviour only: every trial sees the change in the service (none
    gives up), fresh tokens make no network call; no delay is checked."""
    _, document = run_benchmarks(
        Config.tiny(), only="P8", output=tmp_path / "p8.json", log=io.StringIO()
    )
    assert document["errors"] == {}
    role, revocation, fresh, memory = _rows_of(document, "P8")
    for row in (role, revocation):
        assert row["unit"] == "ms"
        assert len(row["extra"]["times_ms"]) == 3  # Config.tiny: 3 trials, none timed out
    assert "role change" in role["peer"]
    assert "revocation" in revocation["peer"]
    assert fresh["value"] == 0
    assert fresh["ok"] is True  # 0 network calls and 0 wrong answers
    assert memory["unit"] == "KiB"
    assert memory["value"] is not None or memory["note"].startswith("unavailable")


def test_outage_scenario_stops_a_private_server_and_sees_the_store_back(tmp_path: Path) -> None:
    """P10 on a tiny configuration: every request made while the server is down gets the
    outage answer, and a write succeeds after it is back (the figures are not checked)."""
    from benchmarks._pg_cluster import cluster_problem

    _, document = run_benchmarks(
        Config.tiny(), only="P10", output=tmp_path / "p10.json", log=io.StringIO()
    )
    assert document["errors"] == {}
    p10 = _rows_of(document, "P10")
    problem = cluster_problem()
    if problem is not None or p10[0]["note"].startswith("unavailable"):
        assert len(p10) == 1
        pytest.skip(p10[0]["note"])
    assert len(p10) == 4  # read, write, reissue while down; the first write once back
    down, back = p10[:3], p10[3]
    assert all(row["extra"]["other_answers"] == 0 for row in down)
    assert all(row["extra"]["requests"] == len(row["extra"]["times_ms"]) > 0 for row in down)
    assert back["extra"]["timeouts"] == 0
    assert len(back["extra"]["recovery_ms"]) == 1


def test_instruction_count_child_verifies_what_it_counts(tmp_path: Path) -> None:
    """The callgrind tool's child (valgrind itself is not needed for this) runs each mode."""
    from benchmarks import instructions

    tokens = tmp_path / "tokens.json"
    instructions._sign("ES256", tokens)
    cached = {mode: instructions._child(mode, tokens, 5) for mode in instructions.MODES}
    # raw caches only its warm-up token; ours adds the five; the full cache stays full.
    assert cached == {"raw": 1, "ours": 6, "ours-full": instructions._FULL_CACHE}
    assert instructions.main(["--child", "ours-full", str(tokens), "3"]) == 0
