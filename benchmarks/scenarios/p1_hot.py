"""P1 hot path: a Bearer token already verified once, in-process ASGI calls.

Four apps serve the same route; each call is ``await app(scope, receive, send)`` with a
prebuilt scope, a no-op ``receive`` and a ``send`` that discards (no HTTP client: its own
cost would swamp microseconds). All use the same RS256 (2048-bit) token.

* bare Starlette: no auth, the floor;
* sessionclaims: ``SessionClaimsMiddleware(jwks=..., issuer=..., authorized_parties=...)``;
* Starlette ``AuthenticationMiddleware`` + a hand-written PyJWT backend, as the Starlette
  and FastAPI docs lead people to write it (given an already loaded key object, the
  generous choice: passing the PEM string would re-parse it on every call);
* the Clerk SDK: ``authenticate_request_async`` networkless with ``jwt_key`` (PEM),
  inside the same ``AuthenticationMiddleware``.

Figures: OUR overhead = median over rounds of (ours - bare) in µs, target ≤ 5 µs; each
peer's overhead (peer - bare) divided by ours, targets >= 30 times (PyJWT) and >= 50 times (Clerk).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import MutableMapping
from typing import Any

import jwt
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    SimpleUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection

from sessionclaims.auth import Auth
from sessionclaims.middleware import SessionClaimsMiddleware

from ..harness import (
    Config,
    Peer,
    Timing,
    asgi_batch,
    fresh_scope,
    http_scope,
    measure,
    noop_receive,
)
from ..report import Row, X
from ._base import Scenario
from ._fixtures import AZP, ISSUER, KeyMaterial, starlette_app

__all__ = ["SCENARIO", "ClerkBackend", "PyJWTBackend", "run"]

OVERHEAD_TARGET_US = 5.0
PYJWT_TARGET = 30.0
CLERK_TARGET = 50.0
_MIN_OVERHEAD_US = 0.05  # below this, our overhead is noise; ratios become "at least"

BARE = "bare Starlette (floor)"
OURS = "sessionclaims"
PYJWT = "Starlette AuthenticationMiddleware + PyJWT"
CLERK = "Clerk SDK authenticate_request_async (jwt_key)"


class PyJWTBackend(AuthenticationBackend):
    """The backend people write by hand after reading the Starlette/FastAPI docs."""

    def __init__(self, key: Any, issuer: str) -> None:
        self.key = key
        self.issuer = issuer

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        header = conn.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            claims = jwt.decode(token, self.key, algorithms=["RS256"], issuer=self.issuer)
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError("invalid token") from exc
        scopes = ["authenticated"]
        if isinstance(claims.get("role"), str):
            scopes.append(claims["role"])
        return AuthCredentials(scopes), SimpleUser(claims["sub"])


class ClerkBackend(AuthenticationBackend):
    """The Clerk SDK's networkless check, wrapped the way its docs suggest for Starlette."""

    def __init__(self, jwt_key: str, authorized_parties: list[str]) -> None:
        from clerk_backend_api.security import authenticate_request_async
        from clerk_backend_api.security.types import AuthenticateRequestOptions

        self._authenticate = authenticate_request_async
        self.options = AuthenticateRequestOptions(
            jwt_key=jwt_key, authorized_parties=authorized_parties
        )

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        state = await self._authenticate(conn, self.options)
        if not state.is_signed_in or state.payload is None:
            return None
        claims = state.payload
        scopes = ["authenticated"]
        if isinstance(claims.get("role"), str):
            scopes.append(claims["role"])
        return AuthCredentials(scopes), SimpleUser(claims["sub"])


def _call_once(
    loop: asyncio.AbstractEventLoop, app: Any, scope: dict[str, Any]
) -> tuple[dict[str, Any], list[MutableMapping[str, Any]]]:
    """One request outside the timed region: the scope as the app left it, the messages."""
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    call_scope = fresh_scope(scope)
    loop.run_until_complete(app(call_scope, noop_receive, send))
    return call_scope, sent


def _status(sent: list[MutableMapping[str, Any]]) -> int | None:
    for message in sent:
        if message["type"] == "http.response.start":
            return int(message["status"])
    return None


def _check_signed_in(name: str, scope: dict[str, Any], sent: list[Any]) -> str | None:
    """``None`` when the request was answered 200 as the signed-in admin, else why not."""
    if _status(sent) != 200:
        return f"{name} answered {_status(sent)}"
    auth = scope.get("auth")
    if isinstance(auth, Auth):
        ok = auth.is_signed_in and auth.session_claims.get("role") == "admin"
    else:
        user = scope.get("user")
        scopes = getattr(auth, "scopes", ())
        ok = bool(user is not None and user.is_authenticated and "admin" in scopes)
    return None if ok else f"{name} did not sign the request in (auth={auth!r})"


