"""Signing and verification keys: ES256 (P-256), RS256 (RSA ≥ 2048 bits) and EdDSA (Ed25519).

Every key is bound to exactly one algorithm, so a token can never pick how its key is used.
Symmetric (``oct``) keys are refused everywhere: HMAC is never accepted for session tokens.

- :class:`PublicKey` verifies; it loads from a JWK or a PEM and exports a public JWK.
- :class:`SigningKey` signs; its ``kid`` is the RFC 7638 thumbprint of its public JWK.
- :class:`KeySet` holds verification keys by ``kid`` (a JWKS, in memory).
- :class:`KeyRing` is the signing side of rotation: the newest key signs, every key verifies.

Parsing and serialising JWK members and PEM input is :mod:`._key_formats`; which keys are
acceptable (curve, RSA size and exponent, small factors, ROCA) is :mod:`._key_checks`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ._b64 import b64url_encode
from ._errors import ConfigurationError, KeyFormatError
from ._json import dumps_compact
from ._key_checks import (
    MAX_RSA_BITS,
    MIN_RSA_BITS,
    SUPPORTED,
    Algorithm,
    PrivateKeyType,
    VerifyingKeyType,
    algorithm_of,
    describe,
)
from ._key_formats import (
    check_jwk_usage,
    jwk_kid,
    load_private_pem,
    pem_bytes,
    private_from_jwk,
    public_from_jwk,
    public_members,
)

__all__ = ["ALGORITHMS", "Algorithm", "KeyRing", "KeySet", "PublicKey", "SigningKey", "thumbprint"]

ALGORITHMS: frozenset[str] = frozenset({"ES256", "RS256", "EdDSA"})

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
# RFC 7638 §3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}
_THUMBPRINT_MEMBERS |= {"OKP": ("crv", "kty", "x"), "oct": ("k", "kty")}


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 thumbprint of a JWK: base64url(SHA-256(required members)), no padding."""
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise KeyFormatError(f"cannot compute a thumbprint for kty {kty!r}")
    required: dict[str, str] = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise KeyFormatError(f"JWK member {name!r} must be a string for kty {kty!r}")
        required[name] = value
    digest = hashlib.sha256(dumps_compact(required).encode("utf-8")).digest()
    return b64url_encode(digest)


def _bound_alg(key: object, alg: object) -> Algorithm:
    inferred = algorithm_of(key)
    if alg is None or alg == inferred:
        return inferred
    if alg not in ALGORITHMS:
        raise KeyFormatError(f"alg {alg!r} is not supported; use {SUPPORTED}")
    raise KeyFormatError(f"alg {alg!r} does not match this {describe(key)} (it is {inferred})")


class PublicKey:
    """A verification key bound to exactly one algorithm (``alg``) and named by ``kid``.

    ``kid`` defaults to the RFC 7638 thumbprint of the public JWK.
    """

    __slots__ = ("_identity", "_key", "_members", "alg", "kid")

    alg: Algorithm
    kid: str

    def __init__(self, key: object, *, alg: str | None = None, kid: str | None = None) -> None:
        """Wrap a ``cryptography`` public key; ``alg`` must match it if given."""
        self.alg = _bound_alg(key, alg)
        self._key = cast("VerifyingKeyType", key)
        self._members = public_members(self._key)
        self.kid = kid if kid is not None else thumbprint(self._members)
        self._identity = (self.alg, self.kid, tuple(self._members.values()))

    def verify(self, signature: bytes, signing_input: bytes) -> bool:
        """Whether ``signature`` is valid for ``signing_input``; never raises for a bad one.

        ES256 takes the JOSE form ``r || s`` (exactly 64 bytes), RS256 is PKCS#1 v1.5 with
        SHA-256 and EdDSA is Ed25519.
        """
        key = self._key
        try:
            if self.alg == "ES256":
                if len(signature) != 64:
                    return False
                der = encode_dss_signature(
                    int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
                )
                cast("ec.EllipticCurvePublicKey", key).verify(der, signing_input, _ECDSA_SHA256)
            elif self.alg == "RS256":
                cast("rsa.RSAPublicKey", key).verify(signature, signing_input, _PKCS1V15, _SHA256)
            else:
                cast("ed25519.Ed25519PublicKey", key).verify(signature, signing_input)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def to_jwk(self) -> dict[str, str]:
        """The public JWK: key members, ``kid``, ``alg`` and ``use: "sig"``; never private ones."""
        return {**self._members, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def to_pem(self) -> bytes:
        """The public key as a SubjectPublicKeyInfo PEM."""
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> PublicKey:
        """Load a public JWK (EC P-256, RSA ≥ 2048 bits, OKP Ed25519).

        ``alg``, if present, must be the algorithm of the key type; it is inferred otherwise.
        ``oct`` keys, other curves, ``use`` other than ``"sig"`` and ``key_ops`` without
        ``"verify"`` are refused with :class:`KeyFormatError`. Private members are ignored:
        only the public part is kept.
        """
        checked = check_jwk_usage(jwk, "verify")
        key = public_from_jwk(checked)
        return cls(key, alg=checked.get("alg"), kid=jwk_kid(checked))

    @classmethod
    def from_pem(
        cls, pem: str | bytes, *, alg: str | None = None, kid: str | None = None
    ) -> PublicKey:
        """Load a public key PEM (SubjectPublicKeyInfo or PKCS#1 RSA); not a certificate.

        A private key PEM is accepted too and reduced to its public part.
        """
        data = pem_bytes(pem)
        try:
            key: object = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm):
            key = cast("PrivateKeyType", load_private_pem(data, None)).public_key()
        return cls(key, alg=alg, kid=kid)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self._identity == other._identity

    def __hash__(self) -> int:
        return hash(self._identity)

    def __repr__(self) -> str:
        return f"PublicKey(alg={self.alg!r}, kid={self.kid!r})"


