"""Wycheproof vectors (C2SP/wycheproof, copied into ``tests/vectors/wycheproof``).

- JWS: every ``valid`` token whose alg we allow is accepted by ``decode_jws``; every other
  one is refused (``invalid`` ones, and HMAC / RS384 / PS256 / ES521 ``valid`` ones).
- JWK sets: the same rule through ``KeySet.from_jwks`` (duplicate kids, ``oct``, weak keys).
- Raw signatures through ``PublicKey.verify``: valid accepted, invalid refused,
  ``acceptable`` either way.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest

from sessionclaims._errors import KeyFormatError, TokenError
from sessionclaims.keys import ALGORITHMS, KeySet, PublicKey
from sessionclaims.tokens import decode_jws, unverified_header

from .vector_files import WYCHEPROOF, load_json

VECTORS = WYCHEPROOF


@functools.cache
def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_json(VECTORS / name)
    if not data.get("testGroups"):
        raise ValueError(f"{VECTORS / name} holds no test group")
    return data


def cases(name: str) -> Iterator[Any]:
    for group in load(name)["testGroups"]:
        for test in group["tests"]:
            label = f"{test['tcId']}-{group.get('comment', '')}-{test['comment'] or 'case'}"
            yield pytest.param(group, test, id=label)


def header_alg(token: str) -> object:
    try:
        return unverified_header(token).get("alg")
    except TokenError:
        return None


@functools.cache
def ec_key_as(kid: str) -> PublicKey:
    """The Wycheproof ES256 key, named ``kid``: HMAC tokens are tried against a real key."""
    es256 = next(g for g in load("json_web_signature_test.json")["testGroups"] if "public" in g)
    return PublicKey.from_jwk({**es256["public"], "kid": kid})


def jws_key_set(group: dict[str, Any], token: str) -> tuple[KeySet, bool]:
    """The group's key set, and whether the key loaded as declared (alg, use, key_ops)."""
    public = group.get("public")
    if public is None:  # an HMAC group: no public key; offer an EC key under the same kid
        try:
            kid = unverified_header(token).get("kid")
        except TokenError:
            return KeySet(), False
        return (KeySet([ec_key_as(kid)]) if isinstance(kid, str) else KeySet()), False
    try:
        return KeySet([PublicKey.from_jwk(public)]), True
    except KeyFormatError:
        if header_alg(token) in ALGORITHMS:  # as KeySet.from_jwks would: the key is skipped
            return KeySet(), False
    try:  # RS384, PS256...: the same key bound to its type's alg, so that alg is refused
        return KeySet([PublicKey.from_jwk({k: v for k, v in public.items() if k != "alg"})]), False
    except KeyFormatError:  # encryption key, other curve...: no usable key at all
        return KeySet(), False


@pytest.mark.parametrize(("group", "test"), list(cases("json_web_signature_test.json")))
def test_json_web_signature(group: dict[str, Any], test: dict[str, Any]) -> None:
    token = test["jws"]
    keys, declared = jws_key_set(group, token)
    expect_accept = test["result"] == "valid" and declared and header_alg(token) in ALGORITHMS
    if not expect_accept:
        with pytest.raises(TokenError):
            decode_jws(token, keys)
        return
    header, _payload = decode_jws(token, keys)
    assert header["alg"] in ALGORITHMS


def test_json_web_signature_accepts_every_valid_allowed_token() -> None:
    accepted = []
    for param in cases("json_web_signature_test.json"):
        group, test = param.values
        keys, declared = jws_key_set(group, test["jws"])
        if test["result"] == "valid" and declared and header_alg(test["jws"]) in ALGORITHMS:
            decode_jws(test["jws"], keys)
            accepted.append(test["tcId"])
    assert len(accepted) >= 10, accepted  # ES256, RS256 (with RFC 7520) and special cases


@pytest.mark.parametrize(("group", "test"), list(cases("json_web_key_test.json")))
def test_json_web_key_sets(group: dict[str, Any], test: dict[str, Any]) -> None:
    keys = KeySet.from_jwks(group.get("public", group.get("private")))
    token = test["jws"]
    expect_accept = test["result"] == "valid" and header_alg(token) in ALGORITHMS
    if expect_accept:
        decode_jws(token, keys)
    else:
        with pytest.raises(TokenError):
            decode_jws(token, keys)


def _group_key(group: dict[str, Any]) -> PublicKey:
    from_pem = PublicKey.from_pem(group["publicKeyPem"])
    jwk = group.get("publicKeyJwk") or group.get("keyJwk")
    if jwk is not None:
        from_jwk = PublicKey.from_jwk({k: v for k, v in jwk.items() if k != "kid"})
        assert from_jwk == from_pem
    return from_pem


@pytest.mark.parametrize(
    ("name", "alg"),
    [
        ("ecdsa_secp256r1_sha256_p1363_test.json", "ES256"),
        ("rsa_signature_2048_sha256_test.json", "RS256"),
        ("ed25519_test.json", "EdDSA"),
    ],
)
def test_signatures(name: str, alg: str) -> None:
    wrong: list[str] = []
    counts = {"valid": 0, "invalid": 0, "acceptable": 0}
    for group in load(name)["testGroups"]:
        key = _group_key(group)
        assert key.alg == alg
        for test in group["tests"]:
            verified = key.verify(bytes.fromhex(test["sig"]), bytes.fromhex(test["msg"]))
            counts[test["result"]] += 1
            if test["result"] == "valid" and not verified:
                wrong.append(f"{test['tcId']} valid refused: {test['comment']}")
            if test["result"] == "invalid" and verified:
                wrong.append(f"{test['tcId']} invalid accepted: {test['comment']} {test['flags']}")
    assert not wrong, "\n".join(wrong)
    assert counts["valid"], counts
    assert counts["invalid"], counts
