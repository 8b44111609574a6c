"""``SessionClaimsMiddleware``: verifies the session token of every request.

A pure ASGI middleware (not ``BaseHTTPMiddleware``): it works around any ASGI app,
Starlette or not. For ``http`` and ``websocket`` scopes it sets ``scope["auth"]`` (an
:class:`~sessionclaims.Auth`) and ``scope["user"]``; every other scope type (``lifespan``)
passes through untouched. It never rejects a request itself: routes decide, with
``request.auth`` or Starlette's ``@requires``.

The token comes from ``Authorization: Bearer <jwt>`` first, then the ``__session``
cookie. When the authenticator has headers for the response (a reissued token, cleared
cookies), ``send`` is wrapped to append them to ``http.response.start``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._authn import Authenticator, Stale, VerifyOnlyAuthenticator, token_of
from ._credentials import is_bearer, parse_cookies, request_cookies
from ._errors import ConfigurationError
from ._full_authn import BackendAuthenticator
from ._stream_authn import StreamAuthenticator
from .auth import Auth, AuthUser
from .change_stream import ChangeStream
from .cookies import SESSION_COOKIE
from .freshness import Freshness
from .jwks_client import RemoteKeySet
from .keys import ALGORITHMS, KeySet, PublicKey
from .tokens import REQUIRED_CLAIMS, TokenVerifier, VerifyOptions

if TYPE_CHECKING:
    import httpx

    from .backend import Backend

__all__ = [
    "BACKEND_SCOPE_KEY",
    "SESSION_COOKIE",
    "TOKEN_SOURCE_SCOPE_KEY",
    "SessionClaimsMiddleware",
    "current_auth",
    "parse_cookies",
]

BACKEND_SCOPE_KEY = "sessionclaims.backend"
"""Full mode: ``scope[BACKEND_SCOPE_KEY]`` is the backend whose middleware set ``auth``."""
TOKEN_SOURCE_SCOPE_KEY = "sessionclaims.token_source"  # noqa: S105 - a scope key
"""Full mode: ``"bearer"``, ``"cookie"`` or ``None``: where the request's token came from."""