class SigningKey:
    """A private key bound to one algorithm. Its repr never shows private material.

    ``kid`` is the RFC 7638 thumbprint of the public JWK (or the ``kid`` of a loaded JWK).
    """

    __slots__ = ("_private", "alg", "kid", "public_key")

    alg: Algorithm
    kid: str
    public_key: PublicKey

    def __init__(self, private_key: object, *, alg: str | None = None, kid: str | None = None):
        """Wrap a ``cryptography`` private key; ``alg`` must match it if given."""
        if not isinstance(private_key, PrivateKeyType):
            raise KeyFormatError(f"{describe(private_key)} is not supported; use {SUPPORTED}")
        self.public_key = PublicKey(private_key.public_key(), alg=alg, kid=kid)
        self.alg = self.public_key.alg
        self.kid = self.public_key.kid
        self._private: PrivateKeyType = private_key

    @classmethod
    def generate(cls, alg: str = "ES256", *, bits: int = MIN_RSA_BITS) -> SigningKey:
        """A new random key: ES256 (P-256), RS256 (``bits`` ≥ 2048, e = 65537) or EdDSA."""
        if alg == "ES256":
            return cls(ec.generate_private_key(ec.SECP256R1()))
        if alg == "RS256":
            if not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
                raise ConfigurationError(
                    f"RSA keys need {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, not {bits}"
                )
            return cls(rsa.generate_private_key(public_exponent=65537, key_size=bits))
        if alg == "EdDSA":
            return cls(ed25519.Ed25519PrivateKey.generate())
        raise ConfigurationError(f"alg must be 'ES256', 'RS256' or 'EdDSA', not {alg!r}")

    @classmethod
    def from_pem(
        cls, pem: str | bytes, *, alg: str | None = None, password: bytes | None = None
    ) -> SigningKey:
        """Load a private key PEM (PKCS#8, or PKCS#1 / SEC1), encrypted if ``password`` is set."""
        data = pem_bytes(pem)
        if b"PRIVATE KEY-----" not in data and b"-----BEGIN PUBLIC KEY" in data:
            raise KeyFormatError("this is a public key PEM; a SigningKey needs the private key")
        return cls(load_private_pem(data, password), alg=alg)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> SigningKey:
        """Load a private JWK (with ``d``); the public members must match the private key."""
        checked = check_jwk_usage(jwk, "sign")
        if not isinstance(checked.get("d"), str):
            raise KeyFormatError(
                "this JWK has no private member 'd'; load public keys with PublicKey.from_jwk"
            )
        public = public_from_jwk(checked)
        try:
            private = private_from_jwk(checked, public)
        except (ValueError, UnsupportedAlgorithm) as exc:
            if isinstance(exc, KeyFormatError):
                raise
            raise KeyFormatError(f"invalid private {checked['kty']} JWK: {exc}") from None
        if public_members(private.public_key()) != public_members(public):
            raise KeyFormatError("the private member 'd' does not match the public members")
        return cls(private, alg=checked.get("alg"), kid=jwk_kid(checked))

    def sign(self, signing_input: bytes) -> bytes:
        """Sign; ES256 returns the JOSE form ``r || s`` (64 bytes)."""
        private = self._private
        if isinstance(private, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(private.sign(signing_input, _ECDSA_SHA256))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if isinstance(private, rsa.RSAPrivateKey):
            return private.sign(signing_input, _PKCS1V15, _SHA256)
        return private.sign(signing_input)

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM. Handle with care."""
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SigningKey):
            return NotImplemented
        return self.public_key == other.public_key

    def __hash__(self) -> int:
        return hash(self.public_key)

    def __repr__(self) -> str:
        return f"SigningKey(alg={self.alg!r}, kid={self.kid!r})"

    __str__ = __repr__

    def __copy__(self) -> SigningKey:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SigningKey:
        return self


class KeySet:
    """Verification keys by ``kid``: the in-memory form of a JWKS. Iterates its PublicKeys.

    ``skipped`` lists, for a set loaded with :meth:`from_jwks`, why entries were left out.
    """

    __slots__ = ("_keys", "skipped")

    def __init__(self, keys: Iterable[PublicKey] = ()) -> None:
        """Index ``keys`` by kid; two different keys with the same kid are refused."""
        by_kid: dict[str, PublicKey] = {}
        for key in keys:
            if not isinstance(key, PublicKey):
                raise TypeError(f"KeySet holds PublicKey objects, not {type(key).__name__}")
            existing = by_kid.setdefault(key.kid, key)
            if existing != key:
                raise KeyFormatError(f"two different keys share kid {key.kid!r}; kids must differ")
        self._keys = by_kid
        self.skipped: tuple[str, ...] = ()

    def get(self, kid: str) -> PublicKey | None:
        """The key named ``kid``, or None."""
        return self._keys.get(kid)

    @property
    def kids(self) -> frozenset[str]:
        """Every kid in the set."""
        return frozenset(self._keys)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> KeySet:
        """Load a JWKS document, skipping entries that cannot be used for verification.

        Skipped: ``oct`` keys, encryption keys, other curves, RSA under 2048 bits, malformed
        entries, and every key whose kid is shared by a different key (ambiguous). Raises
        :class:`KeyFormatError` if the document is not a JWKS (an object with a "keys" array).
        """
        entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(entries, list | tuple):
            raise KeyFormatError('a JWKS must be a JSON object with a "keys" array')
        loaded: list[PublicKey] = []
        skipped: list[str] = []
        for index, entry in enumerate(entries):
            try:
                loaded.append(PublicKey.from_jwk(entry))
            except KeyFormatError as exc:
                skipped.append(f"keys[{index}]: {exc}")
        by_kid: dict[str, list[PublicKey]] = {}
        for key in loaded:
            by_kid.setdefault(key.kid, []).append(key)
        usable: list[PublicKey] = []
        for kid, same_kid in by_kid.items():
            if any(key != same_kid[0] for key in same_kid):
                skipped.append(f"kid {kid!r}: its {len(same_kid)} entries hold different keys")
            else:
                usable.append(same_kid[0])
        key_set = cls(usable)
        key_set.skipped = tuple(skipped)
        return key_set

    def to_jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWKS document (``{"keys": [...]}``), never with a private member."""
        return {"keys": [key.to_jwk() for key in self._keys.values()]}

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[PublicKey]:
        return iter(list(self._keys.values()))

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __repr__(self) -> str:
        return f"KeySet(kids={sorted(self._keys)!r})"


class KeyRing:
    """The signing side of key rotation: the newest key signs, every listed key verifies.

    ``keys`` are ordered oldest to newest; ``signer`` is ``keys[-1]``. ``extra_public`` adds
    verification-only keys (for example a retired key whose tokens have not expired yet).
    """

    __slots__ = ("key_set", "keys", "signer")

    def __init__(
        self, keys: Sequence[SigningKey], *, extra_public: Iterable[PublicKey] = ()
    ) -> None:
        """Build the ring; at least one signing key is required."""
        self.keys: tuple[SigningKey, ...] = tuple(keys)
        if not self.keys:
            raise ConfigurationError("a KeyRing needs at least one SigningKey")
        for key in self.keys:
            if not isinstance(key, SigningKey):
                raise TypeError(f"KeyRing keys must be SigningKey objects, not {type(key)}")
        self.signer: SigningKey = self.keys[-1]
        self.key_set = KeySet([*(key.public_key for key in self.keys), *extra_public])

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWKS of every verification key in the ring."""
        return self.key_set.to_jwks()

    def __repr__(self) -> str:
        return f"KeyRing(signer={self.signer.kid!r}, kids={sorted(self.key_set.kids)!r})"
