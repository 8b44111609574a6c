"""Minting tokens: standard claims + rendered template, signed by the current key.

Session tokens carry ``iss sub sid iat nbf exp azp v ver`` (docs/concepts.md), with an active
organization also ``org_id org_slug org_role org_permissions`` (docs/concepts.md) and the
versions ``org_ver mem_ver`` the freshness map compares, and the session template's
claims; named-template tokens carry ``iss sub sid iat nbf exp azp aud`` and
theirs. A session token never exceeds ``max_token_bytes``: writes that would push it over
are refused before anything is stored (:meth:`Issuer.check_budget`), and
:meth:`Issuer.session_token` refuses to emit one as a last guard.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from .._errors import MetadataError, TemplateNotFound
from .._json import dumps_compact
from ..keys import SigningKey
from ..models import Session, User
from ..stores.base import SessionRecord, UserRecord
from ..templates import CompiledTemplate, NamedTemplate, OrganizationValues
from ..tokens import SignedToken, sign_token

__all__ = [
    "BARE_USER",
    "MEMBERSHIP_VERSION_CLAIM",
    "ORG_VERSION_CLAIM",
    "TOKEN_FORMAT_VERSION",
    "VERSION_CLAIM",
    "ActiveOrganization",
    "Issuer",
]

TOKEN_FORMAT_VERSION = 1
VERSION_CLAIM = "ver"
ORG_VERSION_CLAIM = "org_ver"
"""The active organization's version at issue (with ``org_id``), for freshness."""
MEMBERSHIP_VERSION_CLAIM = "mem_ver"
"""The version of the person's membership in the active organization at issue."""

_SIGNATURE_BYTES = {"ES256": 64, "EdDSA": 64}
_PLACEHOLDER_SESSION = Session(
    id="sess_" + "0" * 26,
    user_id="",
    status="active",
    created_at=0,
    expire_at=0,
    last_active_at=0,
)


BARE_USER = UserRecord(
    id="user_" + "0" * 26,
    external_id=None,
    created_at=0,
    updated_at=0,
    public_metadata={},
    private_metadata={},
    unsafe_metadata={},
)
"""A user with nothing in it (no metadata)."""


class _BareMembership:
    """A membership with nothing in it (what :meth:`Issuer.member_share` subtracts)."""

    __slots__ = ()
    role = ""
    public_metadata: Mapping[str, Any] = MappingProxyType({})
    version = 1


class _VersionedOrganization(OrganizationValues, Protocol):
    @property
    def version(self) -> int: ...


