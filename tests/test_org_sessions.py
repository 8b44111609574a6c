"""Sessions with an active organization, through the real middleware on real stores:
the four claims and where they come from, an organization write making every member's
token stale without a per-session or per-member write, other workers following through
the change feed, deletions never letting the old role through, private writes never
reissuing, and the active organization kept across reissue and refresh."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from sessionclaims import (
    Backend,
    NotAMember,
    OrganizationNotFound,
    SessionNotActive,
    SessionNotFound,
)
from sessionclaims.cookies import REFRESH_COOKIE
from sessionclaims.freshness import FRESH, STALE

from .helpers import (
    SHARED_KINDS,
    CountingStore,
    FakeClock,
    bearer,
    client,
    cookie_header,
    make_app,
    make_backend,
    shared_backends,
)

pytestmark = pytest.mark.anyio

ROLES = {"org:admin": ["org:invoices:write"], "org:member": ["org:invoices:read"]}
ORG_TEMPLATE = {
    "role": "{{user.public_metadata.role || 'member'}}",
    "plan": "{{org.public_metadata.plan}}",
    "org_name": "{{org.name}}",
    "seat": "{{membership.public_metadata.seat}}",
}
ORG_CLAIMS = ("org_id", "org_slug", "org_role", "org_permissions")


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def org_backend(url: str, clock: FakeClock, **settings: Any) -> Backend:
    return make_backend(url, clock, session_template=ORG_TEMPLATE, roles=ROLES, **settings)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'auth.db'}"


@pytest.fixture
async def backend(url: str, clock: FakeClock) -> AsyncIterator[Backend]:
    async with org_backend(url, clock) as b:
        yield b


async def member_session(backend: Backend, org_id: str, role: str | None = None) -> Any:
    user = await backend.users.create_user()
    await backend.organizations.create_membership(org_id, user.id, role=role)
    return await backend.sessions.create_session(user.id, active_organization_id=org_id)


async def claims_seen(c: Any, token: str) -> tuple[dict[str, Any], str | None]:
    """The claims the app saw for ``token`` and the reissued token, if any."""
    response = await c.get("/whoami", headers=bearer(token))
    body = response.json()
    assert body["signed_in"] is True, body
    return body["claims"], response.headers.get("x-session-token")


# --- the active organization --------------------------------------------------------------


async def test_the_four_claims_only_with_an_active_organization(backend: Backend) -> None:
    user = await backend.users.create_user()
    org = await backend.organizations.create_organization(
        "Acme", created_by=user.id, public_metadata={"plan": "pro"}
    )
    plain = await backend.sessions.create_session(user.id)
    assert not set(ORG_CLAIMS) & set(claims_of(plain.token))
    assert "plan" not in claims_of(plain.token)
    assert plain.session.active_organization_id is None

    token = await backend.sessions.set_active_organization(plain.session.id, org.id)
    claims = claims_of(token)
    assert {k: claims[k] for k in ORG_CLAIMS} == {
        "org_id": org.id,
        "org_slug": "acme",
        "org_role": "org:admin",
        "org_permissions": ["org:invoices:write"],
    }
    assert (claims["plan"], claims["org_name"]) == ("pro", "Acme")
    assert (await backend.sessions.get_session(plain.session.id)).active_organization_id == org.id
    # get_token and a named template render it too
    assert claims_of(await backend.sessions.get_token(plain.session.id))["org_id"] == org.id

    cleared = await backend.sessions.set_active_organization(plain.session.id, None)
    assert not set(ORG_CLAIMS) & set(claims_of(cleared))
    assert "plan" not in claims_of(cleared)


async def test_create_session_with_an_active_organization(backend: Backend) -> None:
    user = await backend.users.create_user()
    org = await backend.organizations.create_organization("Acme")
    with pytest.raises(NotAMember) as refused:
        await backend.sessions.create_session(user.id, active_organization_id=org.id)
    assert (refused.value.code, refused.value.status) == ("not_a_member", 403)
    assert (await backend.sessions.list_sessions(user_id=user.id)).total_count == 0
    await backend.organizations.create_membership(org.id, user.id)
    new = await backend.sessions.create_session(user.id, active_organization_id=org.id)
    assert new.session.active_organization_id == org.id
    claims = claims_of(new.token)
    assert (claims["org_id"], claims["org_role"]) == (org.id, "org:member")
    assert claims["org_permissions"] == ["org:invoices:read"]


async def test_set_active_organization_refusals(backend: Backend) -> None:
    user = await backend.users.create_user()
    stranger_org = await backend.organizations.create_organization("Globex")
    new = await backend.sessions.create_session(user.id)
    for org_id in (stranger_org.id, "org_missing"):
        with pytest.raises(NotAMember) as refused:
            await backend.sessions.set_active_organization(new.session.id, org_id)
        assert refused.value.status == 403
    assert (await backend.sessions.get_session(new.session.id)).active_organization_id is None
    with pytest.raises(SessionNotFound):
        await backend.sessions.set_active_organization("sess_missing", None)
    await backend.sessions.revoke_session(new.session.id)
    with pytest.raises(SessionNotActive):
        await backend.sessions.set_active_organization(new.session.id, None)


async def test_the_active_organization_is_kept_across_reissue_and_refresh(
    backend: Backend, clock: FakeClock
) -> None:
    user = await backend.users.create_user()
    org = await backend.organizations.create_organization("Acme", created_by=user.id)
    new = await backend.sessions.create_session(user.id, active_organization_id=org.id)
    async with client(make_app(backend)) as c:
        await backend.users.update_user_metadata(user.id, public_metadata={"role": "boss"})
        claims, reissued = await claims_seen(c, new.token)  # stale: reissued
        assert reissued is not None
        assert (claims["role"], claims["org_id"]) == ("boss", org.id)
        assert claims_of(reissued)["org_role"] == "org:admin"
        clock.advance(3600)  # every token expired: the refresh credential renews
        refreshed = await c.get(
            "/whoami", headers=cookie_header({REFRESH_COOKIE: new.refresh_credential})
        )
        assert refreshed.json()["claims"]["org_id"] == org.id
        assert claims_of(refreshed.headers["x-session-token"])["org_slug"] == "acme"
    renewed = await backend.sessions.renew(new.refresh_credential)
    assert renewed.claims["org_id"] == org.id


# --- freshness: fan-out without fan-out writes ---------------------------------------------


async def test_an_organization_write_makes_every_members_token_stale(
    url: str, clock: FakeClock
) -> None:
    counting = CountingStore(org_backend(url, clock).store)
    async with org_backend(url, clock, store=counting) as backend:
        admin = await backend.users.create_user()
        org = await backend.organizations.create_organization(
            "Acme", created_by=admin.id, public_metadata={"plan": "pro"}
        )
        members = [await member_session(backend, org.id) for _ in range(5)]
        outsider = await backend.users.create_user()
        other_org = await backend.organizations.create_organization(
            "Globex", created_by=outsider.id
        )
        outside = await backend.sessions.create_session(
            outsider.id, active_organization_id=other_org.id
        )
        sessions_before = await backend.store.list_sessions(
            user_id=None, status=None, now_ms=int(backend.clock()) * 1000, limit=100, offset=0
        )
        async with client(make_app(backend)) as c:
            for m in members:
                assert (await claims_seen(c, m.token))[0]["plan"] == "pro"
            counting.calls.clear()
            await backend.organizations.update_organization_metadata(
                org.id, public_metadata={"plan": "team"}
            )
            # one organization row written, whatever the member count
            writes = [
                n for n in counting.request_calls if not n.startswith(("get", "list", "largest"))
            ]
            assert writes == ["update_organization"]
            assert counting.request_calls.count("largest_member") == 1
            for m in members:
                claims, reissued = await claims_seen(c, m.token)
                assert reissued is not None
                assert claims["plan"] == "team"
                assert claims_of(reissued)["org_ver"] == 2
            # the outsider's token (another organization) stays fresh
            assert (await claims_seen(c, outside.token))[1] is None
        sessions_after = await backend.store.list_sessions(
            user_id=None, status=None, now_ms=int(backend.clock()) * 1000, limit=100, offset=0
        )
        assert sessions_after == sessions_before  # no session row was touched


async def test_a_membership_write_is_that_members_only(backend: Backend) -> None:
    org = await backend.organizations.create_organization("Acme")
    alice = await member_session(backend, org.id)
    bob = await member_session(backend, org.id)
    async with client(make_app(backend)) as c:
        await backend.organizations.update_membership(
            org.id, alice.session.user_id, role="org:admin"
        )
        claims, reissued = await claims_seen(c, alice.token)
        assert reissued is not None
        assert (claims["org_role"], claims["org_permissions"]) == (
            "org:admin",
            ["org:invoices:write"],
        )
        await backend.organizations.update_membership_metadata(
            org.id, alice.session.user_id, public_metadata={"seat": 12}
        )
        assert (await claims_seen(c, reissued))[0]["seat"] == 12
        assert (await claims_seen(c, bob.token))[1] is None  # another member: fresh


async def test_private_writes_never_reissue(backend: Backend) -> None:
    user = await backend.users.create_user()
    org = await backend.organizations.create_organization("Acme", created_by=user.id)
    new = await backend.sessions.create_session(user.id, active_organization_id=org.id)
    async with client(make_app(backend)) as c:
        await backend.organizations.update_organization_metadata(
            org.id, private_metadata={"crm": "c_1"}
        )
        await backend.organizations.replace_membership_metadata(
            org.id, user.id, private_metadata={"note": "vip"}
        )
        assert (await claims_seen(c, new.token))[1] is None


@pytest.mark.parametrize("deletion", ["organization", "membership"])
async def test_a_deletion_never_lets_the_old_role_through(
    backend: Backend, clock: FakeClock, deletion: str
) -> None:
    user = await backend.users.create_user()
    org = await backend.organizations.create_organization("Acme", created_by=user.id)
    new = await backend.sessions.create_session(user.id, active_organization_id=org.id)
    async with client(make_app(backend)) as c:
        assert (await claims_seen(c, new.token))[0]["org_role"] == "org:admin"
        if deletion == "organization":
            await backend.organizations.delete_organization(org.id)
        else:
            await backend.organizations.delete_membership(org.id, user.id)
        claims, reissued = await claims_seen(c, new.token)
        assert reissued is not None
        assert not set(ORG_CLAIMS) & set(claims)
        # the same old token again, the new one, a refresh: never the old role
        assert "org_role" not in (await claims_seen(c, new.token))[0]
        assert "org_role" not in (await claims_seen(c, reissued))[0]
        clock.advance(3600)
        refreshed = await c.get(
            "/whoami", headers=cookie_header({REFRESH_COOKIE: new.refresh_credential})
        )
        assert "org_role" not in refreshed.json()["claims"]
    assert (await backend.sessions.get_session(new.session.id)).active_organization_id is None
    if deletion == "organization":
        with pytest.raises(OrganizationNotFound):
            await backend.organizations.get_organization(org.id)


@pytest.mark.parametrize("kind", SHARED_KINDS)
async def test_another_worker_follows_through_the_change_feed(
    kind: str, tmp_path: Path, clock: FakeClock
) -> None:
    with shared_backends(
        kind, tmp_path, clock, session_template=ORG_TEMPLATE, roles=ROLES
    ) as backends:
        async with backends() as worker_a, backends() as worker_b:
            await _follow(worker_a, worker_b)


async def _follow(worker_a: Backend, worker_b: Backend) -> None:
    """Worker B learns of worker A's organization writes from the change log alone."""
    user = await worker_a.users.create_user()
    org = await worker_a.organizations.create_organization(
        "Acme", created_by=user.id, public_metadata={"plan": "pro"}
    )
    other = await member_session(worker_a, org.id)
    new = await worker_a.sessions.create_session(user.id, active_organization_id=org.id)
    async with client(make_app(worker_b)) as c:
        assert (await claims_seen(c, new.token))[1] is None
        await worker_a.organizations.update_organization_metadata(
            org.id, public_metadata={"plan": "team"}
        )
        await worker_b.feed.step()  # what its poll task does every poll_interval
        claims, reissued = await claims_seen(c, new.token)
        assert (claims["plan"], reissued is not None) == ("team", True)
        assert reissued is not None
        await worker_a.organizations.update_membership(org.id, user.id, role="org:member")
        await worker_b.feed.step()
        claims, reissued = await claims_seen(c, reissued)
        assert claims["org_role"] == "org:member"
        assert reissued is not None
        assert (await claims_seen(c, other.token))[0]["plan"] == "team"
        await worker_a.organizations.delete_membership(org.id, user.id)
        await worker_b.feed.step()
        claims, _ = await claims_seen(c, reissued)
        assert "org_role" not in claims
        await worker_a.organizations.delete_organization(org.id)
        await worker_b.feed.step()
        claims, _ = await claims_seen(c, other.token)
        assert "org_id" not in claims


