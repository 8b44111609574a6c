"""``backend.organizations``: organizations, memberships, their metadata and roles.

Organizations and memberships carry two metadata tiers, ``public_metadata`` (alias
``trusted_metadata``) and ``private_metadata``, with a user's rules: merge (``None``
deletes a top-level key) or replace, limits checked on the result, atomic writes through
the store's read-modify-write (a refused write writes nothing).

Each record has a token-relevant version (``org_ver`` / ``mem_ver`` in tokens): an
organization's grows when its name, slug or public metadata changes, a membership's when
its role or public metadata changes; private-only writes never change it. After a write
that changed it, this process's freshness map learns of it at once (other processes and
services through the change log); no per-member or per-session row is written.

**The size budget** (docs/concepts.md, "The size budget"): a write that would push a
session token of the organization over ``max_token_bytes`` is refused with
``session_token_too_large`` and nothing written. A membership write renders that member's
token exactly. An organization write renders two tokens with the new values: the member
with the largest ``token_bytes`` (one indexed store read, however many members) and a
member with nothing. ``token_bytes`` is :meth:`Issuer.member_share`, refreshed by every
membership write and every write to the member's user.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypedDict, TypeVar, Unpack

from .._errors import (
    InvalidRequest,
    MembershipNotFound,
    OrganizationNotFound,
    SlugTaken,
    UserNotFound,
)
from ..metadata import ORGANIZATION_TIERS, MetadataLimits, apply_metadata
from ..models import DEFAULT_PAGE_SIZE, Membership, Organization
from ..roles import CREATOR_ROLE, DEFAULT_ROLE
from ..stores.base import MembershipRecord, OrganizationRecord, UserRecord
from ._context import Context, Page, check_page, encodable, new_id, tier_kwargs
from .issuer import BARE_USER, ActiveOrganization

__all__ = [
    "MAX_NAME",
    "SLUG",
    "OrganizationTierArguments",
    "OrganizationsResource",
    "check_slug",
    "slug_from_name",
]

MAX_NAME = 256
"""The longest organization name, in characters."""
SLUG = re.compile(r"[a-z0-9-]{1,64}")
"""What a slug is: lowercase ``a-z``, ``0-9`` and ``-``, 1 to 64 characters."""
_SLUG_ATTEMPTS = 5


class OrganizationTierArguments(TypedDict, total=False):
    """The metadata keyword arguments of organizations and memberships: the two tiers
    and the alias ``trusted_metadata``."""

    public_metadata: Mapping[str, Any]
    private_metadata: Mapping[str, Any]
    trusted_metadata: Mapping[str, Any]


def _tier_kwargs(method: str, given: Mapping[str, Any]) -> dict[str, Any]:
    return tier_kwargs(method, given, tiers=ORGANIZATION_TIERS)  # unsafe: 422 unknown_field


def check_slug(slug: object) -> str:
    """``slug`` if it is 1-64 of ``a-z 0-9 -``; else 422 ``invalid_slug``."""
    if not isinstance(slug, str) or not SLUG.fullmatch(slug):
        raise InvalidRequest(
            "invalid_slug",
            "slug must be 1-64 characters of lowercase a-z, 0-9 and '-'",
            param="slug",
        )
    return slug


_LATIN = str.maketrans(
    {"æ": "ae", "œ": "oe", "ø": "o", "ß": "ss", "đ": "d", "ð": "d", "ł": "l", "þ": "th"}
)


def slug_from_name(name: str) -> str:
    """A slug for ``name``: lower case, accents dropped, every run of other characters
    one ``-``, trimmed to 64; ``org`` when nothing is left ("Ærø & Co." → ``aero-co``)."""
    folded = unicodedata.normalize("NFKD", name.lower().translate(_LATIN))
    ascii_name = folded.encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")
    return slug[:64].rstrip("-") or "org"


def _check_name(name: object) -> str:
    if (
        not isinstance(name, str)
        or not name.strip()
        or len(name) > MAX_NAME
        or "\x00" in name
        or not encodable(name)
    ):
        raise InvalidRequest(
            "invalid_field",
            f"name must be a non-blank string of at most {MAX_NAME} characters "
            "(valid Unicode, no NUL)",
            param="name",
        )
    return name


def _check_id(value: object, param: str) -> str:
    """An id given by the caller: a non-empty string of at most 255 characters without
    NUL (an unknown one is a 404 later); anything else is 422 ``invalid_field``."""
    if not isinstance(value, str) or not value or len(value) > 255 or "\x00" in value:
        raise InvalidRequest("invalid_field", f"{param} must be a string id", param=param)
    return value


_Record = TypeVar("_Record", OrganizationRecord, MembershipRecord)


def _with_tiers(
    current: _Record,
    tiers: Mapping[str, Any],
    mode: Literal["merge", "replace"],
    limits: MetadataLimits,
) -> _Record:
    """``current`` with a metadata write applied (itself when the write changes nothing);
    :class:`~sessionclaims.MetadataError` when the result breaks the limits."""
    stored = {
        "public_metadata": current.public_metadata,
        "private_metadata": current.private_metadata,
    }
    values = apply_metadata(stored, tiers, mode=mode, limits=limits, tiers=ORGANIZATION_TIERS)
    return current if values == stored else current.evolve(**values)


class OrganizationsResource:
    """Organizations and memberships: ``create_organization``, ``update_organization_metadata``,
    ``create_membership``, ``update_membership``, ``list_memberships``..."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    # -- helpers ------------------------------------------------------------------------
    def _membership(self, record: MembershipRecord) -> Membership:
        return record.to_membership(self._ctx.roles.permissions_for(record.role))

    def active(
        self, organization: OrganizationRecord, membership: MembershipRecord
    ) -> ActiveOrganization:
        """What a token of ``membership``'s person with ``organization`` active is
        rendered from (permissions from the ``roles`` setting, looked up now)."""
        return self._ctx.active_organization(organization, membership)

    def _share(
        self, user: UserRecord, organization: OrganizationRecord, membership: MembershipRecord
    ) -> int:
        """Check the member's token against the budget; return its ``token_bytes``."""
        issuer = self._ctx.issuer
        active = self.active(organization, membership)
        issuer.check_budget(user, active)
        return issuer.member_share(user, active)

    async def _organization_record(self, org_id: str) -> OrganizationRecord:
        ctx = self._ctx
        await ctx.ensure_open()
        record = await ctx.store.get_organization(_check_id(org_id, "organization_id"))
        if record is None:
            raise OrganizationNotFound(org_id)
        return record

    async def _user_record(self, user_id: str) -> UserRecord:
        record = await self._ctx.store.get_user(_check_id(user_id, "user_id"))
        if record is None:
            raise UserNotFound(user_id)
        return record

    # -- organizations ------------------------------------------------------------------
    async def create_organization(
        self,
        name: str,
        *,
        slug: str | None = None,
        created_by: str | None = None,
        **metadata: Unpack[OrganizationTierArguments],
    ) -> Organization:
        """Create an organization; ``created_by`` (a user id) becomes its first member,
        with the role ``org:admin``. ``slug`` defaults to one made from the name (with a
        short random suffix if that one is taken); a given slug that is taken is
        :class:`~sessionclaims.SlugTaken`."""
        ctx = self._ctx
        tiers = _tier_kwargs("create_organization", metadata)
        name = _check_name(name)
        wanted = check_slug(slug) if slug is not None else None
        await ctx.ensure_open()
        empty: dict[str, dict[str, Any]] = {tier: {} for tier in ORGANIZATION_TIERS}
        values = apply_metadata(
            empty, tiers, mode="replace", limits=ctx.limits, tiers=ORGANIZATION_TIERS
        )
        creator = await self._user_record(created_by) if created_by is not None else None
        now = ctx.now_ms()
        base = wanted or slug_from_name(name)
        record = OrganizationRecord(
            id=new_id("org"),
            name=name,
            slug=base,
            created_at=now,
            updated_at=now,
            public_metadata=values["public_metadata"],
            private_metadata=values["private_metadata"],
            members_count=0,
            version=1,
        )
        self._check_organization_budget(record, None)
        membership = None
        if creator is not None:
            membership = MembershipRecord(
                id=new_id("mem"),
                organization_id=record.id,
                user_id=creator.id,
                role=ctx.roles.check(CREATOR_ROLE),
                created_at=now,
                updated_at=now,
                public_metadata={},
                private_metadata={},
                version=1,
            )
            membership = membership.evolve(token_bytes=self._share(creator, record, membership))
        for attempt in range(_SLUG_ATTEMPTS):
            try:
                await ctx.store.insert_organization(record, membership)
                break
            except SlugTaken:
                if wanted is not None or attempt == _SLUG_ATTEMPTS - 1:
                    raise
                suffix = "".join(secrets.choice("abcdefghjkmnpqrstvwxyz23456789") for _ in range(6))
                record = record.evolve(slug=f"{base[:57].rstrip('-')}-{suffix}")
        if membership is not None:
            record = record.evolve(members_count=1)
        return record.to_organization()

    async def get_organization(self, org_id_or_slug: str) -> Organization:
        """The organization by id (``org_…``) or slug;
        :class:`~sessionclaims.OrganizationNotFound`."""
        ctx = self._ctx
        await ctx.ensure_open()
        key = _check_id(org_id_or_slug, "organization_id")
        if key.startswith("org_"):
            record = await ctx.store.get_organization(key)
        else:
            record = await ctx.store.get_organization_by_slug(key) if SLUG.fullmatch(key) else None
        if record is None:
            raise OrganizationNotFound(org_id_or_slug)
        return record.to_organization()

    async def list_organizations(
        self, *, limit: int = DEFAULT_PAGE_SIZE, offset: int = 0, query: str | None = None
    ) -> Page[Organization]:
        """A page of organizations, oldest first; ``query`` matches a part of the name or
        the slug, ignoring case."""
        check_page(limit, offset)
        if query is not None and (not isinstance(query, str) or len(query) > MAX_NAME):
            raise InvalidRequest(
                "invalid_field", f"query must be a string of at most {MAX_NAME}", param="query"
            )
        ctx = self._ctx
        await ctx.ensure_open()
        records, total = await ctx.store.list_organizations(
            limit=limit, offset=offset, query=query or None
        )
        return Page([r.to_organization() for r in records], total)

    async def update_organization(
        self, org_id: str, *, name: str | None = None, slug: str | None = None
    ) -> Organization:
        """Rename it and/or change its slug (:class:`~sessionclaims.SlugTaken` if another
        organization has it). Every member's token with it active is stale afterwards."""
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = _check_name(name)
        if slug is not None:
            changes["slug"] = check_slug(slug)
        if not changes:
            return (await self._organization_record(org_id)).to_organization()
        return await self._write_organization(org_id, lambda current: current.evolve(**changes))

    async def update_organization_metadata(
        self, org_id: str, **metadata: Unpack[OrganizationTierArguments]
    ) -> Organization:
        """**Merge** into each given tier: top-level keys replace, ``None`` deletes."""
        tiers = _tier_kwargs("update_organization_metadata", metadata)
        return await self._write_organization_tiers(org_id, tiers, "merge")

    async def replace_organization_metadata(
        self, org_id: str, **metadata: Unpack[OrganizationTierArguments]
    ) -> Organization:
        """**Replace** each given tier whole (``{}`` clears it); the other tier untouched."""
        tiers = _tier_kwargs("replace_organization_metadata", metadata)
        return await self._write_organization_tiers(org_id, tiers, "replace")

    async def _write_organization_tiers(
        self, org_id: str, tiers: Mapping[str, Any], mode: Literal["merge", "replace"]
    ) -> Organization:
        limits = self._ctx.limits
        return await self._write_organization(
            org_id, lambda current: _with_tiers(current, tiers, mode, limits)
        )

    async def _write_organization(
        self, org_id: str, change: Callable[[OrganizationRecord], OrganizationRecord]
    ) -> Organization:
        ctx = self._ctx
        await ctx.ensure_open()
        org_id = _check_id(org_id, "organization_id")
        # read before the transaction: the member whose token is the largest (one
        # indexed read, whatever the member count)
        largest = await ctx.store.largest_member(org_id)
        now = ctx.now_ms()

        def mutate(current: OrganizationRecord) -> OrganizationRecord:
            candidate = change(current)
            if candidate == current:
                return current
            candidate = candidate.evolve(updated_at=max(now, current.updated_at))
            if (candidate.name, candidate.slug, candidate.public_metadata) != (
                current.name,
                current.slug,
                current.public_metadata,
            ):
                candidate = candidate.evolve(version=current.version + 1)
                self._check_organization_budget(candidate, largest)
            return candidate

        before, after = await ctx.store.update_organization(org_id, mutate, now_ms=now)
        if after.version != before.version:
            ctx.freshness.organization_changed(org_id, after.version, now / 1000)
        return after.to_organization()

    def _check_organization_budget(
        self,
        organization: OrganizationRecord,
        largest: tuple[MembershipRecord, UserRecord] | None,
    ) -> None:
        """Refuse ``organization``'s values if the largest member's token, or that of a
        member with nothing, would be over budget with them."""
        issuer = self._ctx.issuer
        empty = MembershipRecord(
            id="mem_" + "0" * 26,
            organization_id=organization.id,
            user_id=BARE_USER.id,
            role=DEFAULT_ROLE,
            created_at=0,
            updated_at=0,
            public_metadata={},
            private_metadata={},
        )
        issuer.check_budget(BARE_USER, self.active(organization, empty))
        if largest is not None:
            membership, user = largest
            issuer.check_budget(user, self.active(organization, membership))

    async def delete_organization(self, org_id: str) -> None:
        """Delete it and its memberships. Sessions that had it active keep going without
        an active organization: their next token has no organization claims."""
        ctx = self._ctx
        await ctx.ensure_open()
        now = ctx.now_ms()
        await ctx.store.delete_organization(_check_id(org_id, "organization_id"), now_ms=now)
        ctx.freshness.organization_deleted(org_id, now / 1000)

    # -- memberships --------------------------------------------------------------------
    async def create_membership(
        self, org_id: str, user_id: str, *, role: str | None = None
    ) -> Membership:
        """Make ``user_id`` a member (role ``org:member`` unless given; an unknown role is
        422 ``unknown_role``); :class:`~sessionclaims.AlreadyMember` if it is one."""
        ctx = self._ctx
        role = ctx.roles.check(DEFAULT_ROLE if role is None else role)
        organization = await self._organization_record(org_id)
        user = await self._user_record(user_id)
        now = ctx.now_ms()
        record = MembershipRecord(
            id=new_id("mem"),
            organization_id=organization.id,
            user_id=user.id,
            role=role,
            created_at=now,
            updated_at=now,
            public_metadata={},
            private_metadata={},
            version=1,
        )
        record = record.evolve(token_bytes=self._share(user, organization, record))
        await ctx.store.insert_membership(record)
        ctx.freshness.membership_changed(organization.id, user.id, record.version, now / 1000)
        return self._membership(record)

    async def get_membership(self, org_id: str, user_id: str) -> Membership:
        """``user_id``'s membership in ``org_id``; :class:`~sessionclaims.MembershipNotFound`."""
        ctx = self._ctx
        await ctx.ensure_open()
        record = await ctx.store.get_membership(
            _check_id(org_id, "organization_id"), _check_id(user_id, "user_id")
        )
        if record is None:
            raise MembershipNotFound(org_id, user_id)
        return self._membership(record)

    async def update_membership(self, org_id: str, user_id: str, *, role: str) -> Membership:
        """Change the member's role (an unknown one is 422 ``unknown_role``); their tokens
        of this organization are stale afterwards."""
        checked = self._ctx.roles.check(role)

        def change(current: MembershipRecord) -> MembershipRecord:
            return current if current.role == checked else current.evolve(role=checked)

        return await self._write_membership(org_id, user_id, change)

    async def update_membership_metadata(
        self, org_id: str, user_id: str, **metadata: Unpack[OrganizationTierArguments]
    ) -> Membership:
        """**Merge** into each given tier of the membership."""
        tiers = _tier_kwargs("update_membership_metadata", metadata)
        return await self._write_membership_tiers(org_id, user_id, tiers, "merge")

    async def replace_membership_metadata(
        self, org_id: str, user_id: str, **metadata: Unpack[OrganizationTierArguments]
    ) -> Membership:
        """**Replace** each given tier of the membership whole."""
        tiers = _tier_kwargs("replace_membership_metadata", metadata)
        return await self._write_membership_tiers(org_id, user_id, tiers, "replace")

    async def _write_membership_tiers(
        self,
        org_id: str,
        user_id: str,
        tiers: Mapping[str, Any],
        mode: Literal["merge", "replace"],
    ) -> Membership:
        limits = self._ctx.limits
        return await self._write_membership(
            org_id, user_id, lambda current: _with_tiers(current, tiers, mode, limits)
        )

    async def _write_membership(
        self,
        org_id: str,
        user_id: str,
        change: Callable[[MembershipRecord], MembershipRecord],
    ) -> Membership:
        ctx = self._ctx
        await ctx.ensure_open()
        org_id = _check_id(org_id, "organization_id")
        user_id = _check_id(user_id, "user_id")
        # read before the transaction, for the budget: the organization and the user
        organization = await ctx.store.get_organization(org_id)
        user = await ctx.store.get_user(user_id)
        if organization is None or user is None:
            raise MembershipNotFound(org_id, user_id)
        now = ctx.now_ms()

        def mutate(current: MembershipRecord) -> MembershipRecord:
            candidate = change(current)
            if candidate == current:
                return current
            candidate = candidate.evolve(updated_at=max(now, current.updated_at))
            if (candidate.role, candidate.public_metadata) != (
                current.role,
                current.public_metadata,
            ):
                candidate = candidate.evolve(version=current.version + 1)
                candidate = candidate.evolve(token_bytes=self._share(user, organization, candidate))
            return candidate

        before, after = await ctx.store.update_membership(org_id, user_id, mutate, now_ms=now)
        if after.version != before.version:
            ctx.freshness.membership_changed(org_id, user_id, after.version, now / 1000)
        return self._membership(after)

    async def delete_membership(self, org_id: str, user_id: str) -> Membership:
        """Remove the member; their sessions with this organization active keep going
        without one. Returns the membership as it was."""
        ctx = self._ctx
        await ctx.ensure_open()
        now = ctx.now_ms()
        record = await ctx.store.delete_membership(
            _check_id(org_id, "organization_id"), _check_id(user_id, "user_id"), now_ms=now
        )
        ctx.freshness.membership_deleted(org_id, user_id, now / 1000)
        return self._membership(record)

    async def list_memberships(
        self,
        *,
        organization_id: str | None = None,
        user_id: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
    ) -> Page[Membership]:
        """A page of an organization's memberships (``organization_id``) or of a person's
        (``user_id``), oldest first: exactly one of the two."""
        if (organization_id is None) == (user_id is None):
            raise InvalidRequest("invalid_field", "give exactly one of organization_id and user_id")
        pairs, total = await self._list(organization_id, user_id, limit, offset)
        return Page([self._membership(m) for m, _ in pairs], total)

    async def list_user_memberships(
        self, user_id: str, *, limit: int = DEFAULT_PAGE_SIZE, offset: int = 0
    ) -> Page[tuple[Membership, Organization]]:
        """A page of the person's memberships, each with its organization, oldest first."""
        pairs, total = await self._list(None, user_id, limit, offset)
        return Page([(self._membership(m), o.to_organization()) for m, o in pairs], total)

    async def _list(
        self, organization_id: str | None, user_id: str | None, limit: int, offset: int
    ) -> tuple[list[tuple[MembershipRecord, OrganizationRecord]], int]:
        check_page(limit, offset)
        ctx = self._ctx
        await ctx.ensure_open()
        if organization_id is not None:
            organization_id = _check_id(organization_id, "organization_id")
        if user_id is not None:
            user_id = _check_id(user_id, "user_id")
        pairs, total = await ctx.store.list_memberships(
            organization_id=organization_id, user_id=user_id, limit=limit, offset=offset
        )
        if total == 0:  # an empty page: say so when what was asked about does not exist
            if organization_id is not None:
                await self._organization_record(organization_id)
            elif user_id is not None:
                await self._user_record(user_id)
        return pairs, total
