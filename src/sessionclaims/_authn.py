"""How a token becomes an :class:`~sessionclaims.Auth`: the seam between the middleware
and the two modes.

The middleware finds the token (Bearer header first, then the ``__session`` cookie) and
asks an :class:`Authenticator`. ``authenticate_fast`` is a plain function call that
answers the common case (a verified, fresh token) without awaiting anything; when it
returns ``None`` the middleware awaits ``authenticate``, which may fetch keys (verify-only
mode) or reissue the token (full mode, see ``_full_authn.py``) and returns headers to add to
the response.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from ._credentials import bearer_credential
from ._errors import TokenError
from .auth import Auth, AuthUser
from .freshness import Freshness
from .jwks_client import RemoteKeySet
from .keys import KeySet
from .tokens import TimeBounds, TokenVerifier, VerifiedToken, unverified_header

__all__ = [
    "NO_ORGANIZATION",
    "Authenticator",
    "HotCache",
    "HotEntry",
    "OrgVersions",
    "Outcome",
    "Stale",
    "VerifyOnlyAuthenticator",
    "org_versions",
]

Scope = Mapping[str, Any]

OrgVersions = tuple["str | None", int, int]
"""``(org_id, org_ver, mem_ver)`` of a token; ``(None, 0, 0)`` without an active organization."""
NO_ORGANIZATION: OrgVersions = (None, 0, 0)


def org_versions(claims: Mapping[str, Any]) -> OrgVersions | None:
    """``(org_id, org_ver, mem_ver)`` of a session token, :data:`NO_ORGANIZATION` without
    ``org_id``; ``None`` when they are malformed (a token this library never mints)."""
    org_id = claims.get("org_id")
    if org_id is None:
        return NO_ORGANIZATION
    org_version = claims.get("org_ver")
    membership_version = claims.get("mem_ver")
    if type(org_id) is not str or type(org_version) is not int:
        return None
    if type(membership_version) is not int:
        return None
    return org_id, org_version, membership_version


class HotEntry:
    """What the hot cache keeps for one token: the verifier's :class:`TimeBounds` of it,
    the key set it was verified against, the ready-made ``Auth``/``AuthUser``, and what
    the freshness map is asked about it."""

    __slots__ = (
        "auth",
        "bounds",
        "iat",
        "key_set",
        "mem_ver",
        "org_id",
        "org_ver",
        "sid",
        "sub",
        "user",
        "ver",
        "verified",
    )

    def __init__(
        self,
        verified: VerifiedToken,
        bounds: TimeBounds,
        key_set: object,
        auth: Auth,
        version: int,
        org: OrgVersions,
    ) -> None:
        self.verified = verified
        self.bounds = bounds
        self.key_set = key_set
        self.auth = auth
        self.user = AuthUser(auth)
        self.sub = verified.sub
        self.sid = verified.sid
        self.ver = version
        self.iat = verified.iat
        self.org_id, self.org_ver, self.mem_ver = org

    def freshness_state(self, freshness: Freshness) -> int:
        """What the freshness map says about this entry's token now (``FRESH``...)."""
        return freshness.check(
            self.sub, self.sid, self.ver, self.iat, self.org_id, self.org_ver, self.mem_ver
        )


class Stale(NamedTuple):
    """What the fast path found about a verified token that is not fresh (its freshness
    ``state``: stale or revoked): the slow path starts from it instead of verifying and
    checking the token again."""

    verified: VerifiedToken
    state: int


class HotCache:
    """Ready-made ``(Auth, AuthUser)`` for tokens that verified: the hot path.

    A token seen again costs one dictionary lookup, one clock read and the verifier's own
    per-request checks (:meth:`TimeBounds.refusal <sessionclaims.tokens.TimeBounds.refusal>`:
    times with leeway, the cookie ``azp`` rule): no parsing, no signature, no object built.
    An entry is served only with the very key set object it was verified against (a
    reload or refetch replaces that object). Bounded: when full it starts over, which
    costs each live token one verified-token cache hit. Misses fall back to
    :meth:`TokenVerifier.verify`, which gives the precise reason for a refusal.
    """

    __slots__ = ("_clock", "_entries", "_lock", "_maxsize", "_verifier")

    def __init__(self, verifier: TokenVerifier, clock: Callable[[], float], maxsize: int) -> None:
        self._entries: dict[bytes, HotEntry] = {}
        self._maxsize = max(maxsize, 1)
        self._clock = clock
        self._verifier = verifier
        self._lock = threading.Lock()

    def get(self, raw: bytes, from_cookie: bool, key_set: object) -> HotEntry | None:
        """The entry for ``raw`` (the Authorization value or the cookie's token bytes) if
        it may serve this request now, else ``None``."""
        entry = self._entries.get(raw)
        if entry is None or entry.key_set is not key_set:
            return None
        refusal = entry.bounds.refusal(self._clock(), from_cookie)
        if refusal is None:
            return entry
        if refusal == "token-expired":
            self._entries.pop(raw, None)
        return None

    def put(
        self,
        raw: bytes,
        verified: VerifiedToken,
        key_set: object,
        auth: Auth,
        version: int = 0,
        org: OrgVersions = NO_ORGANIZATION,
    ) -> HotEntry:
        """Remember ``auth`` for ``verified``, found under ``raw`` (checked against ``key_set``)."""
        entry = HotEntry(verified, self._verifier.bounds(verified), key_set, auth, version, org)
        with self._lock:
            if len(self._entries) >= self._maxsize:
                self._entries.clear()
            self._entries[raw] = entry
        return entry

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class Outcome:
    """The answer for one request: its ``Auth`` and headers for the response."""

    auth: Auth
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