async def test_the_feed_applies_each_organization_change_kind(url: str, clock: FakeClock) -> None:
    async with org_backend(url, clock) as worker_a, org_backend(url, clock) as worker_b:
        user = await worker_a.users.create_user()
        org = await worker_a.organizations.create_organization("Acme", created_by=user.id)
        iat = int(clock()) - 1
        check = worker_b.freshness.check
        assert check(user.id, "sess_x", 1, iat, org.id, 1, 1) == FRESH
        await worker_a.organizations.update_organization(org.id, name="Acme 2")
        await worker_b.feed.step()
        assert check(user.id, "sess_x", 1, iat, org.id, 1, 1) == STALE
        assert check(user.id, "sess_x", 1, iat, org.id, 2, 1) == FRESH
        await worker_a.organizations.update_membership_metadata(
            org.id, user.id, public_metadata={"seat": 1}
        )
        await worker_b.feed.step()
        assert check(user.id, "sess_x", 1, iat, org.id, 2, 1) == STALE
        assert check(user.id, "sess_x", 1, iat, org.id, 2, 2) == FRESH
        await worker_a.organizations.delete_membership(org.id, user.id)
        await worker_b.feed.step()
        assert check(user.id, "sess_x", 1, iat, org.id, 99, 99) == STALE
        other = await worker_a.users.create_user()
        await worker_a.organizations.create_membership(org.id, other.id)
        await worker_a.organizations.delete_organization(org.id)
        await worker_b.feed.step()
        assert check(other.id, "sess_y", 1, iat, org.id, 99, 99) == STALE
