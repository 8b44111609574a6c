"""TokenVerifier: the forged-token corpus, leeway edges, the verified-token cache, signing."""

from __future__ import annotations

import json
import threading
from types import MappingProxyType
from typing import Any

import pytest
from cachetools import FIFOCache

from sessionclaims._errors import ConfigurationError, TokenError
from sessionclaims.keys import ALGORITHMS, KeySet, PublicKey, SigningKey
from sessionclaims.tokens import (
    REASONS,
    REQUIRED_CLAIMS,
    TokenVerifier,
    VerifiedToken,
    VerifyOptions,
    decode_jws,
    encode_token,
    sign_token,
    unverified_header,
)
from tests.forged import (
    AUTHORIZED_PARTY,
    ISSUER,
    NOW,
    TRANSPORT_UNSAFE,
    b64,
    forged_cookie_tokens,
    forged_tokens,
    header_for,
    reference_options,
    sign,
    signing_key,
    valid_claims,
    valid_token,
)
from tests.helpers import FakeClock

ALGS = ("ES256", "RS256", "EdDSA")


class CountingKey(PublicKey):
    """A PublicKey that counts signature verifications."""

    __slots__ = ("calls",)

    def __init__(self, key: object, *, alg: str | None = None, kid: str | None = None) -> None:
        super().__init__(key, alg=alg, kid=kid)
        self.calls = 0

    def verify(self, signature: bytes, signing_input: bytes) -> bool:
        self.calls += 1
        return super().verify(signature, signing_input)


def counting(key: SigningKey) -> CountingKey:
    counted = CountingKey.from_pem(key.public_key.to_pem())
    assert isinstance(counted, CountingKey)
    return counted


def verifier(clock: FakeClock, *, cache_size: int = 10_000, **options: Any) -> TokenVerifier:
    opts = reference_options() if not options else VerifyOptions(**{"issuer": ISSUER, **options})
    return TokenVerifier(opts, clock=clock, cache_size=cache_size)


def reason_of(call: Any) -> str:
    with pytest.raises(TokenError) as caught:
        call()
    return caught.value.reason


# -- the corpus -------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("authorized_party", [AUTHORIZED_PARTY, None])
@pytest.mark.parametrize("from_cookie", [False, True])
def test_forged_tokens_are_refused_with_their_reason(
    alg: str, authorized_party: str | None, from_cookie: bool, clock: FakeClock
) -> None:
    key = signing_key(alg)
    keys = KeySet([key.public_key])
    checker = TokenVerifier(reference_options(authorized_party=authorized_party), clock=clock)
    corpus = forged_tokens(key, now=NOW, authorized_party=authorized_party)
    wrong = []
    for name, token, expected in corpus:
        try:
            checker.verify(token, keys, from_cookie=from_cookie)
        except TokenError as exc:
            if exc.reason != expected:
                wrong.append(f"{name}: {exc.reason} ({exc}), expected {expected}")
        else:
            wrong.append(f"{name}: accepted, expected {expected}")
    assert not wrong, "\n".join(wrong)
    assert checker.cache_len == 0, "refusals are never cached"
    checker.verify(valid_token(key, authorized_party=authorized_party), keys)


@pytest.mark.parametrize("alg", ALGS)
def test_cookie_only_tokens_are_refused_from_a_cookie_and_accepted_as_bearer(
    alg: str, clock: FakeClock
) -> None:
    key = signing_key(alg)
    keys = KeySet([key.public_key])
    for _name, token, expected in forged_cookie_tokens(key, now=NOW):
        checker = verifier(clock)

        def from_cookie(token: str = token, checker: TokenVerifier = checker) -> object:
            return checker.verify(token, keys, from_cookie=True)

        assert reason_of(from_cookie) == expected
        assert checker.verify(token, keys).azp is None
        assert reason_of(from_cookie) == expected


def test_corpus_covers_every_reason_and_names_are_unique() -> None:
    key = signing_key("ES256")
    corpus = forged_tokens(key) + forged_cookie_tokens(key)
    assert {entry.reason for entry in corpus} == REASONS
    assert len({entry.name for entry in corpus}) == len(corpus)
    assert {entry.name for entry in corpus} >= TRANSPORT_UNSAFE


