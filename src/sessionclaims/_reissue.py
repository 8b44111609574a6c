"""Reissuing a session token from the backend's public services: verify it (re-reading
the keys once for an unknown ``kid``), check its session is still active and belongs to
its ``sub``, and sign a fresh token of the same session (same ``sid``, same ``azp``).

The full-mode middleware verifies with :func:`verify_session_token`, and
``POST /v1/tokens/reissue`` (docs/deployment.md) answers with :func:`reissue_session_token`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import MetadataError, SessionNotActive, SessionNotFound, TokenError
from .backend.issuer import VERSION_CLAIM
from .tokens import VerifiedToken

if TYPE_CHECKING:
    from .backend import Backend

__all__ = ["reissue_session_token", "verify_session_token"]


async def verify_session_token(
    backend: Backend, token: str, *, from_cookie: bool = False
) -> VerifiedToken:
    """``token`` verified with the backend's keys; raises :class:`TokenError`. An unknown
    ``kid`` re-reads the keys first (another instance may have rotated)."""
    try:
        return backend.verifier.verify(token, backend.keys.key_set, from_cookie=from_cookie)
    except TokenError as exc:
        if exc.reason != "token-unknown-key" or not await backend.reload_keys_for_unknown_kid():
            raise
    return backend.verifier.verify(token, backend.keys.key_set, from_cookie=from_cookie)


async def reissue_session_token(backend: Backend, token: str) -> str:
    """A fresh token of ``token``'s session, or :class:`TokenError` with the reason
    (``token-expired``, ``token-invalid-signature``, ``session-revoked``, ...). Raises
    :class:`~sessionclaims.StoreUnavailable` when the store cannot be read."""
    await backend.ensure_open()
    verified = await verify_session_token(backend, token)
    if type(verified.claims.get(VERSION_CLAIM)) is not int or verified.sid is None:
        raise TokenError("token-not-a-session-token")
    try:
        signed = await backend.sessions.reissue(verified.sid, user_id=verified.sub)
    except (SessionNotActive, SessionNotFound):
        raise TokenError("session-revoked") from None
    except MetadataError as exc:  # over the size budget after a configuration change
        raise TokenError("reissue-failed", str(exc)) from exc
    return signed.token
