"""Differential testing against PyJWT: on one corpus, we never accept what PyJWT refuses.

The corpus: Wycheproof JWS vectors (JWS layer: ``decode_jws`` against ``PyJWS``), the forged
tokens of ``tests/forged.py``, and hypothesis mutations of valid tokens (character flips,
insertions and deletions, part swaps, re-encoded headers, HMAC key confusion, and re-signed
claims and headers). PyJWT runs with equivalent options (algorithms, issuer, leeway,
required claims) and a clock frozen at the same instant as ours.

Our verifier must also never raise anything but ``TokenError``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from typing import Any
from unittest import mock

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionclaims._errors import KeyFormatError, TokenError
from sessionclaims.keys import ALGORITHMS, KeySet, PublicKey, SigningKey
from sessionclaims.tokens import REQUIRED_CLAIMS, TokenVerifier, decode_jws
from tests.forged import (
    ALPHABET,
    AUTHORIZED_PARTY,
    ISSUER,
    NOW,
    RawJSON,
    b64,
    forged_cookie_tokens,
    forged_tokens,
    header_for,
    raw_object,
    reference_options,
    sign,
    sign_hmac,
    signing_key,
    valid_claims,
)
from tests.test_wycheproof import cases, jws_key_set

ALGS = ("ES256", "RS256", "EdDSA")
LEEWAY = 5
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _FrozenDatetime(datetime):
    """What PyJWT's ``datetime.now`` returns during a comparison: our clock's instant."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return datetime.fromtimestamp(NOW, tz=tz)


@contextmanager
def pyjwt_clock() -> Iterator[None]:
    with mock.patch.object(jwt.api_jwt, "datetime", _FrozenDatetime):
        yield


def pyjwt_accepts(token: str, key: SigningKey) -> bool:
    public = load_pem_public_key(key.public_key.to_pem())
    try:
        with pyjwt_clock():
            jwt.decode(
                token,
                public,  # type: ignore[arg-type]
                algorithms=[key.alg],
                issuer=ISSUER,
                leeway=LEEWAY,
                options={"require": list(REQUIRED_CLAIMS)},
            )
    except Exception:  # PyJWTError, and whatever else PyJWT lets escape: not accepted
        return False
    return True


def ours_accepts(token: str, key: SigningKey, *, from_cookie: bool = False) -> bool:
    checker = TokenVerifier(reference_options(), clock=lambda: float(NOW), cache_size=0)
    try:
        checker.verify(token, KeySet([key.public_key]), from_cookie=from_cookie)
    except TokenError:
        return False
    return True


def assert_not_laxer(token: str, key: SigningKey) -> None:
    for from_cookie in (False, True):
        if ours_accepts(token, key, from_cookie=from_cookie):
            assert pyjwt_accepts(token, key), f"we accept, PyJWT refuses: {token[:200]!r}"


# -- fixed corpora ----------------------------------------------------------------------


def test_sanity_both_accept_a_valid_token() -> None:
    for alg in ALGS:
        key = signing_key(alg)
        token = sign(header_for(key), valid_claims(), key)
        assert ours_accepts(token, key)
        assert pyjwt_accepts(token, key)


@pytest.mark.parametrize("alg", ALGS)
def test_forged_corpus(alg: str) -> None:
    key = signing_key(alg)
    for _name, token, _reason in forged_tokens(key) + forged_cookie_tokens(key):
        assert_not_laxer(token, key)


def test_wycheproof_jws_layer() -> None:
    compared = 0
    for param in cases("json_web_signature_test.json"):
        group, test = param.values
        token = test["jws"]
        keys, _declared = jws_key_set(group, token)
        try:
            header, payload = decode_jws(token, keys)
        except TokenError:
            continue
        key = keys.get(header["kid"])
        assert key is not None
        public = jwt.PyJWK({**group["public"]}).key
        decoded = jwt.api_jws.PyJWS().decode_complete(token, public, algorithms=[key.alg])
        assert decoded["payload"] == payload
        compared += 1
    assert compared >= 10


# -- hypothesis mutations ---------------------------------------------------------------

