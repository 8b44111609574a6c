"""The benchmark harness runs end to end on a tiny configuration.

Behaviour only: the JSON is written with the documented structure and the table renders.
No timing is asserted anywhere (performance.md: speed is measured by ``benchmarks/``,
never checked by a test).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
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
    assert sum(row["ours"] for row in document["results"]) == 3


def test_cli_lists_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    for scenario in SCENARIOS:
        assert scenario.id in listed


class _FakeStore:
    """Just enough of a store for the full-mode hook: every method is a coroutine."""

    async def open(self) -> None:
        return None

    async def insert_user(self, user_id: str) -> None:
        return None

    async def get_user(self, user_id: str) -> None:
        return None


class _FakeBackend:
    """Stands in for ``Backend`` to exercise P7's full-mode hook, ahead of the real one."""

    def __init__(self, store: Any) -> None:
        from benchmarks.scenarios._fixtures import ISSUER, KeyMaterial

        from sessionclaims._authn import VerifyOnlyAuthenticator
        from sessionclaims.tokens import TokenVerifier, VerifyOptions

        self.store = store
        self._km = KeyMaterial.generate("ES256")
        self._verifier = TokenVerifier(VerifyOptions(issuer=ISSUER), clock=time.time)
        self._authenticator = VerifyOnlyAuthenticator(self._km.key_set, self._verifier)
        outer = self

        class Users:
            async def create_user(self, **_: Any) -> Any:
                await outer.store.insert_user("user_1")
                return type("User", (), {"id": "user_1"})()

        class Sessions:
            async def create_session(self, user_id: str) -> Any:
                await outer.store.get_user(user_id)
                return type("NewSession", (), {"token": outer._km.token()})()

        self.users = Users()
        self.sessions = Sessions()

    async def ensure_open(self) -> None:
        await self.store.open()

    async def aclose(self) -> None:
        return None

    def authenticator(self, *, scopes_claim: str | None = "role") -> Any:
        return self._authenticator


def test_p7_full_mode_hook_counts_store_calls() -> None:
    from benchmarks.scenarios.p7_store_calls import count_hot_requests, full_mode_setup

    setup = full_mode_setup(_FakeBackend, inner_store=_FakeStore)
    count = asyncio.run(count_hot_requests(setup, 100))
    assert count.signed_in == 100
    assert count.deltas == {"store calls": 0}
    assert count.details["store_calls_by_method"] == {"open": 1, "insert_user": 1, "get_user": 1}
