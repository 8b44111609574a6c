"""The size budget with organizations (docs/concepts.md, "The size budget"): a write that
would push a session token of an organization over ``max_token_bytes`` is refused with
``session_token_too_large`` and nothing is written; an organization write reads one
member (the largest, through the index), not every member."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sessionclaims import Backend, MetadataError
from sessionclaims.backend.issuer import ActiveOrganization

from .helpers import CountingStore, FakeClock, make_backend

pytestmark = pytest.mark.anyio

BUDGET = 1500
TEMPLATE = {
    "bio": "{{user.public_metadata.bio}}",
    "blob": "{{org.public_metadata.blob}}",
    "desk": "{{membership.public_metadata.desk}}",
}


@pytest.fixture
def counting(tmp_path: Path, clock: FakeClock) -> CountingStore:
    return CountingStore(make_backend(f"sqlite:///{tmp_path / 'auth.db'}", clock).store)


@pytest.fixture
async def backend(
    tmp_path: Path, clock: FakeClock, counting: CountingStore
) -> AsyncIterator[Backend]:
    b = make_backend(
        f"sqlite:///{tmp_path / 'auth.db'}",
        clock,
        store=counting,
        session_template=TEMPLATE,
        max_token_bytes=BUDGET,
    )
    async with b:
        yield b


def assert_too_large(refused: pytest.ExceptionInfo[MetadataError]) -> None:
    assert (refused.value.code, refused.value.status) == ("session_token_too_large", 422)


async def size_with_org(backend: Backend, org_id: str, user_id: str) -> int:
    """The estimated token size of the member with the organization active."""
    org = await backend.store.get_organization(org_id)
    membership = await backend.store.get_membership(org_id, user_id)
    user = await backend.store.get_user(user_id)
    assert org is not None
    assert membership is not None
    assert user is not None
    permissions = backend.roles.permissions_for(membership.role)
    return backend.issuer.estimated_size(user, ActiveOrganization(org, membership, permissions))


async def an_org_with_members(backend: Backend) -> tuple[str, str, list[str]]:
    """An organization with nine small members and one with a 450-character bio."""
    org = await backend.organizations.create_organization("Acme")
    small = []
    for _ in range(9):
        user = await backend.users.create_user()
        await backend.organizations.create_membership(org.id, user.id)
        small.append(user.id)
    big = await backend.users.create_user(public_metadata={"bio": "b" * 450})
    await backend.organizations.create_membership(org.id, big.id)
    return org.id, big.id, small


async def test_an_organization_write_is_checked_against_its_largest_member(
    backend: Backend, counting: CountingStore
) -> None:
    org_id, big, small = await an_org_with_members(backend)
    largest = await backend.store.largest_member(org_id)
    assert largest is not None
    assert largest[1].id == big
    # a blob the small members could take, but the largest member's token could not
    blob = "x" * 500
    assert await size_with_org(backend, org_id, small[0]) + 700 < BUDGET
    counting.calls.clear()
    with pytest.raises(MetadataError) as refused:
        await backend.organizations.update_organization_metadata(
            org_id, public_metadata={"blob": blob}
        )
    assert_too_large(refused)
    # one indexed read of one member, not a read of every member
    assert counting.request_calls.count("largest_member") == 1
    assert "list_memberships" not in counting.request_calls
    assert "update_organization" in counting.request_calls
    stored = await backend.organizations.get_organization(org_id)
    assert stored.public_metadata == {}  # nothing written
    record = await backend.store.get_organization(org_id)
    assert record is not None
    assert record.version == 1
    # without the large member, the same write fits
    await backend.organizations.delete_membership(org_id, big)
    accepted = await backend.organizations.update_organization_metadata(
        org_id, public_metadata={"blob": blob}
    )
    assert accepted.public_metadata == {"blob": blob}
    assert await size_with_org(backend, org_id, small[0]) <= BUDGET


async def test_even_an_empty_organization_refuses_what_no_member_could_carry(
    backend: Backend,
) -> None:
    with pytest.raises(MetadataError) as refused:
        await backend.organizations.create_organization(
            "Acme", public_metadata={"blob": "x" * 1200}
        )
    assert_too_large(refused)
    assert (await backend.organizations.list_organizations()).total_count == 0
    org = await backend.organizations.create_organization("Acme")
    with pytest.raises(MetadataError) as refused:
        await backend.organizations.update_organization_metadata(
            org.id, public_metadata={"blob": "x" * 1200}
        )
    assert_too_large(refused)
    long_name = await backend.organizations.update_organization(org.id, name="n" * 256)
    assert long_name.name == "n" * 256  # the template does not read the name


async def test_a_membership_write_is_checked_exactly(backend: Backend) -> None:
    org_id, big, small = await an_org_with_members(backend)
    await backend.organizations.update_organization_metadata(
        org_id, public_metadata={"blob": "x" * 100}
    )
    with pytest.raises(MetadataError) as refused:
        await backend.organizations.update_membership_metadata(
            org_id, big, public_metadata={"desk": "d" * 300}
        )
    assert_too_large(refused)
    membership = await backend.store.get_membership(org_id, big)
    assert membership is not None
    assert (membership.public_metadata, membership.version) == ({}, 1)
    fits = await backend.organizations.update_membership_metadata(
        org_id, small[0], public_metadata={"desk": "d" * 300}
    )
    assert fits.public_metadata == {"desk": "d" * 300}
    assert await size_with_org(backend, org_id, small[0]) <= BUDGET
    # the private tier is never in a token: it is not held to the budget
    await backend.organizations.update_membership_metadata(
        org_id, big, private_metadata={"note": "n" * 3000}
    )


async def test_joining_is_checked_too(backend: Backend) -> None:
    org = await backend.organizations.create_organization(
        "Acme", public_metadata={"blob": "x" * 500}
    )
    big = await backend.users.create_user(public_metadata={"bio": "b" * 450})
    with pytest.raises(MetadataError) as refused:
        await backend.organizations.create_membership(org.id, big.id)
    assert_too_large(refused)
    assert (await backend.organizations.get_organization(org.id)).members_count == 0
    with pytest.raises(MetadataError):
        await backend.organizations.create_organization(
            "Big's own", created_by=big.id, public_metadata={"blob": "x" * 500}
        )


async def test_a_user_write_is_checked_with_each_of_their_organizations(
    backend: Backend,
) -> None:
    org = await backend.organizations.create_organization(
        "Acme", public_metadata={"blob": "x" * 500}
    )
    user = await backend.users.create_user()
    await backend.organizations.create_membership(org.id, user.id)
    bio = "b" * 450
    # this bio alone fits a token without an organization ...
    assert (
        backend.issuer.estimated_size(
            (await backend.store.get_user(user.id)).evolve(public_metadata={"bio": bio})  # type: ignore[union-attr]
        )
        < BUDGET
    )
    # ... but not the token with Acme active
    with pytest.raises(MetadataError) as refused:
        await backend.users.update_user_metadata(user.id, public_metadata={"bio": bio})
    assert_too_large(refused)
    assert (await backend.users.get_user(user.id)).public_metadata == {}


async def test_token_bytes_follow_the_members_own_writes(backend: Backend) -> None:
    org_id, big, small = await an_org_with_members(backend)
    grown = small[3]
    await backend.users.update_user_metadata(grown, public_metadata={"bio": "g" * 460})
    largest = await backend.store.largest_member(org_id)
    assert largest is not None
    assert largest[1].id == grown
    await backend.organizations.update_membership_metadata(
        org_id, big, public_metadata={"desk": "d" * 40}
    )
    largest = await backend.store.largest_member(org_id)
    assert largest is not None
    assert largest[1].id == big
    # a member's share does not move with the organization's values
    before = await backend.store.get_membership(org_id, big)
    await backend.organizations.update_organization_metadata(
        org_id, public_metadata={"blob": "x" * 100}
    )
    after = await backend.store.get_membership(org_id, big)
    assert before is not None
    assert after is not None
    assert before.token_bytes == after.token_bytes
    assert after.token_bytes == await _share(backend, org_id, big)


async def _share(backend: Backend, org_id: str, user_id: str) -> Any:
    org = await backend.store.get_organization(org_id)
    membership = await backend.store.get_membership(org_id, user_id)
    user = await backend.store.get_user(user_id)
    assert org is not None
    assert membership is not None
    assert user is not None
    active = ActiveOrganization(org, membership, backend.roles.permissions_for(membership.role))
    return backend.issuer.member_share(user, active)
