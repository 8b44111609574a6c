"""Stores: where users, sessions, sign-ups, signing keys and the change log live.

:func:`open_store` picks the implementation from the URL's scheme:

* ``sqlite://`` (in memory, private to the store), ``sqlite:///relative/path.db``,
  ``sqlite:////absolute/path.db`` — :class:`~sessionclaims.stores.sqlite.SQLiteStore`;
* ``postgresql://user@host:5432/db?schema=name`` (or ``postgres://``) —
  :class:`~sessionclaims.stores.postgres.PostgresStore`, which needs the optional
  dependencies: ``pip install 'sessionclaims[postgres]'``.
"""

from __future__ import annotations

from typing import Any

from .._errors import ConfigurationError
from ._rows import redact_url
from .base import (
    ChangeKind,
    ChangeListener,
    ChangeRecord,
    DuplicateRecord,
    KeyRecord,
    SessionRecord,
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
    "SQLiteStore",
    "SessionRecord",
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
        _check_options("PostgreSQL", options, PostgresStore.options)
        return PostgresStore(url, **options)
    shown = f"{scheme!r}" if scheme else "no scheme"
    raise ConfigurationError(
        f"unknown store URL {redact_url(url)!r} ({shown}): use sqlite:///path/to/auth.db, "
        "sqlite:// (in memory) or postgresql://user@host:5432/dbname"
    )


def _check_options(name: str, options: dict[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown {name} store option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
