"""Why a request is signed out: the one enumerated list of reasons.

``request.auth.reason`` is one of :data:`SIGN_OUT_REASONS`, and so is the ``meta.reason``
of the API's 401 answers (the served OpenAPI document lists them as an ``enum``).
docs/security.md explains each; a test checks that its tables list exactly these.

:data:`TOKEN_REASONS` are the token checks' reasons (the order of the checks is in
:mod:`sessionclaims.tokens`); :data:`OTHER_REASONS` are set outside them.
"""

from __future__ import annotations

__all__ = ["OTHER_REASONS", "SIGN_OUT_REASONS", "TOKEN_REASONS"]

TOKEN_REASONS: frozenset[str] = frozenset(
    {
        "token-too-large",
        "token-malformed",
        "token-header-not-allowed",
        "token-critical-header-unsupported",
        "token-algorithm-not-allowed",
        "token-unknown-key",
        "token-invalid-signature",
        "token-missing-claim",
        "token-invalid-claim",
        "token-invalid-issuer",
        "token-invalid-audience",
        "token-invalid-authorized-party",
        "token-expired",
        "token-not-active-yet",
        "token-iat-in-the-future",
    }
)
"""The reasons of the token checks, one per rule broken."""

OTHER_REASONS: frozenset[str] = frozenset(
    {
        "token-missing",
        "token-not-a-session-token",
        "session-revoked",
        "store-unavailable",
        "reissue-failed",
        "jwks-unavailable",
        "refresh-credential-missing",
        "refresh-credential-invalid",
        "token-invalid",
        "middleware-missing",
    }
)
"""Reasons set outside the token checks (middleware, full mode, refresh routes)."""

SIGN_OUT_REASONS: frozenset[str] = TOKEN_REASONS | OTHER_REASONS
"""Every reason a request can be signed out with."""
