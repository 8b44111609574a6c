"""The compact JWS layer of session tokens: strict parsing, header rules, alg/kid, signature;
and signing (:func:`encode_token`).

Everything up to and including the signature check, and nothing about the claims (that is
:mod:`.tokens`, which re-exports :func:`decode_jws`, :func:`unverified_header` and
:func:`encode_token`). The
checks run in the order :mod:`.tokens` documents (size, structure, header, alg/kid,
signature) and refuse with the same :class:`~sessionclaims._errors.TokenError` reasons.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Mapping
from typing import Any, NoReturn

from cachetools import TTLCache

from ._b64 import NOT_COMPACT, b64url_encode, decode_checked, is_canonical
from ._errors import TokenError
from ._json import JSONError, dumps_compact, loads_strict
from .keys import ALGORITHMS, KeySet, PublicKey, SigningKey

__all__ = ["decode_jws", "encode_token", "unverified_header"]

_REFUSED_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "b64"})
# Parsed headers of tokens whose signature verified, by their exact base64url bytes: every
# token signed by one key has the same header, so a new token skips parsing it. Only
# verified headers enter, so forged tokens cannot fill it; cleared when full. Read-only.
_HEADERS: dict[bytes, dict[str, Any]] = {}
_HEADERS_MAX = 256


def _refuse(reason: str, message: str) -> NoReturn:
    raise TokenError(reason, message)


def _parse(token: str, max_token_bytes: int) -> tuple[list[bytes], dict[str, Any]]:
    """Size, structure and header; nothing verified yet. Returns the three parts as bytes."""
    if type(token) is not str:
        _refuse("token-malformed", f"a token must be a str, not {type(token).__name__}")
    if not token.isascii():
        if len(token.encode("utf-8", "surrogatepass")) > max_token_bytes:
            _refuse("token-too-large", f"the token is larger than {max_token_bytes} bytes")
        _refuse("token-malformed", "a token is ASCII: base64url parts joined by '.'")
    if len(token) > max_token_bytes:
        _refuse("token-too-large", f"the token is larger than {max_token_bytes} bytes")
    raw = token.encode("ascii")
    parts = raw.split(b".")
    if len(parts) != 3 or not parts[0] or raw.translate(None, NOT_COMPACT):
        _refuse("token-malformed", "a token is three base64url parts (A-Za-z0-9_-) joined by '.'")
    header = _HEADERS.get(parts[0])  # a header seen in a verified token: known canonical
    if not (
        (header is not None or is_canonical(parts[0]))
        and is_canonical(parts[1])
        and is_canonical(parts[2])
    ):
        _refuse("token-malformed", "a part has an impossible length or non-zero trailing bits")
    if header is not None:
        return parts, header
    try:
        header = loads_strict(decode_checked(parts[0]))
    except JSONError as exc:
        _refuse("token-malformed", f"header: {exc}")
    if type(header) is not dict:
        _refuse("token-malformed", "the header is not a JSON object")
    return parts, header


def unverified_header(token: str, *, max_token_bytes: int = 8192) -> dict[str, Any]:
    """The header of a well-formed token, **not verified**: only to pick a key (``kid``).

    Raises ``TokenError`` (``token-too-large`` or ``token-malformed``) like :func:`decode_jws`.
    """
    return dict(_parse(token, max_token_bytes)[1])


def _decode(
    token: str, keys: KeySet, algorithms: frozenset[str], max_token_bytes: int
) -> tuple[dict[str, Any], bytes, PublicKey]:
    """The JWS layer: size, structure, header, alg/kid, signature; then the payload bytes."""
    parts, header = _parse(token, max_token_bytes)
    if not _REFUSED_HEADERS.isdisjoint(header):
        names = sorted(_REFUSED_HEADERS.intersection(header))
        _refuse("token-header-not-allowed", f"header parameters {names} are not allowed")
    if "crit" in header:
        _refuse("token-critical-header-unsupported", "no critical header extension is supported")
    alg = header.get("alg")
    if type(alg) is not str or alg not in algorithms:
        _refuse("token-algorithm-not-allowed", f"alg {alg!r} is not allowed")
    kid = header.get("kid")
    key = keys.get(kid) if type(kid) is str else None
    if key is None:
        _refuse("token-unknown-key", f"no key with kid {kid!r}")
    if key.alg != alg:
        _refuse("token-algorithm-not-allowed", f"alg {alg!r} is not the alg of key {kid!r}")
    header_b64, payload_b64, signature_b64 = parts
    if not key.verify(decode_checked(signature_b64), b"%b.%b" % (header_b64, payload_b64)):
        _refuse("token-invalid-signature", "the signature does not verify")
    if header_b64 not in _HEADERS:
        if len(_HEADERS) >= _HEADERS_MAX:
            _HEADERS.clear()
        _HEADERS[header_b64] = header
    return header, decode_checked(payload_b64), key


def decode_jws(
    token: str,
    keys: KeySet,
    *,
    algorithms: frozenset[str] = ALGORITHMS,
    max_token_bytes: int = 8192,
) -> tuple[dict[str, Any], bytes]:
    """Verify the JWS layer only and return ``(header, payload bytes)``; raise TokenError.

    The payload is not parsed: it may be any bytes. ``algorithms`` is intersected with
    ES256, RS256 and EdDSA, so HMAC and ``none`` can never pass.
    """
    header, payload, _ = _decode(token, keys, algorithms & ALGORITHMS, max_token_bytes)
    return dict(header), payload


# Tokens encode_token signed recently, with the public key of their signer, their header
# and the claims it serialized: the only tokens TokenVerifier.remember() accepts. Bounded
# in size and age. (The claims dict is a top-level copy; nested values are shared, as they
# are in VerifiedToken: never mutate them.)
_Minted = tuple[PublicKey, dict[str, Any], dict[str, Any]]
_MINTED: TTLCache[str, _Minted] = TTLCache(maxsize=4096, ttl=300, timer=time.monotonic)
_MINTED_LOCK = threading.Lock()


@functools.lru_cache(maxsize=64)
def _header_segment(alg: str, kid: str) -> str:
    return b64url_encode(dumps_compact({"alg": alg, "kid": kid, "typ": "JWT"}).encode("utf-8"))


def encode_token(claims: Mapping[str, Any], key: SigningKey) -> str:
    """Sign ``claims`` into a compact JWS with header ``{"alg", "kid", "typ": "JWT"}``.

    Claims are serialized as compact JSON (TypeError/ValueError if they cannot be: NaN,
    non-JSON types, lone surrogates).
    """
    snapshot = dict(claims)
    payload = b64url_encode(dumps_compact(snapshot).encode("utf-8"))
    signing_input = f"{_header_segment(key.alg, key.kid)}.{payload}"
    signature = key.sign(signing_input.encode("ascii"))
    token = f"{signing_input}.{b64url_encode(signature)}"
    header = {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
    with _MINTED_LOCK:
        _MINTED[token] = (key.public_key, header, snapshot)
    return token
