"""How a token becomes an :class:`~sessionclaims.Auth`: the seam between the middleware
and the two modes.

The middleware finds the token (Bearer header first, then the ``__session`` cookie) and
asks an :class:`Authenticator`. ``authenticate_fast`` is a plain function call that
answers the common case (a verified, fresh token) without awaiting anything; when it
returns ``None`` the middleware awaits ``authenticate``, which may fetch keys (verify-only
mode) or reissue the token (full mode, see ``backend.py``) and returns headers to add to
the response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ._errors import TokenError
from .auth import Auth
from .jwks_client import RemoteKeySet
from .keys import KeySet
from .tokens import TokenVerifier, VerifiedToken

__all__ = ["Authenticator", "Outcome", "VerifyOnlyAuthenticator"]

Scope = Mapping[str, Any]


@dataclass(slots=True)
class Outcome:
    """The answer for one request: its ``Auth`` and headers for the response."""

    auth: Auth
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class Authenticator(Protocol):
    """Turns a request's token into an :class:`Auth`."""

    def authenticate_fast(self, token: str, from_cookie: bool) -> Auth | None:
        """Answer without awaiting, or ``None`` when the slow path is needed."""

    async def authenticate(
        self, scope: Scope, token: str | None, from_cookie: bool, cookies: Mapping[str, str]
    ) -> Outcome:
        """The full answer; never raises for a bad token."""


class VerifyOnlyAuthenticator:
    """Verify-only mode: a static key set (JWKS document or PEM) or a JWKS URL."""

    def __init__(
        self,
        keys: KeySet | RemoteKeySet,
        verifier: TokenVerifier,
        *,
        scopes_claim: str | None = "role",
    ) -> None:
        self.keys = keys
        self.verifier = verifier
        self.scopes_claim = scopes_claim

    def _auth(self, verified: VerifiedToken) -> Auth:
        return Auth(verified.claims, scopes_claim=self.scopes_claim)

    def authenticate_fast(self, token: str, from_cookie: bool) -> Auth | None:
        keys = self.keys
        if isinstance(keys, RemoteKeySet):
            if not keys.loaded:
                return None
            keys = keys.key_set
        try:
            return self._auth(self.verifier.verify(token, keys, from_cookie=from_cookie))
        except TokenError as exc:
            if exc.reason == "token-unknown-key" and isinstance(self.keys, RemoteKeySet):
                return None
            return Auth.signed_out(exc.reason)

    async def authenticate(
        self, scope: Scope, token: str | None, from_cookie: bool, cookies: Mapping[str, str]
    ) -> Outcome:
        if token is None:
            return Outcome(Auth.signed_out("token-missing"))
        keys = self.keys
        if not isinstance(keys, RemoteKeySet):
            fast = self.authenticate_fast(token, from_cookie)
            assert fast is not None  # a static key set always answers at once
            return Outcome(fast)
        key_set = await keys.get_key_set()
        if not keys.loaded:
            return Outcome(Auth.signed_out("jwks-unavailable"))
        try:
            verified = self.verifier.verify(token, key_set, from_cookie=from_cookie)
        except TokenError as exc:
            if exc.reason != "token-unknown-key":
                return Outcome(Auth.signed_out(exc.reason))
            kid = _unverified_kid(token)
            if kid is None or not await keys.refresh_for_unknown_kid(kid):
                return Outcome(Auth.signed_out(exc.reason))
            try:
                verified = self.verifier.verify(token, keys.key_set, from_cookie=from_cookie)
            except TokenError as again:
                return Outcome(Auth.signed_out(again.reason))
        return Outcome(self._auth(verified))


def _unverified_kid(token: str) -> str | None:
    """The ``kid`` of a token's header, without trusting anything else in it."""
    from .tokens import unverified_header  # local: keeps this module's import surface small

    try:
        kid = unverified_header(token).get("kid")
    except TokenError:
        return None
    return kid if isinstance(kid, str) else None
