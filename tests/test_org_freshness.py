"""Full mode with an active organization in the token: fresh tokens cost no store call,
an organization or membership change or deletion makes the next request reissue it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from sessionclaims import Backend
from sessionclaims.tokens import encode_token

from .conftest import FakeClock
from .full_mode import CountingStore, bearer, client, make_app, make_backend


@pytest.fixture
def counting(tmp_path: Path, clock: FakeClock) -> CountingStore:
    return CountingStore(make_backend(f"sqlite:///{tmp_path / 'auth.db'}", clock).store)


@pytest.fixture
async def backend(
    tmp_path: Path, clock: FakeClock, counting: CountingStore
) -> AsyncIterator[Backend]:
    b = make_backend(f"sqlite:///{tmp_path / 'auth.db'}", clock, store=counting)
    async with b:
        yield b


async def org_token(backend: Backend, **org: Any) -> tuple[str, str]:
    """A session token of a real session, as if minted with an active organization."""
    user = await backend.users.create_user(public_metadata={"role": "member"})
    new = await backend.sessions.create_session(user.id)
    claims = jwt.decode(new.token, options={"verify_signature": False})
    claims.update({"org_id": "org_1", "org_slug": "acme", "org_role": "org:admin"})
    claims.update({"org_permissions": [], "org_ver": 1, "mem_ver": 1}, **org)
    return user.id, encode_token(claims, backend.keys.signer)


@pytest.mark.anyio
@pytest.mark.parametrize("change", ["organization", "membership", "org-deleted", "mem-deleted"])
async def test_org_changes_reissue_on_the_next_request(
    backend: Backend, counting: CountingStore, change: str
) -> None:
    user_id, token = await org_token(backend)
    async with client(make_app(backend)) as c:
        first = await c.get("/whoami", headers=bearer(token))
        assert first.json()["claims"]["org_role"] == "org:admin"
        assert "x-session-token" not in first.headers
        counting.calls.clear()
        for _ in range(3):
            again = await c.get("/whoami", headers=bearer(token))
            assert "x-session-token" not in again.headers
        assert counting.request_calls == []

        now = backend.clock()
        if change == "organization":
            backend.freshness.organization_changed("org_1", 2, now)
        elif change == "membership":
            backend.freshness.membership_changed("org_1", user_id, 2, now)
        elif change == "org-deleted":
            backend.freshness.organization_deleted("org_1", now)
        else:
            backend.freshness.membership_deleted("org_1", user_id, now)
        stale = await c.get("/whoami", headers=bearer(token))
        assert stale.json()["signed_in"] is True
        assert "x-session-token" in stale.headers
        assert counting.request_calls != []
        # the store knows no active organization for this session: the claims are gone
        assert "org_role" not in stale.json()["claims"]


@pytest.mark.anyio
async def test_another_members_change_leaves_the_token_fresh(backend: Backend) -> None:
    _, token = await org_token(backend)
    async with client(make_app(backend)) as c:
        await c.get("/whoami", headers=bearer(token))
        backend.freshness.membership_changed("org_1", "user_someone_else", 5, backend.clock())
        backend.freshness.organization_changed("org_2", 5, backend.clock())
        same = await c.get("/whoami", headers=bearer(token))
        assert "x-session-token" not in same.headers
        assert same.json()["claims"]["org_id"] == "org_1"


@pytest.mark.anyio
async def test_malformed_org_versions_are_not_a_session_token(backend: Backend) -> None:
    _, token = await org_token(backend, org_ver="1")
    async with client(make_app(backend)) as c:
        body = (await c.get("/whoami", headers=bearer(token))).json()
    assert body == {
        "signed_in": False,
        "reason": "token-not-a-session-token",
        "user_id": None,
        "claims": {},
    }
