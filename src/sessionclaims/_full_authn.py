"""Full mode: verification with the backend's keys, freshness, reissue and revocation.

For each request (docs/concepts.md, "Freshness"):

1. fresh, verified token → ``Auth`` from its claims; **no store call**;
2. stale token of an active session → a new token is rendered and signed; this request's
   ``Auth`` already holds the new claims and the response carries the token
   (``X-Session-Token`` always, ``Set-Cookie: __session`` when it came from the cookie);
   the same stale token sent again gets the same new token from a small cache;
3. expired (or absent) token + a valid refresh credential cookie → same as 2;
4. revoked / ended / deleted → signed out, ``session-revoked``, cookies cleared;
5. store unreachable when 2 to 4 need it → signed out, ``store-unavailable``, logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

from cachetools import TLRUCache

from ._authn import NO_ORGANIZATION, HotCache, Outcome, Stale, org_versions, token_of
from ._errors import (
    SessionClaimsError,
    SessionNotActive,
    SessionNotFound,
    StoreUnavailable,
    TokenError,
)
from ._reissue import verify_session_token
from .auth import Auth, AuthUser
from .backend.issuer import VERSION_CLAIM
from .backend.sessions import session_id_of
from .cookies import REFRESH_COOKIE, clear_cookie_headers, is_secure, token_headers
from .freshness import FRESH, REVOKED
from .tokens import SignedToken, VerifiedToken

if TYPE_CHECKING:
    from .backend import Backend

__all__ = ["BackendAuthenticator"]

logger = logging.getLogger("sessionclaims.middleware")

Scope = Mapping[str, Any]


class BackendAuthenticator:
    """The authenticator of ``SessionClaimsMiddleware(app, backend=backend)``."""

    def __init__(self, backend: Backend, *, scopes_claim: str | None = "role") -> None:
        self.backend = backend
        self.scopes_claim = scopes_claim
        self._reissued: TLRUCache[str, tuple[str, VerifiedToken]] = TLRUCache(
            maxsize=10_000, ttu=lambda _k, v, _now: float(v[1].exp), timer=backend.clock
        )
        self.hot = HotCache(backend.verifier, backend.clock, backend.settings.cache_size)

    # -- the hot path -------------------------------------------------------------------
    def authenticate_fast(
        self, raw: bytes, from_cookie: bool
    ) -> tuple[Auth, AuthUser] | Stale | None:
        backend = self.backend
        key_set = backend.keys.current_key_set
        if key_set is None:
            return None
        entry = self.hot.get(raw, from_cookie, key_set)
        if entry is None:
            token = token_of(raw, from_cookie)
            try:
                verified = backend.verifier.verify(token, key_set, from_cookie=from_cookie)
            except TokenError:
                return None
            version = verified.claims.get(VERSION_CLAIM)
            org = org_versions(verified.claims)
            if type(version) is not int or org is None:
                return None
            entry = self.hot.put(raw, verified, key_set, self._auth(verified), version, org)
        state = entry.freshness_state(backend.freshness)
        if state != FRESH:
            return Stale(entry.verified, state)
        return entry.auth, entry.user

    # -- everything else ----------------------------------------------------------------
    async def authenticate(
        self,
        scope: Scope,
        token: str | None,
        from_cookie: bool,
        cookies: Mapping[str, str],
        stale: Stale | None = None,
    ) -> Outcome:
        backend = self.backend
        try:
            await backend.ensure_open()
        except StoreUnavailable as exc:
            logger.error("store unavailable while opening the backend: %s", exc)
            return Outcome(Auth.signed_out("store-unavailable"))
        refresh = cookies.get(REFRESH_COOKIE)
        if token is None:
            if refresh:
                return await self._from_refresh(scope, refresh, "token-missing")
            return Outcome(Auth.signed_out("token-missing"))
        if stale is not None:  # verified and checked by authenticate_fast already
            if stale.state == REVOKED:
                return self._revoked(scope)
            return await self._reissue(scope, stale.verified, from_cookie=from_cookie)
        try:
            verified = await self._verify(token, from_cookie)
        except TokenError as exc:
            if exc.reason == "token-expired" and refresh:
                return await self._from_refresh(scope, refresh, exc.reason)
            return Outcome(Auth.signed_out(exc.reason))
        version = verified.claims.get(VERSION_CLAIM)
        org = org_versions(verified.claims)
        if type(version) is not int or org is None:
            return Outcome(Auth.signed_out("token-not-a-session-token"))
        state = backend.freshness.check(verified.sub, verified.sid, version, verified.iat, *org)
        if state == FRESH:
            return Outcome(self._auth(verified))
        if state == REVOKED:
            return self._revoked(scope)
        return await self._reissue(scope, verified, from_cookie=from_cookie)

    async def _verify(self, token: str, from_cookie: bool) -> VerifiedToken:
        return await verify_session_token(self.backend, token, from_cookie=from_cookie)

    def _auth(self, verified: VerifiedToken) -> Auth:
        return Auth(verified.claims, scopes_claim=self.scopes_claim)

    def _revoked(self, scope: Scope) -> Outcome:
        return Outcome(
            Auth.signed_out("session-revoked"), clear_cookie_headers(secure=is_secure(scope))
        )

    def _issued(self, scope: Scope, token: str, verified: VerifiedToken, cookie: bool) -> Outcome:
        headers = token_headers(token, cookie=cookie, secure=is_secure(scope))
        return Outcome(self._auth(verified), headers)

    async def _reissue(self, scope: Scope, stale: VerifiedToken, *, from_cookie: bool) -> Outcome:
        backend = self.backend
        cached = self._reissued.get(stale.token)
        if cached is not None:
            token, verified = cached
            version = verified.claims[VERSION_CLAIM]
            org = org_versions(verified.claims) or NO_ORGANIZATION
            fresh = backend.freshness.check(verified.sub, verified.sid, version, verified.iat, *org)
            if fresh == FRESH:
                return self._issued(scope, token, verified, from_cookie)
        if stale.sid is None:
            return self._revoked(scope)
        return await self._issue(
            scope,
            stale.sid,
            from_cookie,
            backend.sessions.reissue(stale.sid, user_id=stale.sub),
            replacing=stale.token,
        )

    async def _from_refresh(self, scope: Scope, refresh: str, reason: str) -> Outcome:
        session_id = session_id_of(refresh) or "?"
        return await self._issue(
            scope, session_id, True, self.backend.sessions.renew(refresh), refused=reason
        )

    async def _issue(
        self,
        scope: Scope,
        session_id: str,
        cookie: bool,
        signing: Awaitable[SignedToken],
        *,
        refused: str = "session-revoked",
        replacing: str | None = None,
    ) -> Outcome:
        """The outcome of one of the sessions service's signing calls; ``refused`` is the
        reason when a refresh credential does not check out. With ``replacing`` (a stale
        token), the new token is remembered as its reissue."""
        try:
            signed = await signing
        except (SessionNotActive, SessionNotFound):
            return self._revoked(scope)
        except TokenError:  # the refresh credential is wrong
            return Outcome(Auth.signed_out(refused))
        except StoreUnavailable as exc:
            logger.error("store unavailable: cannot reissue session %s: %s", session_id, exc)
            return Outcome(Auth.signed_out("store-unavailable"))
        except SessionClaimsError as exc:  # e.g. a token over budget after a config change
            logger.error("cannot reissue session %s: %s", session_id, exc)
            return Outcome(Auth.signed_out("reissue-failed"))
        verified = self.backend.verifier.remember(signed)
        if replacing is not None:
            self._reissued[replacing] = (signed.token, verified)
        return self._issued(scope, signed.token, verified, cookie)
