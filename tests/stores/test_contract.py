"""The store contract (``sessionclaims.stores.base``), run against every store."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from sessionclaims._errors import (
    ExternalIdTaken,
    SessionNotActive,
    SessionNotFound,
    SignUpAlreadyCompleted,
    SignUpNotFound,
    UserNotFound,
)
from sessionclaims.stores import (
    ChangeRecord,
    DuplicateRecord,
    KeyRecord,
    SignUpRecord,
    Store,
    UserRecord,
    dump_metadata,
)

from .helpers import DAY, NOW, ODD_METADATA, StoreTarget, make_session, make_user

pytestmark = pytest.mark.anyio


def dumps(user: UserRecord) -> tuple[str, str, str]:
    return (
        dump_metadata(user.public_metadata),
        dump_metadata(user.private_metadata),
        dump_metadata(user.unsafe_metadata),
    )


def set_public(key: str, value: Any, *, bump: bool = True, at: int = NOW + 1):
    """A merge: ``public_metadata[key] = value``, optionally bumping the version."""

    def mutate(user: UserRecord) -> UserRecord:
        return user.evolve(
            public_metadata={**user.public_metadata, key: value},
            updated_at=at,
            version=user.version + 1 if bump else user.version,
        )

    return mutate


async def all_changes(store: Store) -> list[ChangeRecord]:
    return await store.changes_since(0, limit=10_000)


# -- lifecycle -------------------------------------------------------------------------
async def test_is_a_store_and_open_close_are_idempotent(store_target: StoreTarget) -> None:
    store = store_target.make()
    assert isinstance(store, Store)
    await store.open()
    await store.open()
    await store.insert_user(make_user())
    await store.close()
    await store.close()
    await store.open()  # reopening works; memory stores start empty again
    try:
        user = await store.get_user("user_1")
        assert (user is not None) is store_target.shared
    finally:
        await store.close()


# -- users -----------------------------------------------------------------------------
async def test_user_round_trip_is_byte_for_byte(store: Store) -> None:
    user = make_user(
        "user_odd",
        public=ODD_METADATA,
        private={"stripe_id": "cus_123", "k": ["\x00"]},
        unsafe={"birthday": "11-30-1969", "emoji": "🙂"},
        external_id="ext-ü",
        version=7,
    )
    await store.insert_user(user)
    got = await store.get_user("user_odd")
    assert got == user
    assert got is not None
    assert dumps(got) == dumps(user)
    assert list(got.public_metadata) == list(ODD_METADATA)  # key order kept
    assert await store.get_user("nobody") is None


async def test_insert_duplicate_user_raises_and_keeps_the_first(store: Store) -> None:
    await store.insert_user(make_user(public={"first": True}))
    with pytest.raises(DuplicateRecord):
        await store.insert_user(make_user(public={"second": True}))
    got = await store.get_user("user_1")
    assert got is not None
    assert got.public_metadata == {"first": True}


async def test_external_id_is_unique_when_set_and_found_by_exact_match(store: Store) -> None:
    await store.insert_user(make_user("user_a", external_id="auth0|42", public={"a": 1}))
    await store.insert_user(make_user("user_b", created_at=NOW + 1))  # None: not unique
    await store.insert_user(make_user("user_c", created_at=NOW + 2))
    with pytest.raises(ExternalIdTaken):
        await store.insert_user(make_user("user_d", external_id="auth0|42"))
    assert await store.get_user("user_d") is None  # nothing written
    found = await store.get_user_by_external_id("auth0|42")
    assert found is not None
    assert found.id == "user_a"
    assert await store.get_user_by_external_id("AUTH0|42") is None  # exact, case and all
    assert await store.get_user_by_external_id("auth0|4") is None
    assert await store.list_users(limit=10, offset=0, external_id="auth0|42") == ([found], 1)
    assert await store.list_users(limit=10, offset=0, external_id="nobody") == ([], 0)
    assert (await store.list_users(limit=10, offset=0))[1] == 3


async def test_list_users_pages_oldest_first_with_total(store: Store) -> None:
    for i in range(5):
        await store.insert_user(make_user(f"user_{4 - i}", created_at=NOW + 4 - i))
    pages = [await store.list_users(limit=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert [[u.id for u in page] for page, _ in pages] == [
        ["user_0", "user_1"],
        ["user_2", "user_3"],
        ["user_4"],
        [],
    ]
    assert {total for _, total in pages} == {5}
    assert await store.list_users(limit=0, offset=0) == ([], 5)
    with pytest.raises(ValueError):
        await store.list_users(limit=-1, offset=0)


async def test_update_user_with_new_version_appends_one_change(store: Store) -> None:
    await store.insert_user(make_user(public={"role": "member"}))
    before, after = await store.update_user("user_1", set_public("role", "admin"), now_ms=NOW + 5)
    assert before.public_metadata == {"role": "member"}
    assert after.public_metadata == {"role": "admin"}
    assert after.version == 2
    assert await store.get_user("user_1") == after
    (change,) = await all_changes(store)
    assert change.kind == "user"
    assert change.user_id == "user_1"
    assert change.session_id is None
    assert change.version == 2
    assert change.created_at == NOW + 5
    assert await store.last_change_seq() == change.seq


async def test_update_user_with_same_version_stores_but_appends_nothing(store: Store) -> None:
    await store.insert_user(make_user())
    _, after = await store.update_user("user_1", set_public("plan", "pro", bump=False), now_ms=NOW)
    assert await store.get_user("user_1") == after
    assert after.public_metadata == {"plan": "pro"}
    assert await all_changes(store) == []


async def test_update_user_returning_an_equal_record_writes_nothing(store: Store) -> None:
    user = make_user(public=ODD_METADATA)
    await store.insert_user(user)
    for mutate in (lambda u: u, lambda u: dataclasses.replace(u), lambda u: u.evolve()):
        before, after = await store.update_user("user_1", mutate, now_ms=NOW)
        assert before == after == user
    assert await all_changes(store) == []


async def test_update_user_bool_is_not_the_same_as_one(store: Store) -> None:
    await store.insert_user(make_user(public={"flag": 1}))
    await store.update_user("user_1", set_public("flag", True, bump=False), now_ms=NOW)
    got = await store.get_user("user_1")
    assert got is not None
    assert dump_metadata(got.public_metadata) == '{"flag":true}'


async def test_update_user_mutating_in_place_is_still_stored(store: Store) -> None:
    await store.insert_user(make_user(public={"a": 1}))

    def in_place(user: UserRecord) -> UserRecord:
        user.public_metadata["b"] = 2
        return user

    before, after = await store.update_user("user_1", in_place, now_ms=NOW)
    assert before.public_metadata == {"a": 1}
    assert after.public_metadata == {"a": 1, "b": 2}
    assert await store.get_user("user_1") == after


async def test_update_user_mutate_raising_leaves_everything_unchanged(store: Store) -> None:
    user = make_user(public=ODD_METADATA)
    await store.insert_user(user)

    def refuse(current: UserRecord) -> UserRecord:
        raise RuntimeError("refused by the metadata rules")

    with pytest.raises(RuntimeError, match="refused"):
        await store.update_user("user_1", refuse, now_ms=NOW)
    got = await store.get_user("user_1")
    assert got == user
    assert got is not None
    assert dumps(got) == dumps(user)
    assert await all_changes(store) == []
    assert await store.last_change_seq() == 0


async def test_update_user_unknown_or_id_change(store: Store) -> None:
    with pytest.raises(UserNotFound):
        await store.update_user("nobody", set_public("a", 1), now_ms=NOW)
    await store.insert_user(make_user())
    with pytest.raises(ValueError, match="id"):
        await store.update_user("user_1", lambda u: u.evolve(id="user_2"), now_ms=NOW)
    assert await store.get_user("user_2") is None


async def test_concurrent_merges_lose_nothing(store: Store) -> None:
    await store.insert_user(make_user())
    await asyncio.gather(
        *(store.update_user("user_1", set_public(f"key_{i}", i), now_ms=NOW) for i in range(50))
    )
    got = await store.get_user("user_1")
    assert got is not None
    assert got.public_metadata == {f"key_{i}": i for i in range(50)}
    assert got.version == 51
    changes = await all_changes(store)
    assert sorted(c.version for c in changes if c.version is not None) == list(range(2, 52))


async def test_concurrent_merges_from_two_instances_lose_nothing(
    store: Store, store_target: StoreTarget
) -> None:
    if not store_target.shared:
        pytest.skip("an in-memory database is private to one instance")
    await store.insert_user(make_user())
    other = store_target.make()
    await other.open()
    try:
        await asyncio.gather(
            *(
                (store if i % 2 else other).update_user(
                    "user_1", set_public(f"k{i}", i), now_ms=NOW
                )
                for i in range(40)
            )
        )
    finally:
        await other.close()
    got = await store.get_user("user_1")
    assert got is not None
    assert got.public_metadata == {f"k{i}": i for i in range(40)}
    assert got.version == 41
    assert len(await all_changes(store)) == 40


async def test_delete_user_revokes_active_sessions_and_appends_one_change(store: Store) -> None:
    await store.insert_user(make_user())
    await store.insert_user(make_user("user_2"))
    await store.insert_session(make_session("sess_b", created_at=NOW + 2))
    await store.insert_session(make_session("sess_a", created_at=NOW + 1))
    await store.insert_session(make_session("sess_ended", status="ended"))
    await store.insert_session(make_session("sess_other", "user_2"))
    revoked = await store.delete_user("user_1", now_ms=NOW + 10)
    assert revoked == ["sess_a", "sess_b"]
    assert await store.get_user("user_1") is None
    for session_id, status in [
        ("sess_a", "revoked"),
        ("sess_b", "revoked"),
        ("sess_ended", "ended"),
        ("sess_other", "active"),
    ]:
        session = await store.get_session(session_id)
        assert session is not None
        assert session.status == status
    (change,) = await all_changes(store)
    assert (change.kind, change.user_id, change.created_at) == ("user_deleted", "user_1", NOW + 10)
    with pytest.raises(UserNotFound):
        await store.delete_user("user_1", now_ms=NOW)
    assert len(await all_changes(store)) == 1


# -- sessions --------------------------------------------------------------------------
async def test_session_round_trip(store: Store) -> None:
    await store.insert_user(make_user())
    with_origin = make_session("sess_1", origin="https://app.example.com")
    without = make_session("sess_2")
    await store.insert_session(with_origin)
    await store.insert_session(without)
    assert await store.get_session("sess_1") == with_origin
    assert await store.get_session("sess_2") == without
    assert await store.get_session("nope") is None
    with pytest.raises(DuplicateRecord):
        await store.insert_session(make_session("sess_1"))


async def test_insert_session_needs_its_user(store: Store) -> None:
    with pytest.raises(UserNotFound):
        await store.insert_session(make_session("sess_1", "ghost"))
    assert await store.get_session("sess_1") is None


async def test_list_sessions_filters_by_user_and_effective_status(store: Store) -> None:
    now = NOW + DAY
    await store.insert_user(make_user())
    await store.insert_user(make_user("user_2"))
    for session in [
        make_session("s_active", created_at=NOW + 1),
        make_session("s_past", created_at=NOW + 2, expire_at=now),  # active, but expired
        make_session("s_revoked", created_at=NOW + 3, status="revoked"),
        make_session("s_expired", created_at=NOW + 4, status="expired"),
        make_session("s_other", "user_2", created_at=NOW + 5),
    ]:
        await store.insert_session(session)

    async def ids(**kw: Any) -> tuple[list[str], int]:
        args: dict[str, Any] = {"user_id": None, "status": None, "limit": 10, "offset": 0}
        page, total = await store.list_sessions(now_ms=now, **{**args, **kw})
        return [s.id for s in page], total

    assert await ids() == (["s_active", "s_past", "s_revoked", "s_expired", "s_other"], 5)
    assert await ids(user_id="user_1", limit=2) == (["s_active", "s_past"], 4)
    assert await ids(user_id="user_1", limit=2, offset=2) == (["s_revoked", "s_expired"], 4)
    assert await ids(status="active") == (["s_active", "s_other"], 2)
    assert await ids(status="expired") == (["s_past", "s_expired"], 2)
    assert await ids(status="revoked", user_id="user_1") == (["s_revoked"], 1)
    assert await ids(status="ended") == ([], 0)
    past = await store.get_session("s_past")
    assert past is not None
    assert past.status == "active"
    assert past.effective_status(now) == "expired"
    assert past.to_session(now).status == "expired"


async def test_end_session_appends_a_session_change(store: Store) -> None:
    await store.insert_user(make_user())
    await store.insert_session(make_session("sess_1"))
    ended = await store.end_session("sess_1", "revoked", now_ms=NOW + 3)
    assert ended == dataclasses.replace(make_session("sess_1"), status="revoked")
    assert await store.get_session("sess_1") == ended
    (change,) = await all_changes(store)
    assert (change.kind, change.user_id, change.session_id, change.version) == (
        "session",
        "user_1",
        "sess_1",
        None,
    )
    assert change.created_at == NOW + 3


@pytest.mark.parametrize("stored", ["revoked", "ended", "expired"])
async def test_end_session_that_is_not_active_writes_nothing(store: Store, stored: str) -> None:
    await store.insert_user(make_user())
    session = make_session("sess_1", status=stored)
    await store.insert_session(session)
    with pytest.raises(SessionNotActive):
        await store.end_session("sess_1", "ended", now_ms=NOW)
    assert await store.get_session("sess_1") == session
    assert await all_changes(store) == []


async def test_end_session_past_expire_at(store: Store) -> None:
    await store.insert_user(make_user())
    await store.insert_session(make_session("sess_1", expire_at=NOW + 10))
    with pytest.raises(SessionNotActive, match="expired"):
        await store.end_session("sess_1", "revoked", now_ms=NOW + 10)
    assert await all_changes(store) == []
    ended = await store.end_session("sess_1", "expired", now_ms=NOW + 10)  # records expiry
    assert ended.status == "expired"
    assert len(await all_changes(store)) == 1


async def test_end_session_unknown_or_bad_status(store: Store) -> None:
    with pytest.raises(SessionNotFound):
        await store.end_session("nope", "revoked", now_ms=NOW)
    await store.insert_user(make_user())
    await store.insert_session(make_session("sess_1"))
    with pytest.raises(ValueError):
        await store.end_session("sess_1", "active", now_ms=NOW)
    assert await all_changes(store) == []


async def test_touch_session_moves_last_active_at_forward_only(store: Store) -> None:
    await store.insert_user(make_user())
    await store.insert_session(make_session("sess_1"))
    await store.touch_session("sess_1", now_ms=NOW + 100)
    await store.touch_session("sess_1", now_ms=NOW + 50)
    session = await store.get_session("sess_1")
    assert session is not None
    assert session.last_active_at == NOW + 100
    assert await all_changes(store) == []
    with pytest.raises(SessionNotFound):
        await store.touch_session("nope", now_ms=NOW)


# -- sign-ups --------------------------------------------------------------------------
def make_sign_up(sign_up_id: str = "sua_1") -> SignUpRecord:
    return SignUpRecord(
        id=sign_up_id, status="pending", unsafe_metadata=dict(ODD_METADATA), created_at=NOW
    )


async def test_sign_up_round_trip(store: Store) -> None:
    sign_up = make_sign_up()
    await store.insert_sign_up(sign_up)
    got = await store.get_sign_up("sua_1")
    assert got == sign_up
    assert got is not None
    assert dump_metadata(got.unsafe_metadata) == dump_metadata(ODD_METADATA)
    assert await store.get_sign_up("nope") is None
    with pytest.raises(DuplicateRecord):
        await store.insert_sign_up(sign_up)


async def test_complete_sign_up_creates_user_and_session_once(store: Store) -> None:
    await store.insert_sign_up(make_sign_up())
    user = make_user("user_new", unsafe=ODD_METADATA)
    await store.complete_sign_up("sua_1", user, make_session("sess_1", "user_new"), now_ms=NOW)
    assert await store.get_user("user_new") == user
    assert await store.get_session("sess_1") == make_session("sess_1", "user_new")
    done = await store.get_sign_up("sua_1")
    assert done is not None
    assert (done.status, done.user_id) == ("complete", "user_new")

    with pytest.raises(SignUpAlreadyCompleted):
        await store.complete_sign_up(
            "sua_1", make_user("user_again"), make_session("sess_2", "user_again"), now_ms=NOW
        )
    assert await store.get_user("user_again") is None
    assert await store.get_session("sess_2") is None
    assert await store.get_sign_up("sua_1") == done
    assert (await store.list_users(limit=10, offset=0))[1] == 1


async def test_complete_sign_up_failures_write_nothing(store: Store) -> None:
    with pytest.raises(SignUpNotFound):
        await store.complete_sign_up("nope", make_user(), make_session("s"), now_ms=NOW)
    await store.insert_user(make_user("taken"))
    await store.insert_sign_up(make_sign_up())
    with pytest.raises(DuplicateRecord):
        await store.complete_sign_up(
            "sua_1", make_user("taken", public={"x": 1}), make_session("s", "taken"), now_ms=NOW
        )
    with pytest.raises(ValueError):
        await store.complete_sign_up("sua_1", make_user("u2"), make_session("s"), now_ms=NOW)
    assert await store.get_session("s") is None
    assert await store.get_user("u2") is None
    assert await store.get_sign_up("sua_1") == make_sign_up()


# -- signing keys ----------------------------------------------------------------------
def make_key(kid: str, created_at: int, retire_at: int | None = None) -> KeyRecord:
    return KeyRecord(
        kid=kid,
        alg="ES256",
        private_key=b"-----BEGIN PRIVATE KEY-----\n\x00\xff" + kid.encode(),
        public_jwk=f'{{"kty":"EC","kid":"{kid}"}}',
        created_at=created_at,
        retire_at=retire_at,
    )


async def test_insert_key_retires_the_others(store: Store) -> None:
    await store.insert_key(make_key("k1", NOW), retire_others_at=None)
    await store.insert_key(make_key("k0", NOW - 5, retire_at=NOW + 1), retire_others_at=None)
    await store.insert_key(make_key("k2", NOW + 10), retire_others_at=NOW + 500)
    assert await store.list_keys() == [
        make_key("k0", NOW - 5, retire_at=NOW + 1),  # already had one: kept
        make_key("k1", NOW, retire_at=NOW + 500),
        make_key("k2", NOW + 10),
    ]
    assert [c.kind for c in await all_changes(store)] == ["keys", "keys", "keys"]
    with pytest.raises(DuplicateRecord):
        await store.insert_key(make_key("k2", NOW + 20), retire_others_at=NOW + 900)
    assert len(await store.list_keys()) == 3
    assert (await store.list_keys())[1].retire_at == NOW + 500  # rolled back with it
    assert len(await all_changes(store)) == 3


async def test_delete_retired_keys(store: Store) -> None:
    await store.insert_key(make_key("old", NOW), retire_others_at=None)
    await store.insert_key(make_key("new", NOW + 1), retire_others_at=NOW + 100)
    seq = await store.last_change_seq()
    assert await store.delete_retired_keys(now_ms=NOW + 99) == 0
    assert await store.changes_since(seq) == []
    assert await store.delete_retired_keys(now_ms=NOW + 100) == 1
    assert [k.kid for k in await store.list_keys()] == ["new"]
    (change,) = await store.changes_since(seq)
    assert (change.kind, change.created_at) == ("keys", NOW + 100)


async def test_replace_private_keys_is_a_compare_and_set(store: Store) -> None:
    await store.insert_key(make_key("k1", NOW), retire_others_at=None)
    await store.insert_key(make_key("k2", NOW + 1), retire_others_at=NOW + 100)
    seq = await store.last_change_seq()
    plain = {k.kid: k.private_key for k in await store.list_keys()}
    sealed = {kid: b"sealed:\x00\xff" + kid.encode() for kid in plain}
    updates = [(kid, plain[kid], sealed[kid]) for kid in ("k1", "k2")]
    assert await store.replace_private_keys([*updates, ("gone", b"x", b"y")]) == 2
    assert {k.kid: k.private_key for k in await store.list_keys()} == sealed
    assert [k.retire_at for k in await store.list_keys()] == [NOW + 100, None]
    # A second writer that read the old value changes nothing: the first one won.
    assert await store.replace_private_keys([(kid, plain[kid], b"other") for kid in plain]) == 0
    assert {k.kid: k.private_key for k in await store.list_keys()} == sealed
    assert await store.replace_private_keys([]) == 0
    assert await store.changes_since(seq) == []


async def test_concurrent_replace_private_keys_change_each_key_once(
    store: Store, store_target: StoreTarget
) -> None:
    if not store_target.shared:
        pytest.skip("needs two instances on the same data")
    await store.insert_key(make_key("k1", NOW), retire_others_at=None)
    (key,) = await store.list_keys()
    other = store_target.make()
    await other.open()
    try:
        won = await asyncio.gather(
            store.replace_private_keys([("k1", key.private_key, b"from-a")]),
            other.replace_private_keys([("k1", key.private_key, b"from-b")]),
        )
    finally:
        await other.close()
    assert sorted(won) == [0, 1]
    (after,) = await store.list_keys()
    assert after.private_key == (b"from-a" if won[0] else b"from-b")


# -- change log ------------------------------------------------------------------------
async def append_user_changes(store: Store, count: int, *, start: int = NOW) -> None:
    if await store.get_user("user_1") is None:
        await store.insert_user(make_user())
    for i in range(count):
        await store.update_user("user_1", set_public("n", i), now_ms=start + i)


async def test_changes_since_is_ordered_and_limited(store: Store) -> None:
    assert await store.last_change_seq() == 0
    assert await store.changes_since(0) == []
    await append_user_changes(store, 7)
    changes = await store.changes_since(0)
    seqs = [c.seq for c in changes]
    assert len(seqs) == 7
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 7
    assert [c.version for c in changes] == list(range(2, 9))
    assert await store.changes_since(seqs[2], limit=3) == changes[3:6]
    assert await store.changes_since(seqs[-1]) == []
    assert await store.changes_since(0, limit=0) == []
    assert await store.last_change_seq() == seqs[-1]


async def test_prune_keeps_the_newest_so_the_sequence_never_goes_back(store: Store) -> None:
    await append_user_changes(store, 5)
    last = await store.last_change_seq()
    assert await store.prune_changes(before_ms=NOW + 2) == 2
    assert [c.created_at for c in await store.changes_since(0)] == [NOW + 2, NOW + 3, NOW + 4]
    assert await store.prune_changes(before_ms=NOW + 1_000) == 2  # the newest one stays
    (kept,) = await store.changes_since(0)
    assert kept.seq == last
    assert await store.last_change_seq() == last
    assert await store.prune_changes(before_ms=NOW + 1_000) == 0
    await append_user_changes(store, 1, start=NOW + 2_000)
    assert await store.last_change_seq() > last


async def test_a_reader_following_the_log_never_misses_a_change(store: Store) -> None:
    """Sequence numbers become visible in order, even with concurrent writers: a reader
    that moves its cursor to the last seq it saw never skips one committed later."""
    for i in range(10):
        await store.insert_user(make_user(f"user_{i}"))
    seen: list[int] = []
    done = asyncio.Event()

    async def follow() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            for change in await store.changes_since(cursor):
                seen.append(change.seq)
                cursor = change.seq
            if finished:
                return
            await asyncio.sleep(0)

    async def write(user_id: str) -> None:
        for n in range(8):
            await store.update_user(user_id, set_public("n", n), now_ms=NOW)

    reader = asyncio.create_task(follow())
    await asyncio.gather(*(write(f"user_{i}") for i in range(10)))
    done.set()
    await reader
    assert seen == [c.seq for c in await all_changes(store)]
    assert len(seen) == 80


async def test_get_session_with_user_reads_both_at_once(store: Store) -> None:
    assert await store.get_session_with_user("sess_missing") is None
    user = make_user(public={"role": "admin"})
    await store.insert_user(user)
    await store.insert_session(make_session("sess_1"))
    found = await store.get_session_with_user("sess_1")
    assert found is not None
    session, owner, organization, membership = found
    assert session == await store.get_session("sess_1")
    assert owner == user
    assert (organization, membership) == (None, None)  # no active organization
    await store.delete_user("user_1", now_ms=NOW + 1)
    after = await store.get_session_with_user("sess_1")
    assert after is not None
    assert after.session.status == "revoked"
    assert after.user is None
