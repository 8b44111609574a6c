"""Keys: generation, signing, PEM and JWK round trips, RFC 7638 kids, JWKS, rotation."""

from __future__ import annotations

import copy
import datetime
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from sessionclaims._errors import ConfigurationError, KeyFormatError
from sessionclaims.keys import ALGORITHMS, KeyRing, KeySet, PublicKey, SigningKey, thumbprint
from tests.forged import b64, signing_key

KEYS = Path(__file__).parent / "keys"
ALGS = ("ES256", "RS256", "EdDSA")
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth", "r", "t"}
RFC7638_JWK = {  # RFC 7638 section 3.1
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
    "_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Q"
    "vzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu"
    "0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def pem(name: str) -> bytes:
    return (KEYS / f"{name}.pem").read_bytes()


def private_jwk(key: SigningKey) -> dict[str, Any]:
    """The full private JWK of a key, built from its PEM (what another system would export)."""
    private = serialization.load_pem_private_key(key.private_pem(), password=None)
    jwk: dict[str, Any] = {**key.public_key.to_jwk()}

    def num(value: int, size: int | None = None) -> str:
        return b64(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))

    if isinstance(private, ec.EllipticCurvePrivateKey):
        jwk["d"] = num(private.private_numbers().private_value, 32)
    elif isinstance(private, rsa.RSAPrivateKey):
        numbers = private.private_numbers()
        jwk |= {
            "d": num(numbers.d),
            "p": num(numbers.p),
            "q": num(numbers.q),
            "dp": num(numbers.dmp1),
            "dq": num(numbers.dmq1),
            "qi": num(numbers.iqmp),
        }
    else:
        assert isinstance(private, ed25519.Ed25519PrivateKey)
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        jwk["d"] = b64(raw)
    return jwk


# -- generate, sign, verify -------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_generate_sign_verify(alg: str) -> None:
    key = signing_key(alg) if alg == "RS256" else SigningKey.generate(alg)
    assert (key.alg, key.public_key.alg) == (alg, alg)
    signature = key.sign(b"header.payload")
    assert len(signature) == {"ES256": 64, "EdDSA": 64, "RS256": 256}[alg]
    assert key.public_key.verify(signature, b"header.payload")
    assert not key.public_key.verify(signature, b"header.payloaD")
    assert not signing_key(alg, "b").public_key.verify(signature, b"header.payload")


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize(
    "signature",
    [b"", b"\x00", bytes(64), bytes(256), b"\xff" * 64, bytes(65), bytes(1000)],
    ids=["empty", "one-byte", "zero-64", "zero-256", "ff-64", "zero-65", "zero-1000"],
)
def test_verify_never_raises_on_a_bad_signature(alg: str, signature: bytes) -> None:
    assert signing_key(alg).public_key.verify(signature, b"data") is False


def test_es256_requires_the_jose_r_s_form() -> None:
    key = signing_key("ES256")
    signature = key.sign(b"data")
    assert key.public_key.verify(signature, b"data")
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    der = encode_dss_signature(int.from_bytes(signature[:32]), int.from_bytes(signature[32:]))
    assert not key.public_key.verify(der, b"data")
    assert not key.public_key.verify(b"\x00" + signature, b"data")


def test_rsa_generation_bits() -> None:
    with pytest.raises(ConfigurationError, match="2048"):
        SigningKey.generate("RS256", bits=1024)
    with pytest.raises(ConfigurationError, match="alg"):
        SigningKey.generate("HS256")
    with pytest.raises(ConfigurationError):
        SigningKey.generate("ES384")


# -- PEM --------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_pem_round_trips(alg: str) -> None:
    key = signing_key(alg)
    again = SigningKey.from_pem(key.private_pem())
    assert again == key
    assert again.kid == key.kid
    assert key.private_pem().startswith(b"-----BEGIN PRIVATE KEY-----")
    public = PublicKey.from_pem(key.public_key.to_pem())
    assert public == key.public_key
    assert PublicKey.from_pem(key.private_pem()) == key.public_key  # reduced to its public part
    assert PublicKey.from_pem(key.public_key.to_pem().decode(), kid="custom").kid == "custom"


