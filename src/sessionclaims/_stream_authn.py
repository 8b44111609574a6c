"""Verify-only mode following the auth app's change stream (docs/deployment.md).

:class:`StreamAuthenticator` verifies like :class:`~sessionclaims._authn.VerifyOnlyAuthenticator`
and then asks the freshness map that :class:`~sessionclaims.change_stream.ChangeStream`
feeds:

1. fresh → the token's claims, with no network call (a dictionary lookup more than
   plain verify-only mode);
2. stale, session active → one ``POST /v1/tokens/reissue``; this request gets the new
   claims and the response the new token (``X-Session-Token``, and ``Set-Cookie`` when the
   token came from the cookie). Requests that still carry the same stale token reuse it:
   concurrent ones share the one call in flight, later ones find it cached;
3. revoked → signed out ``session-revoked``, no call;
4. the reissue route unreachable → signed out ``store-unavailable``, logged.

A token without a ``ver`` claim (not a session token of this issuer) can be revoked but
never goes stale: there is no version to compare.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from cachetools import TLRUCache

from ._authn import NO_ORGANIZATION, Outcome, Stale, VerifyOnlyAuthenticator, org_versions
from ._errors import TokenError
from ._json import JSONError, loads_strict
from .auth import Auth, AuthUser
from .backend.issuer import VERSION_CLAIM
from .change_stream import ChangeStream
from .cookies import is_secure, token_headers
from .freshness import FRESH, REVOKED
from .jwks_client import RemoteKeySet
from .keys import KeySet
from .tokens import TokenVerifier, VerifiedToken

__all__ = ["StreamAuthenticator"]

logger = logging.getLogger("sessionclaims.middleware")

Scope = Mapping[str, Any]

_NO_VERSION = 2**62
"""The ``ver`` of a token without one: never below a user's version (so never stale)."""


