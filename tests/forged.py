"""Forged, malformed and policy-breaking session tokens, each with the reason it must be refused.

Shared by the verifier tests (``test_tokens.py``), the differential tests and the middleware
tests, which send every token both as a Bearer token and as the ``__session`` cookie::

    from tests.forged import forged_tokens, forged_cookie_tokens, signing_key

    for name, token, reason in forged_tokens(signing_key("ES256"), now=int(clock())):
        ...  # refused with `reason`, whatever the transport
    for name, token, reason in forged_cookie_tokens(signing_key("ES256"), now=int(clock())):
        ...  # refused with `reason` from a cookie, accepted as a Bearer token

The expected reasons hold for a verifier configured like :func:`reference_options` (issuer,
authorized parties ``{authorized_party}`` or none, default leeway of 5 s, algorithms and
8192-byte limit), whose clock reads ``now`` and whose key set is ``KeySet([key.public_key])``.

Tokens named in :data:`TRANSPORT_UNSAFE` hold characters (whitespace, NUL, non-ASCII) that an
HTTP header or a cookie cannot carry unchanged; transports may refuse or alter them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sessionclaims.keys import SigningKey
from sessionclaims.tokens import VerifyOptions

KEYS_DIR = Path(__file__).parent / "keys"
ISSUER = "https://auth.example.com"
AUTHORIZED_PARTY = "https://app.example.com"
NOW = 1_800_000_000
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
TRANSPORT_UNSAFE = frozenset(
    {
        "whitespace-leading-space",
        "whitespace-trailing-newline",
        "whitespace-inside-payload",
        "whitespace-tab-in-signature",
        "non-ascii-character",
        "control-char-nul",
    }
)
_KEY_FILES = {"ES256": "ec256", "RS256": "rsa2048", "EdDSA": "ed25519"}


class Forged(NamedTuple):
    """One corpus entry: a short name, the token, and the ``TokenError.reason`` expected."""

    name: str
    token: str
    reason: str


class RawJSON(str):
    """A value written into a JSON text as is (``NaN``, ``1e400``, invalid escapes...)."""


@functools.cache
def signing_key(alg: str = "ES256", variant: str = "a") -> SigningKey:
    """A test key from ``tests/keys`` (variants ``a`` and ``b``): fast and deterministic."""
    return SigningKey.from_pem((KEYS_DIR / f"{_KEY_FILES[alg]}-{variant}.pem").read_bytes())


def reference_options(
    issuer: str = ISSUER, authorized_party: str | None = AUTHORIZED_PARTY
) -> VerifyOptions:
    """The verifier configuration the expected reasons are computed for."""
    parties = frozenset({authorized_party}) if authorized_party else None
    return VerifyOptions(issuer=issuer, authorized_parties=parties)


def b64(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_object(pairs: list[tuple[str, Any]]) -> bytes:
    """A JSON object from ``(name, value)`` pairs, duplicates and :class:`RawJSON` kept."""
    members = [
        json.dumps(name) + ":" + (value if isinstance(value, RawJSON) else json.dumps(value))
        for name, value in pairs
    ]
    return ("{" + ",".join(members) + "}").encode("utf-8")


def _encoded(part: dict[str, Any] | bytes) -> str:
    return b64(part if isinstance(part, bytes) else json.dumps(part).encode("utf-8"))


def sign(
    header: dict[str, Any] | bytes | str,
    payload: dict[str, Any] | bytes | str,
    key: SigningKey,
) -> str:
    """A compact JWS signed by ``key``; a ``str`` part is used as an already encoded segment."""
    header_segment = header if isinstance(header, str) else _encoded(header)
    payload_segment = payload if isinstance(payload, str) else _encoded(payload)
    signing_input = f"{header_segment}.{payload_segment}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode('ascii')))}"


def sign_hmac(header: dict[str, Any], payload: dict[str, Any] | bytes, secret: bytes) -> str:
    """A compact JWS with an HMAC (HS256/384/512 from ``header['alg']``) over ``secret``."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    signing_input = f"{_encoded(header)}.{_encoded(payload)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), digest[header["alg"]]).digest()
    return f"{signing_input}.{b64(mac)}"