def test_reasons_are_the_documented_strings() -> None:
    assert (
        frozenset(
            {
                "token-too-large",
                "token-malformed",
                "token-header-not-allowed",
                "token-critical-header-unsupported",
                "token-algorithm-not-allowed",
                "token-unknown-key",
                "token-invalid-signature",
                "token-missing-claim",
                "token-invalid-claim",
                "token-invalid-issuer",
                "token-invalid-audience",
                "token-invalid-authorized-party",
                "token-expired",
                "token-not-active-yet",
                "token-iat-in-the-future",
            }
        )
        == REASONS
    )


# -- accepted tokens --------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_valid_token_is_accepted_with_its_claims(alg: str, clock: FakeClock) -> None:
    key = signing_key(alg)
    token = encode_token(valid_claims(), key)
    verified = verifier(clock).verify(token, KeySet([key.public_key]), from_cookie=True)
    assert verified.token == token
    assert dict(verified.header) == {"alg": alg, "kid": key.kid, "typ": "JWT"}
    assert verified.claims["metadata"] == {"role": "admin"}
    assert (verified.exp, verified.iat, verified.nbf) == (NOW + 60, NOW, NOW - 5)
    assert (verified.sub, verified.sid, verified.azp) == (
        "user_2x8KbT",
        "sess_9QmZr1",
        AUTHORIZED_PARTY,
    )
    with pytest.raises(TypeError):
        verified.claims["sub"] = "someone else"  # type: ignore[index]
    with pytest.raises(AttributeError):
        verified.exp = 0  # type: ignore[misc]


def test_token_without_azp_is_accepted_when_no_authorized_parties(clock: FakeClock) -> None:
    key = signing_key("ES256")
    token = encode_token(valid_claims(authorized_party=None), key)
    checker = TokenVerifier(VerifyOptions(issuer=ISSUER), clock=clock)
    assert checker.verify(token, KeySet([key.public_key]), from_cookie=True).azp is None


def test_whitespace_in_json_and_extra_header_members_are_fine(clock: FakeClock) -> None:
    key = signing_key("EdDSA")
    header = json.dumps({"typ": "JWT", "alg": "EdDSA", "kid": key.kid, "cty": "x"}, indent=2)
    token = sign(header.encode(), json.dumps(valid_claims(), indent=1).encode(), key)
    assert verifier(clock).verify(token, KeySet([key.public_key])).sid == "sess_9QmZr1"


def test_optional_claims_and_required_claims(clock: FakeClock) -> None:
    key = signing_key("ES256")
    keys = KeySet([key.public_key])
    claims = {k: v for k, v in valid_claims().items() if k not in ("sid", "nbf")}
    token = encode_token(claims, key)
    assert reason_of(lambda: verifier(clock).verify(token, keys)) == "token-missing-claim"
    relaxed = verifier(clock, required_claims=("exp", "iat", "iss", "sub"))
    verified = relaxed.verify(token, keys)
    assert (verified.sid, verified.nbf) == (None, None)
    wrong_sid = encode_token({**claims, "sid": 7}, key)
    assert reason_of(lambda: relaxed.verify(wrong_sid, keys)) == "token-invalid-claim"


def test_algorithm_allowlist_subset(clock: FakeClock) -> None:
    es256, eddsa = signing_key("ES256"), signing_key("EdDSA")
    keys = KeySet([es256.public_key, eddsa.public_key])
    only_eddsa = verifier(clock, algorithms=frozenset({"EdDSA"}))
    only_eddsa.verify(valid_token(eddsa, authorized_party=None), keys)
    refused = reason_of(lambda: only_eddsa.verify(valid_token(es256), keys))
    assert refused == "token-algorithm-not-allowed"
    # The verifier's allowlist is checked before the kid, even for a header seen before.
    claims = valid_claims(now=NOW)
    for _ in range(2):
        no_kid = sign({"alg": "ES256", "typ": "JWT"}, claims, es256)
        assert reason_of(lambda t=no_kid: only_eddsa.verify(t, keys)) == (
            "token-algorithm-not-allowed"
        )
    verified_header = sign(header_for(es256), claims, es256)
    assert verifier(clock).verify(verified_header, keys).sub == claims["sub"]
    assert reason_of(lambda: only_eddsa.verify(verified_header, keys)) == (
        "token-algorithm-not-allowed"
    )