class StreamAuthenticator(VerifyOnlyAuthenticator):
    """Verify-only mode plus the change stream and the reissue route (see the module doc)."""

    def __init__(
        self,
        keys: KeySet | RemoteKeySet,
        verifier: TokenVerifier,
        *,
        stream: ChangeStream,
        reissue_url: str,
        feed_key: str,
        clock: Callable[[], float],
        cache_size: int = 10_000,
        scopes_claim: str | None = "role",
        http_client: httpx.AsyncClient | None = None,
        reissue_timeout: float = 5.0,
    ) -> None:
        super().__init__(
            keys, verifier, clock=clock, cache_size=cache_size, scopes_claim=scopes_claim
        )
        self.stream = stream
        self.freshness = stream.freshness
        self.reissue_url = reissue_url
        self._headers = {"Authorization": f"Bearer {feed_key}"}
        self._client = http_client
        self._owns_client = http_client is None
        self._timeout = reissue_timeout
        self._clock = clock
        self._reissued: TLRUCache[str, tuple[str, VerifiedToken]] = TLRUCache(
            maxsize=cache_size, ttu=lambda _k, v, _now: float(v[1].exp), timer=clock
        )
        self._inflight: dict[str, asyncio.Future[tuple[str, VerifiedToken] | str]] = {}
        self.reissue_calls = 0
        """Calls made to the reissue route (tests and operators read it)."""

    @property
    def network_calls(self) -> int:
        """HTTP requests made so far: stream connection attempts, JWKS fetches and
        reissue calls."""
        fetches = self.keys.fetch_count if isinstance(self.keys, RemoteKeySet) else 0
        return self.stream.attempts + fetches + self.reissue_calls

    # -- lifecycle ----------------------------------------------------------------------
    async def aclose(self) -> None:
        """Stop the stream; close the HTTP clients this object created."""
        await self.stream.stop()
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None
        if isinstance(self.keys, RemoteKeySet):
            await self.keys.aclose()

    # -- the hot path -------------------------------------------------------------------
    def _auth(self, raw: bytes, verified: VerifiedToken, key_set: KeySet) -> tuple[Auth, AuthUser]:
        auth = Auth(verified.claims, scopes_claim=self.scopes_claim)
        version = verified.claims.get(VERSION_CLAIM)
        if type(version) is not int:
            version = _NO_VERSION
        org = org_versions(verified.claims) or NO_ORGANIZATION
        entry = self.hot.put(raw, verified, key_set, auth, version, org)
        return auth, entry.user

    def authenticate_fast(
        self, raw: bytes, from_cookie: bool
    ) -> tuple[Auth, AuthUser] | Stale | None:
        remote = self._remote
        key_set = self.keys if remote is None else remote.key_set
        entry = self.hot.get(raw, from_cookie, key_set)
        if entry is None:
            answer = super().authenticate_fast(raw, from_cookie)
            if answer is None or isinstance(answer, Stale) or not answer[0].is_signed_in:
                return answer
            entry = self.hot.get(raw, from_cookie, key_set)
            if entry is None:  # not servable now (nbf ahead): let the slow path decide
                return None
        state = entry.freshness_state(self.freshness)
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
        if stale is not None and token is not None:  # verified and checked already
            if stale.state == REVOKED:
                return Outcome(Auth.signed_out("session-revoked"))
            return await self._reissue(scope, token, from_cookie, stale.verified.sid)
        if token is not None and isinstance(self.keys, KeySet):
            raw = token.encode("latin-1") if from_cookie else b"Bearer " + token.encode("latin-1")
            answer = super().authenticate_fast(raw, from_cookie)
            # a static key set always answers at once; the parent knows no staleness
            assert answer is not None
            assert not isinstance(answer, Stale)
            outcome = Outcome(answer[0])
        else:
            outcome = await super().authenticate(scope, token, from_cookie, cookies)
        auth = outcome.auth
        if not auth.is_signed_in or token is None:
            return outcome
        state = self._state(auth.session_claims)
        if state == FRESH:
            return outcome
        if state == REVOKED:
            return Outcome(Auth.signed_out("session-revoked"))
        return await self._reissue(scope, token, from_cookie, auth.session_id)

    def _state(self, claims: Mapping[str, Any]) -> int:
        version = claims.get(VERSION_CLAIM)
        iat = claims.get("iat")
        sub, sid = claims.get("sub"), claims.get("sid")
        return self.freshness.check(
            sub if isinstance(sub, str) else None,
            sid if isinstance(sid, str) else None,
            version if type(version) is int else _NO_VERSION,
            iat if type(iat) is int else 0,
            *(org_versions(claims) or NO_ORGANIZATION),
        )

    async def _reissue(
        self, scope: Scope, token: str, from_cookie: bool, session_id: str | None
    ) -> Outcome:
        cached = self._reissued.get(token)
        if cached is not None and self._state(cached[1].claims) != FRESH:
            self._reissued.pop(token, None)  # changed again since: ask again
            cached = None
        if cached is None:
            inflight = self._inflight.get(token)
            if inflight is None:
                inflight = asyncio.ensure_future(self._call_reissue(token, session_id))
                self._inflight[token] = inflight
                inflight.add_done_callback(lambda _f: self._inflight.pop(token, None))
            result = await asyncio.shield(inflight)
            if isinstance(result, str):
                return Outcome(Auth.signed_out(result))
            cached = result
        new_token, verified = cached
        headers = token_headers(new_token, cookie=from_cookie, secure=is_secure(scope))
        return Outcome(Auth(verified.claims, scopes_claim=self.scopes_claim), headers)

    async def _call_reissue(
        self, token: str, session_id: str | None
    ) -> tuple[str, VerifiedToken] | str:
        """The new token and its verification, or the reason the request is signed out."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        self.reissue_calls += 1
        try:
            response = await self._client.post(
                self.reissue_url, json={"token": token}, headers=self._headers
            )
        except httpx.HTTPError as exc:
            logger.error("reissue route %s unreachable: %s", self.reissue_url, exc)
            return "store-unavailable"
        if response.status_code == 401:
            reason = _reason(response.content) or "reissue-refused"
            if reason == "session-revoked" and session_id is not None:
                self.freshness.session_ended(session_id, self._clock())
            return reason
        new_token = _jwt(response.content) if response.status_code == 200 else None
        if new_token is None:
            logger.error(
                "reissue route %s answered HTTP %d", self.reissue_url, response.status_code
            )
            return "store-unavailable"
        try:
            verified = await self._verify_new(new_token)
        except TokenError as exc:
            logger.error("the reissued token was refused (%s)", exc.reason)
            return "reissue-failed"
        self._reissued[token] = (new_token, verified)
        return new_token, verified

    async def _verify_new(self, token: str) -> VerifiedToken:
        keys = self.keys
        if not isinstance(keys, RemoteKeySet):
            return self.verifier.verify(token, keys)
        try:
            return self.verifier.verify(token, keys.key_set)
        except TokenError as exc:
            if exc.reason != "token-unknown-key":
                raise
        await keys.refetch()
        return self.verifier.verify(token, keys.key_set)


def _reason(body: bytes) -> str | None:
    try:
        data = loads_strict(body)
        reason = data["errors"][0]["meta"]["reason"]
    except (JSONError, KeyError, IndexError, TypeError):
        return None
    return reason if isinstance(reason, str) and len(reason) <= 64 else None


def _jwt(body: bytes) -> str | None:
    try:
        data = loads_strict(body)
    except JSONError:
        return None
    jwt = data.get("jwt") if isinstance(data, dict) else None
    return jwt if isinstance(jwt, str) and jwt.isascii() else None
