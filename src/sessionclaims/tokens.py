"""Session tokens: the claim policy and the verified-token cache, on the compact-JWS layer.

Verification refuses with :class:`~sessionclaims._errors.TokenError`, whose ``reason`` is
one of :data:`REASONS`. The checks run in this order, so the reason names the first rule
broken: size, structure, header, alg/kid, signature, payload, claims, issuer, azp, times.

- ``token-too-large``: over ``max_token_bytes``, checked before anything is decoded.
- ``token-malformed``: not three strict base64url parts (alphabet ``[A-Za-z0-9_-]``, no
  padding, no whitespace, canonical trailing bits); header or payload not a strict JSON
  object (duplicate names, invalid UTF-8, NaN, deep nesting... see :mod:`._json`).
- ``token-header-not-allowed``: ``jku``, ``x5u``, ``jwk``, ``x5c`` (never followed) or ``b64``.
- ``token-critical-header-unsupported``: any ``crit``.
- ``token-algorithm-not-allowed``: ``alg`` missing, ``none``, HMAC, outside the allowlist, or
  not the algorithm bound to the key named by ``kid``.
- ``token-unknown-key``: no ``kid``, or a ``kid`` not in the key set. A token without ``kid``
  is refused even when the set holds a single key: the key must be named, never guessed.
- ``token-invalid-signature``, ``token-missing-claim``, ``token-invalid-claim`` (times must
  be integers, not bool or float; ``iss``/``sub``/``sid``/``azp`` strings),
  ``token-invalid-issuer`` (exact match), ``token-invalid-audience`` (a present ``aud``
  must name this verifier), ``token-invalid-authorized-party``,
  ``token-expired``, ``token-not-active-yet``, ``token-iat-in-the-future``.

The compact-JWS layer (everything up to the signature, and signing) is :mod:`._jws`; this
module adds the claim policy and the verified-token cache, and re-exports
:func:`decode_jws`, :func:`unverified_header`, :func:`encode_token` and :func:`sign_token`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from cachetools import FIFOCache

from ._errors import ConfigurationError
from ._jws import (
    HeaderCache,
    SignedToken,
    _decode,
    _json_object,
    _refuse,
    decode_jws,
    encode_token,
    sign_token,
    unverified_header,
)
from .keys import ALGORITHMS, KeySet, PublicKey
from .reasons import TOKEN_REASONS

__all__ = [
    "REASONS",
    "REQUIRED_CLAIMS",
    "SignedToken",
    "TimeBounds",
    "TokenVerifier",
    "VerifiedToken",
    "VerifyOptions",
    "decode_jws",
    "encode_token",
    "sign_token",
    "unverified_header",
]

REQUIRED_CLAIMS: tuple[str, ...] = ("exp", "iat", "iss", "sub", "sid")
REASONS: frozenset[str] = TOKEN_REASONS
"""The token checks' reasons (:data:`sessionclaims.reasons.TOKEN_REASONS`)."""

# Claims every verifier needs whatever the configuration: the cache and VerifiedToken rely
# on exp and iat, and the issuer check on iss.
_ALWAYS_REQUIRED = ("exp", "iat", "iss")
_STRING_CLAIMS = ("iss", "sub", "sid", "azp")


