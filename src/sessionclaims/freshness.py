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

Organizations (docs/concepts.md) add two more maps, so that an organization write costs
one entry whatever its member count (fan-out happens at read time, not at write time).
A token with an active organization carries ``org_id``, ``org_ver`` (the organization's
version: name, slug, public metadata) and ``mem_ver`` (the version of the person's
membership in it: role, public metadata). It is stale when ``org_ver`` is below the newest
version known for ``org_id`` (:meth:`Freshness.organization_changed`), or ``mem_ver`` below
the newest known for ``(org_id, sub)`` (:meth:`Freshness.membership_changed`). A deleted
organization or membership is tracked as version infinity: every token naming it is
stale (never fresh, never revoked — the session lives on and its next token has no active
organization). A membership created again after its deletion may count its versions from
1 again: the person's tokens issued until its re-creation stay stale whatever their
``mem_ver`` (a token issued in that very second is reissued once more, never trusted).

Entries expire ``horizon`` seconds after the change (the longest lifetime of a session
token plus the allowed clock skew): by then every token issued before the change has
expired anyway, and an expired token always goes back to the store.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from typing import Final

__all__ = ["FRESH", "REVOKED", "STALE", "Freshness"]

FRESH: Final = 0
STALE: Final = 1
REVOKED: Final = 2


class _RecentChanges:
    """A bounded map ``key -> (value, changed_at)`` of recent changes, oldest first.

    Reads are one dictionary lookup (the hot path asks on every request). An entry older
    than ``horizon`` reads as absent and is dropped on sight; :meth:`expire` drops them
    from the old end. Past ``maxsize`` the oldest entry is dropped *early*: its time is
    kept in ``dropped_until`` so that tokens issued before it count as stale, never as
    fresh. (A plain ``dict`` keeps insertion order; changes arrive in time order.)
    """

    __slots__ = ("_clock", "_data", "dropped_until", "horizon", "maxsize")

    def __init__(self, maxsize: int, horizon: float, clock: Callable[[], float]) -> None:
        self._data: dict[Hashable, tuple[float, float]] = {}
        self.maxsize = maxsize
        self.horizon = horizon
        self._clock = clock
        self.dropped_until = -math.inf

    def get(self, key: Hashable) -> tuple[float, float] | None:
        entry = self._data.get(key)
        if entry is not None and entry[1] + self.horizon <= self._clock():
            self._data.pop(key, None)
            return None
        return entry

    def put(self, key: Hashable, value: float, changed_at: float) -> None:
        data = self._data
        data.pop(key, None)  # re-inserted at the new end
        data[key] = (value, changed_at)
        if len(data) > self.maxsize:
            self.expire()
            while len(data) > self.maxsize:
                _, (_, dropped_at) = _pop_oldest(data)
                self.dropped_until = max(self.dropped_until, dropped_at)

    def expire(self) -> None:
        data = self._data
        limit = self._clock() - self.horizon
        while data:
            key = next(iter(data))
            if data[key][1] > limit:
                break
            del data[key]

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)


