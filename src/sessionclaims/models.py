"""The values ``sessionclaims`` hands out: users, sessions, sign-ups, new sessions,
organizations and memberships.

All of them are immutable. Times are integers in Unix **milliseconds**, as in the HTTP
API, so a value read in Python and the same value read over HTTP compare equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, get_args

SessionStatus = Literal["active", "revoked", "ended", "expired"]
SESSION_STATUSES: tuple[SessionStatus, ...] = get_args(SessionStatus)
"""Every status a session can have."""
END_STATUSES: frozenset[SessionStatus] = frozenset(SESSION_STATUSES) - {"active"}
"""The statuses of a session that has ended (revoked, signed out or expired)."""
PAGE_SIZE_LIMIT = 500
"""The most items one page of a list may hold (``limit``), everywhere."""
DEFAULT_PAGE_SIZE = 100
"""The page size when none is asked for."""
SignUpStatus = Literal["pending", "complete"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only view of a private copy of ``value`` (top level)."""
    if not value:
        return _EMPTY
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class User:
    """A user and the three tiers of their metadata."""

    id: str
    external_id: str | None
    created_at: int
    updated_at: int
    public_metadata: Mapping[str, Any]
    private_metadata: Mapping[str, Any]
    unsafe_metadata: Mapping[str, Any]

    @property
    def trusted_metadata(self) -> Mapping[str, Any]:
        """Alias of ``public_metadata`` (the trusted / untrusted spelling)."""
        return self.public_metadata

    @property
    def untrusted_metadata(self) -> Mapping[str, Any]:
        """Alias of ``unsafe_metadata`` (the trusted / untrusted spelling)."""
        return self.unsafe_metadata

    def to_dict(self, *, include_private: bool = True) -> dict[str, Any]:
        """The HTTP API's user object. Frontend answers pass ``include_private=False``:
        the key ``private_metadata`` is then absent, not empty."""
        data: dict[str, Any] = {
            "id": self.id,
            "object": "user",
            "external_id": self.external_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "public_metadata": dict(self.public_metadata),
        }
        if include_private:
            data["private_metadata"] = dict(self.private_metadata)
        data["unsafe_metadata"] = dict(self.unsafe_metadata)
        return data


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in session of one user."""

    id: str
    user_id: str
    status: SessionStatus
    created_at: int
    expire_at: int
    last_active_at: int
    origin: str | None = None
    """The origin the session was created for; becomes the tokens' ``azp``."""
    active_organization_id: str | None = None
    """The organization the session works in now (its tokens carry ``org_id``), or ``None``."""

    @property
    def is_active(self) -> bool:
        """True while the session may mint tokens."""
        return self.status == "active"

    def to_dict(self) -> dict[str, Any]:
        """The HTTP API's session object."""
        return {
            "id": self.id,
            "object": "session",
            "user_id": self.user_id,
            "status": self.status,
            "created_at": self.created_at,
            "expire_at": self.expire_at,
            "last_active_at": self.last_active_at,
            "active_organization_id": self.active_organization_id,
        }


@dataclass(frozen=True, slots=True)
class Organization:
    """An organization (a tenant) and its two tiers of metadata."""

    id: str
    name: str
    slug: str
    created_at: int
    updated_at: int
    public_metadata: Mapping[str, Any]
    private_metadata: Mapping[str, Any]
    members_count: int

    @property
    def trusted_metadata(self) -> Mapping[str, Any]:
        """Alias of ``public_metadata`` (the trusted / untrusted spelling)."""
        return self.public_metadata

    def to_dict(self, *, include_private: bool = True) -> dict[str, Any]:
        """The HTTP API's organization object. Frontend answers pass
        ``include_private=False``: the key ``private_metadata`` is then absent."""
        data: dict[str, Any] = {
            "id": self.id,
            "object": "organization",
            "name": self.name,
            "slug": self.slug,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "public_metadata": dict(self.public_metadata),
        }
        if include_private:
            data["private_metadata"] = dict(self.private_metadata)
        data["members_count"] = self.members_count
        return data


@dataclass(frozen=True, slots=True)
class Membership:
    """A person's membership in an organization: their role there, its permissions and
    two tiers of metadata."""

    id: str
    organization_id: str
    user_id: str
    role: str
    permissions: tuple[str, ...]
    created_at: int
    updated_at: int
    public_metadata: Mapping[str, Any]
    private_metadata: Mapping[str, Any]

    @property
    def trusted_metadata(self) -> Mapping[str, Any]:
        """Alias of ``public_metadata`` (the trusted / untrusted spelling)."""
        return self.public_metadata

    def to_dict(self, *, include_private: bool = True) -> dict[str, Any]:
        """The HTTP API's membership object. Frontend answers pass
        ``include_private=False``: the key ``private_metadata`` is then absent."""
        data: dict[str, Any] = {
            "id": self.id,
            "object": "organization_membership",
            "organization_id": self.organization_id,
            "user_id": self.user_id,
            "role": self.role,
            "permissions": list(self.permissions),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "public_metadata": dict(self.public_metadata),
        }
        if include_private:
            data["private_metadata"] = dict(self.private_metadata)
        return data


@dataclass(frozen=True, slots=True)
class SignUp:
    """A sign-up in progress: it holds the unsafe metadata collected while onboarding."""

    id: str
    status: SignUpStatus
    unsafe_metadata: Mapping[str, Any]
    created_at: int
    user_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The HTTP API's sign-up object."""
        return {
            "id": self.id,
            "object": "sign_up",
            "status": self.status,
            "unsafe_metadata": dict(self.unsafe_metadata),
            "created_at": self.created_at,
            "user_id": self.user_id,
        }


@dataclass(frozen=True, slots=True)
class NewSession:
    """What creating a session returns: the session, its first token and the refresh
    credential (shown once; only its hash is stored)."""

    session: Session
    token: str
    refresh_credential: str

    def to_dict(self) -> dict[str, Any]:
        """The HTTP API's answer to ``POST /v1/sessions``."""
        return {
            "session": self.session.to_dict(),
            "token": self.token,
            "refresh_credential": self.refresh_credential,
        }
