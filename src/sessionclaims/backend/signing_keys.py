"""Signing keys kept in the store: ``backend.keys``.

The key set persists, so a restart does not invalidate tokens and every process (or
machine) on one store signs and verifies with the same keys. Private keys are encrypted
at rest (AES-256-GCM, key derived with HKDF-SHA256) when a key-encryption secret is
configured. Rotation makes a new key the signer and gives every older key a
``retire_at``: it keeps verifying until every token it signed has expired, then leaves
the JWKS and the store.
"""

from __future__ import annotations

import builtins
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .._errors import ConfigurationError
from .._json import dumps_compact
from ..keys import KeyRing, KeySet, SigningKey
from ..stores.base import KeyRecord, Store

__all__ = ["KeyInfo", "KeyManager"]

logger = logging.getLogger("sessionclaims.keys")

_ENVELOPE = b"sessionclaims-aesgcm-v1:"


def _kek(secret: str) -> AESGCM:
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"sessionclaims key encryption",
        info=b"signing keys v1",
    ).derive(secret.encode("utf-8"))
    return AESGCM(derived)


def seal(private_pem: bytes, secret: str | None, kid: str) -> bytes:
    """Encrypt a PKCS#8 PEM for storage (no-op without a secret). ``kid`` is bound as
    associated data, so a ciphertext cannot be swapped onto another key's row."""
    if not secret:
        return private_pem
    nonce = os.urandom(12)
    return _ENVELOPE + nonce + _kek(secret).encrypt(nonce, private_pem, kid.encode())


def unseal(stored: bytes, secret: str | None, kid: str) -> bytes:
    """Inverse of :func:`seal`."""
    if not stored.startswith(_ENVELOPE):
        return stored
    if not secret:
        raise ConfigurationError(
            "the signing keys in the store are encrypted: set key_encryption_secret "
            "(SESSIONCLAIMS_KEY_ENCRYPTION_SECRET) to the secret they were written with"
        )
    body = stored[len(_ENVELOPE) :]
    try:
        return _kek(secret).decrypt(body[:12], body[12:], kid.encode())
    except InvalidTag as exc:
        raise ConfigurationError(
            f"key_encryption_secret does not decrypt signing key {kid!r}: wrong secret?"
        ) from exc


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
    ) -> None:
        self._store = store
        self._algorithm = algorithm
        self._secret = encryption_secret
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
        tool started without the app's configuration must not rotate production keys."""
        records = await self._store.list_keys()
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
            private_key=seal(key.private_pem(), self._secret, key.kid),
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
            r.kid: keys[r.kid]
            or SigningKey.from_pem(unseal(r.private_key, self._secret, r.kid), alg=r.alg)
            for r in live
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
