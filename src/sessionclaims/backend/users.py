"""``backend.users``: users and their three tiers of metadata.

Every write is atomic across tiers: the new tiers are computed and checked (limits on the
result, token budget) inside the store's read-modify-write, so a refused write leaves the
stored user exactly as it was. A write that changes what the user's session token would
contain bumps the user's version; the change log and this process's freshness map learn
of it before the call returns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple, TypedDict, Unpack

from .._errors import InvalidRequest, MembershipNotFound, UserNotFound
from ..metadata import TIERS, apply_metadata
from ..models import DEFAULT_PAGE_SIZE, PAGE_SIZE_LIMIT, User
from ..stores.base import MembershipRecord, OrganizationRecord, UserRecord
from ._context import Context, Page, check_page, encodable, new_id, tier_kwargs

__all__ = ["MetadataWrite", "TierArguments", "UsersResource"]


class MetadataWrite(NamedTuple):
    """What a metadata write did: the user after it, and whether the user's session
    tokens now need new claims (the change is in what they contain)."""

    user: User
    token_claims_changed: bool


MAX_EXTERNAL_ID = 255


class TierArguments(TypedDict, total=False):
    """The metadata keyword arguments of ``create_user``, ``update_user_metadata`` and
    ``replace_user_metadata``: the three tiers and their two aliases."""

    public_metadata: Mapping[str, Any]
    private_metadata: Mapping[str, Any]
    unsafe_metadata: Mapping[str, Any]
    trusted_metadata: Mapping[str, Any]
    untrusted_metadata: Mapping[str, Any]


def check_external_id(external_id: object) -> str | None:
    """``external_id`` is a string of 1 to 255 characters of valid Unicode without NUL
    (PostgreSQL text cannot hold one), or ``None``."""
    if external_id is None:
        return None
    if (
        not isinstance(external_id, str)
        or not 1 <= len(external_id) <= MAX_EXTERNAL_ID
        or "\x00" in external_id
        or not encodable(external_id)
    ):
        raise InvalidRequest(
            "invalid_field",
            f"external_id must be a non-empty string of at most {MAX_EXTERNAL_ID} characters"
            " (valid Unicode, no NUL)",
            param="external_id",
        )
    return external_id


class UsersResource:
    """Users: ``backend.users.create_user(...)``, ``get_user``, ``update_user_metadata``..."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def create_user(
        self,
        *,
        external_id: str | None = None,
        **metadata: Unpack[TierArguments],
    ) -> User:
        """Create a user. Tiers (:class:`TierArguments`) default to ``{}``; aliases are
        accepted."""
        tiers = tier_kwargs("create_user", metadata)
        return (await self._create(tiers, external_id=external_id)).to_user()

    async def _create(self, tiers: Mapping[str, Any], *, external_id: object) -> UserRecord:
        ctx = self._ctx
        await ctx.ensure_open()
        external = check_external_id(external_id)
        empty: dict[str, dict[str, Any]] = {tier: {} for tier in TIERS}
        values = apply_metadata(empty, tiers, mode="replace", limits=ctx.limits)
        now = ctx.now_ms()
        record = UserRecord(
            id=new_id("user"),
            external_id=external,
            created_at=now,
            updated_at=now,
            public_metadata=values["public_metadata"],
            private_metadata=values["private_metadata"],
            unsafe_metadata=values["unsafe_metadata"],
            version=1,
        )
        ctx.issuer.check_budget(record)
        await ctx.store.insert_user(record)
        return record

    async def get_user(self, user_id: str) -> User:
        """The user; raises :class:`~sessionclaims.UserNotFound`."""
        return (await self.get_record(user_id)).to_user()

    async def get_record(self, user_id: str) -> UserRecord:
        """The stored record (with its token version)."""
        await self._ctx.ensure_open()
        record = await self._ctx.store.get_user(user_id)
        if record is None:
            raise UserNotFound(user_id)
        return record

    async def get_user_by_external_id(self, external_id: str) -> User:
        """The user whose ``external_id`` (the app's own id for the person) is exactly
        this; raises :class:`~sessionclaims.UserNotFound`."""
        wanted = check_external_id(external_id)
        await self._ctx.ensure_open()
        record = await self._ctx.store.get_user_by_external_id(wanted) if wanted else None
        if record is None:
            raise UserNotFound(str(external_id), field="external_id")
        return record.to_user()

    async def list_users(
        self, *, limit: int = DEFAULT_PAGE_SIZE, offset: int = 0, external_id: str | None = None
    ) -> Page[User]:
        """A page of users, oldest first (``limit`` ≤ ``PAGE_SIZE_LIMIT``, 500); with
        ``external_id``, only the user that has it (exact match)."""
        check_page(limit, offset)
        wanted = check_external_id(external_id)
        await self._ctx.ensure_open()
        records, total = await self._ctx.store.list_users(
            limit=limit, offset=offset, external_id=wanted
        )
        return Page([r.to_user() for r in records], total)

    async def update_user_metadata(
        self,
        user_id: str,
        **metadata: Unpack[TierArguments],
    ) -> User:
        """**Merge** into each given tier: top-level keys replace, ``None`` deletes."""
        tiers = tier_kwargs("update_user_metadata", metadata)
        return (await self.write(user_id, tiers, mode="merge")).user

    async def replace_user_metadata(
        self,
        user_id: str,
        **metadata: Unpack[TierArguments],
    ) -> User:
        """**Replace** each given tier whole (``{}`` clears it); other tiers untouched."""
        tiers = tier_kwargs("replace_user_metadata", metadata)
        return (await self.write(user_id, tiers, mode="replace")).user

    async def write(
        self, user_id: str, tiers: Mapping[str, Any], *, mode: Literal["merge", "replace"]
    ) -> MetadataWrite:
        """Apply canonical ``tiers`` atomically; the user after, and whether the write
        changed what the user's session tokens contain."""
        ctx = self._ctx
        await ctx.ensure_open()
        # read before the transaction: the user's tokens with each of their organizations
        # active must fit the budget too (a person belongs to few organizations)
        token_tiers = set(tiers) - {"private_metadata"}  # the private tier is in no token
        memberships = await self._memberships(user_id) if token_tiers else []
        now = ctx.now_ms()

        def mutate(current: UserRecord) -> UserRecord:
            stored = {
                "public_metadata": current.public_metadata,
                "private_metadata": current.private_metadata,
                "unsafe_metadata": current.unsafe_metadata,
            }
            values = apply_metadata(stored, tiers, mode=mode, limits=ctx.limits)
            if values == stored:
                return current
            candidate = current.evolve(updated_at=max(now, current.updated_at), **values)
            if ctx.issuer.token_relevant_changed(current, candidate):
                candidate = candidate.evolve(version=current.version + 1)
                ctx.issuer.check_budget(candidate)
                for membership, organization in memberships:
                    ctx.issuer.check_budget(
                        candidate, ctx.active_organization(organization, membership)
                    )
            return candidate

        before, after = await ctx.store.update_user(user_id, mutate, now_ms=now)
        if after.version != before.version:
            ctx.freshness.user_changed(user_id, after.version, now / 1000)
            await self._refresh_token_bytes(after, memberships, now)
        return MetadataWrite(after.to_user(), after.version != before.version)

    async def _memberships(self, user_id: str) -> list[tuple[MembershipRecord, OrganizationRecord]]:
        """Every membership of the user, with its organization."""
        store = self._ctx.store
        found: list[tuple[MembershipRecord, OrganizationRecord]] = []
        while True:
            page, total = await store.list_memberships(
                user_id=user_id, limit=PAGE_SIZE_LIMIT, offset=len(found)
            )
            found += page
            if not page or len(found) >= total:
                return found

    async def _refresh_token_bytes(
        self,
        user: UserRecord,
        memberships: list[tuple[MembershipRecord, OrganizationRecord]],
        now: int,
    ) -> None:
        """Keep each membership's ``token_bytes`` (the size budget's index) in step with
        the user's new token: a row write each, no change-log entry, no new version."""
        ctx = self._ctx
        issuer = ctx.issuer
        for membership, organization in memberships:

            def share(
                current: MembershipRecord, org: OrganizationRecord = organization
            ) -> MembershipRecord:
                size = issuer.member_share(user, ctx.active_organization(org, current))
                return current if size == current.token_bytes else current.evolve(token_bytes=size)

            with contextlib.suppress(MembershipNotFound):  # removed meanwhile
                await ctx.store.update_membership(
                    membership.organization_id, user.id, share, now_ms=now
                )

    async def delete_user(self, user_id: str) -> None:
        """Delete the user; its sessions are revoked from the next request on."""
        ctx = self._ctx
        await ctx.ensure_open()
        now = ctx.now_ms()
        revoked = await ctx.store.delete_user(user_id, now_ms=now)
        ctx.freshness.user_deleted(user_id, now / 1000)
        for session_id in revoked:
            ctx.freshness.session_ended(session_id, now / 1000)