class _VersionedMembership(Protocol):
    @property
    def role(self) -> str: ...
    @property
    def public_metadata(self) -> Mapping[str, Any]: ...
    @property
    def version(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ActiveOrganization:
    """What a session token is rendered from for the session's active organization:
    the organization, the person's membership in it, and the permissions of the
    membership's role (from the ``roles`` setting, looked up at render time).

    It is also what the template reads as ``membership.*``."""

    organization: _VersionedOrganization
    membership: _VersionedMembership
    permissions: Sequence[str]

    @property
    def role(self) -> str:
        """The membership's role."""
        return self.membership.role

    @property
    def public_metadata(self) -> Mapping[str, Any]:
        """The membership's public metadata."""
        return self.membership.public_metadata

    def claims(self) -> dict[str, Any]:
        """The four default claims and the two versions."""
        organization = self.organization
        return {
            "org_id": organization.id,
            "org_slug": organization.slug,
            "org_role": self.membership.role,
            "org_permissions": list(self.permissions),
            ORG_VERSION_CLAIM: organization.version,
            MEMBERSHIP_VERSION_CLAIM: self.membership.version,
        }


def _b64len(n: int) -> int:
    return math.ceil(n * 4 / 3)


class Issuer:
    """Renders and signs tokens for one backend configuration."""

    def __init__(
        self,
        *,
        issuer: str,
        session_template: CompiledTemplate,
        named_templates: Mapping[str, NamedTemplate],
        token_lifetime: int,
        clock_skew: int,
        max_token_bytes: int,
        authorized_parties: tuple[str, ...],
        signer: Callable[[], SigningKey],
        clock: Callable[[], float],
    ) -> None:
        self.issuer = issuer
        self.session_template = session_template
        self.named_templates = dict(named_templates)
        self.token_lifetime = token_lifetime
        self.clock_skew = clock_skew
        self.max_token_bytes = max_token_bytes
        self.authorized_parties = authorized_parties
        self._signer = signer
        self._clock = clock
        # The budget is checked for the longest origin a session of this backend may carry.
        self._budget_azp = "x" * max((len(p) for p in authorized_parties), default=64)

    # -- rendering ----------------------------------------------------------------------
    def render_session_claims(
        self,
        user: User,
        session: Session | None = None,
        active: ActiveOrganization | None = None,
    ) -> dict[str, Any]:
        """The session template's claims for ``user`` (no standard claims), reading the
        active organization when there is one."""
        session = session or _PLACEHOLDER_SESSION
        if active is None:
            return self.session_template.render(user, session)
        return self.session_template.render(user, session, active.organization, active)

    def token_relevant_changed(self, before: UserRecord, after: UserRecord) -> bool:
        """Would the user's session tokens contain something else after this write?"""
        return self.render_session_claims(before.to_user()) != self.render_session_claims(
            after.to_user()
        )

    def session_claims(
        self,
        user: UserRecord,
        session: SessionRecord,
        *,
        now: int,
        lifetime: int | None = None,
        active: ActiveOrganization | None = None,
    ) -> dict[str, Any]:
        """Every claim of a session token issued at ``now`` (seconds), with ``active``
        the session's active organization."""
        exp = now + (lifetime or self.token_lifetime)
        # A token never outlives its session: it expires with it (minus the leeway the
        # verifier grants), so "expired session" needs no store call on the hot path.
        exp = min(exp, session.expire_at // 1000 - self.clock_skew)
        claims = self._standard_claims(user, session, now, self.clock_skew, exp)
        claims["v"] = TOKEN_FORMAT_VERSION
        claims[VERSION_CLAIM] = user.version
        if active is not None:
            claims.update(active.claims())
        rendered = self.render_session_claims(
            user.to_user(), session.to_session(now * 1000), active
        )
        claims.update(rendered)
        return claims

    def _standard_claims(
        self, user: UserRecord, session: SessionRecord, now: int, skew: int, exp: int
    ) -> dict[str, Any]:
        """``iss sub sid iat nbf exp`` and ``azp`` when the session has an origin."""
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.id,
            "sid": session.id,
            "iat": now,
            "nbf": now - skew,
            "exp": exp,
        }
        if session.origin:
            claims["azp"] = session.origin
        return claims

    # -- signing ------------------------------------------------------------------------
    def _sign(self, claims: Mapping[str, Any]) -> SignedToken:
        return sign_token(claims, self._signer())

    def sign_session(
        self,
        user: UserRecord,
        session: SessionRecord,
        *,
        lifetime: int | None = None,
        active: ActiveOrganization | None = None,
    ) -> SignedToken:
        """A signed session token with its claims (for ``TokenVerifier.remember``), or
        :class:`MetadataError` ``session_token_too_large``."""
        now = int(self._clock())
        claims = self.session_claims(user, session, now=now, lifetime=lifetime, active=active)
        signed = self._sign(claims)
        if len(signed.token) > self.max_token_bytes:
            raise _too_large(len(signed.token), self.max_token_bytes)
        return signed

    def session_token(
        self,
        user: UserRecord,
        session: SessionRecord,
        *,
        lifetime: int | None = None,
        active: ActiveOrganization | None = None,
    ) -> str:
        """:meth:`sign_session`, returning only the token."""
        return self.sign_session(user, session, lifetime=lifetime, active=active).token

    def named_token(
        self,
        name: str,
        user: UserRecord,
        session: SessionRecord,
        active: ActiveOrganization | None = None,
    ) -> str:
        """A token from the named template ``name`` (its own lifetime, skew and ``aud``);
        its ``org.*`` and ``membership.*`` fields read ``active``."""
        template = self.named_templates.get(name)
        if template is None:
            raise TemplateNotFound(name)
        now = int(self._clock())
        exp = now + template.lifetime
        claims = self._standard_claims(user, session, now, template.clock_skew, exp)
        if template.aud is not None:
            claims["aud"] = template.aud
        organization = active.organization if active is not None else None
        claims.update(
            template.template.render(
                user.to_user(), session.to_session(now * 1000), organization, active
            )
        )
        return self._sign(claims).token

    # -- budget -------------------------------------------------------------------------
    def estimated_size(self, user: UserRecord, active: ActiveOrganization | None = None) -> int:
        """Encoded size of this user's session token (with ``active`` its active
        organization), for the longest allowed origin."""
        signer = self._signer()
        header = {"alg": signer.alg, "kid": signer.kid, "typ": "JWT"}
        header_len = _b64len(len(dumps_compact(header).encode()))
        payload_len = _b64len(self.payload_size(user, active))
        signature = _SIGNATURE_BYTES.get(signer.alg) or _rsa_bytes(signer)
        return header_len + 1 + payload_len + 1 + _b64len(signature)

    def payload_size(self, user: UserRecord, active: ActiveOrganization | None = None) -> int:
        """Bytes of the claims of this user's session token as compact JSON (before
        base64url), as :meth:`estimated_size` counts them."""
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.id,
            "sid": _PLACEHOLDER_SESSION.id,
            "iat": now,
            "nbf": now - self.clock_skew,
            "exp": now + self.token_lifetime,
            "azp": self._budget_azp,
            "v": TOKEN_FORMAT_VERSION,
            VERSION_CLAIM: user.version + 1,
        }
        if active is not None:
            claims.update(active.claims())
        claims.update(self.render_session_claims(user.to_user(), None, active))
        return len(dumps_compact(claims).encode())

    def member_share(self, user: UserRecord, active: ActiveOrganization) -> int:
        """The part of this member's token payload that is the member's own: the payload
        with ``active`` minus that of a member with nothing (no metadata, no role) in the
        same organization. As long as no claim mixes the organization's values with the
        person's (docs/concepts.md, "The size budget"), it does not depend on the
        organization's name, slug or metadata, so it orders the members of an
        organization by token size whatever the organization holds
        (``MembershipRecord.token_bytes``)."""
        bare = ActiveOrganization(active.organization, _BareMembership(), ())
        return self.payload_size(user, active) - self.payload_size(BARE_USER, bare)

    def check_budget(self, user: UserRecord, active: ActiveOrganization | None = None) -> None:
        """Raise ``session_token_too_large`` if ``user``'s session token (with ``active``
        its active organization) would not fit."""
        size = self.estimated_size(user, active)
        if size > self.max_token_bytes:
            raise _too_large(size, self.max_token_bytes)


def _rsa_bytes(key: SigningKey) -> int:
    modulus = key.public_key.to_jwk().get("n", "")
    return len(base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))) or 256


def _too_large(size: int, limit: int) -> MetadataError:
    return MetadataError(
        "session_token_too_large",
        f"the session token would be {size} bytes; the limit is {limit} "
        "(max_token_bytes). Keep less in the metadata the session template reads.",
    )