def _pop_oldest(
    data: dict[Hashable, tuple[float, float]],
) -> tuple[Hashable, tuple[float, float]]:
    key = next(iter(data))
    return key, data.pop(key)


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
        self._users = _RecentChanges(maxsize, horizon, clock)
        self._sessions = _RecentChanges(maxsize, horizon, clock)
        self._organizations = _RecentChanges(maxsize, horizon, clock)
        self._memberships = _RecentChanges(maxsize, horizon, clock)
        # (org_id, user_id) -> when a deleted membership was created again: tokens issued
        # until then belong to the old membership, whatever their mem_ver says
        self._rejoined = _RecentChanges(maxsize, horizon, clock)

    # -- feeding ------------------------------------------------------------------------
    def user_changed(self, user_id: str, version: int, changed_at: float) -> None:
        """The user's token-relevant version is now at least ``version``."""
        current = self._users.get(user_id)
        if current is not None and current[0] >= version:
            return
        if changed_at + self.horizon <= self._clock():
            return  # every token issued before it has expired already
        self._users.put(user_id, version, changed_at)

    def user_deleted(self, user_id: str, changed_at: float) -> None:
        """Every token of the user is revoked."""
        self._users.put(user_id, math.inf, changed_at)

    def session_ended(self, session_id: str, changed_at: float) -> None:
        """The session was revoked, ended or expired: its tokens are revoked."""
        if changed_at + self.horizon <= self._clock():
            return
        self._sessions.put(session_id, 0.0, changed_at)

    def stale_before(self, changed_at: float) -> None:
        """Every token issued at or before ``changed_at`` is stale (changes were missed:
        the change stream's ``reset``)."""
        users = self._users
        users.dropped_until = max(users.dropped_until, changed_at)

    def organization_changed(self, org_id: str, version: int, changed_at: float) -> None:
        """The organization's token-relevant version (name, slug, public metadata) is now
        at least ``version``: every token with this ``org_id`` and a lower ``org_ver`` is
        stale. One entry, whatever the member count."""
        self._raise(self._organizations, org_id, version, changed_at)

    def membership_changed(
        self, org_id: str, user_id: str, version: int, changed_at: float
    ) -> None:
        """The membership of ``user_id`` in ``org_id`` (role, public metadata) is now at
        least ``version``: the person's tokens with this ``org_id`` and a lower ``mem_ver``
        are stale. After :meth:`membership_deleted`, a later change is the membership
        created again: the person's tokens issued until then stay stale, whatever their
        ``mem_ver`` (a new membership may count its versions from 1 again)."""
        key = (org_id, user_id)
        current = self._memberships.get(key)
        if current is not None and current[0] == math.inf and changed_at >= current[1]:
            self._rejoined.put(key, changed_at, changed_at)
        self._raise(self._memberships, key, version, changed_at)

    def organization_deleted(self, org_id: str, changed_at: float) -> None:
        """The organization is gone: every token with this ``org_id`` is stale (and
        reissued without an active organization)."""
        self._organizations.put(org_id, math.inf, changed_at)

    def membership_deleted(self, org_id: str, user_id: str, changed_at: float) -> None:
        """The membership is gone: the person's tokens with this ``org_id`` are stale."""
        self._memberships.put((org_id, user_id), math.inf, changed_at)

    def _raise(
        self, changes: _RecentChanges, key: Hashable, version: int, changed_at: float
    ) -> None:
        if changed_at + self.horizon <= self._clock():
            return  # every token issued before it has expired already
        current = changes.get(key)
        # an older version never lowers the bar; a deletion is replaced only by a record
        # created again after it
        if (
            current is not None
            and current[0] >= version
            and (current[0] != math.inf or changed_at < current[1])
        ):
            return
        changes.put(key, version, changed_at)

    # -- asking -------------------------------------------------------------------------
    def check(
        self,
        user_id: str | None,
        session_id: str | None,
        version: int,
        iat: int,
        org_id: str | None = None,
        org_version: int = 0,
        membership_version: int = 0,
    ) -> int:
        """:data:`FRESH`, :data:`STALE` or :data:`REVOKED` for a token with these claims
        (``sub``, ``sid``, ``ver``, ``iat`` and, with an active organization, ``org_id``,
        ``org_ver``, ``mem_ver``).

        On every request: plain dictionary lookups, an entry past the horizon ignored."""
        sessions, users = self._sessions, self._users
        if sessions._data and session_id is not None and sessions.get(session_id) is not None:
            return REVOKED
        if users._data and user_id is not None:
            change = users.get(user_id)
            if change is not None and version < change[0]:
                return REVOKED if change[0] == math.inf else STALE
        if iat <= users.dropped_until or iat <= sessions.dropped_until:
            return STALE
        if org_id is None:
            return FRESH
        orgs, memberships = self._organizations, self._memberships
        if orgs._data:
            change = orgs.get(org_id)
            if change is not None and org_version < change[0]:
                return STALE
        if memberships._data:
            change = memberships.get((org_id, user_id))
            if change is not None and membership_version < change[0]:
                return STALE
            rejoined = self._rejoined
            if rejoined._data:
                again = rejoined.get((org_id, user_id))
                if again is not None and iat <= again[0]:
                    return STALE
        if iat <= orgs.dropped_until or iat <= memberships.dropped_until:
            return STALE
        if iat <= self._rejoined.dropped_until:
            return STALE
        return FRESH

    def known_version(self, user_id: str) -> float | None:
        """The newest version this process knows for ``user_id`` (``inf`` once deleted)."""
        change = self._users.get(user_id)
        return None if change is None else change[0]

    @property
    def tracked(self) -> int:
        """How many changes are tracked now (users, sessions, organizations, memberships)."""
        return (
            len(self._users)
            + len(self._sessions)
            + len(self._organizations)
            + len(self._memberships)
            + len(self._rejoined)
        )

    def expire(self) -> None:
        """Drop entries past the horizon (reads also ignore them)."""
        self._users.expire()
        self._sessions.expire()
        self._organizations.expire()
        self._memberships.expire()
        self._rejoined.expire()
