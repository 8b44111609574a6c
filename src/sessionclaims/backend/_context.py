"""What the backend's resources share: store, settings, roles, issuer, freshness, clock."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._errors import InvalidRequest
from ..metadata import ALIASES, TIERS, canonical_tiers
from ..models import PAGE_SIZE_LIMIT
from .issuer import ActiveOrganization

if TYPE_CHECKING:
    from ..config import Settings
    from ..freshness import Freshness
    from ..metadata import MetadataLimits
    from ..roles import Roles
    from ..stores.base import MembershipRecord, OrganizationRecord, Store
    from .issuer import Issuer
    from .signing_keys import KeyManager

__all__ = ["TEMPLATE_NAME", "Context", "Page", "check_page", "encodable", "new_id", "tier_kwargs"]

T = TypeVar("T")

TEMPLATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""What a named template may be called: it appears in URLs (``.../tokens/{name}``)."""

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id(prefix: str) -> str:
    """``prefix_`` + 26 random base32 characters (130 bits)."""
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(26))


_TIER_KEYWORDS = frozenset(TIERS) | frozenset(ALIASES)


def tier_kwargs(
    method: str, given: Mapping[str, Any], *, tiers: tuple[str, ...] = TIERS
) -> dict[str, Any]:
    """The canonical ``tiers`` of a method's metadata keyword arguments
    (:func:`~sessionclaims.metadata.canonical_tiers`). A keyword that spells no tier is
    a :class:`TypeError`, as for any unexpected keyword; a user tier that the object
    lacks (``tiers`` without it) is 422 ``unknown_field``."""
    unknown = sorted(set(given) - _TIER_KEYWORDS)
    if unknown:
        raise TypeError(f"{method}() got an unexpected keyword argument {unknown[0]!r}")
    return canonical_tiers(given, tiers=tiers)


def encodable(text: str) -> bool:
    """True when ``text`` is valid Unicode (no lone surrogate: it encodes as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the total count."""

    data: list[T]
    total_count: int


def check_page(limit: int, offset: int) -> None:
    """A listing's ``limit`` is 1..:data:`~sessionclaims.models.PAGE_SIZE_LIMIT` and its
    ``offset`` >= 0; else :class:`~sessionclaims.InvalidRequest`."""
    if not 1 <= limit <= PAGE_SIZE_LIMIT or offset < 0:
        raise InvalidRequest("invalid_field", f"limit must be 1..{PAGE_SIZE_LIMIT} and offset >= 0")


@dataclass(slots=True)
class Context:
    """The parts of a :class:`~sessionclaims.Backend` its resources work with."""

    store: Store
    settings: Settings
    limits: MetadataLimits
    roles: Roles
    issuer: Issuer
    freshness: Freshness
    keys: KeyManager
    clock: Callable[[], float]
    ensure_open: Callable[[], Awaitable[None]]

    def now_ms(self) -> int:
        """The injected clock, in Unix milliseconds."""
        return int(self.clock() * 1000)

    def active_organization(
        self, organization: OrganizationRecord, membership: MembershipRecord
    ) -> ActiveOrganization:
        """What a token of ``membership``'s person with ``organization`` active is
        rendered from (the role's permissions from the ``roles`` setting, looked up now)."""
        permissions = self.roles.permissions_for(membership.role)
        return ActiveOrganization(organization, membership, permissions)