@dataclass(frozen=True, slots=True)
class VerifyOptions:
    """What a :class:`TokenVerifier` accepts. Checked at construction (ConfigurationError)."""

    #: The exact ``iss`` tokens must carry.
    issuer: str
    #: Origins allowed in ``azp``; None disables the check. A cookie token must carry one.
    authorized_parties: frozenset[str] | None = None
    #: Seconds of clock skew tolerated by the exp, nbf and iat checks.
    leeway: int = 5
    #: Claims a token must carry; ``exp``, ``iat`` and ``iss`` are always required.
    required_claims: tuple[str, ...] = REQUIRED_CLAIMS
    #: Allowed algorithms, a subset of ES256, RS256 and EdDSA. HMAC and none never are.
    algorithms: frozenset[str] = ALGORITHMS
    #: Larger tokens are refused before anything is decoded.
    max_token_bytes: int = 8192
    #: Who this verifier is. A token with an ``aud`` claim is accepted only if one of its
    #: values is listed (RFC 7519 §4.1.3); None accepts only tokens without ``aud``.
    audience: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.issuer, str) or not self.issuer:
            raise ConfigurationError("issuer must be a non-empty string, the exact iss expected")
        if isinstance(self.algorithms, str):
            raise ConfigurationError("algorithms must be a set of names, e.g. {'ES256'}")
        algorithms = frozenset(self.algorithms)
        if not algorithms or not algorithms <= ALGORITHMS:
            refused = sorted(str(alg) for alg in algorithms - ALGORITHMS)
            raise ConfigurationError(
                f"algorithms {refused} cannot be allowed; choose a non-empty subset of "
                "ES256, RS256 and EdDSA (HMAC and 'none' are never accepted)"
            )
        object.__setattr__(self, "algorithms", algorithms)
        parties = self.authorized_parties
        if parties is not None:
            if (
                isinstance(parties, str)
                or not parties
                or not all(isinstance(p, str) for p in parties)
            ):
                raise ConfigurationError(
                    "authorized_parties must be None (no azp check) or a non-empty set of "
                    "origins, e.g. {'https://app.example.com'}"
                )
            object.__setattr__(self, "authorized_parties", frozenset(parties))
        audience = self.audience
        if audience is not None:
            if (
                isinstance(audience, str)
                or not audience
                or not all(isinstance(a, str) and a for a in audience)
            ):
                raise ConfigurationError(
                    "audience must be None or a non-empty set of names, e.g. {'reports-service'}"
                )
            object.__setattr__(self, "audience", frozenset(audience))
        if type(self.leeway) is not int or self.leeway < 0:
            raise ConfigurationError(
                f"leeway must be a whole number of seconds >= 0, not {self.leeway!r}"
            )
        if isinstance(self.required_claims, str):
            raise ConfigurationError("required_claims must be a tuple of claim names")
        required = tuple(self.required_claims)
        missing = [name for name in _ALWAYS_REQUIRED if name not in required]
        if missing or not all(isinstance(name, str) for name in required):
            raise ConfigurationError(
                f"required_claims must be claim names including {list(_ALWAYS_REQUIRED)}"
            )
        object.__setattr__(self, "required_claims", required)
        if type(self.max_token_bytes) is not int or self.max_token_bytes <= 0:
            raise ConfigurationError("max_token_bytes must be a positive integer")


class VerifiedToken(NamedTuple):
    """A token that passed every check: an immutable value. ``header`` and ``claims`` are
    read-only views.

    Nested values inside ``claims`` are shared with the verified-token cache: never mutate
    them.
    """

    #: The exact token string.
    token: str
    #: Its JOSE header (``alg``, ``kid``, ``typ``...).
    header: Mapping[str, Any]
    #: Every claim of the payload.
    claims: Mapping[str, Any]
    #: ``exp``, ``iat`` and ``nbf``: integer seconds since the epoch; only ``nbf`` may be
    #: absent (None).
    exp: int
    iat: int
    nbf: int | None
    #: ``sub``, ``sid`` and ``azp`` when present.
    sub: str | None
    sid: str | None
    azp: str | None


class TimeBounds(NamedTuple):
    """The checks that run on every request, cached or not (time passes; the transport
    changes), as precomputed bounds of one verified token: written once, used by the
    verifier's cache and by the middleware's hot cache."""

    expires_at: int  # exp + leeway
    not_before: int | None  # nbf - leeway
    iat_limit: int  # iat - leeway
    needs_azp_for_cookie: bool

    def refusal(self, now: float, from_cookie: bool) -> str | None:
        """The reason a request at ``now`` is refused (azp/cookie, then times), or None."""
        if from_cookie and self.needs_azp_for_cookie:
            return "token-invalid-authorized-party"
        if now >= self.expires_at:
            return "token-expired"
        if self.not_before is not None and now < self.not_before:
            return "token-not-active-yet"
        if now < self.iat_limit:
            return "token-iat-in-the-future"
        return None


