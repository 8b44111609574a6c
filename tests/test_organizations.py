"""``backend.organizations`` through the Python API, on real stores (SQLite and
PostgreSQL): organizations, memberships, slugs, roles, both metadata tiers (the seed's
merge vectors included), versions, atomic refusals and concurrent merges."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionclaims import (
    AlreadyMember,
    Backend,
    InvalidRequest,
    MembershipNotFound,
    MetadataError,
    OrganizationNotFound,
    SlugTaken,
    UserNotFound,
)
from sessionclaims.backend.organizations import check_slug, slug_from_name

from .helpers import SHARED_KINDS, FakeClock, make_backend, shared_backends
from .vector_files import METADATA_MERGE, load_json

pytestmark = pytest.mark.anyio

ROLES = {
    "org:admin": ["org:invoices:read", "org:invoices:write"],
    "org:member": ["org:invoices:read"],
    "org:viewer": [],
}

Factory = Callable[..., Backend]


@pytest.fixture(params=SHARED_KINDS)
def backends(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Factory]:
    """Makes backends on one shared database (each one is another worker)."""
    with shared_backends(request.param, tmp_path, clock, roles=ROLES) as factory:
        yield factory


@pytest.fixture
async def backend(backends: Factory) -> AsyncIterator[Backend]:
    async with backends() as b:
        yield b


# --- organizations ------------------------------------------------------------------------


async def test_create_get_list_update_delete_an_organization(
    backend: Backend, clock: FakeClock
) -> None:
    orgs = backend.organizations
    user = await backend.users.create_user()
    org = await orgs.create_organization(
        "Acme, Inc.",
        created_by=user.id,
        trusted_metadata={"plan": "pro"},
        private_metadata={"crm": "c_1"},
    )
    assert org.id.startswith("org_")
    assert (org.name, org.slug, org.members_count) == ("Acme, Inc.", "acme-inc", 1)
    assert org.public_metadata == {"plan": "pro"}
    assert org.trusted_metadata is org.public_metadata
    assert org.private_metadata == {"crm": "c_1"}
    assert await orgs.get_organization(org.id) == org
    assert await orgs.get_organization("acme-inc") == org
    creator = await orgs.get_membership(org.id, user.id)
    assert creator.role == "org:admin"
    assert creator.permissions == ("org:invoices:read", "org:invoices:write")

    clock.advance(1)
    other = await orgs.create_organization("Globex", slug="globex-eu")
    page = await orgs.list_organizations()
    assert [o.id for o in page.data] == [org.id, other.id]
    assert page.total_count == 2
    assert [o.id for o in (await orgs.list_organizations(query="GLOB")).data] == [other.id]
    assert [o.id for o in (await orgs.list_organizations(query="-eu")).data] == [other.id]
    assert (await orgs.list_organizations(limit=1, offset=1)).data[0].id == other.id

    renamed = await orgs.update_organization(org.id, name="Acme Corp", slug="acme")
    assert (renamed.name, renamed.slug) == ("Acme Corp", "acme")
    assert renamed.public_metadata == {"plan": "pro"}
    assert await orgs.get_organization("acme") == renamed
    with pytest.raises(OrganizationNotFound):
        await orgs.get_organization("acme-inc")
    assert await orgs.update_organization(org.id) == renamed  # nothing to change

    await orgs.delete_organization(org.id)
    with pytest.raises(OrganizationNotFound):
        await orgs.get_organization(org.id)
    with pytest.raises(MembershipNotFound):
        await orgs.get_membership(org.id, user.id)
    assert (await orgs.list_user_memberships(user.id)).total_count == 0
    with pytest.raises(OrganizationNotFound):
        await orgs.delete_organization(org.id)
    with pytest.raises(OrganizationNotFound):
        await orgs.update_organization_metadata(org.id, public_metadata={"a": 1})


async def test_slugs(backend: Backend) -> None:
    orgs = backend.organizations
    first = await orgs.create_organization("Ærø & Co.")
    assert first.slug == "aero-co"
    second = await orgs.create_organization("Ærø & Co.")  # derived and taken: a suffix
    assert second.slug.startswith("aero-co-")
    check_slug(second.slug)
    with pytest.raises(SlugTaken) as taken:
        await orgs.create_organization("Other", slug="aero-co")
    assert (taken.value.code, taken.value.param) == ("conflict", "slug")
    with pytest.raises(SlugTaken):
        await orgs.update_organization(second.id, slug="aero-co")
    assert (await orgs.get_organization(second.id)).slug == second.slug  # nothing written
    for bad in ("", "Acme", "a_b", "a b", "x" * 65, "ä", 7):
        with pytest.raises(InvalidRequest) as refused:
            await orgs.create_organization("X", slug=bad)  # type: ignore[arg-type]
        assert (refused.value.code, refused.value.param, refused.value.status) == (
            "invalid_slug",
            "slug",
            422,
        )
    assert (await orgs.list_organizations()).total_count == 2
    assert slug_from_name("日本") == "org"
    assert slug_from_name("  --Straße--  ") == "strasse"
    assert len(slug_from_name("x" * 100)) == 64


@pytest.mark.parametrize("name", ["", "   ", "x" * 257, "a\x00b", "\udc00", None, 5])
async def test_a_bad_name_is_refused(backend: Backend, name: Any) -> None:
    with pytest.raises(InvalidRequest) as refused:
        await backend.organizations.create_organization(name)
    assert (refused.value.code, refused.value.param) == ("invalid_field", "name")


async def test_organization_tiers_refuse_unsafe_and_unknown_arguments(backend: Backend) -> None:
    orgs = backend.organizations
    for name in ("unsafe_metadata", "untrusted_metadata"):
        with pytest.raises(MetadataError) as refused:
            await orgs.create_organization("X", **{name: {}})  # type: ignore[arg-type]
        assert (refused.value.code, refused.value.param) == ("unknown_field", name)
    with pytest.raises(TypeError, match="email"):
        await orgs.create_organization("X", email="a@b.c")  # type: ignore[call-arg]
    with pytest.raises(MetadataError) as ambiguous:
        await orgs.create_organization("X", public_metadata={}, trusted_metadata={})
    assert ambiguous.value.code == "ambiguous_field"
    assert (await orgs.list_organizations()).total_count == 0


async def test_an_unknown_creator_writes_nothing(backend: Backend) -> None:
    with pytest.raises(UserNotFound):
        await backend.organizations.create_organization("X", created_by="user_missing")
    assert (await backend.organizations.list_organizations()).total_count == 0


# --- memberships --------------------------------------------------------------------------


async def test_memberships(backend: Backend, clock: FakeClock) -> None:
    orgs = backend.organizations
    alice, bob, carol = [await backend.users.create_user() for _ in range(3)]
    org = await orgs.create_organization("Acme", created_by=alice.id)
    clock.advance(1)
    member = await orgs.create_membership(org.id, bob.id)
    clock.advance(1)
    assert member.id.startswith("mem_")
    assert (member.organization_id, member.user_id, member.role) == (org.id, bob.id, "org:member")
    assert member.permissions == ("org:invoices:read",)
    viewer = await orgs.create_membership(org.id, carol.id, role="org:viewer")
    assert viewer.permissions == ()
    assert (await orgs.get_organization(org.id)).members_count == 3
    with pytest.raises(AlreadyMember) as again:
        await orgs.create_membership(org.id, bob.id, role="org:admin")
    assert again.value.param == "user_id"
    assert (await orgs.get_membership(org.id, bob.id)).role == "org:member"
    with pytest.raises(InvalidRequest) as unknown:
        await orgs.create_membership(org.id, bob.id, role="org:owner")
    assert (unknown.value.code, unknown.value.param, unknown.value.status) == (
        "unknown_role",
        "role",
        422,
    )
    with pytest.raises(OrganizationNotFound):
        await orgs.create_membership("org_missing", bob.id)
    with pytest.raises(UserNotFound):
        await orgs.create_membership(org.id, "user_missing")

    promoted = await orgs.update_membership(org.id, bob.id, role="org:admin")
    assert promoted.permissions == ("org:invoices:read", "org:invoices:write")
    with pytest.raises(InvalidRequest):
        await orgs.update_membership(org.id, bob.id, role="admin")
    with pytest.raises(MembershipNotFound):
        await orgs.update_membership(org.id, "user_missing", role="org:admin")

    listed = await orgs.list_memberships(organization_id=org.id)
    assert [m.user_id for m in listed.data] == [alice.id, bob.id, carol.id]
    assert listed.total_count == 3
    assert [
        m.user_id
        for m in (await orgs.list_memberships(organization_id=org.id, limit=1, offset=2)).data
    ] == [carol.id]
    clock.advance(1)
    other = await orgs.create_organization("Globex", created_by=bob.id)
    mine = await orgs.list_user_memberships(bob.id)
    assert [(m.organization_id, o.name) for m, o in mine.data] == [
        (org.id, "Acme"),
        (other.id, "Globex"),
    ]
    assert [m.organization_id for m in (await orgs.list_memberships(user_id=bob.id)).data] == [
        org.id,
        other.id,
    ]
    for both_or_neither in ({}, {"organization_id": org.id, "user_id": bob.id}):
        with pytest.raises(InvalidRequest):
            await orgs.list_memberships(**both_or_neither)
    with pytest.raises(OrganizationNotFound):
        await orgs.list_memberships(organization_id="org_missing")
    with pytest.raises(UserNotFound):
        await orgs.list_user_memberships("user_missing")

    removed = await orgs.delete_membership(org.id, carol.id)
    assert removed.id == viewer.id
    assert (await orgs.get_organization(org.id)).members_count == 2
    with pytest.raises(MembershipNotFound):
        await orgs.delete_membership(org.id, carol.id)
    assert (await orgs.list_user_memberships(carol.id)).total_count == 0

    await backend.users.delete_user(bob.id)
    assert (await orgs.get_organization(org.id)).members_count == 1


async def test_membership_metadata_tiers(backend: Backend) -> None:
    orgs = backend.organizations
    user = await backend.users.create_user()
    org = await orgs.create_organization("Acme", created_by=user.id)
    merged = await orgs.update_membership_metadata(
        org.id, user.id, trusted_metadata={"seat": 3}, private_metadata={"note": "vip"}
    )
    assert (merged.public_metadata, merged.private_metadata) == ({"seat": 3}, {"note": "vip"})
    merged = await orgs.update_membership_metadata(org.id, user.id, public_metadata={"desk": 9})
    assert merged.public_metadata == {"seat": 3, "desk": 9}
    replaced = await orgs.replace_membership_metadata(org.id, user.id, public_metadata={})
    assert (replaced.public_metadata, replaced.private_metadata) == ({}, {"note": "vip"})
    with pytest.raises(MetadataError) as refused:
        await orgs.update_membership_metadata(org.id, user.id, unsafe_metadata={})  # type: ignore[call-arg]
    assert refused.value.code == "unknown_field"
    with pytest.raises(MembershipNotFound):
        await orgs.update_membership_metadata(org.id, "user_missing", public_metadata={})


def _merge_cases() -> list[Any]:
    cases = load_json(METADATA_MERGE)["cases"]
    assert cases
    return [
        pytest.param(case, tier, id=f"{case['name']}-{tier}")
        for case in cases
        for tier in ("public_metadata", "private_metadata")
    ]


@pytest.mark.parametrize(("case", "tier"), _merge_cases())
@pytest.mark.parametrize("target", ["organization", "membership"])
async def test_seed_merge_vectors(
    tmp_path: Any, clock: FakeClock, case: dict[str, Any], tier: str, target: str
) -> None:
    """Every case of the seed, on each tier of an organization and of a membership (the
    seed's user tiers map to the two these objects have)."""
    async with make_backend(f"sqlite:///{tmp_path / 'v.db'}", clock) as backend:
        orgs = backend.organizations
        user = await backend.users.create_user()
        initial, update = copy.deepcopy(case["initial"]), copy.deepcopy(case["update"])
        if target == "organization":
            org = await orgs.create_organization("Acme", **{tier: initial})  # type: ignore[arg-type]
            after: Any = await orgs.update_organization_metadata(org.id, **{tier: update})  # type: ignore[arg-type]
            stored: Any = await orgs.get_organization(org.id)
        else:
            org = await orgs.create_organization("Acme", created_by=user.id)
            await orgs.replace_membership_metadata(org.id, user.id, **{tier: initial})  # type: ignore[arg-type]
            after = await orgs.update_membership_metadata(org.id, user.id, **{tier: update})  # type: ignore[arg-type]
            stored = await orgs.get_membership(org.id, user.id)
        assert getattr(after, tier) == case["result"]
        assert getattr(stored, tier) == case["result"]
        assert (initial, update) == (case["initial"], case["update"])


# --- limits, atomicity, versions ----------------------------------------------------------


async def test_a_refused_write_writes_nothing(backend: Backend) -> None:
    orgs = backend.organizations
    user = await backend.users.create_user()
    org = await orgs.create_organization(
        "Acme", created_by=user.id, public_metadata={"a": 1}, private_metadata={"b": 2}
    )
    full = {f"k{i}": i for i in range(20)}
    with pytest.raises(MetadataError) as refused:
        await orgs.update_organization_metadata(
            org.id, public_metadata={"ok": True}, private_metadata={**full, "one_more": 1}
        )
    assert refused.value.code == "metadata_too_many_keys"
    assert await orgs.get_organization(org.id) == org  # not even the valid tier
    with pytest.raises(MetadataError) as too_large:
        await orgs.replace_membership_metadata(org.id, user.id, public_metadata={"x": "y" * 5000})
    assert too_large.value.code == "metadata_too_large"
    with pytest.raises(MetadataError) as not_an_object:
        await orgs.update_organization_metadata(org.id, public_metadata=[1])  # type: ignore[arg-type]
    assert not_an_object.value.code == "invalid_metadata"
    assert (await orgs.get_membership(org.id, user.id)).public_metadata == {}
    # limits are on the result: a full tier takes a patch that removes one and adds one
    await orgs.replace_organization_metadata(org.id, private_metadata=full)
    swapped = await orgs.update_organization_metadata(
        org.id, private_metadata={"k0": None, "new": 1}
    )
    assert len(swapped.private_metadata) == 20


async def test_versions_and_change_log(backend: Backend) -> None:
    orgs, store = backend.organizations, backend.store
    user = await backend.users.create_user()
    org = await orgs.create_organization("Acme", created_by=user.id)

    async def versions() -> tuple[int, int]:
        o = await store.get_organization(org.id)
        m = await store.get_membership(org.id, user.id)
        assert o is not None
        assert m is not None
        return o.version, m.version

    start = await store.last_change_seq()
    assert await versions() == (1, 1)
    await orgs.update_organization_metadata(org.id, private_metadata={"crm": 1})
    await orgs.update_membership_metadata(org.id, user.id, private_metadata={"note": 1})
    await orgs.update_organization_metadata(org.id, public_metadata={})  # merges nothing
    await orgs.update_membership(org.id, user.id, role="org:admin")  # the role it has
    assert await versions() == (1, 1)
    assert await store.last_change_seq() == start  # private or empty writes: no change
    await orgs.update_organization(org.id, name="Acme 2")
    await orgs.update_organization(org.id, slug="acme-2")
    await orgs.update_organization_metadata(org.id, public_metadata={"plan": "pro"})
    await orgs.update_membership(org.id, user.id, role="org:member")
    await orgs.update_membership_metadata(org.id, user.id, public_metadata={"seat": 1})
    assert await versions() == (4, 3)
    changes = await store.changes_since(start)
    assert [(c.kind, c.organization_id, c.version) for c in changes] == [
        ("organization", org.id, 2),
        ("organization", org.id, 3),
        ("organization", org.id, 4),
        ("membership", org.id, 2),
        ("membership", org.id, 3),
    ]
    assert backend.freshness.check(user.id, None, 1, 0, org.id, 3, 3) != 0  # stale here at once


async def test_concurrent_merges_lose_nothing(backends: Factory) -> None:
    async with backends() as one, backends() as other:
        user = await one.users.create_user()
        org = await one.organizations.create_organization("Acme", created_by=user.id)
        writes = []
        for i in range(12):
            b = one if i % 2 else other
            writes.append(
                b.organizations.update_organization_metadata(
                    org.id, **{("public_metadata" if i % 3 else "private_metadata"): {f"k{i}": i}}
                )
            )
            writes.append(
                b.organizations.update_membership_metadata(
                    org.id, user.id, public_metadata={f"m{i}": i}
                )
            )
        await asyncio.gather(*writes)
        stored = await one.organizations.get_organization(org.id)
        merged = {**stored.public_metadata, **stored.private_metadata}
        assert merged == {f"k{i}": i for i in range(12)}
        member = await one.organizations.get_membership(org.id, user.id)
        assert dict(member.public_metadata) == {f"m{i}": i for i in range(12)}