_CHARS = ALPHABET + ".=+/ \n%\x00é"
_ALGS_IN_HEADERS = ["none", "None", "HS256", "HS512", "RS256", "ES256", "EdDSA", "PS256", "ES384"]
_CLAIM_VALUES = st.one_of(
    st.integers(min_value=NOW - 3600, max_value=NOW + 3600),
    st.sampled_from([NOW - 6, NOW - 5, NOW - 4, NOW + 4, NOW + 5, NOW + 6, 0, -1, 2**63]),
    st.floats(min_value=NOW - 100, max_value=NOW + 100),
    st.sampled_from(["", ISSUER, ISSUER + "/", "sess", AUTHORIZED_PARTY, str(NOW + 60)]),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def _key(draw: st.DrawFn) -> SigningKey:
    return signing_key(draw(st.sampled_from(ALGS)))


def _token(key: SigningKey, **changes: Any) -> str:
    return sign(header_for(key), {**valid_claims(), **changes}, key)


@SETTINGS
@given(key=_key(), data=st.data())
def test_character_mutations(key: SigningKey, data: st.DataObject) -> None:
    token = _token(key)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        index = data.draw(st.integers(min_value=0, max_value=max(len(token) - 1, 0)))
        char = data.draw(st.sampled_from(_CHARS))
        kind = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        if kind == "replace":
            token = token[:index] + char + token[index + 1 :]
        elif kind == "insert":
            token = token[:index] + char + token[index:]
        else:
            token = token[:index] + token[index + 1 :]
    assert_not_laxer(token, key)


@SETTINGS
@given(key=_key(), data=st.data())
def test_structural_mutations(key: SigningKey, data: st.DataObject) -> None:
    first = _token(key).split(".")
    second = _token(key, sub="user_other", exp=NOW + 30).split(".")
    kind = data.draw(st.sampled_from(["swap", "realg", "hmac", "drop", "reorder"]))
    if kind == "swap":
        token = ".".join(
            data.draw(st.sampled_from([a, b])) for a, b in zip(first, second, strict=True)
        )
    elif kind == "realg":
        header = header_for(key, alg=data.draw(st.sampled_from(_ALGS_IN_HEADERS)))
        token = ".".join([b64(json.dumps(header).encode()), first[1], first[2]])
    elif kind == "hmac":
        alg = data.draw(st.sampled_from(["HS256", "HS384", "HS512"]))
        secret = data.draw(st.sampled_from([key.public_key.to_pem(), key.kid.encode(), b""]))
        token = sign_hmac(header_for(key, alg=alg), valid_claims(), secret)
    elif kind == "drop":
        dropped = data.draw(st.integers(min_value=0, max_value=2))
        token = ".".join(part for i, part in enumerate(first) if i != dropped)
    else:
        token = ".".join(data.draw(st.permutations(first)))
    assert_not_laxer(token, key)


@SETTINGS
@given(key=_key(), data=st.data())
def test_resigned_claim_mutations(key: SigningKey, data: st.DataObject) -> None:
    claims = valid_claims()
    names = ["exp", "iat", "nbf", "iss", "sub", "sid", "azp", "v", "metadata"]
    for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
        if data.draw(st.booleans()):
            claims.pop(name, None)
        else:
            claims[name] = data.draw(_CLAIM_VALUES)
    pairs: list[tuple[str, Any]] = list(claims.items())
    if data.draw(st.booleans()):  # a duplicate member: PyJWT keeps the last one
        pairs.insert(0, (data.draw(st.sampled_from(names)), data.draw(_CLAIM_VALUES)))
    if data.draw(st.booleans()):
        special = data.draw(st.sampled_from(["NaN", "Infinity", "1e400", "-0", "1.0", "[[[]]]"]))
        pairs.append((data.draw(st.sampled_from(names)), RawJSON(special)))
    token = sign(header_for(key), raw_object(pairs), key)
    assert_not_laxer(token, key)


@SETTINGS
@given(key=_key(), data=st.data())
def test_resigned_header_mutations(key: SigningKey, data: st.DataObject) -> None:
    header: dict[str, Any] = header_for(key)
    extras = {
        "jku": "https://evil.example/jwks.json",
        "x5u": "https://evil.example/c.pem",
        "jwk": signing_key("ES256", "b").public_key.to_jwk(),
        "x5c": ["MIIB"],
        "crit": ["exp"],
        "b64": False,
        "kid": data.draw(st.sampled_from([None, 1, "", key.kid + "x", key.kid])),
        "typ": data.draw(st.sampled_from(["JWT", "at+jwt", None, 1])),
        "alg": data.draw(st.sampled_from([*_ALGS_IN_HEADERS, key.alg])),
    }
    for name in data.draw(st.lists(st.sampled_from(sorted(extras)), max_size=3, unique=True)):
        header[name] = extras[name]
    if data.draw(st.booleans()):
        header.pop(data.draw(st.sampled_from(sorted(header))))
    token = sign(header, valid_claims(), key)
    assert_not_laxer(token, key)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(ALGS))
def test_arbitrary_strings_raise_only_token_error(data: bytes, alg: str) -> None:
    key = signing_key(alg)
    text = data.decode("latin-1")
    assert not ours_accepts(text, key)
    assert not ours_accepts(base64.urlsafe_b64encode(data).decode() + ".e30.", key)


def test_wycheproof_keys_load_like_pyjwt() -> None:
    """Every JWK we load, PyJWT loads too (we are the stricter of the two)."""
    for param in cases("json_web_signature_test.json"):
        group, _test = param.values
        if "public" not in group:
            continue
        try:
            ours = PublicKey.from_jwk(group["public"])
        except KeyFormatError:
            continue
        assert ours.alg in ALGORITHMS
        jwt.PyJWK(group["public"])
