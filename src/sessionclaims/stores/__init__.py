"""Stores: where users, sessions, sign-ups, organizations and their memberships, signing
keys and the change log live.

:func:`open_store` picks the implementation from the URL's scheme:

* ``sqlite://`` (in memory, private to the store), ``sqlite:///relative/path.db``,
  ``sqlite:////absolute/path.db`` — :class:`~sessionclaims.stores.sqlite.SQLiteStore`;
* ``postgresql://user@host:5432/db?schema=name`` (or ``postgres://``) —
  :class:`~sessionclaims.stores.postgres.PostgresStore`, which needs the optional
  dependencies: ``pip install 'sessionclaims[postgres]'``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from .._errors import ConfigurationError
from ._rows import redact_url
from .base import (
    ChangeKind,
    ChangeListener,
    ChangeRecord,
    DuplicateRecord,
    KeyRecord,
    MembershipMutation,
    MembershipRecord,
    OrganizationMutation,
    OrganizationRecord,
    SessionRecord,
    SessionView,
    SignUpRecord,
    Store,
    UserMutation,
    UserRecord,
    dump_metadata,
    load_metadata,
)
from .sqlite import SQLiteStore

__all__ = [
    "ChangeKind",
    "ChangeListener",
    "ChangeRecord",
    "DuplicateRecord",
    "KeyRecord",
    "MembershipMutation",
    "MembershipRecord",
    "OrganizationMutation",
    "OrganizationRecord",
    "SQLiteStore",
    "SessionRecord",
    "SessionView",
    "SignUpRecord",
    "Store",
    "UserMutation",
    "UserRecord",
    "dump_metadata",
    "load_metadata",
    "open_store",
    "redact_url",
]

_POSTGRES_SCHEMES = ("postgresql", "postgres")


def open_store(url: str, **options: Any) -> Store:
    """The store for ``url``, configured with ``options`` but not yet connected: the
    caller awaits :meth:`~sessionclaims.stores.Store.open` (and later ``close``).

    Raises :class:`~sessionclaims.ConfigurationError` for an unknown scheme, an unknown
    option, or a PostgreSQL URL when the PostgreSQL driver is not installed.
    """
    scheme, colon, _ = url.partition(":")
    scheme = scheme.lower() if colon else ""
    if scheme == "sqlite":
        _check_options("SQLite", options, SQLiteStore.options)
        return SQLiteStore.from_url(url, **options)
    if scheme in _POSTGRES_SCHEMES:
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise ConfigurationError(
                f"the store URL {redact_url(url)} needs the PostgreSQL driver, which could not "
                f"be imported ({exc}): pip install 'sessionclaims[postgres]'"
            ) from exc
        url, from_url = _pool_options(url)
        options = {**from_url, **options}
        _check_options("PostgreSQL", options, PostgresStore.options)
        return PostgresStore(url, **options)
    shown = f"{scheme!r}" if scheme else "no scheme"
    raise ConfigurationError(
        f"unknown store URL {redact_url(url)!r} ({shown}): use sqlite:///path/to/auth.db, "
        "sqlite:// (in memory) or postgresql://user@host:5432/dbname"
    )


_POOL_PARAMETERS: dict[str, tuple[str, type[int] | type[float]]] = {
    "pool_min_size": ("min_size", int),
    "pool_max_size": ("max_size", int),
    "pool_timeout": ("timeout", float),
    "pool_max_idle": ("max_idle", float),
    "pool_max_lifetime": ("max_lifetime", float),
}


def _pool_options(url: str) -> tuple[str, dict[str, Any]]:
    """Pool settings given in the URL query (``?pool_max_size=20``), so that
    ``SESSIONCLAIMS_DATABASE_URL`` alone can size the pool; they leave the URL."""
    parts = urlsplit(url)
    kept: list[tuple[str, str]] = []
    options: dict[str, Any] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in _POOL_PARAMETERS:
            kept.append((name, value))
            continue
        option, kind = _POOL_PARAMETERS[name]
        try:
            options[option] = kind(value)
        except ValueError:
            raise ConfigurationError(
                f"{name} in the store URL must be a number, got {value!r}"
            ) from None
    if not options:
        return url, {}
    query = urlencode(kept, quote_via=quote)
    return urlunsplit(parts._replace(query=query)), options


def _check_options(name: str, options: dict[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown {name} store option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
