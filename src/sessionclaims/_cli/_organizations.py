"""``organizations`` and ``memberships``: thin wrappers over ``backend.organizations``.

Each command opens the configured backend once, calls one method and prints its result:
the HTTP API's organization and membership objects with ``--json``. Organizations and
memberships have two metadata tiers (``--public`` / ``--trusted``, ``--private``). None of
these commands mints a token, so none needs an issuer. Every ``ORG`` argument is an
organization id (``org_…``) or its slug: a slug is resolved to its id first.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..backend import Backend
from ..backend._context import Page
from ._common import CLIError, Output, compact, iso_ms, metadata_tiers
from ._common import run_with_backend as run

if TYPE_CHECKING:
    from ..models import Membership, Organization

__all__ = [
    "org_id",
    "memberships_create",
    "memberships_delete",
    "memberships_get",
    "memberships_list",
    "memberships_replace_metadata",
    "memberships_update",
    "memberships_update_metadata",
    "organizations_create",
    "organizations_delete",
    "organizations_get",
    "organizations_list",
    "organizations_replace_metadata",
    "organizations_update",
    "organizations_update_metadata",
]

# flag dest → keyword argument of backend.organizations.*
_TIER_FLAGS = {
    "public": "public_metadata",
    "private": "private_metadata",
    "trusted": "trusted_metadata",
}
_NO_TIER = "give at least one tier: --public or --private (or --trusted) with a JSON object"


async def org_id(backend: Backend, org: str) -> str:
    """The id of organization ``org``, an id (``org_…``, taken as it is) or a slug (looked
    up: :class:`~sessionclaims.OrganizationNotFound` when no organization has it)."""
    if org.startswith("org_"):
        return org
    return (await backend.organizations.get_organization(org)).id


# -- output -----------------------------------------------------------------------------
def _organization(out: Output, organization: Organization) -> None:
    def text() -> None:
        out.line(f"{organization.id}  {organization.slug}  {organization.name}")
        out.line(f"  members_count     {organization.members_count}")
        out.line(f"  created_at        {iso_ms(organization.created_at)}")
        out.line(f"  updated_at        {iso_ms(organization.updated_at)}")
        out.line(f"  public_metadata   {compact(dict(organization.public_metadata))}")
        out.line(f"  private_metadata  {compact(dict(organization.private_metadata))}")

    out.result(organization.to_dict(), text)


def _membership(out: Output, membership: Membership) -> None:
    def text() -> None:
        out.line(
            f"{membership.id}  organization: {membership.organization_id}  "
            f"user: {membership.user_id}  role: {membership.role}"
        )
        out.line(f"  permissions       {compact(list(membership.permissions))}")
        out.line(f"  created_at        {iso_ms(membership.created_at)}")
        out.line(f"  updated_at        {iso_ms(membership.updated_at)}")
        out.line(f"  public_metadata   {compact(dict(membership.public_metadata))}")
        out.line(f"  private_metadata  {compact(dict(membership.private_metadata))}")

    out.result(membership.to_dict(), text)


def _deleted(out: Output, object_id: str, kind: str, said: str) -> None:
    out.result({"id": object_id, "object": kind, "deleted": True}, lambda: out.line(said))


# -- organizations ----------------------------------------------------------------------
def organizations_create(args: argparse.Namespace, out: Output) -> int:
    """``organizations create NAME [--slug SLUG] [--created-by USER_ID] [--public JSON] ...``"""
    tiers = metadata_tiers(args, _TIER_FLAGS)

    async def action(backend: Backend) -> Organization:
        return await backend.organizations.create_organization(
            args.name, slug=args.slug, created_by=args.created_by, **tiers
        )

    _organization(out, run(args, action, issues_tokens=False))
    return 0


def organizations_get(args: argparse.Namespace, out: Output) -> int:
    """``organizations get ORG_ID_OR_SLUG``"""

    async def action(backend: Backend) -> Organization:
        return await backend.organizations.get_organization(args.org)

    _organization(out, run(args, action, issues_tokens=False, reads_only="organizations get"))
    return 0


def organizations_list(args: argparse.Namespace, out: Output) -> int:
    """``organizations list [--query TEXT] [--limit N] [--offset N]``"""

    async def action(backend: Backend) -> Page[Organization]:
        return await backend.organizations.list_organizations(
            limit=args.limit, offset=args.offset, query=args.query
        )

    out.page(
        run(args, action, issues_tokens=False, reads_only="organizations list"),
        "organizations",
        lambda org: f"{org.id}  {org.slug}  {org.members_count} members  {org.name}",
    )
    return 0


def organizations_update(args: argparse.Namespace, out: Output) -> int:
    """``organizations update ORG [--name NAME] [--slug SLUG]``"""
    if args.new_name is None and args.slug is None:
        raise CLIError("give --name or --slug (or both)", exit_code=2)

    async def action(backend: Backend) -> Organization:
        return await backend.organizations.update_organization(
            await org_id(backend, args.org_id), name=args.new_name, slug=args.slug
        )

    _organization(out, run(args, action, issues_tokens=False))
    return 0


def organizations_update_metadata(args: argparse.Namespace, out: Output) -> int:
    """``organizations update-metadata ORG --public JSON ...``: merge (``null`` deletes)."""
    tiers = metadata_tiers(args, _TIER_FLAGS, required=_NO_TIER)

    async def action(backend: Backend) -> Organization:
        return await backend.organizations.update_organization_metadata(
            await org_id(backend, args.org_id), **tiers
        )

    _organization(out, run(args, action, issues_tokens=False))
    return 0


def organizations_replace_metadata(args: argparse.Namespace, out: Output) -> int:
    """``organizations replace-metadata ORG --public JSON ...``: each tier replaced."""
    tiers = metadata_tiers(args, _TIER_FLAGS, required=_NO_TIER)

    async def action(backend: Backend) -> Organization:
        return await backend.organizations.replace_organization_metadata(
            await org_id(backend, args.org_id), **tiers
        )

    _organization(out, run(args, action, issues_tokens=False))
    return 0


def organizations_delete(args: argparse.Namespace, out: Output) -> int:
    """``organizations delete ORG``: its memberships go too."""

    async def action(backend: Backend) -> str:
        the_id = await org_id(backend, args.org_id)
        await backend.organizations.delete_organization(the_id)
        return the_id

    deleted = run(args, action, issues_tokens=False)
    _deleted(out, deleted, "organization", f"deleted organization {deleted} (and its memberships)")
    return 0


# -- memberships ------------------------------------------------------------------------
def memberships_create(args: argparse.Namespace, out: Output) -> int:
    """``memberships create ORG USER_ID [--role ROLE]``"""

    async def action(backend: Backend) -> Membership:
        return await backend.organizations.create_membership(
            await org_id(backend, args.org_id), args.user_id, role=args.role
        )

    _membership(out, run(args, action, issues_tokens=False))
    return 0


def memberships_get(args: argparse.Namespace, out: Output) -> int:
    """``memberships get ORG USER_ID``"""

    async def action(backend: Backend) -> Membership:
        return await backend.organizations.get_membership(
            await org_id(backend, args.org_id), args.user_id
        )

    _membership(out, run(args, action, issues_tokens=False, reads_only="memberships get"))
    return 0


def memberships_list(args: argparse.Namespace, out: Output) -> int:
    """``memberships list (--org ORG | --user USER_ID) [--limit N] [--offset N]``"""

    async def action(backend: Backend) -> Page[Membership]:
        return await backend.organizations.list_memberships(
            organization_id=None if args.org is None else await org_id(backend, args.org),
            user_id=args.user,
            limit=args.limit,
            offset=args.offset,
        )

    out.page(
        run(args, action, issues_tokens=False, reads_only="memberships list"),
        "memberships",
        lambda m: f"{m.id}  {m.organization_id}  {m.user_id}  {m.role}",
    )
    return 0


def memberships_update(args: argparse.Namespace, out: Output) -> int:
    """``memberships update ORG USER_ID --role ROLE``"""

    async def action(backend: Backend) -> Membership:
        return await backend.organizations.update_membership(
            await org_id(backend, args.org_id), args.user_id, role=args.role
        )

    _membership(out, run(args, action, issues_tokens=False))
    return 0


def memberships_update_metadata(args: argparse.Namespace, out: Output) -> int:
    """``memberships update-metadata ORG USER_ID --public JSON ...``: merge."""
    tiers = metadata_tiers(args, _TIER_FLAGS, required=_NO_TIER)

    async def action(backend: Backend) -> Membership:
        return await backend.organizations.update_membership_metadata(
            await org_id(backend, args.org_id), args.user_id, **tiers
        )

    _membership(out, run(args, action, issues_tokens=False))
    return 0


def memberships_replace_metadata(args: argparse.Namespace, out: Output) -> int:
    """``memberships replace-metadata ORG USER_ID --public JSON ...``: replace."""
    tiers = metadata_tiers(args, _TIER_FLAGS, required=_NO_TIER)

    async def action(backend: Backend) -> Membership:
        return await backend.organizations.replace_membership_metadata(
            await org_id(backend, args.org_id), args.user_id, **tiers
        )

    _membership(out, run(args, action, issues_tokens=False))
    return 0


def memberships_delete(args: argparse.Namespace, out: Output) -> int:
    """``memberships delete ORG USER_ID``"""

    async def action(backend: Backend) -> Membership:
        return await backend.organizations.delete_membership(
            await org_id(backend, args.org_id), args.user_id
        )

    membership = run(args, action, issues_tokens=False)
    _deleted(
        out,
        membership.id,
        "organization_membership",
        f"removed {args.user_id} from {membership.organization_id} (membership {membership.id})",
    )
    return 0
