"""The API keys a backend request may carry: the secret key, or a feed key.

A feed key (``feed_keys=``, docs/deployment.md) opens the change stream and the reissue route
and nothing else. Every comparison is constant-time: the presented key and every
configured key are hashed to the same length, and every configured key is compared
whatever matched before, so neither the answer's timing nor which key matched leaks.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Literal

__all__ = ["ApiKeys", "KeyKind"]

KeyKind = Literal["secret", "feed"]


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


class ApiKeys:
    """The configured keys; :meth:`match` says which kind a presented key is."""

    __slots__ = ("_feed", "_secret")

    def __init__(self, secret: str | None, feed_keys: Iterable[str]) -> None:
        self._secret = _digest(secret.encode("utf-8")) if secret else None
        self._feed = tuple(_digest(key.encode("utf-8")) for key in feed_keys)

    @property
    def configured(self) -> bool:
        """True when any key is configured."""
        return self._secret is not None or bool(self._feed)

    @property
    def has_secret(self) -> bool:
        """True when a secret key is configured."""
        return self._secret is not None

    def match(self, presented: bytes) -> KeyKind | None:
        """``"secret"``, ``"feed"`` or ``None``, in time independent of the keys."""
        digest = _digest(presented)
        secret = hmac.compare_digest(digest, self._secret or b"\0" * 32) and (
            self._secret is not None
        )
        feed = False
        for key in self._feed:
            feed |= hmac.compare_digest(digest, key)
        if secret:
            return "secret"
        return "feed" if feed else None