class _EvictedOnRead(FIFOCache[str, Any]):
    """A cache whose entry another thread evicts between the membership test and the read."""

    def __getitem__(self, key: str) -> Any:
        if key in self:
            del self[key]  # what a concurrent insertion at capacity does
        return super().__getitem__(key)


def test_a_hit_evicted_by_another_thread_is_verified_again(clock: FakeClock) -> None:
    """Between the membership test and the lookup another thread may evict the entry."""
    key = signing_key("ES256")
    keys = KeySet([key.public_key])
    checker = verifier(clock)
    checker._cache = _EvictedOnRead(maxsize=16)
    token = valid_token(key)
    first = checker.verify(token, keys)
    assert checker.cache_len == 1
    again = checker.verify(token, keys)  # found, evicted, then verified from scratch
    assert again == first
    assert checker.cache_len == 1


@pytest.mark.parametrize("alg", ALGS)
def test_size_limit_is_inclusive(alg: str, clock: FakeClock) -> None:
    key = signing_key(alg)
    keys = KeySet([key.public_key])
    token = valid_token(key)
    verifier(clock, max_token_bytes=len(token)).verify(token, keys)
    tight = verifier(clock, max_token_bytes=len(token) - 1)
    assert reason_of(lambda: tight.verify(token, keys)) == "token-too-large"


# -- leeway edges, cold and from the cache ----------------------------------------------


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "cached"])
def test_exp_edge(warm: bool, clock: FakeClock) -> None:
    key = signing_key("ES256")
    keys = KeySet([key.public_key])
    token = sign(header_for(key), {**valid_claims(), "exp": NOW + 60}, key)
    checker = verifier(clock)
    if warm:
        checker.verify(token, keys)
        assert checker.cache_len == 1
    clock.now = NOW + 60 + 5 - 0.001
    checker.verify(token, keys)
    clock.now = NOW + 60 + 5
    assert reason_of(lambda: checker.verify(token, keys)) == "token-expired"
    assert checker.cache_len == 0, "an expired entry is evicted"


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "cached"])
def test_nbf_edge(warm: bool, clock: FakeClock) -> None:
    key = signing_key("EdDSA")
    keys = KeySet([key.public_key])
    token = sign(header_for(key), {**valid_claims(), "nbf": NOW + 10}, key)
    checker = verifier(clock)
    clock.now = NOW + 5  # now + leeway == nbf: active
    if warm:
        checker.verify(token, keys)
    clock.now = NOW + 4.999
    assert reason_of(lambda: checker.verify(token, keys)) == "token-not-active-yet"
    clock.now = NOW + 5
    checker.verify(token, keys)


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "cached"])
def test_iat_edge(warm: bool, clock: FakeClock) -> None:
    key = signing_key("RS256")
    keys = KeySet([key.public_key])
    claims = {k: v for k, v in valid_claims().items() if k != "nbf"}
    token = sign(header_for(key), {**claims, "iat": NOW + 10}, key)
    checker = verifier(clock)
    clock.now = NOW + 5  # iat == now + leeway: fine
    if warm:
        checker.verify(token, keys)
    clock.now = NOW + 4.999
    assert reason_of(lambda: checker.verify(token, keys)) == "token-iat-in-the-future"
    clock.now = NOW + 5
    checker.verify(token, keys)


@pytest.mark.parametrize("leeway", [0, 30])
def test_configured_leeway(leeway: int, clock: FakeClock) -> None:
    key = signing_key("ES256")
    keys = KeySet([key.public_key])
    claims = {**valid_claims(), "iat": NOW - 100, "nbf": NOW - 100, "exp": NOW}
    token = sign(header_for(key), claims, key)
    checker = verifier(clock, leeway=leeway)
    clock.now = NOW + leeway - 1
    checker.verify(token, keys)
    clock.now = NOW + leeway
    assert reason_of(lambda: checker.verify(token, keys)) == "token-expired"


# -- the verified-token cache -----------------------------------------------------------


def test_cache_hit_skips_signature_verification(clock: FakeClock) -> None:
    key = signing_key("ES256")
    counted = counting(key)
    keys = KeySet([counted])
    checker = verifier(clock)
    token = valid_token(key)
    first = checker.verify(token, keys)
    for _ in range(5):
        assert checker.verify(token, keys) is first
    assert counted.calls == 1
    # An equal key in a rebuilt key set (a JWKS refetch) still counts as a hit.
    assert checker.verify(token, KeySet([PublicKey.from_pem(key.public_key.to_pem())])) is first
    assert counted.calls == 1


