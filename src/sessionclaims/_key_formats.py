"""Key formats: JWK members to and from ``cryptography`` keys, and PEM input.

JWKs (RFC 7517, RFC 7518 §6) are checked before use: ``kty`` (never ``oct``), ``use`` and
``key_ops``, member encodings and sizes, and for a private JWK the CRT members. PEM input
refuses certificates and explains encrypted or unusable private keys. Every problem is a
:class:`~sessionclaims._errors.KeyFormatError`; the key objects are :mod:`.keys`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ._b64 import b64url_decode, b64url_encode
from ._errors import KeyFormatError
from ._key_checks import MAX_RSA_BITS, SUPPORTED, PrivateKeyType, VerifyingKeyType

__all__ = [
    "check_jwk_usage",
    "jwk_kid",
    "load_private_pem",
    "pem_bytes",
    "private_from_jwk",
    "public_from_jwk",
    "public_members",
]

# No member of a key we accept is longer (the RSA modulus of MAX_RSA_BITS): a bound on
# the input's size, so that a hostile JWK cannot make us build a huge number.
_MAX_MEMBER_BYTES = MAX_RSA_BITS // 8

_NO_OCT = "symmetric (kty 'oct') keys are never accepted; use " + SUPPORTED


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def public_members(key: VerifyingKeyType) -> dict[str, str]:
    """The public JWK members of a key (``kty`` and its key members; nothing private)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        numbers = key.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
    if isinstance(key, rsa.RSAPublicKey):
        rsa_numbers = key.public_numbers()
        return {
            "kty": "RSA",
            "n": b64url_encode(_int_bytes(rsa_numbers.n)),
            "e": b64url_encode(_int_bytes(rsa_numbers.e)),
        }
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}


def _member_bytes(jwk: Mapping[str, Any], name: str, size: int | None = None) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise KeyFormatError(f"JWK member {name!r} is missing or not a string")
    if len(value) > _MAX_MEMBER_BYTES * 4 // 3 + 4:
        raise KeyFormatError(
            f"JWK member {name!r} is too long: RSA keys have at most {MAX_RSA_BITS} bits"
        )
    try:
        data = b64url_decode(value)
    except ValueError as exc:
        raise KeyFormatError(f"JWK member {name!r}: {exc}") from None
    if size is not None and len(data) != size:
        raise KeyFormatError(f"JWK member {name!r} must be {size} bytes, not {len(data)}")
    if not data:
        raise KeyFormatError(f"JWK member {name!r} is empty")
    return data


def _member_int(jwk: Mapping[str, Any], name: str) -> int:
    return int.from_bytes(_member_bytes(jwk, name), "big")


def check_jwk_usage(jwk: object, operation: Literal["verify", "sign"]) -> Mapping[str, Any]:
    """The JWK as a mapping if its ``kty``, ``use`` and ``key_ops`` allow ``operation``."""
    if not isinstance(jwk, Mapping):
        raise KeyFormatError(f"a JWK must be a JSON object, not {type(jwk).__name__}")
    kty = jwk.get("kty")
    if kty == "oct":
        raise KeyFormatError(_NO_OCT)
    if kty not in ("EC", "RSA", "OKP"):
        raise KeyFormatError(f"JWK kty {kty!r} is not supported; use {SUPPORTED}")
    use = jwk.get("use", "sig")
    if use != "sig":
        raise KeyFormatError(f"JWK use {use!r} is not for signatures (it must be 'sig')")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list | tuple) or operation not in key_ops):
        raise KeyFormatError(f"JWK key_ops {key_ops!r} does not allow {operation!r}")
    return cast("Mapping[str, Any]", jwk)


def public_from_jwk(jwk: Mapping[str, Any]) -> VerifyingKeyType:
    """The ``cryptography`` public key of a usage-checked JWK (members decoded strictly)."""
    kty = jwk["kty"]
    try:
        if kty == "EC":
            if jwk.get("crv") != "P-256":
                raise KeyFormatError(f"EC curve {jwk.get('crv')!r} is not supported; use P-256")
            point = b"\x04" + _member_bytes(jwk, "x", 32) + _member_bytes(jwk, "y", 32)
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        if kty == "RSA":
            # Size, exponent and modulus are checked once, by algorithm_of (via PublicKey).
            modulus, exponent = _member_int(jwk, "n"), _member_int(jwk, "e")
            try:
                return rsa.RSAPublicNumbers(exponent, modulus).public_key()
            except ValueError as exc:  # cryptography's own structural rules on n and e
                raise KeyFormatError(
                    f"RSA public exponent or modulus is not acceptable ({exc}); use e = 65537"
                ) from None
        if jwk.get("crv") != "Ed25519":
            raise KeyFormatError(f"OKP curve {jwk.get('crv')!r} is not supported; use Ed25519")
        return ed25519.Ed25519PublicKey.from_public_bytes(_member_bytes(jwk, "x", 32))
    except (ValueError, UnsupportedAlgorithm) as exc:
        if isinstance(exc, KeyFormatError):
            raise
        raise KeyFormatError(f"invalid {kty} JWK: {exc}") from None


def private_from_jwk(jwk: Mapping[str, Any], public: VerifyingKeyType) -> PrivateKeyType:
    """The private key of a JWK whose public part is ``public``."""
    if isinstance(public, ec.EllipticCurvePublicKey):
        secret = int.from_bytes(_member_bytes(jwk, "d", 32), "big")
        return ec.derive_private_key(secret, ec.SECP256R1())
    if isinstance(public, rsa.RSAPublicKey):
        if "oth" in jwk:
            raise KeyFormatError("multi-prime RSA keys (JWK member 'oth') are not supported")
        # RFC 7518 §6.3.2: the CRT members come with d; all of them are needed here.
        d, p, q, dp, dq, qi = (_member_int(jwk, name) for name in ("d", "p", "q", "dp", "dq", "qi"))
        numbers = public.public_numbers()
        return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, numbers).private_key()
    return ed25519.Ed25519PrivateKey.from_private_bytes(_member_bytes(jwk, "d", 32))


def jwk_kid(jwk: Mapping[str, Any]) -> str | None:
    """The JWK's ``kid`` (a non-empty string), or None."""
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise KeyFormatError("JWK kid must be a non-empty string")
    return kid


def pem_bytes(pem: str | bytes) -> bytes:
    """PEM input as bytes; certificates are refused."""
    data = pem.encode("utf-8") if isinstance(pem, str) else bytes(pem)
    if b"-----BEGIN CERTIFICATE-----" in data:
        raise KeyFormatError(
            "certificates are not accepted; pass the public key "
            "(openssl x509 -in cert.pem -pubkey -noout)"
        )
    return data


def load_private_pem(data: bytes, password: bytes | None) -> object:
    """A private key from PEM bytes, or a KeyFormatError that says what to change."""
    try:
        return serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        if password is None:
            raise KeyFormatError("this private key PEM is encrypted; pass password=") from None
        raise KeyFormatError(f"cannot load private key PEM: {exc}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError(
            f"not a usable PEM private key (PKCS#8, PKCS#1 or SEC1), or wrong password: {exc}"
        ) from None
