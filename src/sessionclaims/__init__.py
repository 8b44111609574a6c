"""sessionclaims: user claims in short-lived session JWTs for any ASGI app.

Public metadata projected into session tokens through templates; a middleware that
verifies them and sets ``request.auth``; tokens reissued on the next request after a
backend update changes what they would contain.
"""

# The HTTP layer registers the builder of backend.api (Backend.api_builder) on import.
import sessionclaims.api  # noqa: F401

from .__about__ import __version__
from ._errors import (
    AlreadyMember,
    ConfigurationError,
    Conflict,
    ExternalIdTaken,
    InvalidRequest,
    KeyFormatError,
    MembershipNotFound,
    MetadataError,
    NotAMember,
    NotFound,
    OrganizationNotFound,
    SessionClaimsError,
    SessionNotActive,
    SessionNotFound,
    SignUpAlreadyCompleted,
    SignUpNotFound,
    SlugTaken,
    StoreUnavailable,
    TemplateError,
    TemplateNotFound,
    TokenError,
    UserNotFound,
)
from .auth import Auth, AuthUser
from .backend import Backend
from .keys import KeySet, PublicKey, SigningKey
from .middleware import SessionClaimsMiddleware
from .models import Membership, NewSession, Organization, Session, SignUp, User
from .tokens import TokenVerifier, VerifiedToken, VerifyOptions

__all__ = [
    "AlreadyMember",
    "Auth",
    "AuthUser",
    "Backend",
    "ConfigurationError",
    "Conflict",
    "ExternalIdTaken",
    "InvalidRequest",
    "KeyFormatError",
    "KeySet",
    "Membership",
    "MembershipNotFound",
    "MetadataError",
    "NewSession",
    "NotAMember",
    "NotFound",
    "Organization",
    "OrganizationNotFound",
    "PublicKey",
    "Session",
    "SessionClaimsError",
    "SessionClaimsMiddleware",
    "SessionNotActive",
    "SessionNotFound",
    "SignUp",
    "SignUpAlreadyCompleted",
    "SignUpNotFound",
    "SigningKey",
    "SlugTaken",
    "StoreUnavailable",
    "TemplateError",
    "TemplateNotFound",
    "TokenError",
    "TokenVerifier",
    "User",
    "UserNotFound",
    "VerifiedToken",
    "VerifyOptions",
    "__version__",
]