def test_cache_hit_still_enforces_the_cookie_rule(clock: FakeClock) -> None:
    key = signing_key("EdDSA")
    keys = KeySet([key.public_key])
    checker = verifier(clock)
    token = valid_token(key, authorized_party=None)
    checker.verify(token, keys)
    assert checker.cache_len == 1
    refused = reason_of(lambda: checker.verify(token, keys, from_cookie=True))
    assert refused == "token-invalid-authorized-party"
    checker.verify(token, keys)


def test_cache_hit_requires_the_key_to_still_be_in_the_key_set(clock: FakeClock) -> None:
    key = signing_key("ES256")
    checker = verifier(clock)
    token = valid_token(key)
    checker.verify(token, KeySet([key.public_key]))
    assert reason_of(lambda: checker.verify(token, KeySet())) == "token-unknown-key"
    assert checker.cache_len == 0
    impostor = PublicKey.from_pem(signing_key("ES256", "b").public_key.to_pem(), kid=key.kid)
    checker.verify(token, KeySet([key.public_key]))
    assert reason_of(lambda: checker.verify(token, KeySet([impostor]))) == "token-invalid-signature"


def test_cache_is_bounded_and_first_in_first_out(clock: FakeClock) -> None:
    key = signing_key("EdDSA")
    counted = counting(key)
    keys = KeySet([counted])
    checker = verifier(clock, cache_size=3)
    tokens = [encode_token({**valid_claims(), "sid": f"sess_{i}"}, key) for i in range(5)]
    for token in tokens:
        checker.verify(token, keys)
    assert checker.cache_len == 3
    assert counted.calls == 5
    checker.verify(tokens[-1], keys)
    assert counted.calls == 5
    checker.verify(tokens[0], keys)
    assert counted.calls == 6
    checker.clear_cache()
    assert checker.cache_len == 0


def test_refusals_are_not_cached(clock: FakeClock) -> None:
    key = signing_key("ES256")
    counted = counting(key)
    keys = KeySet([counted])
    checker = verifier(clock)
    early = sign(header_for(key), {**valid_claims(), "nbf": NOW + 60}, key)
    assert reason_of(lambda: checker.verify(early, keys)) == "token-not-active-yet"
    assert checker.cache_len == 0
    clock.advance(60)
    checker.verify(early, keys)
    assert counted.calls == 2
    assert checker.cache_len == 1


def test_cache_size_zero_disables_the_cache(clock: FakeClock) -> None:
    key = signing_key("EdDSA")
    counted = counting(key)
    checker = verifier(clock, cache_size=0)
    token = valid_token(key)
    checker.verify(token, KeySet([counted]))
    checker.verify(token, KeySet([counted]))
    assert (counted.calls, checker.cache_len) == (2, 0)


def test_concurrent_verification_from_threads(clock: FakeClock) -> None:
    key = signing_key("EdDSA")
    keys = KeySet([key.public_key])
    checker = verifier(clock, cache_size=8)
    tokens = [encode_token({**valid_claims(), "sid": f"sess_{i}"}, key) for i in range(32)]
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for round_ in range(6):
                for token in tokens[offset:] + tokens[:offset]:
                    assert checker.verify(token, keys).token == token, round_
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i * 5,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert checker.cache_len <= 8


# -- remember(): caching a token this process just signed --------------------------------


def test_remember_caches_a_freshly_minted_token(clock: FakeClock) -> None:
    key = signing_key("ES256")
    counted = counting(key)
    checker = verifier(clock)
    signed = sign_token(valid_claims(), key)
    remembered = checker.remember(signed)
    assert remembered.sid == "sess_9QmZr1"
    assert checker.verify(signed.token, KeySet([counted])) is remembered
    assert counted.calls == 0
    assert checker.remember(signed) is remembered


def test_remember_survives_an_eviction_by_another_thread(clock: FakeClock) -> None:
    key = signing_key("ES256")
    checker = verifier(clock)
    checker._cache = _EvictedOnRead(maxsize=16)
    signed = sign_token(valid_claims(), key)
    first = checker.remember(signed)
    assert checker.cache_len == 1
    assert checker.remember(signed) == first  # found, evicted, then accepted again
    assert checker.cache_len == 1


