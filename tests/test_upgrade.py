"""Databases written by release 0.1.0 open with this code: every row kept, old tokens valid.

The fixtures in ``tests/upgrade/`` were written once by 0.1.0 (``tests/upgrade/generate.py``
says how); they are never regenerated. Each test opens a copy with the current code —
which applies every migration since schema version 1 — and compares with what 0.1.0
stored and answered. A migration that changes stored values must say so here, in
``expected_rows``.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from sessionclaims import (
    Backend,
    ExternalIdTaken,
    SessionClaimsMiddleware,
    SessionNotActive,
    TokenError,
)
from sessionclaims.backend._key_encryption import KeyEncryptionKey, is_sealed, unseal
from sessionclaims.stores import MembershipRecord, OrganizationRecord, open_store

from .helpers import FakeClock, bearer, client, make_app
from .stores.helpers import POSTGRES_URL, postgres_schema, require_postgres

pytestmark = pytest.mark.anyio

HERE = Path(__file__).parent / "upgrade"
SIDECAR: dict[str, Any] = json.loads((HERE / "v0.1.0.json").read_text(encoding="utf-8"))

# The tables and columns of schema version 1, with each table's primary key first.
V1_TABLES: dict[str, tuple[str, ...]] = {
    "users": (
        "id",
        "external_id",
        "created_at",
        "updated_at",
        "public_metadata",
        "private_metadata",
        "unsafe_metadata",
        "version",
    ),
    "sessions": (
        "id",
        "user_id",
        "status",
        "created_at",
        "expire_at",
        "last_active_at",
        "refresh_hash",
        "origin",
    ),
    "sign_ups": ("id", "status", "unsafe_metadata", "created_at", "user_id"),
    "signing_keys": ("kid", "alg", "private_key", "public_jwk", "created_at", "retire_at"),
    "changes": ("seq", "kind", "user_id", "session_id", "version", "created_at"),
}

Rows = dict[str, dict[Any, tuple[Any, ...]]]


@dataclass
class Fixture:
    """One 0.1.0 database, restored where the current code can open it."""

    name: str
    facts: dict[str, Any]
    url: str
    schema: str | None = None  # PostgreSQL only

    def store(self) -> Any:
        if self.schema is None:
            return open_store(self.url)
        return open_store(self.url, schema=self.schema, min_size=1, max_size=2, timeout=5.0)

    def backend(self, clock: FakeClock) -> Backend:
        settings = dict(SIDECAR["settings"], poll_interval=0.05)
        if self.facts["key_encryption_secret"]:
            settings["key_encryption_secret"] = self.facts["key_encryption_secret"]
        return Backend(self.url, clock=clock, store=self.store(), **settings)

    def raw_rows(self) -> Rows:
        """Every stored value of the version-1 columns, read with the database's own
        driver (no sessionclaims code in between)."""
        rows: Rows = {}
        if self.schema is None:
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"))
            try:
                for table, columns in V1_TABLES.items():
                    found = conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
                    rows[table] = {row[0]: tuple(row) for row in found}
            finally:
                conn.close()
            return rows
        import psycopg

        with psycopg.connect(POSTGRES_URL) as pg:
            for table, columns in V1_TABLES.items():
                cursor = pg.execute(f'SELECT {", ".join(columns)} FROM "{self.schema}".{table}')
                rows[table] = {row[0]: tuple(_plain(v) for v in row) for row in cursor}
        return rows


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview) else value


def restore_postgres(schema: str) -> None:
    """Load the plain-SQL dump into ``schema`` (the dump names its schema ``__SCHEMA__``)."""
    import psycopg

    dump = (HERE / SIDECAR["fixtures"]["postgres"]["file"]).read_text(encoding="utf-8")
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(dump.replace(SIDECAR["placeholder_schema"], schema))  # type: ignore[arg-type]


@pytest.fixture(
    params=["sqlite", "sqlite-encrypted", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fixture]:
    name: str = request.param
    facts = SIDECAR["fixtures"][name]
    if name != "postgres":
        copy = tmp_path / facts["file"]
        shutil.copyfile(HERE / facts["file"], copy)
        yield Fixture(name, facts, f"sqlite:///{copy}")
        return
    require_postgres()
    with postgres_schema() as schema:
        restore_postgres(schema)
        yield Fixture(name, facts, POSTGRES_URL, schema)


@pytest.fixture
async def opened(fixture: Fixture) -> AsyncIterator[tuple[Fixture, Backend, FakeClock]]:
    first_mint = min(token["minted_at"] for token in fixture.facts["tokens"])
    clock = FakeClock(first_mint)
    async with fixture.backend(clock) as backend:
        yield fixture, backend, clock


def moved_aside(facts: dict[str, Any]) -> list[str]:
    """The users whose external_id migration 2 moved aside (an older user has it)."""
    duplicates = facts.get("duplicate_external_id")
    return sorted(duplicates["newer"]) if duplicates else []


def expected_rows(before: Rows, after: Rows, facts: dict[str, Any]) -> Rows:
    """What the version-1 columns hold after every migration since 0.1.0.

    Migration 2 (external_id unique): a user that shared its external_id with an older
    user has none now, its version is one higher and ``updated_at`` is the migration's
    time; one ``user`` change per such user is appended to the log.

    Opening encrypts plain-text private keys (0.1.0 wrote them without a
    ``key_encryption_secret``) in place, under the secret derived from ``secret_key``:
    same ``kid``, algorithm, public key and times. Nothing else moves.

    Migration 3 (organizations) moves nothing here: it adds tables and the columns
    ``sessions.active_organization_id`` and ``changes.organization_id`` (checked in
    :func:`test_migration_3_adds_organizations_and_keeps_the_sequence`); on SQLite the change
    log is rebuilt, and every seq and value above must come through it."""
    expected = {table: dict(found) for table, found in before.items()}
    derived = KeyEncryptionKey.from_secret_key(SIDECAR["settings"]["secret_key"])
    for kid, (_, alg, private_key, public_jwk, created, retire) in before["signing_keys"].items():
        if not is_sealed(private_key):
            sealed = after["signing_keys"][kid][2]
            assert unseal(sealed, derived, kid) == private_key
            expected["signing_keys"][kid] = (kid, alg, sealed, public_jwk, created, retire)
    new_seqs = sorted(set(after["changes"]) - set(before["changes"]))
    assert len(new_seqs) == len(moved_aside(facts))
    for seq, user_id in zip(new_seqs, moved_aside(facts), strict=True):
        uid, _external, created, updated, public, private, unsafe, version = before["users"][
            user_id
        ]
        moved_at = after["users"][user_id][3]
        assert moved_at > updated
        expected["users"][user_id] = (
            uid,
            None,
            created,
            moved_at,
            public,
            private,
            unsafe,
            version + 1,
        )
        expected["changes"][seq] = (seq, "user", user_id, None, version + 1, moved_at)
    return expected


async def test_every_stored_value_is_kept(
    fixture: Fixture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sessionclaims.keys")
    before = fixture.raw_rows()
    assert all(before[table] for table in ("users", "sessions", "signing_keys", "changes"))
    async with fixture.backend(FakeClock(fixture.facts["tokens"][0]["minted_at"])):
        pass
    after = fixture.raw_rows()
    assert after == expected_rows(before, after, fixture.facts)
    warnings = [r.getMessage() for r in caplog.records if r.name.endswith("migrations")]
    if moved_aside(fixture.facts):
        (warning,) = warnings
        assert "external_id_duplicates" in warning
        for user_id in moved_aside(fixture.facts):
            assert user_id in warning
    else:
        assert warnings == []
    encrypted = [r.getMessage() for r in caplog.records if r.name == "sessionclaims.keys"]
    plain = sum(not is_sealed(row[2]) for row in before["signing_keys"].values())
    assert len(encrypted) == (1 if plain else 0)
    for message in encrypted:  # how many, and under which setting's secret
        assert message.startswith(f"encrypted {plain} stored signing key(s) at rest with")
        assert "from secret_key" in message


async def test_duplicate_external_ids_are_moved_aside_and_recorded(
    opened: tuple[Fixture, Backend, FakeClock],
) -> None:
    fixture, backend, _clock = opened
    duplicates = fixture.facts.get("duplicate_external_id")
    if duplicates is None:  # nothing to move: nothing recorded
        assert await raw_duplicates(fixture) == []
        return
    external_id = duplicates["external_id"]
    kept = await backend.users.get_user_by_external_id(external_id)
    assert kept.id == duplicates["oldest"]
    for user_id in duplicates["newer"]:
        assert (await backend.users.get_user(user_id)).external_id is None  # not deleted
    recorded = await raw_duplicates(fixture)
    assert recorded == [(u, external_id, duplicates["oldest"]) for u in sorted(duplicates["newer"])]
    with pytest.raises(ExternalIdTaken):
        await backend.users.create_user(external_id=external_id)
    with pytest.raises(ExternalIdTaken):
        await backend.users.create_user(external_id="ada")


async def raw_duplicates(fixture: Fixture) -> list[tuple[Any, ...]]:
    query = "SELECT user_id, external_id, kept_user_id FROM {}external_id_duplicates ORDER BY 1"
    if fixture.schema is None:
        conn = sqlite3.connect(fixture.url.removeprefix("sqlite:///"))
        try:
            return [tuple(row) for row in conn.execute(query.format(""))]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(POSTGRES_URL) as pg:
        return [tuple(row) for row in pg.execute(query.format(f'"{fixture.schema}".'))]


async def test_users_sessions_sign_ups_and_keys_read_back_as_0_1_0_answered(
    opened: tuple[Fixture, Backend, FakeClock],
) -> None:
    fixture, backend, clock = opened
    facts = fixture.facts
    users = await backend.users.list_users(limit=100)
    moved = moved_aside(facts)
    expected = [
        {**user, "external_id": None, "updated_at": ANY} if user["id"] in moved else user
        for user in facts["users"]
    ]
    assert [user.to_dict() for user in users.data] == expected
    clock.now = facts["tokens"][-1]["minted_at"]  # effective statuses as 0.1.0 saw them
    sessions = await backend.sessions.list_sessions(limit=100)
    assert [session.to_dict() for session in sessions.data] == [
        {**session, "active_organization_id": None} for session in facts["sessions"]
    ]
    for sign_up in facts.get("sign_ups", {}).values():
        assert (await backend.sign_ups.get_sign_up(sign_up["id"])).to_dict() == sign_up
    keys = [
        {"kid": k.kid, "alg": k.alg, "created_at": k.created_at, "retire_at": k.retire_at}
        for k in backend.keys.list()
    ]
    assert keys == facts["keys"]


async def test_tokens_minted_by_0_1_0_verify_through_the_middleware(
    opened: tuple[Fixture, Backend, FakeClock],
) -> None:
    fixture, backend, clock = opened
    app = make_app(backend)
    assert any(
        isinstance(m.cls, type) and m.cls is SessionClaimsMiddleware for m in app.user_middleware
    )
    async with client(app) as c:
        for token in fixture.facts["tokens"]:
            clock.now = token["minted_at"]
            answer = (await c.get("/whoami", headers=bearer(token["token"]))).json()
            if token["session_status"] == "active":
                assert answer["signed_in"], (token["label"], answer)
                assert answer["user_id"] == token["user_id"]
                claims = answer["claims"]
                assert claims["sid"] == token["session_id"]
                now = token["claims_now"]
                assert {
                    "role": claims["role"],
                    "plan": claims.get("plan"),
                    "nickname": claims.get("nickname"),
                } == now, token["label"]
            else:
                assert not answer["signed_in"], (token["label"], answer)
                assert answer["reason"] == "session-revoked", answer  # revoked, ended or deleted


async def test_refresh_credentials_issued_by_0_1_0_still_refresh(
    opened: tuple[Fixture, Backend, FakeClock],
) -> None:
    fixture, backend, clock = opened
    statuses = {t["session_id"]: t["session_status"] for t in fixture.facts["tokens"]}
    minted = {t["session_id"]: t["minted_at"] for t in fixture.facts["tokens"]}
    async with client(make_app(backend)) as c:
        for entry in fixture.facts["refresh_credentials"]:
            clock.now = minted[entry["session_id"]] + 3600  # long after the token expired
            credential = entry["refresh_credential"]
            with pytest.raises(TokenError, match="refresh-credential-invalid"):
                await backend.sessions.refresh(
                    credential[:-1] + ("A" if credential[-1] != "A" else "B")
                )
            if statuses[entry["session_id"]] != "active":
                with pytest.raises(SessionNotActive):
                    await backend.sessions.refresh(credential)
                continue
            token = await backend.sessions.refresh(entry["refresh_credential"])
            answer = (await c.get("/whoami", headers=bearer(token))).json()
            assert answer["signed_in"], answer
            assert answer["claims"]["sid"] == entry["session_id"]


def sqlite_sequence(fixture: Fixture) -> int | None:
    """The change log's AUTOINCREMENT counter (SQLite), or ``None`` (PostgreSQL)."""
    if fixture.schema is not None:
        return None
    conn = sqlite3.connect(fixture.url.removeprefix("sqlite:///"))
    try:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
    finally:
        conn.close()
    return None if row is None else int(row[0])


