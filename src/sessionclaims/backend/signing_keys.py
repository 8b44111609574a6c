"""Signing keys kept in the store: ``backend.keys``.

The key set persists, so a restart does not invalidate tokens and every process (or
machine) on one store signs and verifies with the same keys. Private keys are encrypted
at rest by default (AES-256-GCM under a key derived with HKDF-SHA256 from the
key-encryption secret: ``key_encryption_secret``, else ``secret_key``, else a key file
beside an SQLite database; docs/security.md has the account); ``key_encryption="none"``
opts out, with a warning. Opening re-encrypts every stored key that is in plain text or
sealed under an older secret, in place and under the same ``kid``. Rotation makes a new
key the signer and gives every older key a ``retire_at``: it keeps verifying until every
token it signed has expired, then leaves the JWKS and the store. The envelope, the key
derivation and the key file are :mod:`._key_encryption`'s; this module chooses the
secret and keeps the stored keys under it.
"""

from __future__ import annotations

import builtins
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._errors import ConfigurationError
from .._json import dumps_compact
from ..keys import KeyRing, KeySet, SigningKey
from ..stores.base import KeyRecord, Store
from ._key_encryption import (
    HOW_TO_CONFIGURE,
    KEY_FILE_SUFFIX,
    KeyEncryptionKey,
    is_sealed,
    key_file_secret,
    seal,
    unseal,
)

__all__ = ["KeyInfo", "KeyManager"]

logger = logging.getLogger("sessionclaims.keys")