def test_refusals_quote_hostile_header_values_briefly(clock: FakeClock) -> None:
    key = signing_key("ES256")
    keys = KeySet([key.public_key])
    claims = valid_claims(now=NOW)
    for header, reason in (
        ({"alg": "A" * 5000, "kid": key.kid}, "token-algorithm-not-allowed"),
        ({"alg": "ES256", "kid": "k" * 5000}, "token-unknown-key"),
    ):
        with pytest.raises(TokenError) as caught:
            verifier(clock).verify(sign(header, claims, key), keys)
        assert caught.value.reason == reason
        assert len(str(caught.value)) < 200
        assert "..." in str(caught.value)


def test_remember_takes_only_what_sign_token_returned(clock: FakeClock) -> None:
    key = signing_key("ES256")
    checker = verifier(clock)
    token = encode_token(valid_claims(), key)  # a string, as a request would carry it
    with pytest.raises(TypeError):
        checker.remember(token)  # type: ignore[arg-type]
    assert checker.cache_len == 0


def test_two_verifiers_share_no_cache(clock: FakeClock) -> None:
    """Every cache belongs to its verifier: nothing one learns serves the other."""
    key = signing_key("ES256")
    counted = counting(key)
    first, second = verifier(clock), verifier(clock)
    signed = sign_token(valid_claims(), key)
    first.remember(signed)
    first.verify(
        sign_token({**valid_claims(), "sid": "sess_other"}, key).token, KeySet([key.public_key])
    )
    assert second.cache_len == 0
    second.verify(signed.token, KeySet([counted]))
    assert counted.calls == 1  # the second verifier checked the signature itself


def test_remember_applies_the_claim_policy(clock: FakeClock) -> None:
    key = signing_key("EdDSA")
    checker = verifier(clock)
    signed = sign_token({**valid_claims(), "iss": "https://other.example"}, key)
    assert reason_of(lambda: checker.remember(signed)) == "token-invalid-issuer"
    assert checker.cache_len == 0


# -- options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"issuer": ""},
        {"algorithms": frozenset({"HS256"})},
        {"algorithms": frozenset({"ES256", "none"})},
        {"algorithms": frozenset()},
        {"algorithms": "ES256"},
        {"required_claims": ("iat", "iss", "sub")},
        {"required_claims": "exp"},
        {"authorized_parties": "https://app.example.com"},
        {"authorized_parties": frozenset()},
        {"authorized_parties": frozenset({1})},
        {"leeway": -1},
        {"leeway": 1.5},
        {"max_token_bytes": 0},
    ],
)
def test_invalid_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        VerifyOptions(**{"issuer": ISSUER, **options})


def test_options_are_normalized() -> None:
    options = VerifyOptions(
        issuer=ISSUER,
        authorized_parties={"https://a.example"},  # type: ignore[arg-type]
        algorithms={"ES256"},  # type: ignore[arg-type]
        required_claims=["exp", "iat", "iss"],  # type: ignore[arg-type]
    )
    assert options.authorized_parties == frozenset({"https://a.example"})
    assert options.algorithms == frozenset({"ES256"})
    assert options.required_claims == ("exp", "iat", "iss")
    assert VerifyOptions(issuer=ISSUER).required_claims == REQUIRED_CLAIMS
    with pytest.raises(ConfigurationError):
        TokenVerifier(VerifyOptions(issuer=ISSUER), cache_size=-1)


# -- the JWS layer, headers, signing ----------------------------------------------------


def test_decode_jws_returns_header_and_raw_payload() -> None:
    key = signing_key("RS256")
    token = sign(header_for(key), b"not json at all", key)
    header, payload = decode_jws(token, KeySet([key.public_key]))
    assert (header["alg"], payload) == ("RS256", b"not json at all")
    header["alg"] = "tampered"
    assert decode_jws(token, KeySet([key.public_key]))[0]["alg"] == "RS256"


def test_decode_jws_can_never_allow_hmac() -> None:
    key = signing_key("ES256")
    token = sign(header_for(key), b"{}", key)
    only_hmac = frozenset({"HS256"})
    refused = reason_of(lambda: decode_jws(token, KeySet([key.public_key]), algorithms=only_hmac))
    assert refused == "token-algorithm-not-allowed"