async def test_migration_3_adds_organizations_and_keeps_the_sequence(fixture: Fixture) -> None:
    before = fixture.raw_rows()
    counter = sqlite_sequence(fixture)
    highest = max(before["changes"])
    active = next(t for t in fixture.facts["tokens"] if t["session_status"] == "active")
    now = int(active["minted_at"] * 1000)
    store = fixture.store()
    await store.open()
    try:
        sessions, total = await store.list_sessions(
            user_id=None, status=None, now_ms=now, limit=500, offset=0
        )
        assert total == len(before["sessions"])
        assert {s.active_organization_id for s in sessions} == {None}
        kept = await store.changes_since(0, limit=10_000)
        assert [c.seq for c in kept] == sorted(c.seq for c in kept)
        assert {c.organization_id for c in kept} == {None}
        if counter is not None:
            assert sqlite_sequence(fixture) == max(counter, max(c.seq for c in kept))

        org = OrganizationRecord("org_up", "Upgraded", "upgraded", now, now, {}, {})
        member = MembershipRecord(
            "mem_up", "org_up", active["user_id"], "org:admin", now, now, {"seat": 1}, {}
        )
        await store.insert_organization(org, None)
        await store.insert_membership(member)
        await store.update_organization(
            "org_up", lambda o: o.evolve(name="Renamed", version=2), now_ms=now
        )
        new = await store.changes_since(highest)
        assert [c.kind for c in new[-2:]] == ["membership", "organization"]
        floor = max(highest, counter or 0)
        assert all(c.seq > floor for c in new[-2:])
        await store.set_active_organization(active["session_id"], "org_up", now_ms=now)
        view = await store.get_session_with_user(active["session_id"])
        assert view is not None
        assert view.organization is not None
        assert view.organization.members_count == 1
        assert view.membership == member
    finally:
        await store.close()
    after = fixture.raw_rows()
    assert {seq: after["changes"][seq] for seq in before["changes"]} == before["changes"]
