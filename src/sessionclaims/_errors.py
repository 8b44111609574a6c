"""Every exception ``sessionclaims`` raises, under one root.

::

    SessionClaimsError
    ├── ConfigurationError          a setting is wrong; raised at construction time
    ├── KeyFormatError              key material (PEM, JWK, JWKS) cannot be used
    ├── TemplateError               a claims template failed its load-time check (.path, .column)
    ├── TokenError                  a token was refused (.reason: "token-expired", ...)
    ├── InvalidRequest              input refused (.code, .param, .status; HTTP 4xx)
    │   ├── MetadataError           a metadata write was refused
    │   └── NotAMember              the person is not a member of that organization (403)
    ├── NotFound                    (.code = "resource_not_found")
    │   ├── UserNotFound
    │   ├── SessionNotFound
    │   ├── SignUpNotFound
    │   ├── TemplateNotFound
    │   ├── OrganizationNotFound
    │   └── MembershipNotFound
    ├── Conflict                    a state conflict (.code = "conflict", .param)
    │   ├── ExternalIdTaken
    │   ├── SlugTaken
    │   ├── AlreadyMember
    │   ├── SignUpAlreadyCompleted
    │   └── SessionNotActive
    └── StoreUnavailable            the store cannot be reached; nothing was written

The HTTP API maps these to its error format in one place (``sessionclaims.api._errors``).
"""

from __future__ import annotations

from typing import Any


class SessionClaimsError(Exception):
    """Root of every exception raised by ``sessionclaims``."""


class ConfigurationError(SessionClaimsError, ValueError):
    """A setting is missing or wrong. The message says what to change."""


class KeyFormatError(SessionClaimsError, ValueError):
    """Key material cannot be loaded or is not allowed (wrong type, too small, private JWK...)."""


class TemplateError(SessionClaimsError, ValueError):
    """A claims template failed its load-time check.

    ``path`` is the claim path inside the template (``"org.plan"``), ``column`` the
    1-based column inside that claim's string value where the problem was found, if any.
    """

    def __init__(self, message: str, *, path: str = "", column: int | None = None) -> None:
        where = f" at {path!r}" if path else ""
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{message}{where}")
        self.path = path
        self.column = column


class TokenError(SessionClaimsError):
    """A token was refused. ``reason`` is the machine-readable reason (``token-expired``)."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


class InvalidRequest(SessionClaimsError, ValueError):
    """Input was refused; nothing was written.

    ``code`` is the error code of the HTTP API (``invalid_origin``), ``param`` the
    field it concerns and ``status`` the HTTP status it maps to.
    """

    def __init__(
        self, code: str, message: str, *, param: str | None = None, status: int = 422
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.status = status

    @property
    def meta(self) -> dict[str, Any]:
        """The ``meta`` object of the HTTP error format."""
        return {"param": self.param} if self.param else {}


class MetadataError(InvalidRequest):
    """A metadata write was refused; nothing was written.

    ``code`` is the error code of the HTTP API (``metadata_too_large``), ``param`` the
    field it concerns (``public_metadata``) and ``status`` the HTTP status it maps to.
    """


class NotAMember(InvalidRequest):
    """The session's user is not a member of the organization asked for (or there is no
    such organization); nothing was written. HTTP 403 ``not_a_member``."""

    def __init__(self, organization_id: str, user_id: str) -> None:
        super().__init__(
            "not_a_member",
            f"user {user_id!r} is not a member of organization {organization_id!r}",
            param="organization_id",
            status=403,
        )
        self.organization_id = organization_id
        self.user_id = user_id


class NotFound(SessionClaimsError, LookupError):
    """Something looked up by id does not exist."""

    code = "resource_not_found"
    kind = "resource"

    def __init__(self, resource_id: str, *, field: str = "id") -> None:
        named = repr(resource_id) if field == "id" else f"with {field} {resource_id!r}"
        super().__init__(f"{self.kind} {named} was not found")
        self.resource_id = resource_id


class UserNotFound(NotFound):
    """No user with this id."""

    kind = "user"


class SessionNotFound(NotFound):
    """No session with this id."""

    kind = "session"


class SignUpNotFound(NotFound):
    """No sign-up with this id."""

    kind = "sign-up"


class TemplateNotFound(NotFound):
    """No named template with this name."""

    kind = "template"


class OrganizationNotFound(NotFound):
    """No organization with this id (or slug)."""

    kind = "organization"


class MembershipNotFound(NotFound):
    """The user is not a member of this organization. ``resource_id`` is the user id."""

    kind = "membership"

    def __init__(self, organization_id: str, user_id: str) -> None:
        message = f"user {user_id!r} is not a member of organization {organization_id!r}"
        super(NotFound, self).__init__(message)
        self.resource_id = user_id
        self.organization_id = organization_id


class Conflict(SessionClaimsError):
    """The request conflicts with the current state of a resource."""

    code = "conflict"
    param: str | None = None
    """The request field the conflict is about, when there is one."""


class ExternalIdTaken(Conflict):
    """Another user already has this ``external_id`` (it is unique when set). Nothing
    was written."""

    param = "external_id"

    def __init__(self) -> None:
        super().__init__("another user already has this external_id")


class SlugTaken(Conflict):
    """Another organization already has this ``slug`` (slugs are unique). Nothing was
    written."""

    param = "slug"

    def __init__(self, slug: str | None = None) -> None:
        named = f" {slug!r}" if slug else ""
        super().__init__(f"another organization already has the slug{named}")


class AlreadyMember(Conflict):
    """The user is already a member of this organization (at most once). Nothing was
    written."""

    param = "user_id"

    def __init__(self, organization_id: str | None = None, user_id: str | None = None) -> None:
        if organization_id and user_id:
            message = f"user {user_id!r} is already a member of organization {organization_id!r}"
        else:
            message = "the user is already a member of this organization"
        super().__init__(message)


class SignUpAlreadyCompleted(Conflict):
    """A sign-up can be completed once."""


class SessionNotActive(Conflict):
    """The session is revoked, ended or expired."""


class StoreUnavailable(SessionClaimsError):
    """The store cannot be reached. Nothing was written."""