def test_unverified_header() -> None:
    key = signing_key("EdDSA")
    header = unverified_header(valid_token(key))
    assert header == {"alg": "EdDSA", "kid": key.kid, "typ": "JWT"}
    assert reason_of(lambda: unverified_header("a.b")) == "token-malformed"
    assert reason_of(lambda: unverified_header("x" * 9000)) == "token-too-large"


@pytest.mark.parametrize("alg", ALGS)
def test_unverified_header_checks_every_part_even_for_a_known_header(
    alg: str, clock: FakeClock
) -> None:
    """A header seen in a verified token skips its own parsing, never the other parts'."""
    key = signing_key(alg)
    structural = [
        forged
        for forged in forged_tokens(key)
        if forged.reason in {"token-malformed", "token-too-large"}
        and not forged.name.startswith(("header-", "payload-"))
    ]
    assert len(structural) > 20
    for warm in (False, True):
        if warm:  # the valid token's header enters the verified-header cache
            verifier(clock).verify(valid_token(key), KeySet([key.public_key]))
        for forged in structural:
            refused = reason_of(lambda t=forged.token: unverified_header(t))
            assert refused == forged.reason, (forged.name, warm)


@pytest.mark.parametrize("alg", ALGS)
def test_encode_token_writes_compact_strict_jws(alg: str) -> None:
    key = signing_key(alg)
    token = encode_token({"iss": ISSUER, "name": "Zoë"}, key)
    header_segment, payload_segment, signature = token.split(".")
    assert "=" not in token
    assert header_segment == b64(
        b'{"alg":"%s","kid":"%s","typ":"JWT"}' % (alg.encode(), key.kid.encode())
    )
    assert payload_segment == b64('{"iss":"https://auth.example.com","name":"Zoë"}'.encode())
    _, payload = decode_jws(token, KeySet([key.public_key]))
    assert json.loads(payload) == {"iss": ISSUER, "name": "Zoë"}
    assert len(signature) == {"ES256": 86, "EdDSA": 86, "RS256": 342}[alg]


def test_encode_token_refuses_what_json_cannot_carry() -> None:
    key = signing_key("ES256")
    with pytest.raises(ValueError):
        encode_token({"exp": float("nan")}, key)
    with pytest.raises(TypeError):
        encode_token({"exp": object()}, key)


def test_verified_token_is_an_immutable_value(clock: FakeClock) -> None:
    key = signing_key("RS256")
    keys = KeySet([key.public_key])
    token = valid_token(key)
    verified = TokenVerifier(reference_options(), clock=clock).verify(token, keys)
    rebuilt = VerifiedToken(
        token=token,
        header=MappingProxyType(dict(verified.header)),
        claims=MappingProxyType(dict(verified.claims)),
        exp=verified.exp,
        iat=verified.iat,
        nbf=verified.nbf,
        sub=verified.sub,
        sid=verified.sid,
        azp=verified.azp,
    )
    assert verified == rebuilt
    assert isinstance(verified.header, MappingProxyType)
    assert isinstance(verified.claims, MappingProxyType)
    assert dict(verified.header) == {"alg": "RS256", "kid": key.kid, "typ": "JWT"}
    with pytest.raises(AttributeError):
        verified.sub = "user_2"  # type: ignore[misc]


def test_algorithms_constant() -> None:
    assert frozenset({"ES256", "RS256", "EdDSA"}) == ALGORITHMS


def test_audience_names_this_verifier() -> None:
    key = signing_key("ES256")
    keys = KeySet([key.public_key])
    options = VerifyOptions(issuer=ISSUER, audience=frozenset({"reports-service"}))
    verifier = TokenVerifier(options, clock=lambda: float(NOW))
    for aud in ("reports-service", ["billing", "reports-service"]):
        token = sign(header_for(key), {**valid_claims(now=NOW), "aud": aud}, key)
        assert verifier.verify(token, keys).claims["aud"] == aud
    for aud in ("billing", ["billing"]):
        token = sign(header_for(key), {**valid_claims(now=NOW), "aud": aud}, key)
        assert reason_of(lambda t=token: verifier.verify(t, keys)) == "token-invalid-audience"
    without = sign(header_for(key), valid_claims(now=NOW), key)
    assert verifier.verify(without, keys).claims.get("aud") is None  # no aud: no claim on us
    with pytest.raises(ConfigurationError):
        VerifyOptions(issuer=ISSUER, audience="reports-service")  # type: ignore[arg-type]
