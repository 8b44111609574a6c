"""The compact JWS layer of session tokens: strict parsing, header rules, alg/kid, signature;
and signing (:func:`encode_token`).

Everything up to and including the signature check, and nothing about the claims (that is
:mod:`.tokens`, which re-exports :func:`decode_jws`, :func:`unverified_header` and
:func:`encode_token`). The
checks run in the order :mod:`.tokens` documents (size, structure, header, alg/kid,
signature) and refuse with the same :class:`~sessionclaims._errors.TokenError` reasons.
"""

from __future__ import annotations

import binascii
import functools
from binascii import a2b_base64
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, NoReturn

from ._b64 import PADDING, TO_STANDARD, b64url_encode, is_canonical
from ._errors import TokenError
from ._json import JSONError, dumps_compact, loads_strict
from .keys import ALGORITHMS, KeySet, PublicKey, SigningKey

__all__ = [
    "HeaderCache",
    "SignedToken",
    "decode_jws",
    "encode_token",
    "sign_token",
    "unverified_header",
]

_REFUSED_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "b64"})

# A header that passed every rule that does not depend on the verifier, with its read-only
# view, its alg (one of ALGORITHMS) and its kid (None unless a string).
_Header = tuple[dict[str, Any], Mapping[str, Any], str, str | None]
_HEADERS_MAX = 256


class HeaderCache:
    """Headers of tokens whose signature verified, by their exact base64 bytes.

    Every token signed by one key has the same header, so a new token skips decoding and
    checking it. Only verified headers enter, so forged tokens cannot fill it; bounded
    (cleared when full). Each :class:`~sessionclaims.tokens.TokenVerifier` owns one.
    """

    __slots__ = ("_headers",)

    def __init__(self) -> None:
        self._headers: dict[bytes, _Header] = {}

    def get(self, header_b64: bytes) -> _Header | None:
        """The checked header for these bytes, or None."""
        return self._headers.get(header_b64)

    def add(self, header_b64: bytes, header: _Header) -> None:
        """Remember a header whose token's signature verified."""
        if len(self._headers) >= _HEADERS_MAX:
            self._headers.clear()
        self._headers[header_b64] = header


def _refuse(reason: str, message: str) -> NoReturn:
    raise TokenError(reason, message)


def _shown(value: object) -> str:
    """A header value for an error message: its repr, at most 64 characters (it is input)."""
    text = repr(value)
    return text if len(text) <= 64 else text[:61] + "..."


def _refuse_size(token: object, max_token_bytes: int) -> NoReturn:
    """The reason a token failed the cheap first test (type, ASCII, length)."""
    if type(token) is not str:
        _refuse("token-malformed", f"a token must be a str, not {type(token).__name__}")
    if len(token.encode("utf-8", "surrogatepass")) > max_token_bytes:
        _refuse("token-too-large", f"the token is larger than {max_token_bytes} bytes")
    _refuse("token-malformed", "a token is ASCII: base64url parts joined by '.'")


def _split(token: str, max_token_bytes: int) -> tuple[bytes, list[bytes]]:
    """Size and structure: the token as bytes and its three parts in standard base64."""
    if type(token) is not str or len(token) > max_token_bytes or not token.isascii():
        _refuse_size(token, max_token_bytes)
    raw = token.encode("ascii")
    parts = raw.translate(TO_STANDARD).split(b".")
    if len(parts) != 3 or not parts[0]:
        _refuse("token-malformed", "a token is three base64url parts (A-Za-z0-9_-) joined by '.'")
    return raw, parts


def _decode_part(part: bytes) -> bytes:
    """One part (already through TO_STANDARD): canonical length and last char, then decode."""
    if not is_canonical(part):
        _refuse("token-malformed", "a part has an impossible length or non-zero trailing bits")
    try:
        return a2b_base64(part + PADDING[len(part) & 3], strict_mode=True)
    except binascii.Error:
        _refuse("token-malformed", "a part is not base64url (A-Za-z0-9_-, no padding)")


def _json_object(decoded: bytes, part: str) -> dict[str, Any]:
    """A decoded header or payload as a strict JSON object; ``token-malformed`` otherwise."""
    try:
        value = loads_strict(decoded)
    except JSONError as exc:
        _refuse("token-malformed", f"{part}: {exc}")
    if type(value) is not dict:
        _refuse("token-malformed", f"the {part} is not a JSON object")
    return value


