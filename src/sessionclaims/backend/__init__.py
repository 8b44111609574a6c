"""``Backend``: users, organizations, sessions, sign-ups and signing keys, composed on
one store.

.. code-block:: python

    backend = Backend("sqlite:///auth.db", issuer="https://auth.example.com",
                      secret_key="sk_test_...",
                      session_template={"role": "{{user.public_metadata.role}}"})

The store opens lazily on first use (or ``async with backend`` / ``await backend.open()``);
configuration mistakes — a bad template, an unknown algorithm — raise at construction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from .._broadcast import Broadcaster
from .._errors import ConfigurationError
from ..config import Settings, resolve_settings
from ..cookies import clear_cookie_headers, refresh_cookie, session_cookie
from ..freshness import Freshness
from ..keys import ALGORITHMS
from ..metadata import MetadataLimits
from ..models import NewSession
from ..roles import Roles
from ..stores import open_store
from ..stores.base import ChangeListener, Store
from ..templates import compile_template, load_named_template
from ..tokens import REQUIRED_CLAIMS, TokenVerifier, VerifyOptions
from ._context import TEMPLATE_NAME, Context
from .change_feed import ChangeFeed
from .issuer import Issuer
from .organizations import OrganizationsResource
from .sessions import SessionsResource
from .sign_ups import SignUpsResource
from .signing_keys import KeyManager
from .users import UsersResource

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["Backend"]

logger = logging.getLogger("sessionclaims")

_KEY_RELOAD_COOLDOWN = 1.0


class Backend:
    """The auth backend: ``backend.users``, ``backend.organizations``,
    ``backend.sessions``, ``backend.sign_ups``, ``backend.keys``, ``backend.jwks()`` and
    ``backend.api`` (mount it in your app).

    Every keyword is a setting (see :mod:`sessionclaims.config`); settings not given here
    come from ``SESSIONCLAIMS_*`` environment variables, then ``config_file`` (TOML).
    ``clock`` (seconds since the epoch) is injectable for tests.
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        config_file: str | None = None,
        clock: Callable[[], float] | None = None,
        store: Store | None = None,
        **settings: Any,
    ) -> None:
        self.settings: Settings = resolve_settings(
            {"database_url": database_url, **settings}, config_file=config_file
        )
        s = self.settings
        if s.signing_algorithm not in ALGORITHMS:
            raise ConfigurationError(
                f"signing_algorithm must be one of {sorted(ALGORITHMS)}; "
                f"got {s.signing_algorithm!r} (HMAC is never used for session tokens)"
            )
        self.clock: Callable[[], float] = clock or time.time
        self.roles: Roles = s.roles
        """Organization roles and their permissions (the ``roles`` setting)."""
        self.session_template = compile_template(s.session_template, name="session")
        for name in s.templates:
            if not TEMPLATE_NAME.fullmatch(name):
                raise ConfigurationError(
                    f"template name {name!r} must be 1-64 letters, digits, '_', '.' or '-', "
                    "starting with a letter or digit "
                    "(it appears in URLs: /v1/sessions/{id}/tokens/{name})"
                )
        self.named_templates = {
            name: load_named_template(name, spec) for name, spec in s.templates.items()
        }
        self.limits = MetadataLimits(
            max_keys=s.metadata_max_keys,
            max_bytes=s.metadata_max_bytes,
            max_depth=s.metadata_max_depth,
        )
        longest_session_token = s.max_token_lifetime or s.token_lifetime
        self.freshness = Freshness(
            horizon=longest_session_token + s.clock_skew,
            maxsize=s.freshness_size,
            clock=self.clock,
        )
        self.store: Store = store if store is not None else open_store(s.database_url)
        self.keys = KeyManager(
            self.store,
            algorithm=s.signing_algorithm,
            encryption_secret=s.key_encryption_secret,
            key_encryption=s.key_encryption,
            secret_key=s.secret_key,
            previous_secrets=s.previous_key_encryption_secrets,
            retire_after=self._longest_token_life,
            clock=self.clock,
        )
        self.issuer = Issuer(
            issuer=s.issuer,
            session_template=self.session_template,
            named_templates=self.named_templates,
            token_lifetime=s.token_lifetime,
            clock_skew=s.clock_skew,
            max_token_bytes=s.max_token_bytes,
            authorized_parties=s.authorized_parties,
            signer=lambda: self.keys.signer,
            clock=self.clock,
        )
        self.verifier = TokenVerifier(
            VerifyOptions(
                issuer=s.issuer,
                authorized_parties=frozenset(s.authorized_parties) or None,
                leeway=s.clock_skew,
                required_claims=REQUIRED_CLAIMS,
            ),
            clock=self.clock,
            cache_size=s.cache_size,
        )
        self._ctx = Context(
            store=self.store,
            settings=s,
            limits=self.limits,
            roles=self.roles,
            issuer=self.issuer,
            freshness=self.freshness,
            keys=self.keys,
            clock=self.clock,
            ensure_open=self.ensure_open,
        )
        self.users = UsersResource(self._ctx)
        self.organizations = OrganizationsResource(self._ctx)
        self.sessions = SessionsResource(self._ctx, self.users)
        self.sign_ups = SignUpsResource(self._ctx, self.users, self.sessions)
        self.changes = Broadcaster()
        """The change stream's subscribers (``GET /v1/changes``)."""
        self.feed = ChangeFeed(
            self.store,
            self.freshness,
            poll_interval=s.poll_interval,
            clock=self.clock,
            on_keys_changed=self.keys.reload,
            maintenance=self.keys.prune,
            publish=self.changes.publish,
        )
        pushes = isinstance(self.store, ChangeListener) and hasattr(self.store, "listen")
        self.changes.follow(None if pushes else self.feed.poll_once)
        self._opened = False
        self._open_lock: asyncio.Lock | None = None
        self._last_key_reload = -float("inf")
        self._api: Starlette | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def _longest_token_life(self) -> float:
        s = self.settings
        lifetimes = [s.max_token_lifetime or s.token_lifetime]
        lifetimes += [t.lifetime for t in self.named_templates.values()]
        skews = [s.clock_skew, *(t.clock_skew for t in self.named_templates.values())]
        return float(max(lifetimes) + max(skews))

    @property
    def is_open(self) -> bool:
        """True once the store is open and the keys are loaded."""
        return self._opened

    async def ensure_open(self) -> None:
        """Open the store, load keys and start following the change log (once)."""
        if self._opened:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._opened:
                return
            await self.store.open()
            await self.keys.load()
            await self.feed.start()
            self._opened = True
            logger.info("sessionclaims backend open on %s", self.store.url)

    open = ensure_open

    async def aclose(self) -> None:
        """Stop following the change log and close the store."""
        await self.feed.stop()
        await self.changes.aclose()
        await self.store.close()
        self._opened = False

    async def __aenter__(self) -> Backend:
        await self.ensure_open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def reload_keys_for_unknown_kid(self) -> bool:
        """Re-read the keys (another process may have rotated); at most once a second."""
        now = self.clock()
        if now - self._last_key_reload < _KEY_RELOAD_COOLDOWN:
            return False
        self._last_key_reload = now
        await self.keys.reload()
        return True

    # -- keys and the API ---------------------------------------------------------------
    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public JWKS (open the backend first)."""
        return self.keys.jwks()

    api_builder: ClassVar[Callable[[Backend], Starlette] | None] = None
    """What builds :attr:`api`: :func:`sessionclaims.api.build_api`, registered by
    ``sessionclaims.api`` when the package is imported, so that this layer never imports
    the HTTP layer above it."""

    @property
    def api(self) -> Starlette:
        """The HTTP API as a Starlette app (built once by :func:`sessionclaims.api.build_api`);
        mount it, e.g. ``Mount("/auth", app=backend.api)``."""
        if self._api is None:
            builder = Backend.api_builder
            if builder is None:  # pragma: no cover - `import sessionclaims` registers it
                raise ConfigurationError("backend.api needs sessionclaims.api to be imported")
            self._api = builder(self)
        return self._api

    # -- cookies ------------------------------------------------------------------------
    def _secure_default(self) -> bool:
        parties = self.settings.authorized_parties
        return (parties[0] if parties else self.settings.issuer).startswith("https://")

    def set_session_cookies(
        self,
        response: Response,
        new: NewSession,
        *,
        request: Request | None = None,
        secure: bool | None = None,
    ) -> None:
        """Set ``__session`` (the token; ``Max-Age`` = its lifetime) and ``__refresh`` (the
        refresh credential; ``Max-Age`` = ``session_lifetime``).

        ``__session`` is ``Secure`` on https — taken from ``request``, else ``secure``, else
        guessed from the first authorized party or the issuer."""
        if secure is None:
            secure = (
                request.url.scheme == "https" if request is not None else (self._secure_default())
            )
        response.headers.append("Set-Cookie", session_cookie(new.token, secure=secure))
        response.headers.append(
            "Set-Cookie",
            refresh_cookie(new.refresh_credential, max_age=self.settings.session_lifetime),
        )

    def clear_session_cookies(self, response: Response) -> None:
        """Delete both cookies (sign-out)."""
        response.raw_headers += clear_cookie_headers(secure=False)

    def __repr__(self) -> str:
        return f"<Backend issuer={self.settings.issuer!r} store={self.store.url!r}>"
