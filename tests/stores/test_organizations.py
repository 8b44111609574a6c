"""The store contract for organizations, memberships and a session's active organization,
run against every store (the ``store`` fixture of tests/stores/conftest.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from sessionclaims import (
    AlreadyMember,
    MembershipNotFound,
    NotAMember,
    OrganizationNotFound,
    SessionNotActive,
    SessionNotFound,
    SlugTaken,
    UserNotFound,
)
from sessionclaims.stores import (
    ChangeRecord,
    DuplicateRecord,
    MembershipRecord,
    OrganizationRecord,
    SessionView,
    Store,
    dump_metadata,
)

from .helpers import (
    DAY,
    NOW,
    ODD_METADATA,
    StoreTarget,
    make_membership,
    make_org,
    make_session,
    make_user,
)

pytestmark = pytest.mark.anyio


async def all_changes(store: Store) -> list[ChangeRecord]:
    return await store.changes_since(0, limit=10_000)


async def count_of(store: Store, org_id: str = "org_1") -> int:
    org = await store.get_organization(org_id)
    assert org is not None
    return org.members_count


async def with_members(store: Store, *user_ids: str, org_id: str = "org_1") -> None:
    """An organization ``org_id`` (created by the first user) with these members."""
    for user_id in user_ids:
        if await store.get_user(user_id) is None:
            await store.insert_user(make_user(user_id))
    creator = make_membership(org_id, user_ids[0], role="org:admin") if user_ids else None
    await store.insert_organization(make_org(org_id), creator)
    for n, user_id in enumerate(user_ids[1:], start=1):
        await store.insert_membership(make_membership(org_id, user_id, created_at=NOW + n))


def org_public(key: str, value: Any, *, bump: bool = True):
    def mutate(org: OrganizationRecord) -> OrganizationRecord:
        return org.evolve(
            public_metadata={**org.public_metadata, key: value},
            updated_at=NOW + 1,
            version=org.version + 1 if bump else org.version,
        )

    return mutate


def member_public(key: str, value: Any, *, bump: bool = True):
    def mutate(m: MembershipRecord) -> MembershipRecord:
        return m.evolve(
            public_metadata={**m.public_metadata, key: value},
            updated_at=NOW + 1,
            version=m.version + 1 if bump else m.version,
        )

    return mutate


# -- organizations ---------------------------------------------------------------------
async def test_organization_round_trip_is_byte_for_byte(store: Store) -> None:
    org = make_org(
        "org_odd", name="Ünïcödé GmbH 🎉", slug="odd", public=ODD_METADATA, private={"k": "\x00"}
    )
    await store.insert_organization(org, None)
    got = await store.get_organization("org_odd")
    assert got == org
    assert got is not None
    assert dump_metadata(got.public_metadata) == dump_metadata(ODD_METADATA)
    assert list(got.public_metadata) == list(ODD_METADATA)
    assert await store.get_organization_by_slug("odd") == org
    assert await store.get_organization_by_slug("ODD") is None  # exact
    assert await store.get_organization("nope") is None
    assert got.to_organization().to_dict()["members_count"] == 0
    assert await all_changes(store) == []  # no token can name a new organization


async def test_insert_organization_with_its_creator(store: Store) -> None:
    await store.insert_user(make_user())
    creator = make_membership(role="org:admin", public={"seat": 1})
    await store.insert_organization(make_org(), creator)
    assert await count_of(store) == 1
    assert await store.get_membership("org_1", "user_1") == creator
    with pytest.raises(ValueError):
        await store.insert_organization(make_org("org_2"), make_membership("org_1", "user_1"))
    assert await store.get_organization("org_2") is None


async def test_insert_organization_failures_write_nothing(store: Store) -> None:
    await store.insert_user(make_user())
    await store.insert_organization(make_org(slug="acme", public={"first": True}), None)
    with pytest.raises(SlugTaken) as taken:
        await store.insert_organization(make_org("org_2", slug="acme"), None)
    assert taken.value.param == "slug"
    with pytest.raises(DuplicateRecord):
        await store.insert_organization(make_org(slug="other"), None)
    with pytest.raises(UserNotFound):  # the creator's user is checked: nothing written
        await store.insert_organization(
            make_org("org_3", slug="third"), make_membership("org_3", "ghost")
        )
    with pytest.raises(SlugTaken):  # the organization fails: its creator is not written
        await store.insert_organization(
            make_org("org_4", slug="acme"), make_membership("org_4", "user_1")
        )
    assert await store.list_organizations(limit=10, offset=0) == (
        [make_org(slug="acme", public={"first": True})],
        1,
    )
    assert await store.get_membership("org_4", "user_1") is None
    assert await all_changes(store) == []


async def test_list_organizations_pages_oldest_first_and_queries_name_or_slug(
    store: Store,
) -> None:
    for n, (name, slug) in enumerate(
        [
            ("Acme Corp", "acme"),
            ("Globex", "globex-inc"),
            ("100% Pure", "pure"),
            ("Under_score", "underscore"),
            ("Ärzte Union", "aerzte"),
            ("Back\\slash", "backslash"),
        ]
    ):
        await store.insert_organization(
            make_org(f"org_{5 - n}", name=name, slug=slug, created_at=NOW + n), None
        )

    async def slugs(**kw: Any) -> tuple[list[str], int]:
        page, total = await store.list_organizations(**{"limit": 10, "offset": 0, **kw})
        return [o.slug for o in page], total

    everything = ["acme", "globex-inc", "pure", "underscore", "aerzte", "backslash"]
    assert await slugs() == (everything, 6)
    assert await slugs(limit=2, offset=2) == (["pure", "underscore"], 6)
    assert await slugs(limit=0) == ([], 6)
    assert await slugs(offset=10) == ([], 6)
    assert await slugs(query="ACME") == (["acme"], 1)  # case-insensitive, name or slug
    assert await slugs(query="inc") == (["globex-inc"], 1)  # the slug only
    assert await slugs(query="o") == (["acme", "globex-inc", "underscore", "aerzte"], 4)
    assert await slugs(query="%") == (["pure"], 1)  # wildcards match themselves
    assert await slugs(query="_") == (["underscore"], 1)
    assert await slugs(query="\\") == (["backslash"], 1)
    assert await slugs(query="ärzte") == (["aerzte"], 1)  # beyond ASCII
    assert await slugs(query="nothing") == ([], 0)
    assert await slugs(query="o", limit=1, offset=1) == (["globex-inc"], 4)
    with pytest.raises(ValueError):
        await store.list_organizations(limit=-1, offset=0)


async def test_update_organization_appends_an_organization_change(store: Store) -> None:
    await store.insert_organization(make_org(public={"plan": "free"}), None)
    before, after = await store.update_organization(
        "org_1", org_public("plan", "pro"), now_ms=NOW + 5
    )
    assert before.public_metadata == {"plan": "free"}
    assert (after.public_metadata, after.version) == ({"plan": "pro"}, 2)
    assert await store.get_organization("org_1") == after
    (change,) = await all_changes(store)
    assert (change.kind, change.organization_id, change.version, change.created_at) == (
        "organization",
        "org_1",
        2,
        NOW + 5,
    )
    assert (change.user_id, change.session_id) == (None, None)
    _, same = await store.update_organization(
        "org_1", lambda o: o.evolve(private_metadata={"stripe": "cus_1"}), now_ms=NOW + 6
    )
    assert same.version == 2
    assert await store.get_organization("org_1") == same
    assert len(await all_changes(store)) == 1  # private metadata: no change


async def test_update_organization_equal_record_or_raising_writes_nothing(store: Store) -> None:
    org = make_org(public=ODD_METADATA)
    await store.insert_organization(org, None)
    for mutate in (lambda o: o, lambda o: dataclasses.replace(o), lambda o: o.evolve()):
        before, after = await store.update_organization("org_1", mutate, now_ms=NOW)
        assert before == after == org

    def refuse(current: OrganizationRecord) -> OrganizationRecord:
        current.public_metadata["x"] = 1  # an in-place edit, then a refusal
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        await store.update_organization("org_1", refuse, now_ms=NOW)
    got = await store.get_organization("org_1")
    assert got == org
    assert got is not None
    assert dump_metadata(got.public_metadata) == dump_metadata(ODD_METADATA)
    assert await all_changes(store) == []
    with pytest.raises(OrganizationNotFound):
        await store.update_organization("nope", org_public("a", 1), now_ms=NOW)
    with pytest.raises(ValueError, match="id"):
        await store.update_organization("org_1", lambda o: o.evolve(id="org_2"), now_ms=NOW)


async def test_update_organization_slug_collision_writes_nothing(store: Store) -> None:
    await store.insert_organization(make_org("org_1", slug="one"), None)
    await store.insert_organization(make_org("org_2", slug="two"), None)

    def rename(org: OrganizationRecord) -> OrganizationRecord:
        return org.evolve(slug="one", name="Renamed", version=org.version + 1)

    with pytest.raises(SlugTaken):
        await store.update_organization("org_2", rename, now_ms=NOW)
    assert await store.get_organization("org_2") == make_org("org_2", slug="two")
    assert await all_changes(store) == []


async def test_update_organization_keeps_the_stored_members_count(store: Store) -> None:
    await with_members(store, "user_1", "user_2")
    _, after = await store.update_organization(
        "org_1", lambda o: o.evolve(members_count=99, name="New", version=2), now_ms=NOW
    )
    assert after.members_count == 2
    assert await count_of(store) == 2


async def test_concurrent_organization_updates_lose_nothing(store: Store) -> None:
    await store.insert_organization(make_org(), None)
    await asyncio.gather(
        *(store.update_organization("org_1", org_public(f"k{i}", i), now_ms=NOW) for i in range(30))
    )
    got = await store.get_organization("org_1")
    assert got is not None
    assert got.public_metadata == {f"k{i}": i for i in range(30)}
    assert got.version == 31
    versions = sorted(c.version or 0 for c in await all_changes(store))
    assert versions == list(range(2, 32))


async def test_concurrent_updates_from_two_instances_lose_nothing(
    store: Store, store_target: StoreTarget
) -> None:
    if not store_target.shared:
        pytest.skip("an in-memory database is private to one instance")
    await with_members(store, "user_1")
    other = store_target.make()
    await other.open()
    try:
        await asyncio.gather(
            *(
                (store if i % 2 else other).update_organization(
                    "org_1", org_public(f"k{i}", i), now_ms=NOW
                )
                for i in range(20)
            ),
            *(
                (other if i % 2 else store).update_membership(
                    "org_1", "user_1", member_public(f"m{i}", i), now_ms=NOW
                )
                for i in range(20)
            ),
        )
    finally:
        await other.close()
    org = await store.get_organization("org_1")
    member = await store.get_membership("org_1", "user_1")
    assert org is not None
    assert member is not None
    assert org.public_metadata == {f"k{i}": i for i in range(20)}
    assert member.public_metadata == {f"m{i}": i for i in range(20)}
    assert (org.version, member.version) == (21, 21)


async def test_delete_organization_removes_memberships_and_clears_sessions(
    store: Store,
) -> None:
    await with_members(store, "user_1", "user_2")
    await with_members(store, "user_1", org_id="org_2")
    await store.insert_session(make_session("s1", "user_1"))
    await store.insert_session(make_session("s2", "user_2"))
    await store.insert_session(make_session("s3", "user_1"))
    await store.set_active_organization("s1", "org_1", now_ms=NOW)
    await store.set_active_organization("s2", "org_1", now_ms=NOW)
    await store.set_active_organization("s3", "org_2", now_ms=NOW)
    seq = await store.last_change_seq()
    await store.delete_organization("org_1", now_ms=NOW + 9)
    assert await store.get_organization("org_1") is None
    assert await store.get_membership("org_1", "user_1") is None
    assert await store.get_membership("org_1", "user_2") is None
    assert await store.list_memberships(organization_id="org_1", limit=10, offset=0) == ([], 0)
    for session_id, active in [("s1", None), ("s2", None), ("s3", "org_2")]:
        session = await store.get_session(session_id)
        assert session is not None
        assert session.active_organization_id == active
    (change,) = await store.changes_since(seq)
    assert (change.kind, change.organization_id, change.user_id, change.version) == (
        "organization_deleted",
        "org_1",
        None,
        None,
    )
    assert change.created_at == NOW + 9
    with pytest.raises(OrganizationNotFound):
        await store.delete_organization("org_1", now_ms=NOW)
    assert await store.changes_since(seq) == [change]
    # the slug is free again
    await store.insert_organization(make_org("org_new", slug="org-1"), None)


# -- memberships -----------------------------------------------------------------------
async def test_membership_round_trip_and_change(store: Store) -> None:
    await with_members(store, "user_1")
    await store.insert_user(make_user("user_2"))
    seq = await store.last_change_seq()
    membership = make_membership(
        user_id="user_2", public=ODD_METADATA, private={"p": 1}, version=3, token_bytes=17
    )
    await store.insert_membership(membership)
    got = await store.get_membership("org_1", "user_2")
    assert got == membership
    assert got is not None
    assert dump_metadata(got.public_metadata) == dump_metadata(ODD_METADATA)
    assert await count_of(store) == 2
    (change,) = await store.changes_since(seq)
    assert (change.kind, change.organization_id, change.user_id, change.version) == (
        "membership",
        "org_1",
        "user_2",
        3,
    )
    public = got.to_membership(("org:invoices:read",)).to_dict(include_private=False)
    assert "private_metadata" not in public
    assert public["permissions"] == ["org:invoices:read"]
    assert await store.get_membership("org_1", "nobody") is None


async def test_insert_membership_failures_write_nothing(store: Store) -> None:
    await with_members(store, "user_1")
    await store.insert_user(make_user("user_2"))
    seq = await store.last_change_seq()
    with pytest.raises(AlreadyMember) as again:
        await store.insert_membership(make_membership(membership_id="mem_other"))
    assert again.value.param == "user_id"
    with pytest.raises(OrganizationNotFound):
        await store.insert_membership(make_membership("org_ghost", "user_2"))
    with pytest.raises(UserNotFound):
        await store.insert_membership(make_membership(user_id="ghost"))
    with pytest.raises(DuplicateRecord):  # the id of user_1's membership
        await store.insert_membership(
            make_membership(user_id="user_2", membership_id="mem_org_1_user_1")
        )
    assert await count_of(store) == 1
    assert await store.get_membership("org_1", "user_2") is None
    assert await store.changes_since(seq) == []


async def test_list_memberships_by_organization_or_user(store: Store) -> None:
    await with_members(store, "user_1", "user_2", "user_3")
    await store.insert_organization(make_org("org_2", created_at=NOW - 1), None)
    await store.insert_membership(make_membership("org_2", "user_2", created_at=NOW - 5))
    page, total = await store.list_memberships(organization_id="org_1", limit=2, offset=1)
    assert [(m.user_id, o.id) for m, o in page] == [("user_2", "org_1"), ("user_3", "org_1")]
    assert total == 3
    page, total = await store.list_memberships(user_id="user_2", limit=10, offset=0)
    assert [(m.organization_id, o.slug) for m, o in page] == [
        ("org_2", "org-2"),
        ("org_1", "org-1"),
    ]
    assert total == 2
    assert page[1][1] == await store.get_organization("org_1")
    assert await store.list_memberships(user_id="nobody", limit=10, offset=0) == ([], 0)
    with pytest.raises(ValueError):
        await store.list_memberships(limit=10, offset=0)
    with pytest.raises(ValueError):
        await store.list_memberships(organization_id="org_1", user_id="user_1", limit=1, offset=0)


async def test_update_membership(store: Store) -> None:
    await with_members(store, "user_1", "user_2")
    seq = await store.last_change_seq()
    before, after = await store.update_membership(
        "org_1", "user_2", lambda m: m.evolve(role="org:admin", version=2), now_ms=NOW + 3
    )
    assert (before.role, after.role) == ("org:member", "org:admin")
    assert await store.get_membership("org_1", "user_2") == after
    (change,) = await store.changes_since(seq)
    assert (change.kind, change.organization_id, change.user_id, change.version) == (
        "membership",
        "org_1",
        "user_2",
        2,
    )
    assert change.created_at == NOW + 3
    _, sized = await store.update_membership(
        "org_1", "user_2", lambda m: m.evolve(token_bytes=900), now_ms=NOW
    )
    assert await store.get_membership("org_1", "user_2") == sized
    assert sized.token_bytes == 900
    assert len(await store.changes_since(seq)) == 1  # token_bytes alone: no change
    with pytest.raises(MembershipNotFound):
        await store.update_membership("org_1", "nobody", member_public("a", 1), now_ms=NOW)
    for field, value in [("id", "mem_x"), ("user_id", "user_1"), ("organization_id", "org_x")]:
        with pytest.raises(ValueError, match=field):
            await store.update_membership(
                "org_1", "user_2", lambda m, f=field, v=value: m.evolve(**{f: v}), now_ms=NOW
            )


async def test_update_membership_equal_record_or_raising_writes_nothing(store: Store) -> None:
    await store.insert_user(make_user())
    creator = make_membership(public=ODD_METADATA)
    await store.insert_organization(make_org(), creator)
    for mutate in (lambda m: m, lambda m: m.evolve()):
        before, after = await store.update_membership("org_1", "user_1", mutate, now_ms=NOW)
        assert before == after == creator

    def refuse(current: MembershipRecord) -> MembershipRecord:
        current.public_metadata["x"] = 1
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        await store.update_membership("org_1", "user_1", refuse, now_ms=NOW)
    got = await store.get_membership("org_1", "user_1")
    assert got == creator
    assert got is not None
    assert dump_metadata(got.public_metadata) == dump_metadata(ODD_METADATA)
    assert await all_changes(store) == []


async def test_concurrent_membership_updates_lose_nothing(store: Store) -> None:
    await with_members(store, "user_1")
    await asyncio.gather(
        *(
            store.update_membership("org_1", "user_1", member_public(f"k{i}", i), now_ms=NOW)
            for i in range(30)
        )
    )
    got = await store.get_membership("org_1", "user_1")
    assert got is not None
    assert got.public_metadata == {f"k{i}": i for i in range(30)}
    assert got.version == 31


async def test_concurrent_inserts_and_deletes_keep_members_count(store: Store) -> None:
    users = [f"user_{i}" for i in range(12)]
    await with_members(store, *users[:6])
    for user_id in users[6:]:
        await store.insert_user(make_user(user_id))
    await asyncio.gather(
        *(store.insert_membership(make_membership(user_id=u)) for u in users[6:]),
        *(store.delete_membership("org_1", u, now_ms=NOW) for u in users[1:6]),
    )
    assert await count_of(store) == 7
    assert (await store.list_memberships(organization_id="org_1", limit=50, offset=0))[1] == 7


async def test_delete_membership_uncounts_and_clears_that_users_sessions(store: Store) -> None:
    await with_members(store, "user_1", "user_2")
    await with_members(store, "user_2", org_id="org_2")
    await store.insert_session(make_session("s_1a", "user_1"))
    await store.insert_session(make_session("s_2a", "user_2"))
    await store.insert_session(make_session("s_2b", "user_2"))
    await store.set_active_organization("s_1a", "org_1", now_ms=NOW)
    await store.set_active_organization("s_2a", "org_1", now_ms=NOW)
    await store.set_active_organization("s_2b", "org_2", now_ms=NOW)
    seq = await store.last_change_seq()
    deleted = await store.delete_membership("org_1", "user_2", now_ms=NOW + 4)
    assert deleted == make_membership(user_id="user_2", created_at=NOW + 1)
    assert await store.get_membership("org_1", "user_2") is None
    assert await count_of(store) == 1
    assert await count_of(store, "org_2") == 1
    for session_id, active in [("s_1a", "org_1"), ("s_2a", None), ("s_2b", "org_2")]:
        session = await store.get_session(session_id)
        assert session is not None
        assert session.active_organization_id == active, session_id
    (change,) = await store.changes_since(seq)
    assert (change.kind, change.organization_id, change.user_id, change.version) == (
        "membership_deleted",
        "org_1",
        "user_2",
        None,
    )
    with pytest.raises(MembershipNotFound):
        await store.delete_membership("org_1", "user_2", now_ms=NOW)
    with pytest.raises(MembershipNotFound):
        await store.delete_membership("org_ghost", "user_2", now_ms=NOW)
    assert await store.changes_since(seq) == [change]


async def test_members_count_follows_user_and_organization_deletion(store: Store) -> None:
    await with_members(store, "user_1", "user_2", "user_3")
    await with_members(store, "user_2", "user_3", org_id="org_2")
    assert (await count_of(store), await count_of(store, "org_2")) == (3, 2)
    seq = await store.last_change_seq()
    await store.delete_user("user_2", now_ms=NOW + 1)
    assert (await count_of(store), await count_of(store, "org_2")) == (2, 1)
    assert await store.list_memberships(user_id="user_2", limit=10, offset=0) == ([], 0)
    assert [c.kind for c in await store.changes_since(seq)] == ["user_deleted"]
    await store.delete_organization("org_2", now_ms=NOW + 2)
    assert await store.list_memberships(user_id="user_3", limit=10, offset=0) == (
        [
            (
                make_membership(user_id="user_3", created_at=NOW + 2),
                await store.get_organization("org_1"),
            )
        ],
        1,
    )
    await store.delete_membership("org_1", "user_3", now_ms=NOW + 3)
    assert await count_of(store) == 1


async def test_largest_member(store: Store) -> None:
    await store.insert_organization(make_org(), None)
    assert await store.largest_member("org_1") is None
    for n, size in enumerate([10, 700, 300]):
        user = make_user(f"user_{n}", public={"n": n})
        await store.insert_user(user)
        await store.insert_membership(make_membership(user_id=user.id, token_bytes=size))
    found = await store.largest_member("org_1")
    assert found is not None
    membership, user = found
    assert (membership.user_id, membership.token_bytes) == ("user_1", 700)
    assert user == make_user("user_1", public={"n": 1})
    await store.update_membership(
        "org_1", "user_0", lambda m: m.evolve(token_bytes=9000), now_ms=NOW
    )
    found = await store.largest_member("org_1")
    assert found is not None
    assert found[0].user_id == "user_0"
    assert await store.largest_member("org_other") is None


# -- the active organization of a session ----------------------------------------------
async def test_set_active_organization(store: Store) -> None:
    await with_members(store, "user_1")
    await store.insert_organization(make_org("org_2"), None)
    await store.insert_session(make_session("s1"))
    seq = await store.last_change_seq()
    session = await store.set_active_organization("s1", "org_1", now_ms=NOW)
    assert session == make_session("s1").evolve(active_organization_id="org_1")
    assert await store.get_session("s1") == session
    assert session.to_session(NOW).to_dict()["active_organization_id"] == "org_1"
    for refused in ("org_2", "org_ghost"):  # not a member; no such organization
        with pytest.raises(NotAMember) as not_member:
            await store.set_active_organization("s1", refused, now_ms=NOW)
        assert (not_member.value.status, not_member.value.code) == (403, "not_a_member")
        assert not_member.value.param == "organization_id"
    assert await store.get_session("s1") == session
    cleared = await store.set_active_organization("s1", None, now_ms=NOW)
    assert cleared.active_organization_id is None
    assert await store.get_session("s1") == make_session("s1")
    assert await store.changes_since(seq) == []
    with pytest.raises(SessionNotFound):
        await store.set_active_organization("nope", "org_1", now_ms=NOW)
    with pytest.raises(SessionNotFound):
        await store.set_active_organization("nope", None, now_ms=NOW)


async def test_set_active_organization_needs_an_active_session(store: Store) -> None:
    await with_members(store, "user_1")
    await store.insert_session(make_session("s_revoked", status="revoked"))
    await store.insert_session(make_session("s_past", expire_at=NOW + 10))
    for session_id in ("s_revoked", "s_past"):
        for org_id in ("org_1", None):
            with pytest.raises(SessionNotActive):
                await store.set_active_organization(session_id, org_id, now_ms=NOW + 10)
    for session_id in ("s_revoked", "s_past"):
        session = await store.get_session(session_id)
        assert session is not None
        assert session.active_organization_id is None


async def test_insert_session_with_an_active_organization(store: Store) -> None:
    await with_members(store, "user_1")
    await store.insert_user(make_user("user_2"))
    active = make_session("s1").evolve(active_organization_id="org_1")
    await store.insert_session(active)
    assert await store.get_session("s1") == active
    with pytest.raises(NotAMember):
        await store.insert_session(
            make_session("s2", "user_2").evolve(active_organization_id="org_1")
        )
    with pytest.raises(NotAMember):
        await store.insert_session(make_session("s3").evolve(active_organization_id="org_ghost"))
    assert await store.get_session("s2") is None
    assert await store.get_session("s3") is None


async def test_get_session_with_user_reads_the_active_organization(store: Store) -> None:
    user = make_user(public={"role": "x"})
    await store.insert_user(user)
    creator = make_membership(role="org:admin", public={"seat": 1})
    await store.insert_organization(make_org(public={"plan": "pro"}), creator)
    await store.insert_session(make_session("s1").evolve(active_organization_id="org_1"))
    view = await store.get_session_with_user("s1")
    assert isinstance(view, SessionView)
    assert view.user == user
    assert view.organization == make_org(public={"plan": "pro"}).evolve(members_count=1)
    assert view.membership == creator
    assert view.session.active_organization_id == "org_1"
    await store.delete_membership("org_1", "user_1", now_ms=NOW + 1)
    view = await store.get_session_with_user("s1")
    assert view is not None
    assert (view.organization, view.membership) == (None, None)
    assert view.session.active_organization_id is None
    assert view.user == user


async def test_get_session_with_user_after_the_organization_is_deleted(store: Store) -> None:
    await with_members(store, "user_1")
    await store.insert_session(make_session("s1", expire_at=NOW + DAY))
    await store.set_active_organization("s1", "org_1", now_ms=NOW)
    await store.delete_organization("org_1", now_ms=NOW + 1)
    view = await store.get_session_with_user("s1")
    assert view is not None
    assert (view.organization, view.membership) == (None, None)
    assert view.user is not None