_REFUSALS = {
    "token-invalid-authorized-party": "a cookie token must carry azp",
    "token-expired": "the token has expired",
    "token-not-active-yet": "the token is not valid yet (nbf)",
    "token-iat-in-the-future": "the token was issued in the future (iat)",
}


class _Entry(NamedTuple):
    """A cache entry: the verified token, the key that verified it, and its bounds."""

    verified: VerifiedToken
    key: PublicKey
    bounds: TimeBounds


_make_verified = VerifiedToken._make


class TokenVerifier:
    """Verifies session tokens against :class:`VerifyOptions`, remembering verified ones.

    The cache is a bounded ``cachetools.FIFOCache`` (``cache_size`` entries, 0 disables it)
    keyed by the exact token string. A hit costs a dictionary lookup plus the checks that
    depend on the request: the key that verified the token must still be in the key set,
    the cookie/azp rule, and the time checks; signature, parsing and issuer are skipped. An
    entry is never served at or after ``exp + leeway``: the hit that finds it expired
    evicts it. Refusals are never cached.

    FIFO rather than LRU or TLRU: reads reorder nothing, so hits are lock-free and cheaper
    than a TLRU lookup, and since tokens are short-lived the oldest inserted is nearly
    always the nearest to expiry. Writes take a lock, so one verifier may be shared by
    threads. (Not the plain ``cachetools.Cache``, although its dict also evicts the first
    inserted: once full, every eviction scans the dict's deleted slots from the front,
    which makes insertions slower than FIFOCache's; benchmarks/ measures the costs.)
    """

    def __init__(
        self,
        options: VerifyOptions,
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = 10_000,
    ) -> None:
        """``clock`` returns seconds since the epoch; tests inject one."""
        if not isinstance(options, VerifyOptions):
            raise ConfigurationError("options must be a VerifyOptions")
        if type(cache_size) is not int or cache_size < 0:
            raise ConfigurationError(f"cache_size must be an integer >= 0, not {cache_size!r}")
        self.options = options
        self._clock = clock
        self._cache: FIFOCache[str, _Entry] = FIFOCache(maxsize=max(cache_size, 1))
        self._cache_enabled = cache_size > 0
        self._lock = threading.Lock()
        self._headers = HeaderCache()
        self._required = frozenset(options.required_claims)

    @property
    def cache_len(self) -> int:
        """How many verified tokens are cached."""
        return len(self._cache)

    def clear_cache(self) -> None:
        """Forget every verified token (e.g. after removing a compromised key)."""
        with self._lock:
            self._cache.clear()

    def verify(self, token: str, keys: KeySet, *, from_cookie: bool = False) -> VerifiedToken:
        """Return the verified token or raise ``TokenError(reason)`` (see the module doc).

        ``from_cookie`` is True for a token read from a cookie: then, when authorized
        parties are configured, a token without ``azp`` is refused (CSRF defence).
        """
        entry = self._cached(token)
        if entry is None:
            return self._verify_cold(token, keys, from_cookie)
        key = entry.key
        found = keys.get(key.kid)
        if found is not key and found != key:
            # The key set no longer holds the key that verified this token.
            self._evict(token)
            return self._verify_cold(token, keys, from_cookie)
        self._check_request(token, entry, from_cookie)
        return entry.verified

    def _cached(self, token: object) -> _Entry | None:
        """The cache entry of ``token``, or None. One membership test when it is absent."""
        cache = self._cache
        if type(token) is not str or token not in cache:
            return None
        try:
            return cache[token]
        except KeyError:  # evicted by another thread since the line above
            return None

    def _check_request(self, token: str, entry: _Entry, from_cookie: bool) -> None:
        """The checks that run on every verification, cached or not: azp/cookie, then times."""
        reason = entry.bounds.refusal(self._clock(), from_cookie)
        if reason is not None:
            if reason == "token-expired":
                self._evict(token)
            _refuse(reason, _REFUSALS[reason])

    def bounds(self, verified: VerifiedToken) -> TimeBounds:
        """The per-request checks of ``verified`` under this verifier's options (leeway,
        authorized parties), for a cache that serves it again: see :class:`TimeBounds`."""
        leeway = self.options.leeway
        nbf = verified.nbf
        return TimeBounds(
            verified.exp + leeway,
            None if nbf is None else nbf - leeway,
            verified.iat - leeway,
            self.options.authorized_parties is not None and verified.azp is None,
        )

    def remember(self, signed: SignedToken) -> VerifiedToken:
        """Cache a token the issuing side has just signed (:func:`sign_token`), unverified.

        For the issuing side, which need not pay for a signature check of its own token:
        it passes what :func:`sign_token` returned, never a string, so no token from a
        request can reach the cache this way. The claim policy and time checks still run;
        a token already cached is returned as is.
        """
        if not isinstance(signed, SignedToken):
            raise TypeError("remember() takes the SignedToken that sign_token() returned")
        cached = self._cached(signed.token)
        if cached is not None:
            return cached.verified
        header = MappingProxyType(dict(signed.header))
        return self._accept(signed.token, header, dict(signed.claims), signed.key, False)

    def _verify_cold(self, token: str, keys: KeySet, from_cookie: bool) -> VerifiedToken:
        options = self.options
        header, payload, key = _decode(
            token, keys, options.algorithms, options.max_token_bytes, self._headers
        )
        return self._accept(token, header, _json_object(payload, "payload"), key, from_cookie)

    def _accept(
        self,
        token: str,
        header: Mapping[str, Any],
        claims: dict[str, Any],
        key: PublicKey,
        from_cookie: bool,
    ) -> VerifiedToken:
        """Claims, issuer, azp and times of a token whose signature and payload are trusted."""
        options = self.options
        if not self._required <= claims.keys():
            missing = [name for name in options.required_claims if name not in claims]
            _refuse("token-missing-claim", f"claim {missing[0]!r} is missing")
        get = claims.get
        exp, iat, nbf, iss = claims["exp"], claims["iat"], get("nbf"), claims["iss"]
        sub, sid, azp = get("sub"), get("sid"), get("azp")
        # NumericDate integers (bool and float refused); a present null is as wrong as a 1.
        if (
            type(exp) is not int
            or type(iat) is not int
            or (type(nbf) is not int and (nbf is not None or "nbf" in claims))
        ):
            _refuse("token-invalid-claim", "exp, iat and nbf must be integers (NumericDate)")
        if (
            type(iss) is not str
            or (type(sub) is not str and (sub is not None or "sub" in claims))
            or (type(sid) is not str and (sid is not None or "sid" in claims))
            or (type(azp) is not str and (azp is not None or "azp" in claims))
        ):
            wrong = [
                name for name in _STRING_CLAIMS if name in claims and type(get(name)) is not str
            ]
            _refuse("token-invalid-claim", f"claim {wrong[0]!r} must be a string")
        if iss != options.issuer:
            _refuse("token-invalid-issuer", "iss is not the configured issuer")
        if "aud" in claims:
            _check_audience(claims["aud"], options.audience)
        parties = options.authorized_parties
        if parties is not None and azp is not None and azp not in parties:
            _refuse("token-invalid-authorized-party", "azp is not an authorized party")
        verified = _make_verified(
            (token, header, MappingProxyType(claims), exp, iat, nbf, sub, sid, azp)
        )
        entry = _Entry(verified, key, self.bounds(verified))
        self._check_request(token, entry, from_cookie)
        if self._cache_enabled:
            with self._lock:
                self._cache[token] = entry
        return verified

    def _evict(self, token: str) -> None:
        with self._lock:
            self._cache.pop(token, None)


def _check_audience(aud: object, audience: frozenset[str] | None) -> None:
    """RFC 7519 §4.1.3: a verifier not named in a present ``aud`` must refuse the token."""
    values = [aud] if type(aud) is str else aud
    if type(values) is not list or not values or not all(type(v) is str for v in values):
        _refuse("token-invalid-claim", "aud must be a string or a non-empty list of strings")
    if audience is None or audience.isdisjoint(values):
        _refuse("token-invalid-audience", "this verifier is not in the token's aud")
