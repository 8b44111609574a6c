"""The SQLite store: the embedded default, one file shared by every worker process.

Every database call runs on one dedicated worker thread per store instance, where the
connection is created and used; the event loop only awaits it. The file is opened in
WAL mode (readers never wait for the writer) with ``synchronous=NORMAL`` and a busy
timeout, and every write runs in ``BEGIN IMMEDIATE``: it takes the file's write lock up
front, so a read-modify-write is atomic across threads, store instances and processes
that share the file, and contending writers wait their turn instead of failing.

``sqlite://`` is an in-memory database private to the store instance.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from .._errors import (
    AlreadyMember,
    ConfigurationError,
    ExternalIdTaken,
    SlugTaken,
    StoreUnavailable,
)
from ..models import SessionStatus
from . import _rows as rows
from . import _sqlite_ops as ops
from ._delegating import DelegatingStore
from ._schema import SQLITE_MIGRATIONS
from .base import (
    DuplicateRecord,
    KeyRecord,
    MembershipMutation,
    MembershipRecord,
    OrganizationMutation,
    OrganizationRecord,
    SessionRecord,
    UserMutation,
    UserRecord,
)

P = ParamSpec("P")
T = TypeVar("T")

# Primary result codes that mean "the database cannot be reached or used right now".
_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOLFS,
    }
)
_DUPLICATE = frozenset({sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE})


class SQLiteStore(DelegatingStore[sqlite3.Connection]):
    """A :class:`~sessionclaims.stores.Store` on an SQLite file (or in memory).

    ``path`` is the database file (``None`` for a private in-memory database);
    ``busy_timeout`` is how many seconds a write waits for another writer's lock on the
    same file before :class:`~sessionclaims.StoreUnavailable` is raised.
    """

    options: ClassVar[frozenset[str]] = frozenset({"busy_timeout"})
    """The keyword options :func:`~sessionclaims.stores.open_store` accepts."""

    _ops = ops

    def __init__(self, path: str | os.PathLike[str] | None, *, busy_timeout: float = 5.0) -> None:
        if busy_timeout < 0:
            raise ConfigurationError(f"busy_timeout must not be negative (got {busy_timeout})")
        self.path = None if path is None else os.path.abspath(os.fspath(path))
        self.busy_timeout = float(busy_timeout)
        self.url = "sqlite://" if self.path is None else f"sqlite:///{self.path}"
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._open_lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteStore:
        """``sqlite://`` (in memory), ``sqlite:///relative/path.db`` or
        ``sqlite:////absolute/path.db``; ``?busy_timeout=SECONDS`` is accepted."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "sqlite":
            raise ConfigurationError(f"not an SQLite URL: {url!r}")
        if parts.netloc:
            raise ConfigurationError(
                f"an SQLite URL has no host ({url!r}): use sqlite:///relative/path.db, "
                "sqlite:////absolute/path.db or sqlite:// (in memory)"
            )
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name != "busy_timeout":
                raise ConfigurationError(
                    f"unknown SQLite URL parameter {name!r}; the only one is busy_timeout"
                )
            if "busy_timeout" in options:
                raise ConfigurationError("busy_timeout is given both in the URL and as option")
            try:
                options["busy_timeout"] = float(value)
            except ValueError:
                raise ConfigurationError(f"busy_timeout must be seconds, not {value!r}") from None
        path = unquote(parts.path[1:])  # drop the "/" that ends "sqlite://"
        return cls(None if path in ("", ":memory:") else path, **options)

    def __repr__(self) -> str:
        return f"<SQLiteStore {self.url}>"

    # -- lifecycle ------------------------------------------------------------------------
    async def open(self) -> None:
        """Open the file (created if missing), enable WAL and apply pending migrations."""
        async with self._open_lock:
            if self._executor is not None:
                return
            folder = None if self.path is None else Path(self.path).parent
            if folder is not None and not folder.is_dir():
                raise StoreUnavailable(
                    f"cannot open the SQLite store {self.url}: the directory {folder} does "
                    "not exist (create it, or fix the path in the database URL)"
                )
            executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sessionclaims-sqlite")
            loop = asyncio.get_running_loop()
            try:
                self._conn = await loop.run_in_executor(executor, self._translated, self._connect)
            except BaseException:
                executor.shutdown(wait=False)
                raise
            self._executor = executor

    async def close(self) -> None:
        """Close the connection and stop the worker thread."""
        async with self._open_lock:
            executor, self._executor = self._executor, None
            if executor is None:
                return
            try:
                await asyncio.get_running_loop().run_in_executor(executor, self._disconnect)
            finally:
                executor.shutdown(wait=False)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            ":memory:" if self.path is None else self.path,
            timeout=self.busy_timeout,
            isolation_level=None,  # autocommit; transactions are explicit BEGIN ... COMMIT
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if self.path is not None:
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            ops.register_functions(conn)
            ops.migrate(conn, SQLITE_MIGRATIONS, self.url)
        except BaseException:
            conn.close()
            raise
        return conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # -- running calls on the worker thread ---------------------------------------------
    async def _call(  # type: ignore[override]  # takes only functions, as ``ops`` holds
        self, op: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``op(connection, *args, **kwargs)`` on the worker thread."""
        executor = self._executor
        if executor is None:
            raise StoreUnavailable(f"the store {self.url} is not open")

        def on_connection() -> T:
            conn = self._conn
            if conn is None:
                raise StoreUnavailable(f"the store {self.url} is closed")
            return op(conn, *args, **kwargs)

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, self._translated, on_connection)

    def _translated(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn()``, with sqlite3 errors turned into this library's exceptions."""
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            if code is None:
                raise
            if isinstance(exc, sqlite3.IntegrityError) and code in _DUPLICATE:
                if str(exc).endswith("users.external_id"):
                    raise ExternalIdTaken from exc
                if str(exc).endswith("organizations.slug"):
                    raise SlugTaken from exc
                if str(exc).endswith("organization_memberships.user_id"):
                    raise AlreadyMember from exc
                raise DuplicateRecord(f"already stored ({exc})") from exc
            if code & 0xFF == sqlite3.SQLITE_NOTADB:
                raise ConfigurationError(f"{self.path} is not an SQLite database") from exc
            if code & 0xFF in _UNAVAILABLE:
                raise StoreUnavailable(f"the SQLite store {self.url} failed: {exc}") from exc
            raise

    # -- writes that append to the change log -------------------------------------------
    async def update_user(
        self, user_id: str, mutate: UserMutation, *, now_ms: int
    ) -> tuple[UserRecord, UserRecord]:
        """Atomic read-modify-write under the file's write lock; returns ``(before, after)``.
        ``mutate`` runs on the worker thread, inside the transaction."""
        return await self._call(ops.update_user, user_id, mutate, now_ms)

    async def delete_user(self, user_id: str, *, now_ms: int) -> list[str]:
        """Delete the user, revoke its active sessions, append one ``user_deleted`` change."""
        return await self._call(ops.delete_user, user_id, now_ms)

    async def end_session(
        self, session_id: str, status: SessionStatus, *, now_ms: int
    ) -> SessionRecord:
        """Move an active session to ``status`` and append a ``session`` change."""
        rows.check_end_status(status)
        return await self._call(ops.end_session, session_id, status, now_ms)

    async def insert_key(self, key: KeyRecord, *, retire_others_at: int | None) -> None:
        """Insert ``key``, optionally retire the others, append a ``keys`` change."""
        await self._call(ops.insert_key, key, retire_others_at)

    async def update_organization(
        self, org_id: str, mutate: OrganizationMutation, *, now_ms: int
    ) -> tuple[OrganizationRecord, OrganizationRecord]:
        """Atomic read-modify-write under the file's write lock; returns ``(before, after)``."""
        return await self._call(ops.update_organization, org_id, mutate, now_ms)

    async def delete_organization(self, org_id: str, *, now_ms: int) -> None:
        """Delete the organization and its memberships; append ``organization_deleted``."""
        await self._call(ops.delete_organization, org_id, now_ms)

    async def insert_membership(self, membership: MembershipRecord) -> None:
        """Insert a membership, count it, append a ``membership`` change."""
        await self._call(ops.insert_membership, membership)

    async def update_membership(
        self, org_id: str, user_id: str, mutate: MembershipMutation, *, now_ms: int
    ) -> tuple[MembershipRecord, MembershipRecord]:
        """Atomic read-modify-write under the file's write lock; returns ``(before, after)``."""
        return await self._call(ops.update_membership, org_id, user_id, mutate, now_ms)

    async def delete_membership(
        self, org_id: str, user_id: str, *, now_ms: int
    ) -> MembershipRecord:
        """Delete the membership, uncount it, append a ``membership_deleted`` change."""
        return await self._call(ops.delete_membership, org_id, user_id, now_ms)

    async def delete_retired_keys(self, *, now_ms: int) -> int:
        """Delete keys whose ``retire_at`` has passed; append a ``keys`` change if any."""
        return await self._call(ops.delete_retired_keys, now_ms)
