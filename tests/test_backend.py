"""The Backend: users, issuance, templates at construction, budget, keys, rotation, config."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet as JoseKeySet

from sessionclaims import (
    Backend,
    ConfigurationError,
    MetadataError,
    SessionNotActive,
    SignUpAlreadyCompleted,
    TemplateError,
    UserNotFound,
)
from sessionclaims.stores.base import dump_metadata
from sessionclaims.templates import load_named_template
from sessionclaims.tokens import encode_token

from .helpers import ISSUER, ORIGIN, FakeClock, bearer, client, make_app, make_backend, sqlite_url
from .servers import running_server

pytestmark = pytest.mark.anyio


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'auth.db'}"


async def test_users_and_the_three_tiers(db: str, clock: FakeClock) -> None:
    async with make_backend(db, clock) as backend:
        user = await backend.users.create_user(
            external_id="ext-1",
            trusted_metadata={"role": "member"},
            private_metadata={"stripe_id": "cus_1"},
            untrusted_metadata={"theme": "dark"},
        )
        assert user.public_metadata == {"role": "member"}
        assert user.trusted_metadata is user.public_metadata
        assert user.untrusted_metadata == {"theme": "dark"}
        merged = await backend.users.update_user_metadata(
            user.id, public_metadata={"plan": "pro"}, unsafe_metadata={"theme": None}
        )
        assert merged.public_metadata == {"role": "member", "plan": "pro"}
        assert merged.unsafe_metadata == {}
        replaced = await backend.users.replace_user_metadata(
            user.id, unsafe_metadata={"birthday": "11-30-1969"}
        )
        assert replaced.unsafe_metadata == {"birthday": "11-30-1969"}
        assert replaced.private_metadata == {"stripe_id": "cus_1"}  # tiers not given: untouched
        with pytest.raises(MetadataError) as ambiguous:
            await backend.users.update_user_metadata(
                user.id, public_metadata={}, trusted_metadata={}
            )
        assert ambiguous.value.code == "ambiguous_field"
        page = await backend.users.list_users()
        assert page.total_count == 1
        await backend.users.delete_user(user.id)
        with pytest.raises(UserNotFound):
            await backend.users.get_user(user.id)


async def test_session_token_claims(db: str, clock: FakeClock) -> None:
    async with make_backend(db, clock, token_lifetime=120, clock_skew=7) as backend:
        user = await backend.users.create_user(public_metadata={"role": "admin", "plan": "pro"})
        new = await backend.sessions.create_session(user.id)
        header = jwt.get_unverified_header(new.token)
        assert header == {"alg": "ES256", "kid": backend.keys.signer.kid, "typ": "JWT"}
        now = int(clock())
        assert claims_of(new.token) == {
            "iss": ISSUER,
            "sub": user.id,
            "sid": new.session.id,
            "iat": now,
            "nbf": now - 7,
            "exp": now + 120,
            "azp": ORIGIN,
            "v": 1,
            "ver": 1,
            "role": "admin",
            "plan": "pro",
        }
        assert new.refresh_credential.startswith(new.session.id + ".")
        stored = await backend.store.get_session(new.session.id)
        assert stored is not None
        assert new.refresh_credential.encode() not in stored.refresh_hash  # only a hash


async def test_named_template_token(tmp_path: Path, clock: FakeClock) -> None:
    templates = {
        "reports": {
            "claims": {"plan": "{{user.public_metadata.plan}}"},
            "lifetime": 300,
            "aud": "reports-service",
        }
    }
    async with make_backend(f"sqlite:///{tmp_path / 'a.db'}", clock, templates=templates) as b:
        user = await b.users.create_user(public_metadata={"plan": "pro"})
        new = await b.sessions.create_session(user.id)
        token = await b.sessions.get_token(new.session.id, "reports")
        c = claims_of(token)
        assert c["aud"] == "reports-service"
        assert c["sid"] == new.session.id
        assert c["exp"] - c["iat"] == 300
        assert c["plan"] == "pro"
        assert "ver" not in c
        # a named-template token is not a session token, even for our own middleware:
        # with an aud it is for someone else (RFC 7519), without one it has no version
        async with client(make_app(b)) as http:
            body = (await http.get("/whoami", headers=bearer(token))).json()
        assert body == body | {"signed_in": False, "reason": "token-invalid-audience"}
        b.named_templates["plain"] = load_named_template("plain", {"claims": {}})
        b.issuer.named_templates["plain"] = b.named_templates["plain"]
        plain = await b.sessions.get_token(new.session.id, "plain")
        async with client(make_app(b)) as http:
            body = (await http.get("/whoami", headers=bearer(plain))).json()
        assert body == body | {"signed_in": False, "reason": "token-not-a-session-token"}


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"session_template": {"secret": "{{user.private_metadata.x}}"}}, "private"),
        ({"session_template": {"sub": "{{user.id}}"}}, "sub"),
        ({"session_template": {"role": "{{user.emial}}"}}, "emial"),
        ({"session_template": {"role": "{{user.public_metadata.role"}}, "role"),
        ({"templates": {"bad name!": {"claims": {}}}}, "bad name!"),
        ({"templates": {"r": {"claims": {"aud": "x"}}}}, "aud"),
        ({"signing_algorithm": "HS256"}, "HS256"),
        ({"issuer": ""}, "issuer"),
        ({"clock_skew": 60}, "clock_skew"),
        ({"poll_interval": 5}, "poll_interval"),
        ({"authorized_parties": ["app.example.com"]}, "origins"),
        ({"unknown_setting": 1}, "unknown_setting"),
    ],
)
def test_configuration_mistakes_fail_at_construction(
    tmp_path: Path, settings: dict[str, Any], fragment: str
) -> None:
    options: dict[str, Any] = {"issuer": ISSUER, **settings}
    with pytest.raises((ConfigurationError, TemplateError)) as error:
        Backend(f"sqlite:///{tmp_path / 'a.db'}", **options)
    assert fragment in str(error.value)


def test_template_errors_carry_the_claim_path(tmp_path: Path) -> None:
    with pytest.raises(TemplateError) as error:
        Backend(
            "sqlite://",
            issuer=ISSUER,
            session_template={"org": {"plan": "{{user.public_metadata.plan ||}}"}},
        )
    assert error.value.path == "org.plan"
    assert error.value.column is not None


async def test_token_budget_refuses_the_write_and_keeps_the_user(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with make_backend(
        f"sqlite:///{tmp_path / 'a.db'}",
        clock,
        max_token_bytes=900,
        session_template={"profile": "{{user.public_metadata}}"},
    ) as backend:
        user = await backend.users.create_user(public_metadata={"a": "x" * 100})
        before = await backend.store.get_user(user.id)
        with pytest.raises(MetadataError) as error:
            await backend.users.update_user_metadata(user.id, public_metadata={"b": "y" * 600})
        assert error.value.code == "session_token_too_large"
        after = await backend.store.get_user(user.id)
        assert after == before
        assert after is not None
        assert before is not None
        assert dump_metadata(after.public_metadata) == dump_metadata(before.public_metadata)
        new = await backend.sessions.create_session(user.id)
        assert len(new.token) <= 900


async def test_keys_persist_across_restarts(db: str, clock: FakeClock) -> None:
    async with make_backend(db, clock) as first:
        user = await first.users.create_user(public_metadata={"role": "admin"})
        token = (await first.sessions.create_session(user.id)).token
        kid = first.keys.signer.kid
    async with make_backend(db, clock) as second:
        assert second.keys.signer.kid == kid
        async with client(make_app(second)) as c:
            assert (await c.get("/whoami", headers=bearer(token))).json()["signed_in"]


async def test_private_keys_are_encrypted_at_rest(
    db: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with make_backend(db, clock, key_encryption_secret="kek-1") as backend:
        records = await backend.store.list_keys()
        assert records
        for record in records:
            assert b"PRIVATE KEY" not in record.private_key
        pem = backend.keys.signer.private_pem()
        for key in backend.jwks()["keys"]:
            assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)
    assert pem.decode() not in caplog.text
    with pytest.raises(ConfigurationError, match="key_encryption_secret"):
        async with make_backend(db, clock, key_encryption_secret="wrong"):
            pass
    with pytest.raises(ConfigurationError, match="encrypted"):
        async with make_backend(db, clock, secret_key=None, key_encryption="none"):
            pass


@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "EdDSA"])
@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")  # RFC 9864; the spec pins EdDSA
async def test_tokens_verify_with_an_independent_jose_library(
    tmp_path: Path, clock: FakeClock, algorithm: str
) -> None:
    async with make_backend(
        f"sqlite:///{tmp_path / 'a.db'}", clock, signing_algorithm=algorithm
    ) as backend:
        user = await backend.users.create_user(public_metadata={"role": "admin"})
        new = await backend.sessions.create_session(user.id)
        named = await backend.sessions.get_token(new.session.id)
        keys = JoseKeySet.import_key_set(json.loads(json.dumps(backend.jwks())))
        for token in (new.token, named):
            decoded = jose_jwt.decode(token, keys, algorithms=[algorithm])
            assert decoded.header["alg"] == algorithm
            assert decoded.claims["role"] == "admin"
            assert decoded.claims["sub"] == user.id


async def test_algorithm_change_warns_instead_of_rotating(
    db: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with make_backend(db, clock, signing_algorithm="ES256") as first:
        kid = first.keys.signer.kid
    async with make_backend(db, clock, signing_algorithm="EdDSA") as second:
        assert second.keys.signer.kid == kid
        assert "keeps signing until you rotate" in caplog.text
        info = await second.keys.rotate()
        assert info.alg == "EdDSA"
        assert second.keys.signer.alg == "EdDSA"


async def test_rotation_causes_zero_failed_requests(db: str, clock: FakeClock) -> None:
    async with make_backend(db, clock) as backend:
        user = await backend.users.create_user(public_metadata={"role": "admin"})
        sessions = [await backend.sessions.create_session(user.id) for _ in range(5)]
        old_kid = backend.keys.signer.kid
        async with client(make_app(backend)) as c:
            failures = 0
            for round_ in range(6):
                if round_ == 2:
                    await backend.keys.rotate()
                fresh = await backend.sessions.create_session(user.id)
                for token in [s.token for s in sessions] + [fresh.token]:
                    body = (await c.get("/whoami", headers=bearer(token))).json()
                    failures += not body["signed_in"]
            assert failures == 0
        assert backend.keys.signer.kid != old_kid
        assert old_kid in {k["kid"] for k in backend.jwks()["keys"]}  # still verifying
        clock.advance(backend.settings.token_lifetime + backend.settings.clock_skew + 1)
        assert await backend.keys.prune() == 1
        assert old_kid not in {k["kid"] for k in backend.jwks()["keys"]}


async def test_concurrent_merges_on_one_user_lose_nothing(db: str, clock: FakeClock) -> None:
    async with make_backend(db, clock) as backend, make_backend(db, clock) as other_worker:
        user = await backend.users.create_user()
        writes = [
            (backend if i % 2 else other_worker).users.update_user_metadata(
                user.id, private_metadata={f"k{i}": i}
            )
            for i in range(19)
        ]
        await asyncio.gather(*writes)
        stored = await backend.users.get_user(user.id)
        assert dict(stored.private_metadata) == {f"k{i}": i for i in range(19)}


async def test_sign_up_flow(db: str, clock: FakeClock) -> None:
    async with make_backend(db, clock) as backend:
        with pytest.raises(MetadataError) as refused:
            await backend.sign_ups.create_sign_up(public_metadata={"role": "admin"})
        assert refused.value.code == "form_param_not_allowed"
        assert refused.value.status == 403
        sign_up = await backend.sign_ups.create_sign_up(untrusted_metadata={"source": "ad"})
        done = await backend.sign_ups.complete(sign_up.id)
        assert done.user.unsafe_metadata == {"source": "ad"}
        assert claims_of(done.new_session.token)["sub"] == done.user.id
        with pytest.raises(SignUpAlreadyCompleted):
            await backend.sign_ups.complete(sign_up.id)
        assert (await backend.users.list_users()).total_count == 1


async def test_revoked_session_mints_no_token(db: str, clock: FakeClock) -> None:
    async with make_backend(db, clock) as backend:
        user = await backend.users.create_user()
        new = await backend.sessions.create_session(user.id)
        await backend.sessions.revoke_session(new.session.id)
        with pytest.raises(SessionNotActive):
            await backend.sessions.get_token(new.session.id)
        with pytest.raises(SessionNotActive):
            await backend.sessions.revoke_session(new.session.id)


def test_settings_precedence_kwargs_env_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "sessionclaims.toml"
    config.write_text(
        '[sessionclaims]\nissuer = "https://from-toml.example.com"\ntoken_lifetime = 90\n'
        "clock_skew = 3\n"
    )
    monkeypatch.setenv("SESSIONCLAIMS_TOKEN_LIFETIME", "75")
    backend = Backend("sqlite://", config_file=str(config))
    assert backend.settings.issuer == "https://from-toml.example.com"
    assert backend.settings.token_lifetime == 75  # env beats the file
    assert backend.settings.clock_skew == 3
    backend = Backend("sqlite://", config_file=str(config), token_lifetime=30)
    assert backend.settings.token_lifetime == 30  # a keyword beats both
    monkeypatch.setenv("SESSIONCLAIMS_SECRET_KEY", "sk_live_hidden")
    assert "sk_live_hidden" not in repr(Backend("sqlite://", issuer=ISSUER).settings)


async def test_the_api_through_a_real_uvicorn_server(tmp_path: Path) -> None:
    backend = Backend(
        f"sqlite:///{tmp_path / 'a.db'}",
        issuer=ISSUER,
        secret_key="sk_test_u",
        session_template={"role": "{{user.public_metadata.role}}"},
    )
    await backend.ensure_open()
    try:
        with running_server(backend.api) as base:
            async with httpx.AsyncClient(base_url=base) as http:
                secret = {"Authorization": "Bearer sk_test_u"}
                user = (
                    await http.post(
                        "/v1/users", headers=secret, json={"public_metadata": {"role": "admin"}}
                    )
                ).json()
                token = (
                    await http.post("/v1/sessions", headers=secret, json={"user_id": user["id"]})
                ).json()["token"]
                me = await http.get("/v1/me", headers=bearer(token))
                assert me.status_code == 200
                assert "private_metadata" not in me.json()
                jwks = await http.get("/.well-known/jwks.json")
                assert jwks.headers["cache-control"].startswith("public, max-age=")
                deep = await http.post("/v1/users", headers=secret, content=b"[" * 60_000)
                assert deep.status_code == 400
                assert deep.json()["errors"][0]["code"] == "malformed_json"
                huge = await http.post("/v1/users", headers=secret, content=b"[" * 100_000)
                assert huge.status_code == 413
                assert huge.json()["errors"][0]["code"] == "request_too_large"
    finally:
        await backend.aclose()


async def test_set_session_cookies_attributes(db: str, clock: FakeClock) -> None:
    from starlette.responses import Response

    async with make_backend(db, clock) as backend:
        user = await backend.users.create_user()
        new = await backend.sessions.create_session(user.id)
        response = Response()
        backend.set_session_cookies(response, new, secure=True)
        cookies = {
            value.split("=", 1)[0]: {a.strip().lower() for a in value.split(";")[1:]}
            for name, value in response.raw_headers
            if name == b"set-cookie"
            for value in [value.decode()]
        }
        lifetime = backend.settings.token_lifetime
        assert {"path=/", "samesite=lax", "secure", f"max-age={lifetime}"} <= cookies["__session"]
        assert "httponly" not in cookies["__session"]  # frontend code may read its claims
        session_life = backend.settings.session_lifetime
        assert {"path=/", "samesite=lax", "secure", "httponly", f"max-age={session_life}"} <= (
            cookies["__refresh"]
        )
        plain = Response()
        backend.set_session_cookies(plain, new, secure=False)
        session_cookie = next(v for n, v in plain.raw_headers if v.startswith(b"__session="))
        refresh_cookie = next(v for n, v in plain.raw_headers if v.startswith(b"__refresh="))
        assert b"secure" not in session_cookie.lower()
        assert b"secure" in refresh_cookie.lower()  # the refresh cookie is always Secure


async def test_retired_keys_leave_the_jwks_and_the_store_by_themselves(
    db: str, clock: FakeClock
) -> None:
    async with make_backend(db, clock) as backend:
        old = backend.keys.signer.kid
        await backend.keys.rotate()
        assert old in {k["kid"] for k in backend.jwks()["keys"]}
        clock.advance(backend.settings.token_lifetime + backend.settings.clock_skew + 61)
        # Gone from the JWKS at once, before any clean-up ran...
        assert old not in {k["kid"] for k in backend.jwks()["keys"]}
        assert old in {record.kid for record in await backend.store.list_keys()}
        # ...and from the store at the change feed's next maintenance.
        await backend.feed.step()
        assert old not in {record.kid for record in await backend.store.list_keys()}
        assert len(backend.jwks()["keys"]) == 1


async def test_a_retired_key_verifies_nothing_from_its_retirement_on(
    db: str, clock: FakeClock
) -> None:
    async with make_backend(db, clock) as backend:
        user = await backend.users.create_user(public_metadata={"role": "admin"})
        new = await backend.sessions.create_session(user.id)
        old_key = backend.keys.signer
        await backend.keys.rotate()
        retire_at = next(k.retire_at for k in backend.keys.list() if k.kid == old_key.kid)
        assert retire_at is not None
        # A token of the old key that outlives its retirement (a stolen key's forgery):
        claims = {**claims_of(new.token), "exp": retire_at // 1000 + 3600}
        forged = encode_token(claims, old_key)
        async with client(make_app(backend)) as c:
            body = (await c.get("/whoami", headers=bearer(forged))).json()
            assert body["signed_in"]  # before retirement the old key still verifies
            clock.advance(retire_at / 1000 - clock() + 0.001)
            body = (await c.get("/whoami", headers=bearer(forged))).json()
        assert not body["signed_in"]
        assert body["reason"] == "token-unknown-key"
        assert old_key.kid not in {k["kid"] for k in backend.jwks()["keys"]}


async def test_metadata_keywords_are_the_tiers_and_their_aliases(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with make_backend(sqlite_url(tmp_path), clock) as backend:
        user = await backend.users.create_user(
            trusted_metadata={"a": 1}, untrusted_metadata={"b": 2}
        )
        assert (dict(user.public_metadata), dict(user.unsafe_metadata)) == ({"a": 1}, {"b": 2})
        user = await backend.users.update_user_metadata(user.id, public_metadata={"c": 3})
        assert dict(user.public_metadata) == {"a": 1, "c": 3}
        for call in (
            backend.users.create_user(secret_metadata={}),  # type: ignore[call-arg]
            backend.users.update_user_metadata(user.id, metadata={}),  # type: ignore[call-arg]
            backend.users.replace_user_metadata(user.id, public={}),  # type: ignore[call-arg]
        ):
            with pytest.raises(TypeError, match="unexpected keyword argument"):
                await call
        assert dict((await backend.users.get_user(user.id)).public_metadata) == {"a": 1, "c": 3}