_IN_MEMORY_URL = "sqlite://"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Public facts about a stored key (what ``sessionclaims keys list`` shows)."""

    kid: str
    alg: str
    created_at: int
    retire_at: int | None
    signing: bool


class KeyManager:
    """The backend's signing keys: ``await backend.keys.rotate()``."""

    def __init__(
        self,
        store: Store,
        *,
        algorithm: str,
        encryption_secret: str | None,
        retire_after: Callable[[], float],
        clock: Callable[[], float],
        key_encryption: str = "aes-256-gcm",
        secret_key: str | None = None,
        previous_secrets: Sequence[str] = (),
    ) -> None:
        self._store = store
        self._algorithm = algorithm
        self._secret = encryption_secret
        self._secret_key = secret_key
        self._previous = tuple(previous_secrets)
        self._opted_out = key_encryption == "none"
        self._sealing: KeyEncryptionKey | None = None
        self._readers: builtins.list[KeyEncryptionKey] = []
        self._retire_after = retire_after
        self._clock = clock
        self._ring: KeyRing | None = None
        self._records: builtins.list[KeyRecord] = []
        self._loaded: builtins.list[KeyRecord] = []
        self._keys: dict[str, SigningKey] = {}
        self._next_retirement = math.inf
        self._current_key_set: KeySet | None = None

    @property
    def current_key_set(self) -> KeySet | None:
        """The verification keys now, or ``None`` before loading.

        A key leaves the set at its retirement time, whether or not :meth:`prune` has run;
        the set is then a new object, so caches bound to the old one stop serving."""
        if self._clock() * 1000 >= self._next_retirement:
            self._retire_due()
        return self._current_key_set

    @property
    def loaded(self) -> bool:
        """True once keys were read from the store."""
        return self._ring is not None

    @property
    def ring(self) -> KeyRing:
        """The current key ring (newest key signs, every listed key verifies)."""
        if self._clock() * 1000 >= self._next_retirement:
            self._retire_due()
        if self._ring is None:
            raise RuntimeError("keys are not loaded yet: open the backend first")
        return self._ring

    @property
    def key_set(self) -> KeySet:
        """Public keys that verify tokens now."""
        return self.ring.key_set

    @property
    def signer(self) -> SigningKey:
        """The key that signs new tokens."""
        return self.ring.signer

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWKS: only public members, never a private one."""
        return self.ring.jwks()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def load(self) -> None:
        """Read the keys; create the first one (of ``signing_algorithm``) when there is none.

        Keys are never rotated as a side effect of opening: when ``signing_algorithm``
        differs from the newest key's, the newest key keeps signing and a warning says to
        run ``sessionclaims keys rotate`` (or ``await backend.keys.rotate()``). An admin
        tool started without the app's configuration must not rotate production keys.

        Before that, every stored key that is in plain text or sealed under an older
        secret is encrypted with the current key-encryption secret, in place (same
        ``kid``, so tokens it signed stay valid). A key that no configured secret opens
        is a :class:`~sessionclaims.ConfigurationError` naming the settings."""
        records = await self._store.list_keys()
        self._resolve_encryption(records)
        records = await self._encrypt_at_rest(records)
        live = self._live(records)
        if not live or live[-1].retire_at is not None:
            await self._insert_new(retire_others=bool(live))
            return
        if live[-1].alg != self._algorithm:
            logger.warning(
                "signing_algorithm is %s but the newest signing key is %s: it keeps signing "
                "until you rotate (sessionclaims keys rotate, or await backend.keys.rotate())",
                self._algorithm,
                live[-1].alg,
            )
        self._build(records)

    async def reload(self) -> None:
        """Re-read the keys (another process rotated)."""
        self._build(await self._store.list_keys())

    async def rotate(self) -> KeyInfo:
        """Make a new key the signer; older keys verify until their tokens expired."""
        record = await self._insert_new(retire_others=True)
        logger.info("rotated signing keys: %s now signs", record.kid)
        return KeyInfo(record.kid, record.alg, record.created_at, None, True)

    async def prune(self) -> int:
        """Delete keys whose retirement time has passed."""
        removed = await self._store.delete_retired_keys(now_ms=self._now_ms())
        if removed:
            await self.reload()
        return removed

    def list(self) -> builtins.list[KeyInfo]:
        """Every live key, oldest first."""
        signer = self.signer.kid
        return [
            KeyInfo(r.kid, r.alg, r.created_at, r.retire_at, r.kid == signer)
            for r in self._live(self._records)
        ]

    async def _insert_new(self, *, retire_others: bool) -> KeyRecord:
        key = SigningKey.generate(self._algorithm)
        now = self._now_ms()
        record = KeyRecord(
            kid=key.kid,
            alg=key.alg,
            private_key=seal(key.private_pem(), self._sealing, key.kid),
            public_jwk=dumps_compact(key.public_key.to_jwk()),
            created_at=now,
        )
        retire_at = now + int(self._retire_after() * 1000) if retire_others else None
        await self._store.insert_key(record, retire_others_at=retire_at)
        await self.reload()
        return record

    def _live(self, records: builtins.list[KeyRecord]) -> builtins.list[KeyRecord]:
        now = self._now_ms()
        live = [r for r in records if r.retire_at is None or r.retire_at > now]
        live.sort(key=lambda r: (r.retire_at is None, r.created_at))
        return live

    def _build(self, records: builtins.list[KeyRecord]) -> None:
        live = self._live(records)
        if not live:
            raise RuntimeError("no live signing key in the store")
        keys = {r.kid: self._keys.get(r.kid) for r in live}
        self._keys = {
            r.kid: keys[r.kid] or SigningKey.from_pem(self._unseal(r)[0], alg=r.alg) for r in live
        }
        self._loaded = records
        self._records = live
        self._ring = KeyRing([self._keys[r.kid] for r in live])
        self._current_key_set = self._ring.key_set
        self._next_retirement = min(
            (r.retire_at for r in live if r.retire_at is not None), default=math.inf
        )

    def _retire_due(self) -> None:
        """Drop the keys whose retirement time has come (no store call)."""
        self._build(self._loaded)

    # -- encryption at rest -------------------------------------------------------------
    def _resolve_encryption(self, records: builtins.list[KeyRecord]) -> None:
        """Choose the key that seals (``None``: plain) and every key tried when reading.

        The key file is created only when nothing stored is sealed yet: an admin command
        started without the app's secret leaves no stray file behind."""
        url = getattr(self._store, "url", "")
        key_file = url.removeprefix("sqlite:///") + KEY_FILE_SUFFIX
        has_key_file = url.startswith("sqlite:///")
        readers: builtins.list[KeyEncryptionKey] = []
        if self._secret:
            readers.append(KeyEncryptionKey.from_secret(self._secret))
        if self._secret_key:
            readers.append(KeyEncryptionKey.from_secret_key(self._secret_key))
        for i, old in enumerate(self._previous):
            source = f"previous_key_encryption_secrets[{i}]"
            readers.append(KeyEncryptionKey.from_secret(old, source))
            readers.append(KeyEncryptionKey.from_secret_key(old, source))
        sealing = readers[0] if (self._secret or self._secret_key) else None
        if has_key_file:
            create = sealing is None and not self._opted_out
            create = create and not any(is_sealed(r.private_key) for r in records)
            secret = key_file_secret(key_file, create=create)
            if secret is not None:
                readers.append(KeyEncryptionKey.from_secret(secret, f"the key file {key_file}"))
                sealing = sealing or readers[-1]
        if self._opted_out:
            sealing = None
            logger.warning(
                "key_encryption is 'none': new private signing keys are stored in plain "
                "text in %s, and whoever reads the database can sign tokens "
                "(docs/security.md)",
                url or "the store",
            )
        elif sealing is None and any(is_sealed(r.private_key) for r in records):
            # Opting out would not help: keys already sealed stay sealed.
            raise ConfigurationError(
                f"the private signing keys in {url or 'this store'} are encrypted and no "
                "key-encryption secret is configured: give the secret they were written "
                "with, key_encryption_secret (SESSIONCLAIMS_KEY_ENCRYPTION_SECRET) or "
                "secret_key (SESSIONCLAIMS_SECRET_KEY), as your app has them (admin "
                "commands need the app's configuration); see docs/security.md"
            )
        elif sealing is None and url != _IN_MEMORY_URL:
            raise ConfigurationError(
                f"private signing keys are encrypted at rest and no key-encryption secret "
                f"is configured for {url or 'this store'}: {HOW_TO_CONFIGURE}"
            )
        # An in-memory database is never at rest: without a secret its keys stay as
        # they are, in the process's memory, like every loaded key.
        self._sealing = sealing
        self._readers = readers

    def _unseal(self, record: KeyRecord) -> tuple[bytes, KeyEncryptionKey | None]:
        """The record's PEM and the key that opened it (``None``: it was plain text)."""
        if not is_sealed(record.private_key):
            return record.private_key, None
        for kek in self._readers:
            pem = unseal(record.private_key, kek, record.kid)
            if pem is not None:
                return pem, kek
        if not self._readers:
            raise ConfigurationError(
                "the signing keys in the store are encrypted and no key-encryption secret "
                "is configured: set key_encryption_secret (SESSIONCLAIMS_KEY_ENCRYPTION_SECRET) "
                "or secret_key to the secret they were written with; see docs/security.md"
            )
        tried = ", ".join(dict.fromkeys(kek.source for kek in self._readers))
        raise ConfigurationError(
            f"signing key {record.kid!r} does not decrypt with the key-encryption secret "
            f"from {tried}: wrong secret? If you changed key_encryption_secret or "
            "secret_key, put the old value in previous_key_encryption_secrets "
            "(SESSIONCLAIMS_PREVIOUS_KEY_ENCRYPTION_SECRETS); see docs/security.md"
        )

    async def _encrypt_at_rest(self, records: builtins.list[KeyRecord]) -> builtins.list[KeyRecord]:
        """Seal with the current key every record that is plain or under an older one."""
        opened = [(record, *self._unseal(record)) for record in records]  # all, or raise
        sealing = self._sealing
        if sealing is None:
            return records
        updates = [
            (record.kid, record.private_key, seal(pem, sealing, record.kid))
            for record, pem, kek in opened
            if kek is not sealing
        ]
        if not updates:
            return records
        plain = sum(1 for _, _, kek in opened if kek is None)
        replaced = await self._store.replace_private_keys(updates)
        logger.info(
            "encrypted %d stored signing key(s) at rest with the key-encryption secret from "
            "%s (%d were plain text, %d under another secret; %d done by another process)",
            replaced,
            sealing.source,
            plain,
            len(updates) - plain,
            len(updates) - replaced,
        )
        return await self._store.list_keys()