def header_for(key: SigningKey, **extra: Any) -> dict[str, Any]:
    """The header our signer writes, plus ``extra`` members."""
    return {"alg": key.alg, "kid": key.kid, "typ": "JWT", **extra}


def valid_claims(
    *, issuer: str = ISSUER, now: int = NOW, authorized_party: str | None = AUTHORIZED_PARTY
) -> dict[str, Any]:
    """Claims of a session token the reference verifier accepts at ``now``."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": "user_2x8KbT",
        "sid": "sess_9QmZr1",
        "iat": now,
        "nbf": now - 5,
        "exp": now + 60,
        "v": 1,
        "ver": 3,
        "metadata": {"role": "admin"},
    }
    if authorized_party:
        claims["azp"] = authorized_party
    return claims


def valid_token(key: SigningKey, **claims_options: Any) -> str:
    """A token the reference verifier accepts (see :func:`valid_claims`)."""
    return sign(header_for(key), valid_claims(**claims_options), key)


def noncanonical(segment: str) -> str:
    """The same bytes with non-zero unused trailing bits: lenient decoders see no change."""
    assert len(segment) % 4 in (2, 3), "only a partial last group has unused bits"
    return segment[:-1] + ALPHABET[ALPHABET.index(segment[-1]) + 1]


def _segment_with_partial_group(obj: dict[str, Any]) -> str:
    """Encode ``obj``, padding a filler member until the last base64 group is partial."""
    for filler in range(4):
        segment = _encoded({**obj, "pad": "x" * filler})
        if len(segment) % 4 == 2:
            return segment
    raise AssertionError("unreachable: four consecutive lengths cover every remainder")


def _other_key(alg: str) -> SigningKey:
    return signing_key("EdDSA" if alg != "EdDSA" else "ES256")


def _sized_token(key: SigningKey, claims: dict[str, Any], size: int) -> str:
    """A valid token of at least ``size`` characters (at most a few more)."""
    filler = 0
    while True:
        token = sign(header_for(key), {**claims, "blob": "x" * filler}, key)
        if len(token) >= size:
            return token
        filler += max(1, (size - len(token)) * 3 // 4)


def forged_tokens(
    key: SigningKey,
    *,
    issuer: str = ISSUER,
    now: int = NOW,
    authorized_party: str | None = AUTHORIZED_PARTY,
) -> list[Forged]:
    """Tokens the reference verifier refuses from any transport, with the expected reason."""
    good = valid_claims(issuer=issuer, now=now, authorized_party=authorized_party)
    header = header_for(key)
    token = sign(header, good, key)
    header_segment, payload_segment, signature = token.split(".")
    signature_bytes = base64.urlsafe_b64decode(signature + "==")
    pairs = list(good.items())
    out: list[Forged] = []

    def add(name: str, forged: str, reason: str) -> None:
        out.append(Forged(name, forged, reason))

    def hdr(**extra: Any) -> dict[str, Any]:
        return header_for(key, **extra)

    def signed(head: dict[str, Any] | bytes | str, payload: Any = None) -> str:
        return sign(head, good if payload is None else payload, key)

    def with_signature(new_signature: str) -> str:
        return f"{header_segment}.{payload_segment}.{new_signature}"

    def replaced(name: str, value: Any) -> bytes:
        return raw_object([(k, v) for k, v in pairs if k != name] + [(name, value)])

    def claims(reason: str, name: str, **changes: Any) -> None:
        body = {**good, **changes}
        add(name, signed(header, {k: v for k, v in body.items() if v is not _DROP}), reason)

    # -- size, before anything is decoded
    add("too-large-120kb", _sized_token(key, good, 120_000), "token-too-large")
    add("too-large-just-over-8192", _sized_token(key, good, 8193), "token-too-large")

    # -- structure: three strict base64url parts
    malformed = "token-malformed"
    add("empty-string", "", malformed)
    add("one-part", header_segment, malformed)
    add("two-parts", f"{header_segment}.{payload_segment}", malformed)
    add("four-parts", token + ".e30", malformed)
    add("extra-empty-part", token + ".", malformed)
    add("empty-header", f".{payload_segment}.{signature}", malformed)
    add("padding-in-signature", token + "=" * (4 - len(signature) % 4), malformed)
    add("padding-in-header", f"{header_segment}==.{payload_segment}.{signature}", malformed)
    add("whitespace-leading-space", " " + token, malformed)
    add("whitespace-trailing-newline", token + "\n", malformed)
    middle = len(payload_segment) // 2
    spaced = f"{payload_segment[:middle]} {payload_segment[middle:]}"
    add("whitespace-inside-payload", f"{header_segment}.{spaced}.{signature}", malformed)
    add("whitespace-tab-in-signature", with_signature("\t" + signature), malformed)
    add("bad-char-plus", with_signature("+" + signature[1:]), malformed)
    add("bad-char-slash", with_signature("/" + signature[1:]), malformed)
    add("bad-char-question-mark", f"{header_segment}?.{payload_segment}.{signature}", malformed)
    # '+' and '/' are standard base64, not base64url: decoders given altchars="-_" still
    # accept them (CPython gh-125346), in every part.
    add(
        "bad-char-plus-in-payload",
        f"{header_segment}.+{payload_segment[1:]}.{signature}",
        malformed,
    )
    add(
        "bad-char-slash-in-header",
        f"/{header_segment[1:]}.{payload_segment}.{signature}",
        malformed,
    )
    add("padding-inside-payload", f"{header_segment}.{payload_segment}=.{signature}", malformed)
    add("bad-char-bang", with_signature(signature[:-2] + "!" + signature[-1]), malformed)
    add("control-char-nul", f"{header_segment}.{payload_segment}\x00.{signature}", malformed)
    add("non-ascii-character", f"{header_segment}.{payload_segment}\u00e9.{signature}", malformed)
    standard = signature.translate(str.maketrans("-_", "+/"))  # ES256 signatures are random
    standard = standard if standard != signature else "+" + signature[1:]
    add("standard-base64-signature", with_signature(standard), malformed)
    add("length-1-mod-4", with_signature(signature + "A" * ((1 - len(signature)) % 4)), malformed)
    add("noncanonical-signature-bits", with_signature(noncanonical(signature)), malformed)
    partial = _segment_with_partial_group(good)
    add("noncanonical-payload-bits", signed(header, noncanonical(partial)), malformed)
    partial = _segment_with_partial_group(header)
    add("noncanonical-header-bits", signed(noncanonical(partial)), malformed)

    # -- header and payload: strict JSON objects (signed, so only parsing refuses them)
    kid = json.dumps(key.kid)
    add("header-not-json", signed(b"not json"), malformed)
    add("header-json-array", signed(b'["alg","ES256"]'), malformed)
    add("header-json-string", signed(json.dumps(key.alg).encode()), malformed)
    add(
        "header-duplicate-alg",
        signed(f'{{"alg":"{key.alg}","kid":{kid},"alg":"none"}}'.encode()),
        malformed,
    )
    add(
        "header-duplicate-kid",
        signed(f'{{"alg":"{key.alg}","kid":"x","kid":{kid}}}'.encode()),
        malformed,
    )
    add("header-invalid-utf8", signed(b'{"alg":"\xff","kid":' + kid.encode() + b"}"), malformed)
    add("header-byte-order-mark", signed(b"\xef\xbb\xbf" + json.dumps(header).encode()), malformed)
    add("payload-empty", signed(header, b""), malformed)
    add("payload-not-json", signed(header, b"foo"), malformed)
    add("payload-json-array", signed(header, json.dumps([good]).encode()), malformed)
    add("payload-json-number", signed(header, b"1800000060"), malformed)
    evil_first = raw_object([("iss", "https://evil.example"), *pairs])
    add("payload-duplicate-iss-last-wins", signed(header, evil_first), malformed)
    add(
        "payload-duplicate-sub",
        signed(header, raw_object([*pairs, ("sub", "user_admin")])),
        malformed,
    )
    nested_dup = replaced("metadata", RawJSON('{"role":"user","role":"admin"}'))
    add("payload-duplicate-nested-member", signed(header, nested_dup), malformed)
    add("payload-exp-nan", signed(header, replaced("exp", RawJSON("NaN"))), malformed)
    add("payload-exp-infinity", signed(header, replaced("exp", RawJSON("Infinity"))), malformed)
    add("payload-exp-1e400", signed(header, replaced("exp", RawJSON("1e400"))), malformed)
    add("payload-exp-5000-digits", signed(header, replaced("exp", RawJSON("9" * 5000))), malformed)
    deep = RawJSON("[" * 100 + "]" * 100)
    add("payload-nested-100-deep", signed(header, replaced("x", deep)), malformed)
    surrogate = replaced("name", RawJSON('"\\ud800"'))
    add("payload-lone-surrogate", signed(header, surrogate), malformed)
    invalid_utf8 = raw_object(pairs)[:-1] + b',"name":"\xc3\x28"}'
    add("payload-invalid-utf8", signed(header, invalid_utf8), malformed)

    # -- header parameters that are never followed, and crit
    not_allowed = "token-header-not-allowed"
    jwk = _other_key(key.alg).public_key.to_jwk()
    add("header-jku", signed(hdr(jku="https://evil.example/jwks.json")), not_allowed)
    add("header-x5u", signed(hdr(x5u="https://evil.example/cert.pem")), not_allowed)
    add("header-embedded-jwk", signed(hdr(jwk=jwk)), not_allowed)
    add("header-x5c", signed(hdr(x5c=["MIIBszCCAVmgAwIBAgIU"])), not_allowed)
    add("header-b64-false", signed(hdr(b64=False)), not_allowed)
    critical = "token-critical-header-unsupported"
    add("header-crit-unknown", signed(hdr(crit=["exp"], exp=now + 60)), critical)
    add("header-crit-empty", signed(hdr(crit=[])), critical)

    # -- algorithm: allowlist, and bound to the key named by kid
    refused_alg = "token-algorithm-not-allowed"
    for alg in ("none", "None", "NONE", "nOnE"):
        add(f"alg-{alg}-empty-signature", sign_none(hdr(alg=alg), good), refused_alg)
    none_header = _encoded(hdr(alg="none"))
    add(
        "alg-none-with-valid-signature", f"{none_header}.{payload_segment}.{signature}", refused_alg
    )
    add("alg-none-with-unknown-kid", sign_none(hdr(alg="none", kid="nope"), good), refused_alg)
    pem = key.public_key.to_pem()
    for alg in ("HS256", "HS384", "HS512"):
        confused = sign_hmac(hdr(alg=alg), good, pem)
        add(f"alg-{alg}-public-key-pem-as-secret", confused, refused_alg)
    jwk_secret = json.dumps(key.public_key.to_jwk()).encode()
    add(
        "alg-HS256-public-jwk-as-secret", sign_hmac(hdr(alg="HS256"), good, jwk_secret), refused_alg
    )
    other = _other_key(key.alg)
    add("alg-mismatch-with-kid-key", sign(hdr(alg=other.alg), good, other), refused_alg)
    for alg in ("PS256", "RS384", "RS512", "ES384", "ES512", "ES256K", "Ed25519", "es256", ""):
        add(f"alg-{alg or 'empty'}-not-allowed", signed(hdr(alg=alg)), refused_alg)
    add("alg-missing", signed({k: v for k, v in header.items() if k != "alg"}), refused_alg)
    add("alg-not-a-string", signed(hdr(alg=[key.alg])), refused_alg)

    # -- kid
    unknown_key = "token-unknown-key"
    add("kid-missing", signed({k: v for k, v in header.items() if k != "kid"}), unknown_key)
    add("kid-unknown", signed(hdr(kid="kid-that-does-not-exist")), unknown_key)
    add("kid-extended", signed(hdr(kid=key.kid + "x")), unknown_key)
    add("kid-not-a-string", signed(hdr(kid=123)), unknown_key)
    add("kid-null", signed(hdr(kid=None)), unknown_key)
    add("kid-path-traversal", signed(hdr(kid="../../../../etc/passwd")), unknown_key)

    # -- signature
    invalid = "token-invalid-signature"
    flipped = bytearray(signature_bytes)
    flipped[len(flipped) // 2] ^= 0x01
    add("signature-flipped-bit", with_signature(b64(bytes(flipped))), invalid)
    add("signature-empty", with_signature(""), invalid)
    add("signature-truncated", with_signature(signature[: len(signature) // 4 * 4 - 4]), invalid)
    other_token = signed(header, {**good, "sid": "sess_other"})
    add("signature-of-another-token", with_signature(other_token.split(".")[2]), invalid)
    add("signature-all-zero", with_signature(b64(bytes(len(signature_bytes)))), invalid)
    add("signature-by-another-key-same-kid", sign(header, good, signing_key(key.alg, "b")), invalid)
    if key.alg == "ES256":
        r, s = signature_bytes[:32], signature_bytes[32:]
        der = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
        add("signature-es256-der-encoded", with_signature(b64(der)), invalid)

    # -- claims: present and well-typed
    missing = "token-missing-claim"
    for name in ("exp", "iat", "iss", "sub", "sid"):
        claims(missing, f"claim-{name}-missing", **{name: _DROP})
    wrong = "token-invalid-claim"
    claims(wrong, "exp-string", exp=str(now + 60))
    claims(wrong, "exp-float", exp=float(now + 60))
    claims(wrong, "exp-bool", exp=True)
    claims(wrong, "exp-null", exp=None)
    claims(wrong, "exp-object", exp={"$date": now + 60})
    claims(wrong, "iat-bool", iat=True)
    claims(wrong, "iat-string", iat=str(now))
    claims(wrong, "iat-float", iat=now + 0.5)
    claims(wrong, "nbf-string", nbf=str(now - 5))
    claims(wrong, "nbf-float", nbf=now - 4.5)
    claims(wrong, "nbf-null", nbf=None)
    claims(wrong, "iss-not-a-string", iss=[issuer])
    claims(wrong, "sub-integer", sub=42)
    claims(wrong, "sub-null", sub=None)
    claims(wrong, "sid-list", sid=["sess_9QmZr1"])
    claims(wrong, "azp-integer", azp=1)

    # -- issuer: exact string equality
    bad_issuer = "token-invalid-issuer"
    claims(bad_issuer, "iss-wrong", iss="https://evil.example")
    claims(bad_issuer, "iss-prefix-of-issuer", iss=issuer[:-1])
    claims(bad_issuer, "iss-issuer-with-suffix", iss=issuer + ".evil.example")
    claims(bad_issuer, "iss-trailing-slash", iss=issuer + "/")
    claims(bad_issuer, "iss-issuer-inside", iss=f"https://evil.example/?{issuer}")
    claims(bad_issuer, "iss-different-case", iss=issuer.upper())
    claims(bad_issuer, "iss-empty", iss="")

    # -- audience: the reference verifier names no audience (RFC 7519 §4.1.3)
    claims("token-invalid-audience", "aud-for-another-service", aud="reports-service")
    claims("token-invalid-audience", "aud-list-for-others", aud=["a-service", "b-service"])
    claims(wrong, "aud-integer", aud=7)
    claims(wrong, "aud-empty-list", aud=[])
    claims(wrong, "aud-list-with-a-number", aud=["a-service", 7])

    # -- authorized party (when configured)
    if authorized_party:
        bad_party = "token-invalid-authorized-party"
        claims(bad_party, "azp-unlisted", azp="https://evil.example")
        claims(bad_party, "azp-prefix-of-listed", azp=authorized_party[:-1])
        claims(bad_party, "azp-listed-with-suffix", azp=authorized_party + ".evil.example")

    # -- times, with the default leeway of 5 s
    claims("token-expired", "expired-at-leeway-edge", exp=now - 5)
    claims("token-expired", "expired-long-ago", iat=now - 7200, nbf=now - 7205, exp=now - 3600)
    claims("token-not-active-yet", "nbf-in-the-future", nbf=now + 6)
    claims("token-iat-in-the-future", "iat-in-the-future", iat=now + 6)
    return out


def forged_cookie_tokens(
    key: SigningKey,
    *,
    issuer: str = ISSUER,
    now: int = NOW,
    authorized_party: str = AUTHORIZED_PARTY,
) -> list[Forged]:
    """Tokens refused only from a cookie (CSRF defence), accepted as Bearer tokens."""
    good = valid_claims(issuer=issuer, now=now, authorized_party=None)
    reason = "token-invalid-authorized-party"
    return [Forged("cookie-without-azp", sign(header_for(key), good, key), reason)]


def sign_none(header: dict[str, Any], payload: dict[str, Any]) -> str:
    """An unsigned token (``alg: none`` style): empty signature."""
    return f"{_encoded(header)}.{_encoded(payload)}."


class _Drop:
    def __repr__(self) -> str:
        return "<drop>"


_DROP: Any = _Drop()
