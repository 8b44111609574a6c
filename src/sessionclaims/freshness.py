"""Per-process freshness state: has anything a token was rendered from changed since?

Every session token carries ``ver``, the user's token-relevant version when it was
issued. A write that changes what the user's session token would contain bumps that
version and appends to the store's change log in the same transaction. This module keeps
a bounded map of recent changes, fed at once by this process's own writes and, for
writes by other processes or machines, by the change feed (polling for SQLite,
notifications plus catch-up for PostgreSQL). A token is:

* **revoked** when its session was revoked / ended or its user was deleted;
* **stale** when its ``ver`` is below the newest version known for its user, or when it
  was issued before a change this map had to drop early (overflow falls back to stale,
  never to fresh);
* otherwise **fresh** — decided with two dictionary lookups and no store call.

Entries expire ``horizon`` seconds after the change (the longest lifetime of a session
token plus the allowed clock skew): by then every token issued before the change has
expired anyway, and an expired token always goes back to the store.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from cachetools import TLRUCache

__all__ = ["FRESH", "REVOKED", "STALE", "Freshness"]

FRESH: Final = 0
STALE: Final = 1
REVOKED: Final = 2


class _UserChange(NamedTuple):
    version: float  # math.inf once the user is deleted
    changed_at: float


class _EvictionAwareCache(TLRUCache[str, Any]):
    """A TLRU cache that reports entries dropped before their time (overflow)."""

    def __init__(self, maxsize: int, horizon: float, timer: Callable[[], float]) -> None:
        super().__init__(maxsize, ttu=self._expires_at, timer=timer)
        self.horizon = horizon
        self.dropped_until = -math.inf
        """Changed-at time of the newest entry dropped early; tokens issued at or before
        it can no longer be judged by this map and count as stale."""

    def _expires_at(self, _key: str, value: Any, _now: float) -> float:
        return float(value.changed_at) + self.horizon

    def popitem(self) -> tuple[str, Any]:
        key, value = super().popitem()
        if value.changed_at + self.horizon > self.timer():
            self.dropped_until = max(self.dropped_until, value.changed_at)
        return key, value


class _SessionEnd(NamedTuple):
    changed_at: float


class Freshness:
    """Bounded map of recent changes; answers :data:`FRESH`, :data:`STALE` or :data:`REVOKED`."""

    def __init__(
        self,
        *,
        horizon: float,
        maxsize: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if horizon <= 0 or maxsize < 1:
            raise ValueError("horizon must be > 0 and maxsize >= 1")
        self.horizon = horizon
        self.maxsize = maxsize
        self._clock = clock
        self._users = _EvictionAwareCache(maxsize, horizon, clock)
        self._sessions = _EvictionAwareCache(maxsize, horizon, clock)

    # -- feeding ------------------------------------------------------------------------
    def user_changed(self, user_id: str, version: int, changed_at: float) -> None:
        """The user's token-relevant version is now at least ``version``."""
        current = self._users.get(user_id)
        if current is not None and current.version >= version:
            return
        if changed_at + self.horizon <= self._clock():
            return  # every token issued before it has expired already
        self._users[user_id] = _UserChange(version, changed_at)

    def user_deleted(self, user_id: str, changed_at: float) -> None:
        """Every token of the user is revoked."""
        self._users[user_id] = _UserChange(math.inf, changed_at)

    def session_ended(self, session_id: str, changed_at: float) -> None:
        """The session was revoked, ended or expired: its tokens are revoked."""
        if changed_at + self.horizon <= self._clock():
            return
        self._sessions[session_id] = _SessionEnd(changed_at)

    # -- asking -------------------------------------------------------------------------
    def check(self, user_id: str | None, session_id: str | None, version: int, iat: int) -> int:
        """:data:`FRESH`, :data:`STALE` or :data:`REVOKED` for a token with these claims."""
        sessions = self._sessions
        if sessions.currsize and session_id is not None and session_id in sessions:
            return REVOKED
        users = self._users
        if users.currsize and user_id is not None:
            change = users.get(user_id)
            if change is not None and version < change.version:
                return REVOKED if change.version == math.inf else STALE
        if iat <= self._users.dropped_until or iat <= self._sessions.dropped_until:
            return STALE
        return FRESH

    def known_version(self, user_id: str) -> float | None:
        """The newest version this process knows for ``user_id`` (``inf`` once deleted)."""
        change = self._users.get(user_id)
        return None if change is None else change.version

    @property
    def tracked(self) -> int:
        """How many changes are tracked now (users plus sessions)."""
        return int(self._users.currsize + self._sessions.currsize)

    def expire(self) -> None:
        """Drop entries past the horizon (also happens lazily on access)."""
        self._users.expire()
        self._sessions.expire()
