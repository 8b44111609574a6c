"""Keys, tokens and apps the scenarios share. Nothing here is timed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from sessionclaims.keys import KeySet, SigningKey
from sessionclaims.tokens import SignedToken, sign_token

__all__ = [
    "AZP",
    "ISSUER",
    "ALGORITHMS",
    "KeyMaterial",
    "session_claims",
    "starlette_app",
]

ISSUER = "https://auth.example.com"
AZP = "https://app.example.com"
ALGORITHMS = ("ES256", "RS256", "EdDSA")
_TEN_YEARS = 10 * 365 * 24 * 3600


def session_claims(n: int = 0, *, now: int | None = None) -> dict[str, Any]:
    """Claims of a session token as tokens.md describes them, ``exp`` far away.

    ``n`` makes the token distinct (user and session ids) without changing its size
    much; the claim set is the same for every peer.
    """
    iat = int(time.time()) if now is None else now
    return {
        "iss": ISSUER,
        "sub": f"user_{n:010d}",
        "sid": f"sess_{n:010d}",
        "iat": iat,
        "nbf": iat - 5,
        "exp": iat + _TEN_YEARS,
        "azp": AZP,
        "v": 1,
        "role": "admin",
    }


@dataclass
class KeyMaterial:
    """One signing key and every view of its public half the peers need."""

    alg: str
    signing_key: SigningKey

    @classmethod
    def generate(cls, alg: str) -> KeyMaterial:
        return cls(alg, SigningKey.generate(alg))

    @cached_property
    def key_set(self) -> KeySet:
        return KeySet([self.signing_key.public_key])

    @cached_property
    def jwks(self) -> dict[str, Any]:
        return dict(self.key_set.to_jwks())

    @cached_property
    def public_jwk(self) -> dict[str, Any]:
        return dict(self.signing_key.public_key.to_jwk())

    @cached_property
    def crypto_public_key(self) -> Any:
        """The ``cryptography`` public key object (what raw verify and PyJWT use)."""
        private = serialization.load_pem_private_key(self.signing_key.private_pem(), None)
        return private.public_key()

    @cached_property
    def public_pem(self) -> str:
        pem: bytes = self.crypto_public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode("ascii")

    def token(self, n: int = 0, *, now: int | None = None) -> str:
        return self.signed(n, now=now).token

    def signed(self, n: int = 0, *, now: int | None = None) -> SignedToken:
        return sign_token(session_claims(n, now=now), self.signing_key)


async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def starlette_app(middleware: list[Middleware] | None = None) -> Starlette:
    """The app every P1 peer serves: one GET route answering a short text.

    Auth middleware is mounted the way users mount it, with ``middleware=[...]``; the
    route never looks at the auth, so every peer runs the same endpoint.
    """
    return Starlette(routes=[Route("/", _hello)], middleware=middleware)
