"""Private signing keys are encrypted at rest by default (docs/security.md, "Signing keys").

The stored rows are read with ``sqlite3`` itself, so what is asserted is what lies on
disk. Where the key-encryption secret comes from: ``key_encryption_secret``, else derived
from ``secret_key``, else a key file beside an SQLite database; ``key_encryption="none"``
is the one, logged, way to store plain text.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from sessionclaims import Backend, ConfigurationError
from sessionclaims.backend._key_encryption import (
    KEY_FILE_SUFFIX,
    KeyEncryptionKey,
    is_sealed,
    unseal,
)

from .helpers import FULL_MODE, FakeClock, bearer, client, make_app, make_backend, sqlite_url
from .stores.helpers import POSTGRES_URL, postgres_schema, require_postgres

pytestmark = pytest.mark.anyio

SECRET_KEY = FULL_MODE["secret_key"]
KEYS_LOGGER = "sessionclaims.keys"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def stored_keys(url: str) -> dict[str, bytes]:
    """``kid -> private_key`` exactly as the database holds them."""
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return {
            kid: bytes(pk) for kid, pk in conn.execute("SELECT kid, private_key FROM signing_keys")
        }
    finally:
        conn.close()


def key_file(url: str) -> tuple[int | None, str | None]:
    """The mode and secret of the key file beside the database (``None`` without one)."""
    path = Path(url.removeprefix("sqlite:///") + KEY_FILE_SUFFIX)
    if not path.exists():
        return None, None
    return stat.S_IMODE(path.stat().st_mode), path.read_text(encoding="ascii").strip()


async def mint(backend: Backend) -> str:
    user = await backend.users.create_user(public_metadata={"role": "admin"})
    return (await backend.sessions.create_session(user.id)).token


async def signed_in(backend: Backend, token: str) -> bool:
    async with client(make_app(backend)) as c:
        answer = (await c.get("/whoami", headers=bearer(token))).json()
    return bool(answer["signed_in"])


async def test_by_default_keys_are_sealed_under_a_key_derived_from_secret_key(
    db: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with make_backend(db, clock) as backend:
        token = await mint(backend)
        pem = backend.keys.signer.private_pem()
    ((kid, stored),) = stored_keys(db).items()
    assert is_sealed(stored)
    assert b"PRIVATE KEY" not in stored
    assert unseal(stored, KeyEncryptionKey.from_secret_key(SECRET_KEY), kid) == pem
    # Its own HKDF label: not the key a key_encryption_secret of the same value gives.
    assert unseal(stored, KeyEncryptionKey.from_secret(SECRET_KEY), kid) is None
    assert key_file(db) == (None, None)
    assert pem.decode() not in caplog.text
    assert SECRET_KEY not in caplog.text
    async with make_backend(db, clock) as again:
        assert await signed_in(again, token)


async def test_key_encryption_secret_takes_precedence_and_reencrypts(
    db: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with make_backend(db, clock) as backend:
        token = await mint(backend)
    caplog.set_level(logging.INFO, logger=KEYS_LOGGER)
    async with make_backend(db, clock, key_encryption_secret="kek-dedicated") as backend:
        assert await signed_in(backend, token)
    ((kid, stored),) = stored_keys(db).items()
    assert unseal(stored, KeyEncryptionKey.from_secret("kek-dedicated"), kid) is not None
    (message,) = [r.getMessage() for r in caplog.records if r.name == KEYS_LOGGER]
    assert "encrypted 1 stored signing key(s)" in message
    assert "from key_encryption_secret" in message
    assert "1 under another secret" in message


async def test_without_any_secret_a_key_file_beside_the_database_holds_one(
    tmp_path: Path, clock: FakeClock
) -> None:
    db = sqlite_url(tmp_path)
    async with make_backend(db, clock, secret_key=None) as backend:
        token = await mint(backend)
    mode, secret = key_file(db)
    assert mode == 0o600
    assert secret is not None
    ((kid, stored),) = stored_keys(db).items()
    assert unseal(stored, KeyEncryptionKey.from_secret(secret), kid) is not None
    assert sorted(os.listdir(tmp_path)) == ["auth.db", "auth.db" + KEY_FILE_SUFFIX]
    async with make_backend(db, clock, secret_key=None) as again:
        assert await signed_in(again, token)
    # Giving a secret later moves the keys under it; the key file is then only read.
    async with make_backend(db, clock) as later:
        assert await signed_in(later, token)
    assert unseal(stored_keys(db)[kid], KeyEncryptionKey.from_secret_key(SECRET_KEY), kid)
    os.remove(db.removeprefix("sqlite:///") + KEY_FILE_SUFFIX)
    with pytest.raises(ConfigurationError, match="no key-encryption secret is configured") as e:
        async with make_backend(db, clock, secret_key=None):
            pass
    assert "the secret they were written with" in str(e.value)
    assert "key_encryption='none'" not in str(e.value)  # opting out would not open them
    assert key_file(db) == (None, None)  # not created over keys sealed under another secret


async def test_an_in_memory_database_needs_no_secret(clock: FakeClock) -> None:
    async with make_backend("sqlite://", clock, secret_key=None) as backend:
        assert await signed_in(backend, await mint(backend))


@pytest.mark.postgres
async def test_postgres_without_any_secret_refuses_to_open(clock: FakeClock) -> None:
    require_postgres()
    with postgres_schema() as schema:
        url = f"{POSTGRES_URL}?schema={schema}"
        with pytest.raises(ConfigurationError) as error:
            async with make_backend(url, clock, secret_key=None):
                pass
        for setting in ("key_encryption_secret", "secret_key", "key_encryption='none'"):
            assert setting in str(error.value)
        async with make_backend(url, clock, secret_key=None, key_encryption_secret="k") as b:
            assert await signed_in(b, await mint(b))


async def test_opting_out_stores_plain_text_and_warns(
    db: str, clock: FakeClock, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSIONCLAIMS_KEY_ENCRYPTION", "none")
    async with make_backend(db, clock) as backend:
        assert backend.settings.key_encryption == "none"
        token = await mint(backend)
    (stored,) = stored_keys(db).values()
    assert stored.startswith(b"-----BEGIN PRIVATE KEY-----")
    (warning,) = [r for r in caplog.records if r.name == KEYS_LOGGER]
    assert warning.levelno == logging.WARNING
    assert "key_encryption is 'none'" in warning.getMessage()
    assert "plain text" in warning.getMessage()
    monkeypatch.delenv("SESSIONCLAIMS_KEY_ENCRYPTION")
    async with make_backend(db, clock) as backend:  # opting back in encrypts them
        assert await signed_in(backend, token)
    assert all(is_sealed(value) for value in stored_keys(db).values())
    with pytest.raises(ConfigurationError, match="key_encryption must be one of"):
        make_backend(db, clock, key_encryption="plain")


async def test_a_wrong_secret_is_a_configuration_error_and_writes_nothing(
    db: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with make_backend(db, clock, key_encryption="none") as backend:
        pem = backend.keys.signer.private_pem()
    async with make_backend(db, clock):
        pass
    before = stored_keys(db)
    with pytest.raises(ConfigurationError) as error:
        async with make_backend(db, clock, secret_key="sk_test_other"):
            pass
    message = str(error.value)
    assert "does not decrypt" in message
    assert "from secret_key" in message
    assert "previous_key_encryption_secrets" in message
    assert error.value.__cause__ is None
    assert error.value.__context__ is None
    for secret in ("sk_test_other", SECRET_KEY, pem.decode()):
        assert secret not in message
        assert secret not in caplog.text
    assert stored_keys(db) == before


async def test_rotating_secret_key_with_the_previous_one_reencrypts(
    db: str, clock: FakeClock
) -> None:
    async with make_backend(db, clock, secret_key="sk_test_old") as backend:
        token = await mint(backend)
    async with make_backend(
        db, clock, secret_key="sk_test_new", previous_key_encryption_secrets=["sk_test_old"]
    ) as backend:
        assert await signed_in(backend, token)
    async with make_backend(db, clock, secret_key="sk_test_new") as backend:
        assert await signed_in(backend, token)
    ((kid, stored),) = stored_keys(db).items()
    assert unseal(stored, KeyEncryptionKey.from_secret_key("sk_test_new"), kid) is not None
    settings = make_backend(db, clock, previous_key_encryption_secrets=["a", "b"]).settings
    assert settings.previous_key_encryption_secrets == ("a", "b")
    assert "'a'" not in repr(settings)


async def test_two_processes_encrypting_the_same_keys_at_once_agree(
    db: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with make_backend(db, clock, key_encryption="none") as backend:
        token = await mint(backend)
        await backend.keys.rotate()
    plain = stored_keys(db)
    assert len(plain) == 2
    assert not any(is_sealed(value) for value in plain.values())
    caplog.set_level(logging.INFO, logger=KEYS_LOGGER)
    first, second = make_backend(db, clock), make_backend(db, clock)
    try:
        await asyncio.gather(first.ensure_open(), second.ensure_open())
        for backend in (first, second):
            assert await signed_in(backend, token)
    finally:
        await first.aclose()
        await second.aclose()
    derived = KeyEncryptionKey.from_secret_key(SECRET_KEY)
    sealed = stored_keys(db)
    assert sealed.keys() == plain.keys()
    for kid, value in sealed.items():
        assert unseal(value, derived, kid) == plain[kid]
    messages = [r.getMessage() for r in caplog.records if r.name == KEYS_LOGGER]
    done = [int(m.split()[1]) for m in messages if m.startswith("encrypted ")]
    assert sum(done) == 2  # each key encrypted once, by one of the two


def test_key_file_creation_is_atomic_when_two_race(tmp_path: Path) -> None:
    from sessionclaims.backend._key_encryption import key_file_secret

    path = str(tmp_path / ("auth.db" + KEY_FILE_SUFFIX))
    assert key_file_secret(path, create=False) is None
    first = key_file_secret(path, create=True)
    assert first is not None
    assert len(first) >= 32
    assert key_file_secret(path, create=True) == first
    os.chmod(path, 0o600)
    Path(path).write_text("short", encoding="ascii")
    with pytest.raises(ConfigurationError, match="empty or damaged"):
        key_file_secret(path, create=True)