class SessionClaimsMiddleware:
    """Verify session tokens and set ``request.auth``.

    Full mode: ``SessionClaimsMiddleware(app, backend=backend)`` verifies with the
    backend's keys and reissues stale tokens. Verify-only mode: pass exactly one of
    ``jwks_url=``, ``jwks=`` (a JWKS dict) or ``public_key=`` (PEM), with ``issuer=``;
    ``audience=`` names this service, so it accepts named-template tokens minted for it
    (a token whose ``aud`` does not name it is refused: ``token-invalid-audience``).

    Verify-only mode following the auth app's change stream (docs/deployment.md): add
    ``changes_url=`` (``.../v1/changes`` of the mounted API) and ``feed_key=``. Stale
    tokens are then reissued through ``reissue_url`` (default: ``.../v1/tokens/reissue``
    beside ``changes_url``), revoked ones refused on the next request, and
    :attr:`change_stream` reports the stream's ``lag``. ``freshness_horizon`` is how long a
    change is remembered: at least the auth app's longest session-token lifetime plus its
    clock skew. The stream starts with the lifespan or the first request and stops on
    lifespan shutdown (or :meth:`aclose`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        backend: Backend | None = None,
        jwks_url: str | None = None,
        jwks: Mapping[str, Any] | None = None,
        public_key: str | bytes | None = None,
        issuer: str | None = None,
        authorized_parties: Iterable[str] | None = None,
        required_claims: Sequence[str] | None = None,
        audience: str | Iterable[str] | None = None,
        algorithms: Iterable[str] | None = None,
        leeway: int = 5,
        scopes_claim: str | None = "role",
        cache_size: int = 10_000,
        jwks_cache_ttl: float = 300.0,
        jwks_refetch_cooldown: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] | None = None,
        changes_url: str | None = None,
        feed_key: str | None = None,
        reissue_url: str | None = None,
        freshness_horizon: float = 3600.0,
        freshness_size: int = 100_000,
    ) -> None:
        self.app = app
        self.backend = backend
        self.change_stream: ChangeStream | None = None
        """Verify-only mode with ``changes_url=``: the stream follower (``.lag``, ``.live``)."""
        sources = [name for name, value in _sources(backend, jwks_url, jwks, public_key) if value]
        if len(sources) != 1:
            raise ConfigurationError(
                "SessionClaimsMiddleware needs exactly one of backend=, jwks_url=, jwks= or "
                f"public_key= (got {', '.join(sources) or 'none'})"
            )
        self.authenticator: Authenticator
        if backend is not None:
            if (
                issuer is not None
                or authorized_parties is not None
                or required_claims
                or (audience is not None)
            ):
                raise ConfigurationError(
                    "with backend=, issuer / authorized_parties / required_claims / audience "
                    "come from the Backend (its session tokens carry no aud); set them there"
                )
            if changes_url is not None:
                raise ConfigurationError(
                    "changes_url= is for verify-only services; with backend= the middleware "
                    "follows the backend's own change feed"
                )
            self.authenticator = BackendAuthenticator(backend, scopes_claim=scopes_claim)
            return
        if not issuer:
            raise ConfigurationError(
                "verify-only mode needs issuer= (the exact 'iss' of the tokens you accept)"
            )
        options = VerifyOptions(
            issuer=issuer,
            authorized_parties=frozenset(authorized_parties) if authorized_parties else None,
            leeway=leeway,
            required_claims=tuple(required_claims) if required_claims else REQUIRED_CLAIMS,
            algorithms=frozenset(algorithms) if algorithms is not None else ALGORITHMS,
            audience=(
                frozenset([audience])
                if isinstance(audience, str)
                else frozenset(audience)
                if audience is not None
                else None
            ),
        )
        clock = clock or time.time
        verifier = TokenVerifier(options, clock=clock, cache_size=cache_size)
        keys: KeySet | RemoteKeySet
        if jwks_url is not None:
            keys = RemoteKeySet(
                jwks_url,
                cache_ttl=jwks_cache_ttl,
                refetch_cooldown=jwks_refetch_cooldown,
                http_client=http_client,
            )
        elif jwks is not None:
            keys = KeySet.from_jwks(jwks)
        else:
            assert public_key is not None
            keys = KeySet([PublicKey.from_pem(public_key)])
        if isinstance(keys, KeySet) and not len(keys):
            raise ConfigurationError("the key set holds no key usable for ES256, RS256 or EdDSA")
        if changes_url is None:
            if feed_key is not None or reissue_url is not None:
                raise ConfigurationError("feed_key= and reissue_url= go with changes_url=")
            self.authenticator = VerifyOnlyAuthenticator(
                keys, verifier, clock=clock, cache_size=cache_size, scopes_claim=scopes_claim
            )
            return
        if not feed_key:
            raise ConfigurationError("changes_url= needs feed_key= (a key of feed_keys=)")
        if reissue_url is None:
            base, sep, _ = changes_url.rpartition("/v1/changes")
            if not sep:
                raise ConfigurationError(
                    "changes_url does not end in /v1/changes: pass reissue_url= as well"
                )
            reissue_url = base + "/v1/tokens/reissue"
        stream = ChangeStream(
            changes_url,
            feed_key=feed_key,
            freshness=Freshness(horizon=freshness_horizon, maxsize=freshness_size, clock=clock),
            on_keys_changed=keys.refetch if isinstance(keys, RemoteKeySet) else None,
            http_client=http_client,
        )
        self.change_stream = stream
        self.authenticator = StreamAuthenticator(
            keys,
            verifier,
            stream=stream,
            reissue_url=reissue_url,
            feed_key=feed_key,
            clock=clock,
            cache_size=cache_size,
            scopes_claim=scopes_claim,
            http_client=http_client,
        )

    @property
    def network_calls(self) -> int:
        """Verify-only mode: HTTP requests the middleware made so far (stream connections,
        JWKS fetches, reissue calls); 0 in full mode."""
        authenticator = self.authenticator
        if isinstance(authenticator, StreamAuthenticator):
            return authenticator.network_calls
        if isinstance(authenticator, VerifyOnlyAuthenticator) and isinstance(
            authenticator.keys, RemoteKeySet
        ):
            return authenticator.keys.fetch_count
        return 0

    async def aclose(self) -> None:
        """Stop following the change stream and close the HTTP clients it opened
        (lifespan shutdown does this)."""
        if isinstance(self.authenticator, StreamAuthenticator):
            await self.authenticator.aclose()

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self.change_stream
        assert stream is not None

        async def receive_and_follow() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                stream.start()
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
            return message

        await self.app(scope, receive_and_follow, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type != "http" and scope_type != "websocket":
            if scope_type == "lifespan" and self.change_stream is not None:
                await self._lifespan(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        stream = self.change_stream
        if stream is not None and not stream.running:
            stream.start()

        raw: bytes | None = None
        from_cookie = False
        cookie_header: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if is_bearer(value):  # the whole value is the hot-cache key: no copy
                    raw = value
                    break
            elif name == b"cookie":
                cookie_header = value if cookie_header is None else cookie_header + b"; " + value
        cookies: dict[str, str] | None = None
        if raw is None and cookie_header is not None:
            cookies = parse_cookies(cookie_header)
            session = cookies.get(SESSION_COOKIE)
            if session:
                raw = session.encode("latin-1")
                from_cookie = True

        authenticator = self.authenticator
        backend = self.backend
        if backend is not None:
            scope[BACKEND_SCOPE_KEY] = backend
            scope[TOKEN_SOURCE_SCOPE_KEY] = (
                None if raw is None else "cookie" if from_cookie else "bearer"
            )
        stale: Stale | None = None
        if raw is not None:
            fast = authenticator.authenticate_fast(raw, from_cookie)
            if fast is not None:
                if not isinstance(fast, Stale):
                    scope["auth"], scope["user"] = fast
                    await self.app(scope, receive, send)
                    return
                stale = fast
            token: str | None = token_of(raw, from_cookie) or None  # blank: no token
        else:
            token = None

        if cookies is None:  # the loop may have stopped at the Bearer header
            cookies = request_cookies(scope["headers"])
        outcome = await authenticator.authenticate(scope, token, from_cookie, cookies, stale)
        scope["auth"] = outcome.auth
        scope["user"] = AuthUser(outcome.auth)
        if not outcome.headers:
            await self.app(scope, receive, send)
            return

        extra = outcome.headers
        first = "http.response.start" if scope_type == "http" else "websocket.accept"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == first:
                message = dict(message)
                message["headers"] = _merge_headers(message.get("headers", ()), extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)


_SESSION_COOKIE_PREFIX = SESSION_COOKIE.encode() + b"="


def _sets_session_token(name: bytes, value: bytes) -> bool:
    return name.lower() == b"x-session-token" or (
        name.lower() == b"set-cookie" and value.startswith(_SESSION_COOKIE_PREFIX)
    )


def _merge_headers(
    own: Iterable[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The app's headers plus ours; a token the app set itself (a route that just minted
    a newer one) wins over the middleware's. This is the one place where "the route's new
    token wins": the API's session routes run inside this middleware too."""
    headers = list(own)
    if any(_sets_session_token(name, value) for name, value in headers):
        extra = [(n, v) for n, v in extra if not _sets_session_token(n, v)]
    return [*headers, *extra]


def _sources(
    backend: object, jwks_url: object, jwks: object, public_key: object
) -> list[tuple[str, object]]:
    return [
        ("backend", backend),
        ("jwks_url", jwks_url),
        ("jwks", jwks),
        ("public_key", public_key),
    ]


def current_auth(scope: Scope) -> Auth:
    """``scope["auth"]`` as set by the middleware, or a signed-out ``Auth``."""
    auth = scope.get("auth")
    return auth if isinstance(auth, Auth) else Auth.signed_out("middleware-missing")