def run(config: Config) -> list[Row]:
    km = KeyMaterial.generate("RS256")
    key_bits = getattr(km.crypto_public_key, "key_size", None)
    token = km.token()
    scope = http_scope("/", [(b"authorization", f"Bearer {token}".encode("ascii"))])

    apps: dict[str, Any] = {
        BARE: starlette_app(),
        OURS: starlette_app(
            [
                Middleware(
                    SessionClaimsMiddleware,
                    jwks=km.jwks,
                    issuer=ISSUER,
                    authorized_parties=[AZP],
                )
            ]
        ),
        PYJWT: starlette_app(
            [
                Middleware(
                    AuthenticationMiddleware,
                    backend=PyJWTBackend(km.crypto_public_key, ISSUER),
                )
            ]
        ),
    }
    clerk_unavailable: str | None = None
    try:
        apps[CLERK] = starlette_app(
            [Middleware(AuthenticationMiddleware, backend=ClerkBackend(km.public_pem, [AZP]))]
        )
    except ImportError as exc:
        clerk_unavailable = f"not installed ({exc.name})"

    loop = asyncio.new_event_loop()
    try:
        # One request each, untimed: proves every peer signs the request in (and makes
        # ours "hot": the token is now in its verified-token cache).
        for name in list(apps):
            call_scope, sent = _call_once(loop, apps[name], scope)
            if name == BARE:
                if _status(sent) != 200:
                    raise RuntimeError(f"bare app answered {_status(sent)}")
                continue
            problem = _check_signed_in(name, call_scope, sent)
            if problem is None:
                continue
            if name == CLERK:
                clerk_unavailable = problem
                del apps[name]
            else:
                raise RuntimeError(problem)

        peers = [Peer(name, asgi_batch(loop, app, scope)) for name, app in apps.items()]
        timings = measure(peers, config)
    finally:
        loop.close()

    return _rows(timings, clerk_unavailable, key_bits)


def _overhead(timings: dict[str, Timing], name: str) -> tuple[float, list[float]]:
    diffs = [
        (x - y) / 1000.0
        for x, y in zip(timings[name].rounds_ns, timings[BARE].rounds_ns, strict=True)
    ]
    return statistics.median(diffs), diffs


def _timed_row(timing: Timing, **fields: Any) -> Row:
    return Row(
        scenario="P1",
        title="hot path",
        peer=timing.peer,
        median_us=timing.median_us,
        p25_us=timing.p25_us,
        p75_us=timing.p75_us,
        rounds_us=timing.rounds_us,
        iterations=timing.iterations,
        **fields,
    )


def _rows(
    timings: dict[str, Timing], clerk_unavailable: str | None, key_bits: int | None
) -> list[Row]:
    ours_overhead, ours_diffs = _overhead(timings, OURS)
    rows = [
        _timed_row(timings[BARE], ratio_text="floor"),
        _timed_row(
            timings[OURS],
            ours=True,
            ratio=ours_overhead,
            ratio_text=f"overhead {ours_overhead:.2f} µs",
            target=f"overhead ≤ {OVERHEAD_TARGET_US:g} µs",
            ok=ours_overhead <= OVERHEAD_TARGET_US,
            extra={"overhead_us": ours_overhead, "overhead_rounds_us": ours_diffs},
        ),
    ]
    denominator = max(ours_overhead, _MIN_OVERHEAD_US)
    at_least = "≥ " if ours_overhead < _MIN_OVERHEAD_US else ""
    for name, target in ((PYJWT, PYJWT_TARGET), (CLERK, CLERK_TARGET)):
        if name not in timings:
            rows.append(
                Row(
                    scenario="P1",
                    title="hot path",
                    peer=name,
                    target=f"≥ {target:g}{X} our overhead",
                    note=f"unavailable: {clerk_unavailable}",
                )
            )
            continue
        overhead, diffs = _overhead(timings, name)
        ratio = overhead / denominator
        rows.append(
            _timed_row(
                timings[name],
                ratio=ratio,
                ratio_text=f"{at_least}{ratio:.0f}{X} our overhead ({overhead:.0f} µs)",
                target=f"≥ {target:g}{X} our overhead",
                ok=ratio >= target,
                extra={"overhead_us": overhead, "overhead_rounds_us": diffs},
            )
        )
    for row in rows:
        row.extra["alg"] = "RS256"
        row.extra["key_bits"] = key_bits
    return rows


SCENARIO = Scenario(
    id="P1",
    title="hot path",
    run=run,
    description="in-process ASGI GET with a Bearer RS256 token already verified once",
)
