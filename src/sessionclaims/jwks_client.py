"""Verify-only mode: the issuer's key set, fetched over HTTP without blocking the loop.

Policy (docs/deployment.md, "Verify-only services"):

* the JWKS is fetched with ``httpx.AsyncClient`` and cached for ``cache_ttl`` seconds;
  once stale it is refreshed in the background while the current set keeps serving;
* a token whose ``kid`` is unknown causes at most one refetch per ``refetch_cooldown``
  (default 30 s). The cooldown counts from the last refetch an unknown ``kid`` caused,
  so a key published just after start-up is picked up at once, and a flood of random
  ``kid``\\ s costs one fetch; ``kid``\\ s still unknown after a refetch are remembered
  (negative cache) until the next one;
* concurrent requests share one fetch in flight;
* when a fetch fails (network, status, not a JWKS) the last good key set keeps serving.

Only the configured URL is ever fetched: ``jku`` / ``x5u`` headers are never followed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx
from cachetools import TTLCache

from ._errors import ConfigurationError, KeyFormatError
from ._json import JSONError, loads_strict
from .keys import KeySet

__all__ = ["RemoteKeySet"]

logger = logging.getLogger("sessionclaims.jwks")

_MAX_JWKS_BYTES = 512 * 1024


class RemoteKeySet:
    """A JWKS URL, fetched lazily and kept fresh.

    ``http_client`` lets an app share its own ``httpx.AsyncClient`` (or a test pass a
    ``MockTransport``); otherwise one is created and closed by :meth:`aclose`.
    """

    def __init__(
        self,
        url: str,
        *,
        cache_ttl: float = 300.0,
        refetch_cooldown: float = 30.0,
        timeout: float = 5.0,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ConfigurationError(f"jwks_url must be an http(s) URL, got {url!r}")
        if cache_ttl <= 0 or refetch_cooldown < 0:
            raise ConfigurationError("cache_ttl must be > 0 and refetch_cooldown >= 0")
        self.url = url
        self.cache_ttl = cache_ttl
        self.refetch_cooldown = refetch_cooldown
        self._timeout = timeout
        self._client = http_client
        self._owns_client = http_client is None
        self._clock = clock
        self._key_set = KeySet()
        self._loaded_at: float | None = None
        self._last_attempt_at: float | None = None
        self._last_kid_refetch_at: float | None = None
        self._unknown_kids: TTLCache[str, bool] = TTLCache(
            maxsize=4096, ttl=max(refetch_cooldown, 1.0), timer=clock
        )
        self._inflight: asyncio.Task[bool] | None = None
        self._background: asyncio.Task[bool] | None = None
        self.fetch_count = 0
        """How many fetches were attempted (tests and operators read it)."""

    @property
    def key_set(self) -> KeySet:
        """The last good key set (empty before the first successful fetch)."""
        return self._key_set

    @property
    def loaded(self) -> bool:
        """True once a fetch has succeeded."""
        return self._loaded_at is not None

    async def get_key_set(self) -> KeySet:
        """The key set to verify with now: fetched on first use, refreshed after the TTL
        (in the background, unless nothing was ever loaded)."""
        now = self._clock()
        if self._loaded_at is None:
            if self._last_attempt_at is None or now - self._last_attempt_at >= min(
                self.refetch_cooldown, self.cache_ttl
            ):
                await self._fetch_shared()
        elif (
            now - self._loaded_at >= self.cache_ttl
            and self._retry_allowed(now)
            and (self._background is None or self._background.done())
        ):
            self._background = asyncio.ensure_future(self._fetch_shared())
        return self._key_set

    async def refresh_for_unknown_kid(self, kid: str) -> bool:
        """Refetch because a token named ``kid``; True if ``kid`` is known afterwards.

        At most one such refetch per cooldown; a ``kid`` found unknown by a refetch is
        not retried until the negative cache forgets it."""
        if kid in self._key_set:
            return True
        if kid in self._unknown_kids:
            return False
        now = self._clock()
        last = self._last_kid_refetch_at
        if last is not None and now - last < self.refetch_cooldown:
            if self._inflight is not None and not self._inflight.done():
                await asyncio.shield(self._inflight)
                return kid in self._key_set
            return False
        self._last_kid_refetch_at = now
        await self._fetch_shared()
        if kid in self._key_set:
            return True
        self._unknown_kids[kid] = True
        return False

    async def refetch(self) -> bool:
        """Fetch the JWKS now, whatever the TTL and cooldown say (the issuer announced a
        key change); True if it succeeded. A fetch already in flight may predate the
        change, so this one starts after it."""
        if self._inflight is not None and not self._inflight.done():
            await asyncio.shield(self._inflight)
        self._inflight = asyncio.ensure_future(self._fetch())
        return await asyncio.shield(self._inflight)

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it; stop background work."""
        for task in (self._background, self._inflight):
            if task is not None and not task.done():
                task.cancel()
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    def _retry_allowed(self, now: float) -> bool:
        # After a failed refresh, wait before hammering a struggling issuer again.
        last = self._last_attempt_at
        return (
            last is None
            or self._loaded_at is None
            or last <= self._loaded_at
            or (now - last >= min(self.refetch_cooldown, self.cache_ttl))
        )

    async def _fetch_shared(self) -> bool:
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._fetch())
        return await asyncio.shield(self._inflight)

    async def _fetch(self) -> bool:
        self.fetch_count += 1
        self._last_attempt_at = self._clock()
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        try:
            response = await self._client.get(self.url, headers={"Accept": "application/json"})
            if response.status_code != 200:
                raise KeyFormatError(f"JWKS fetch answered HTTP {response.status_code}")
            body = response.content
            if len(body) > _MAX_JWKS_BYTES:
                raise KeyFormatError(f"JWKS document is {len(body)} bytes; refusing it")
            key_set = KeySet.from_jwks(loads_strict(body))
        except (httpx.HTTPError, KeyFormatError, JSONError) as exc:
            logger.warning("could not refresh the JWKS from %s: %s", self.url, exc)
            return False
        self._key_set = key_set
        self._loaded_at = self._clock()
        self._unknown_kids.clear()
        return True