def _header(decoded: bytes) -> _Header:
    """Parse a header and apply the rules that do not depend on the verifier."""
    header = _json_object(decoded, "header")
    if not _REFUSED_HEADERS.isdisjoint(header):
        names = sorted(_REFUSED_HEADERS.intersection(header))
        _refuse("token-header-not-allowed", f"header parameters {names} are not allowed")
    if "crit" in header:
        _refuse("token-critical-header-unsupported", "no critical header extension is supported")
    alg = header.get("alg")
    if type(alg) is not str or alg not in ALGORITHMS:
        _refuse("token-algorithm-not-allowed", f"alg {_shown(alg)} is not allowed")
    kid = header.get("kid")
    return header, MappingProxyType(header), alg, kid if type(kid) is str else None


def unverified_header(token: str, *, max_token_bytes: int = 8192) -> dict[str, Any]:
    """The header of a well-formed token, **not verified**: only to pick a key (``kid``).

    Raises ``TokenError`` (``token-too-large`` or ``token-malformed``) like :func:`decode_jws`.
    """
    _, (header_b64, payload_b64, signature_b64) = _split(token, max_token_bytes)
    # Every part's structure, as in _decode, whether or not the header is a known one.
    decoded = _decode_part(header_b64)
    _decode_part(payload_b64)
    _decode_part(signature_b64)
    return _json_object(decoded, "header")


def _decode(
    token: str,
    keys: KeySet,
    algorithms: frozenset[str],
    max_token_bytes: int,
    headers: HeaderCache | None = None,
) -> tuple[Mapping[str, Any], bytes, PublicKey]:
    """The JWS layer: size, structure, header, alg/kid, signature; then the payload bytes.

    Returns the header as a read-only view. The structure of every part (alphabet, length,
    last character) is checked before the header is parsed, so that a malformed token is
    ``token-malformed`` whatever its header says.
    """
    raw, (header_b64, payload_b64, signature_b64) = _split(token, max_token_bytes)
    known = headers.get(header_b64) if headers is not None else None
    header_bytes = b"" if known is not None else _decode_part(header_b64)
    payload = _decode_part(payload_b64)
    signature = _decode_part(signature_b64)
    header, view, alg, kid = known if known is not None else _header(header_bytes)
    if alg not in algorithms:
        _refuse("token-algorithm-not-allowed", f"alg {_shown(alg)} is not allowed")
    key = keys.get(kid) if kid is not None else None
    if key is None:
        named = f"no key with kid {_shown(kid)}" if kid is not None else "the header names no kid"
        _refuse("token-unknown-key", named)
    if key.alg != alg:
        _refuse("token-algorithm-not-allowed", f"alg {alg!r} is not the alg of key {_shown(kid)}")
    # The signing input is the token's own bytes up to the second dot.
    if not key.verify(signature, raw[: len(header_b64) + len(payload_b64) + 1]):
        _refuse("token-invalid-signature", "the signature does not verify")
    if known is None and headers is not None:
        headers.add(header_b64, (header, view, alg, kid))
    return view, payload, key


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


class SignedToken(NamedTuple):
    """A token :func:`sign_token` just signed, with what it serialized: the issuing side
    hands it to :meth:`~sessionclaims.tokens.TokenVerifier.remember`, which then need not
    parse or verify its own token. (``claims`` is a top-level copy; nested values are
    shared with the caller's: never mutate them.)"""

    token: str
    header: dict[str, Any]
    claims: dict[str, Any]
    key: PublicKey


@functools.lru_cache(maxsize=64)
def _header_segment(alg: str, kid: str) -> str:
    return b64url_encode(dumps_compact({"alg": alg, "kid": kid, "typ": "JWT"}).encode("utf-8"))


def sign_token(claims: Mapping[str, Any], key: SigningKey) -> SignedToken:
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
    return SignedToken(token, header, snapshot, key.public_key)


def encode_token(claims: Mapping[str, Any], key: SigningKey) -> str:
    """:func:`sign_token`, returning only the compact token."""
    return sign_token(claims, key).token
