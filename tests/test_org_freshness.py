"""Full mode with an active organization in the token: fresh tokens cost no store call,
an organization or membership change or deletion makes the next request reissue it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest

from sessionclaims import Backend
from sessionclaims.backend.issuer import ActiveOrganization
from sessionclaims.tokens import encode_token

from .helpers import CountingStore, FakeClock, bearer, client, make_app, make_backend


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


@dataclass(frozen=True)
class OrgValues:
    id: str = "org_1"
    slug: str = "acme"
    name: str = "Acme"
    public_metadata: Any = field(default_factory=lambda: {"plan": "pro"})
    version: int = 3


@dataclass(frozen=True)
class MemberValues:
    role: str = "org:admin"
    public_metadata: Any = field(default_factory=lambda: {"seat": 7})
    version: int = 2


@pytest.mark.anyio
async def test_the_issuer_mints_the_organization_claims(tmp_path: Path, clock: FakeClock) -> None:
    template = {
        "plan": "{{org.public_metadata.plan}}",
        "seat": "{{membership.public_metadata.seat}}",
    }
    backend = make_backend(f"sqlite:///{tmp_path / 'o.db'}", clock, session_template=template)
    async with backend:
        user = await backend.users.create_user()
        new = await backend.sessions.create_session(user.id)
        record, user_record, _ = await backend.sessions.active(new.session.id)
        active = ActiveOrganization(OrgValues(), MemberValues(), ("org:invoices:read",))
        token = backend.issuer.session_token(user_record, record, active=active)
        claims = jwt.decode(token, options={"verify_signature": False})
        assert {k: claims[k] for k in ("org_id", "org_slug", "org_role", "org_permissions")} == {
            "org_id": "org_1",
            "org_slug": "acme",
            "org_role": "org:admin",
            "org_permissions": ["org:invoices:read"],
        }
        assert (claims["org_ver"], claims["mem_ver"], claims["plan"], claims["seat"]) == (
            3,
            2,
            "pro",
            7,
        )
        plain = jwt.decode(new.token, options={"verify_signature": False})
        assert "org_id" not in plain
        assert "plan" not in plain
        # the budget counts the organization's part
        assert backend.issuer.estimated_size(user_record, active) >= len(token)
        assert backend.issuer.estimated_size(user_record) < len(token)

        async with client(make_app(backend)) as c:
            first = await c.get("/whoami", headers=bearer(token))
            assert first.json()["claims"]["org_role"] == "org:admin"
            backend.freshness.organization_changed("org_1", 3, backend.clock())  # not newer
            assert "x-session-token" not in (await c.get("/whoami", headers=bearer(token))).headers
            backend.freshness.organization_changed("org_1", 4, backend.clock())
            assert "x-session-token" in (await c.get("/whoami", headers=bearer(token))).headers
