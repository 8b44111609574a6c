"""Encryption at rest of private signing keys: the key that seals them, the envelope, the
key file.

A private key is sealed with AES-256-GCM under a key derived with HKDF-SHA256 from a
key-encryption secret (``key_encryption_secret``, or ``secret_key`` under a label of its
own, or the secret in a key file beside an SQLite database); its ``kid`` is bound as
associated data. Which secret seals and which are tried when reading is
:class:`~sessionclaims.backend.signing_keys.KeyManager`'s choice.
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .._errors import ConfigurationError

__all__ = [
    "HOW_TO_CONFIGURE",
    "KEY_FILE_SUFFIX",
    "KeyEncryptionKey",
    "is_sealed",
    "key_file_secret",
    "seal",
    "unseal",
]

logger = logging.getLogger("sessionclaims.keys")

_ENVELOPE = b"sessionclaims-aesgcm-v1:"
_SALT = b"sessionclaims key encryption"
_INFO = b"signing keys v1"
# A distinct label: the key derived from secret_key is not the one a dedicated
# key_encryption_secret of the same value would give, and reveals nothing of secret_key.
_INFO_FROM_SECRET_KEY = b"signing keys v1, derived from secret_key"
KEY_FILE_SUFFIX = ".key-encryption-secret"
"""The key file beside an SQLite database (``auth.db`` -> ``auth.db.key-encryption-secret``)
that holds the key-encryption secret when neither secret setting is given."""

HOW_TO_CONFIGURE = (
    "set key_encryption_secret (SESSIONCLAIMS_KEY_ENCRYPTION_SECRET) or secret_key "
    "(SESSIONCLAIMS_SECRET_KEY), or opt out of encryption at rest with "
    "key_encryption='none' (SESSIONCLAIMS_KEY_ENCRYPTION=none); see docs/security.md"
)


@dataclass(frozen=True, slots=True)
class KeyEncryptionKey:
    """An AES-256-GCM key that seals private signing keys, and where its secret came
    from (``source`` names a setting or file for messages; the secret is not kept)."""

    source: str
    aead: AESGCM = field(repr=False, compare=False)

    @classmethod
    def from_secret(cls, secret: str, source: str = "key_encryption_secret") -> KeyEncryptionKey:
        """The key for a dedicated key-encryption secret (``key_encryption_secret``)."""
        return cls(source, _derive(secret, _INFO))

    @classmethod
    def from_secret_key(cls, secret_key: str, source: str = "secret_key") -> KeyEncryptionKey:
        """The key derived from the backend's ``secret_key`` (its own HKDF label)."""
        return cls(source, _derive(secret_key, _INFO_FROM_SECRET_KEY))


def _derive(secret: str, info: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info).derive(
        secret.encode("utf-8")
    )
    return AESGCM(derived)


def is_sealed(stored: bytes) -> bool:
    """True when ``stored`` is an encrypted envelope rather than a plain PEM."""
    return stored.startswith(_ENVELOPE)


def seal(private_pem: bytes, kek: KeyEncryptionKey | None, kid: str) -> bytes:
    """Encrypt a PKCS#8 PEM for storage (kept as it is without a key). ``kid`` is bound
    as associated data, so a ciphertext cannot be swapped onto another key's row."""
    if kek is None:
        return private_pem
    nonce = os.urandom(12)
    return _ENVELOPE + nonce + kek.aead.encrypt(nonce, private_pem, kid.encode())


def unseal(stored: bytes, kek: KeyEncryptionKey, kid: str) -> bytes | None:
    """The PEM inside an envelope made by :func:`seal` with ``kek``; ``None`` when
    ``kek`` is not the key it was sealed with (or ``stored`` is no envelope)."""
    if not is_sealed(stored):
        return None
    body = stored[len(_ENVELOPE) :]
    try:
        return kek.aead.decrypt(body[:12], body[12:], kid.encode())
    except InvalidTag:
        return None


def key_file_secret(path: str, *, create: bool) -> str | None:
    """The secret in the key file at ``path``; when it is missing, ``None``, or (with
    ``create``) a new random one written there first (mode 0600, atomically: of two
    processes creating it at once, both end up with the one that was linked first)."""
    try:
        with open(path, encoding="ascii") as file:
            secret = file.read().strip()
    except FileNotFoundError:
        if not create:
            return None
        secret = _create_key_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"cannot read the key file {path} ({exc.__class__.__name__}): {HOW_TO_CONFIGURE}"
        ) from None
    if len(secret) < 32:
        raise ConfigurationError(
            f"the key file {path} is empty or damaged: restore it from a backup, or "
            f"{HOW_TO_CONFIGURE}"
        )
    return secret


def _create_key_file(path: str) -> str:
    secret = base64.urlsafe_b64encode(os.urandom(32)).decode("ascii").rstrip("=")
    try:
        # mkstemp creates the file with mode 0600; the secret is complete on disk before
        # the file appears under its name (link fails if another process was first).
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as file:
                file.write(secret + "\n")
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                with open(path, encoding="ascii") as file:
                    return file.read().strip()
        finally:
            os.unlink(temporary)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the key file {path} ({exc.strerror or exc.__class__.__name__}): "
            f"{HOW_TO_CONFIGURE}"
        ) from None
    logger.info("created the key-encryption secret file %s (mode 0600)", path)
    return secret