class Authenticator(Protocol):
    """Turns a request's token into an :class:`Auth`."""

    def authenticate_fast(
        self, raw: bytes, from_cookie: bool
    ) -> tuple[Auth, AuthUser] | Stale | None:
        """Answer without awaiting; a :class:`Stale` or ``None`` when the slow path is
        needed. ``raw`` is the whole ``Authorization`` value, or the ``__session`` cookie's
        value."""

    async def authenticate(
        self,
        scope: Scope,
        token: str | None,
        from_cookie: bool,
        cookies: Mapping[str, str],
        stale: Stale | None = None,
    ) -> Outcome:
        """The full answer; never raises for a bad token. ``stale`` is what
        :meth:`authenticate_fast` found, if anything."""


class VerifyOnlyAuthenticator:
    """Verify-only mode: a static key set (JWKS document or PEM) or a JWKS URL."""

    def __init__(
        self,
        keys: KeySet | RemoteKeySet,
        verifier: TokenVerifier,
        *,
        clock: Callable[[], float],
        cache_size: int = 10_000,
        scopes_claim: str | None = "role",
    ) -> None:
        self.keys = keys
        self.verifier = verifier
        self.scopes_claim = scopes_claim
        self._remote = keys if isinstance(keys, RemoteKeySet) else None
        self.hot = HotCache(verifier, clock, cache_size)

    def _auth(self, raw: bytes, verified: VerifiedToken, key_set: KeySet) -> tuple[Auth, AuthUser]:
        auth = Auth(verified.claims, scopes_claim=self.scopes_claim)
        entry = self.hot.put(raw, verified, key_set, auth)
        return auth, entry.user

    def authenticate_fast(
        self, raw: bytes, from_cookie: bool
    ) -> tuple[Auth, AuthUser] | Stale | None:
        """Never a :class:`Stale`: without a freshness map every verified token is fresh."""
        remote = self._remote
        if remote is None:
            key_set = self.keys
        elif remote.loaded:
            key_set = remote.key_set
        else:
            return None
        entry = self.hot.get(raw, from_cookie, key_set)
        if entry is not None:
            return entry.auth, entry.user
        assert isinstance(key_set, KeySet)
        token = token_of(raw, from_cookie)
        try:
            return self._auth(
                raw, self.verifier.verify(token, key_set, from_cookie=from_cookie), key_set
            )
        except TokenError as exc:
            if exc.reason == "token-unknown-key" and remote is not None:
                return None
            auth = Auth.signed_out(exc.reason)
            return auth, AuthUser(auth)

    async def authenticate(
        self,
        scope: Scope,
        token: str | None,
        from_cookie: bool,
        cookies: Mapping[str, str],
        stale: Stale | None = None,
    ) -> Outcome:
        if token is None:
            return Outcome(Auth.signed_out("token-missing"))
        keys = self.keys
        if not isinstance(keys, RemoteKeySet):
            raw = token.encode("latin-1") if from_cookie else b"Bearer " + token.encode("latin-1")
            fast = self.authenticate_fast(raw, from_cookie)
            # a static key set always answers at once, and this mode knows no staleness
            assert fast is not None
            assert not isinstance(fast, Stale)
            return Outcome(fast[0])
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
            key_set = keys.key_set
            try:
                verified = self.verifier.verify(token, key_set, from_cookie=from_cookie)
            except TokenError as again:
                return Outcome(Auth.signed_out(again.reason))
        raw = token.encode("latin-1") if from_cookie else b"Bearer " + token.encode("latin-1")
        return Outcome(self._auth(raw, verified, key_set)[0])


def token_of(raw: bytes, from_cookie: bool) -> str:
    """The token inside an ``Authorization: Bearer`` value or a cookie value."""
    return raw.strip().decode("latin-1") if from_cookie else bearer_credential(raw)


def _unverified_kid(token: str) -> str | None:
    """The ``kid`` of a token's header, without trusting anything else in it."""
    try:
        kid = unverified_header(token).get("kid")
    except TokenError:
        return None
    return kid if isinstance(kid, str) else None