def test_pem_variants() -> None:
    rsa_key = SigningKey.from_pem(pem("rsa2048-a"))
    assert SigningKey.from_pem(pem("rsa2048-a-pkcs1")) == rsa_key
    encrypted = SigningKey.from_pem(pem("rsa2048-a-encrypted"), password=b"correct horse")
    assert encrypted == rsa_key
    assert PublicKey.from_pem(pem("rsa2048-a-public")) == rsa_key.public_key
    assert PublicKey.from_pem(pem("rsa2048-a-public-pkcs1")) == rsa_key.public_key
    assert SigningKey.from_pem(pem("ec256-a-sec1")) == SigningKey.from_pem(pem("ec256-a"))
    assert SigningKey.from_pem(pem("ec256-a"), alg="ES256").alg == "ES256"


@pytest.mark.parametrize(
    ("load", "message"),
    [
        (lambda: SigningKey.from_pem(pem("rsa2048-a-encrypted")), "password"),
        (lambda: SigningKey.from_pem(pem("rsa2048-a-encrypted"), password=b"wrong"), "password"),
        (lambda: PublicKey.from_pem(pem("rsa2048-a-encrypted")), "password"),
        (lambda: SigningKey.from_pem(pem("rsa2048-a-public")), "public key"),
        (lambda: SigningKey.from_pem(b"not a pem"), "PEM"),
        (
            lambda: PublicKey.from_pem(
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
            ),
            "PEM",
        ),
        (lambda: SigningKey.from_pem(pem("rsa1024")), "2048"),
        (lambda: PublicKey.from_pem(pem("rsa1024")), "2048"),
        (lambda: SigningKey.from_pem(pem("ec384")), "P-256"),
        (lambda: SigningKey.from_pem(pem("ec256-a"), alg="RS256"), "does not match"),
        (lambda: PublicKey.from_pem(pem("ed25519-a"), alg="ES256"), "does not match"),
        (lambda: PublicKey.from_pem(pem("ec256-a"), alg="HS256"), "not supported"),
    ],
)
def test_pem_refusals(load: Any, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        load()


def test_certificates_are_refused_with_a_hint() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    with pytest.raises(KeyFormatError, match="openssl x509"):
        PublicKey.from_pem(certificate.public_bytes(serialization.Encoding.PEM))


# -- JWK and thumbprints ----------------------------------------------------------------


def test_rfc7638_example_thumbprint() -> None:
    assert thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT
    key = PublicKey.from_jwk(RFC7638_JWK)
    assert (key.kid, key.alg) == ("2011-04-29", "RS256")
    without_kid = {k: v for k, v in RFC7638_JWK.items() if k != "kid"}
    assert PublicKey.from_jwk(without_kid).kid == RFC7638_THUMBPRINT
    assert thumbprint({**RFC7638_JWK, "use": "sig", "extra": "ignored"}) == RFC7638_THUMBPRINT


@pytest.mark.parametrize("alg", ALGS)
def test_kid_is_the_thumbprint_and_jwk_round_trips(alg: str) -> None:
    key = signing_key(alg)
    jwk = key.public_key.to_jwk()
    assert key.kid == thumbprint(jwk) == key.public_key.kid
    assert (jwk["alg"], jwk["use"], jwk["kid"]) == (alg, "sig", key.kid)
    assert PublicKey.from_jwk(jwk) == key.public_key
    inferred = PublicKey.from_jwk({k: v for k, v in jwk.items() if k not in ("alg", "use", "kid")})
    assert inferred == key.public_key
    assert PublicKey.from_jwk({**jwk, "key_ops": ["verify"]}) == key.public_key


@pytest.mark.parametrize("alg", ALGS)
def test_private_jwk(alg: str) -> None:
    key = signing_key(alg)
    full = private_jwk(key)
    assert SigningKey.from_jwk(full) == key
    assert SigningKey.from_jwk({**full, "key_ops": ["sign"]}).kid == key.kid
    public = PublicKey.from_jwk(full)  # private members are ignored
    assert public == key.public_key
    assert not PRIVATE_MEMBERS & set(public.to_jwk())
    with pytest.raises(KeyFormatError, match="'d'"):
        SigningKey.from_jwk(key.public_key.to_jwk())
    mismatched = {**full, "d": private_jwk(signing_key(alg, "b"))["d"]}
    with pytest.raises(KeyFormatError):
        SigningKey.from_jwk(mismatched)


def test_rsa_private_jwk_needs_the_crt_members() -> None:
    full = private_jwk(signing_key("RS256"))
    with pytest.raises(KeyFormatError, match="'qi'"):
        SigningKey.from_jwk({k: v for k, v in full.items() if k != "qi"})
    with pytest.raises(KeyFormatError, match="multi-prime"):
        SigningKey.from_jwk({**full, "oth": []})


def _ec_jwk(**changes: Any) -> dict[str, Any]:
    return {**signing_key("ES256").public_key.to_jwk(), **changes}


@pytest.mark.parametrize(
    ("jwk", "message"),
    [
        ({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}, "symmetric"),
        ({"kty": "oct", "k": "c2VjcmV0"}, "symmetric"),
        (_ec_jwk(use="enc"), "use"),
        (_ec_jwk(key_ops=["encrypt"]), "key_ops"),
        (_ec_jwk(key_ops=["sign"]), "key_ops"),
        (_ec_jwk(key_ops="verify"), "key_ops"),
        (_ec_jwk(alg="RS256"), "does not match"),
        (_ec_jwk(alg="ES384"), "not supported"),
        (_ec_jwk(alg="HS256"), "not supported"),
        (_ec_jwk(crv="P-384"), "P-256"),
        (_ec_jwk(y=_ec_jwk()["x"]), "invalid EC JWK"),
        (_ec_jwk(x=_ec_jwk()["x"][:-4]), "32 bytes"),
        (_ec_jwk(x=_ec_jwk()["x"] + "="), "base64url"),
        (_ec_jwk(x=123), "string"),
        (_ec_jwk(kid=""), "kid"),
        (_ec_jwk(kid=7), "kid"),
        ({k: v for k, v in _ec_jwk().items() if k != "kty"}, "kty"),
        ({**_ec_jwk(), "kty": "RSA"}, "missing"),
        ({"kty": "OKP", "crv": "X25519", "x": b64(bytes(32))}, "Ed25519"),
        ({"kty": "OKP", "crv": "Ed448", "x": b64(bytes(57))}, "Ed25519"),
        ({"kty": "RSA", "n": b64(b"\xc1" * 128), "e": "AQAB"}, "1024-bit"),
        ({"kty": "RSA", "n": b64(b"\xc1" * 2100), "e": "AQAB"}, "16384"),
        ({**RFC7638_JWK, "e": "AQAA"}, "exponent"),
        ({**RFC7638_JWK, "e": "AQ"}, "exponent"),
        (["not", "a", "mapping"], "JSON object"),
    ],
)
def test_jwk_refusals(jwk: Any, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        PublicKey.from_jwk(jwk)


def test_small_rsa_is_refused_everywhere() -> None:
    small = serialization.load_pem_private_key(pem("rsa1024"), password=None)
    assert isinstance(small, rsa.RSAPrivateKey)
    with pytest.raises(KeyFormatError, match="2048"):
        SigningKey(small)
    with pytest.raises(KeyFormatError, match="2048"):
        PublicKey(small.public_key())


# -- JWKS and key sets ------------------------------------------------------------------


def test_jwks_never_exports_private_members() -> None:
    keys = [SigningKey.generate(alg) for alg in ("ES256", "EdDSA") for _ in range(25)]
    keys += [signing_key("RS256"), signing_key("RS256", "b")]
    ring = KeyRing(keys, extra_public=[PublicKey.from_jwk(private_jwk(signing_key("ES256")))])
    documents = [ring.jwks(), ring.key_set.to_jwks(), KeySet.from_jwks(ring.jwks()).to_jwks()]
    from_private = KeySet.from_jwks({"keys": [private_jwk(key) for key in keys]})
    assert len(from_private) == len(keys)
    documents.append({"keys": [*from_private.to_jwks()["keys"], ring.jwks()["keys"][-1]]})
    for document in documents:
        assert len(document["keys"]) == len(keys) + 1
        for jwk in document["keys"]:
            assert not PRIVATE_MEMBERS & set(jwk), jwk
            expected = {"EC": {"crv", "x", "y"}, "RSA": {"n", "e"}, "OKP": {"crv", "x"}}
            assert set(jwk) == {"kty", "kid", "alg", "use"} | expected[jwk["kty"]]
        text = json.dumps(document)
        for key in keys:
            assert private_jwk(key)["d"] not in text


def test_key_set_from_jwks_skips_unusable_entries() -> None:
    good = [signing_key(alg).public_key for alg in ALGS]
    ec384 = serialization.load_pem_private_key(pem("ec384"), password=None)
    assert isinstance(ec384, ec.EllipticCurvePrivateKey)
    p384 = ec384.public_key().public_numbers()
    entries: list[Any] = [key.to_jwk() for key in good]
    entries += [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {**good[0].to_jwk(), "use": "enc", "kid": "encryption"},
        {"kty": "RSA", "n": b64(b"\xc1" * 128), "e": "AQAB", "kid": "small"},
        {"kty": "EC", "crv": "P-384", "x": b64(p384.x.to_bytes(48)), "y": b64(p384.y.to_bytes(48))},
        {"kty": "OKP", "crv": "Ed448", "x": b64(bytes(57))},
        "not an object",
        {"kty": "unknown"},
    ]
    key_set = KeySet.from_jwks({"keys": entries, "other": "ignored"})
    assert sorted(key_set.kids) == sorted(key.kid for key in good)
    assert len(key_set.skipped) == 7
    assert all(key in key_set for key in key_set.kids)
    assert list(key_set) == good


def test_key_set_refuses_ambiguous_kids() -> None:
    first = signing_key("ES256").public_key
    impostor = PublicKey.from_pem(signing_key("ES256", "b").public_key.to_pem(), kid=first.kid)
    with pytest.raises(KeyFormatError, match="share kid"):
        KeySet([first, impostor])
    assert len(KeySet([first, PublicKey.from_pem(first.to_pem())])) == 1  # same key twice
    loaded = KeySet.from_jwks({"keys": [first.to_jwk(), impostor.to_jwk(), first.to_jwk()]})
    assert len(loaded) == 0
    assert loaded.skipped == (f"kid {first.kid!r}: its 3 entries hold different keys",)


@pytest.mark.parametrize("document", [[], {}, {"keys": {}}, {"keys": "x"}, "keys", None])
def test_not_a_jwks(document: Any) -> None:
    with pytest.raises(KeyFormatError, match="JWKS"):
        KeySet.from_jwks(document)


def test_key_set_basics() -> None:
    keys = [signing_key(alg).public_key for alg in ALGS]
    key_set = KeySet(keys)
    assert len(key_set) == 3
    assert key_set.get(keys[1].kid) is keys[1]
    assert key_set.get("nope") is None
    assert keys[2].kid in key_set
    assert "nope" not in key_set
    assert list(key_set) == keys
    assert repr(key_set).startswith("KeySet(kids=")
    with pytest.raises(TypeError):
        KeySet([signing_key("ES256")])  # type: ignore[list-item]


# -- rotation ---------------------------------------------------------------------------


def test_key_ring_newest_signs_every_key_verifies() -> None:
    old, middle, new = signing_key("ES256"), signing_key("EdDSA"), signing_key("ES256", "b")
    retired = signing_key("RS256").public_key
    ring = KeyRing([old, middle, new], extra_public=[retired])
    assert ring.signer is new
    assert ring.keys == (old, middle, new)
    assert ring.key_set.kids == {old.kid, middle.kid, new.kid, retired.kid}
    for key in (old, middle, new):
        verifier = ring.key_set.get(key.kid)
        assert verifier is not None
        assert verifier.verify(key.sign(b"x"), b"x")
    assert [jwk["kid"] for jwk in ring.jwks()["keys"]] == [
        old.kid,
        middle.kid,
        new.kid,
        retired.kid,
    ]
    with pytest.raises(ConfigurationError):
        KeyRing([])
    assert "signer=" in repr(ring)


# -- private material stays private -----------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_repr_hides_private_material(alg: str) -> None:
    key = signing_key(alg)
    secret = private_jwk(key)["d"]
    body = b"".join(key.private_pem().splitlines()[1:-1]).decode()
    for shown in (repr(key), str(key), f"{key}", f"{key!r}", repr([key]), repr(key.public_key)):
        assert secret not in shown
        assert body[:40] not in shown
        assert key.kid in shown
    assert repr(key) == f"SigningKey(alg={alg!r}, kid={key.kid!r})"
    assert copy.copy(key) is key
    assert copy.deepcopy(key) is key
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_equality_and_hashing() -> None:
    a = signing_key("ES256")
    assert a == SigningKey.from_pem(a.private_pem())
    assert a != signing_key("ES256", "b")
    assert len({a.public_key, PublicKey.from_jwk(a.public_key.to_jwk())}) == 1
    assert a.public_key != PublicKey.from_pem(a.public_key.to_pem(), kid="other")
    assert a.__eq__(object()) is NotImplemented
    assert a.public_key.__eq__("x") is NotImplemented


def test_algorithms() -> None:
    assert frozenset({"ES256", "RS256", "EdDSA"}) == ALGORITHMS
    with pytest.raises(KeyFormatError):
        SigningKey(object())
