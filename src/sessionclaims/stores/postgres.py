"""The PostgreSQL store: many app instances on many machines share one database.

Connections come from a :class:`psycopg_pool.AsyncConnectionPool`; each is checked
(without a round trip) before use, so after the server restarts dead connections are
replaced at once and no call fails for having drawn one. When the server does not
answer at all, the store says so at once (``_pg_health``): calls fail with
:class:`~sessionclaims.StoreUnavailable` without waiting for the pool, a probe retries
every 0.1 s, and a fresh pool serves the first call after the server is back.
Read-modify-writes lock their row (``SELECT ... FOR UPDATE``). Every change-log append
first takes a transaction-scoped advisory lock, so sequence numbers become visible in
order (a reader that has seen ``seq`` N never later finds a smaller one committed), and
sends ``NOTIFY`` on the store's channel in the same transaction;
:meth:`PostgresStore.listen` turns those into callbacks.

Tables live in one schema (``?schema=name`` in the URL or ``schema=`` option; default
``public``), created on first open, so several deployments (or test runs) can share a
database without colliding.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import select
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import pq, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .._errors import (
    AlreadyMember,
    ConfigurationError,
    ExternalIdTaken,
    SlugTaken,
    StoreUnavailable,
)
from ..models import SessionStatus
from . import _pg_ops as ops
from . import _rows as rows
from ._delegating import DelegatingStore
from ._pg_health import Health
from ._pg_listen import listen_forever
from ._pg_ops import Connection, Feed
from ._schema import POSTGRES_MIGRATIONS, announce, pending_migrations, report_message
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

_BUSY_POOL_TRUST = 1.0
"""Seconds a successful probe vouches for the server while calls wait for a busy pool."""

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def channel_name(schema: str) -> str:
    """The ``NOTIFY`` channel of the store in ``schema`` (at most 63 bytes)."""
    name = f"sessionclaims_{schema}"
    if len(name) > 63:
        name = "sessionclaims_" + hashlib.blake2b(schema.encode(), digest_size=16).hexdigest()
    return name


def _lock_key(purpose: str, schema: str) -> int:
    digest = hashlib.blake2b(f"sessionclaims:{purpose}:{schema}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _is_dead(conn: Connection) -> bool:
    """True when an idle connection was closed by the server (a restart, an
    administrator's ``pg_terminate_backend``): non-blocking polls, no round trip.

    A terminated backend sends a FATAL message (which libpq, while idle, files as a
    notice) and closes the socket; reading until nothing is pending reaches the EOF."""
    if conn.closed:
        return True
    try:
        for _ in range(8):
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
            if not readable:
                break
            conn.pgconn.consume_input()  # raises on EOF
    except (OSError, ValueError, psycopg.OperationalError):
        return True
    return conn.pgconn.status != pq.ConnStatus.OK


class PostgresStore(DelegatingStore[Connection]):
    """A :class:`~sessionclaims.stores.Store` on PostgreSQL (psycopg 3, async).

    ``url`` is a libpq URL (``postgresql://user:password@host:5432/db``); its query
    may carry libpq parameters and ``schema``. Options: ``schema``; ``min_size`` and
    ``max_size`` of the pool; ``timeout``, seconds a call waits for a pooled
    connection before :class:`~sessionclaims.StoreUnavailable` (while the server
    answers; an unreachable server fails the call at once); ``connect_timeout``, which
    also bounds each reachability probe;
    ``max_idle`` and ``max_lifetime`` of pooled connections; ``application_name``
    (shown in ``pg_stat_activity``; the listener's is this plus ``-listener``);
    ``listen_backoff_max``, the longest wait between two reconnection attempts of
    :meth:`listen`, and ``listen_check_interval``, how often it checks that its
    connection is alive.
    """

    options: ClassVar[frozenset[str]] = frozenset(
        {
            "schema",
            "min_size",
            "max_size",
            "timeout",
            "connect_timeout",
            "max_idle",
            "max_lifetime",
            "application_name",
            "listen_backoff_max",
            "listen_check_interval",
        }
    )
    """The keyword options :func:`~sessionclaims.stores.open_store` accepts."""

    _ops = ops

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 5.0,
        connect_timeout: float = 5.0,
        max_idle: float = 600.0,
        max_lifetime: float = 3600.0,
        application_name: str = "sessionclaims",
        listen_backoff_max: float = 5.0,
        listen_check_interval: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        in_url = {value for name, value in query if name == "schema"}
        if len(in_url) > 1 or (in_url and schema is not None and in_url != {schema}):
            raise ConfigurationError(f"conflicting schemas for {rows.redact_url(url)}")
        self.schema = schema if schema is not None else in_url.pop() if in_url else "public"
        if not _SCHEMA_NAME.fullmatch(self.schema):
            raise ConfigurationError(
                f"invalid schema name {self.schema!r}: use lower-case letters, digits and"
                " underscores, starting with a letter or underscore, at most 63 characters"
            )
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ConfigurationError(f"need 0 <= min_size <= max_size, max_size >= 1 ({url})")
        if min(timeout, connect_timeout, listen_backoff_max, listen_check_interval) <= 0:
            raise ConfigurationError("timeouts and intervals must be positive")
        rest = urlencode([(n, v) for n, v in query if n != "schema"], quote_via=quote)
        self._conninfo = urlunsplit(parts._replace(query=rest))
        try:
            params = conninfo_to_dict(self._conninfo)
        except psycopg.ProgrammingError as exc:
            raise ConfigurationError(
                f"invalid PostgreSQL URL {rows.redact_url(url)}: {exc}"
            ) from exc
        self.url = rows.redact_url(url)
        self.channel = channel_name(self.schema)
        self._kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in params:
            self._kwargs["connect_timeout"] = max(1, math.ceil(connect_timeout))
        app = str(params.get("application_name") or application_name)
        self._listener_kwargs = {
            **self._kwargs,
            "application_name": f"{app}-listener"[:63],
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }
        if "application_name" not in params:
            self._kwargs["application_name"] = app[:63]
        self._min_size, self._max_size = min_size, max_size
        self._timeout = float(timeout)
        self._connect_timeout = float(connect_timeout)
        self._max_idle, self._max_lifetime = float(max_idle), float(max_lifetime)
        self._listen_backoff_max = float(listen_backoff_max)
        self._listen_check_interval = float(listen_check_interval)
        self._feed = Feed(_lock_key("changes", self.schema), self.channel)
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._open_lock = asyncio.Lock()
        self._health = self._new_health()

    def __repr__(self) -> str:
        return f"<PostgresStore {self.url} schema={self.schema}>"

    # -- lifecycle ------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect, create the schema and apply pending migrations, then fill the pool."""
        async with self._open_lock:
            if self._pool is not None:
                return
            pool = self._new_pool()
            try:
                await self._migrate()
                await pool.open(wait=True, timeout=self._timeout)
            except BaseException as exc:
                await pool.close()
                if isinstance(exc, psycopg.OperationalError):
                    raise StoreUnavailable(f"cannot open the store {self.url}: {exc}") from exc
                if isinstance(exc, psycopg.Error):  # e.g. no right to create the schema
                    raise ConfigurationError(f"cannot set up the store {self.url}: {exc}") from exc
                raise
            self._health = self._new_health()
            self._pool = pool

    async def close(self) -> None:
        """Close the pool. A running :meth:`listen` is the caller's to cancel."""
        await self._health.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _new_pool(self) -> AsyncConnectionPool[Connection]:
        return AsyncConnectionPool(
            self._conninfo,
            kwargs=self._kwargs,
            configure=self._configure,
            open=False,
            name=f"sessionclaims-{self.schema}",
            min_size=self._min_size,
            max_size=self._max_size,
            timeout=self._timeout,
            max_idle=self._max_idle,
            max_lifetime=self._max_lifetime,
        )

    def _new_health(self) -> Health:
        return Health(self._probe, self._renew_pool, timeout=self._connect_timeout, where=self.url)

    async def _probe(self) -> None:
        """One plain connection, closed at once: does the server accept us?"""
        conn = await psycopg.AsyncConnection.connect(self._conninfo, **self._kwargs)
        await conn.close()

    async def _renew_pool(self) -> None:
        """The server is back: replace the pool, whose connections are dead and whose
        reconnection attempts may be scheduled seconds away (exponential backoff)."""
        if self._pool is None:
            return
        pool = self._new_pool()
        try:
            await pool.open(wait=True, timeout=self._connect_timeout)
        except BaseException:
            await pool.close()
            raise
        old, self._pool = self._pool, pool
        if old is None:  # closed meanwhile
            self._pool = None
            await pool.close()
            return
        await old.close()  # connections still out are closed when they come back

    async def _configure(self, conn: Connection) -> None:
        await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))

    async def _migrate(self) -> None:
        quoted = f'"{self.schema}"'  # the name matched _SCHEMA_NAME: nothing to escape
        conn = await psycopg.AsyncConnection.connect(self._conninfo, **self._kwargs)
        reports: list[str] = []
        async with conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s)", (_lock_key("migrate", self.schema),)
            )
            cursor = await conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
            )
            if await cursor.fetchone() is None:
                await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}.schema_migrations (version INTEGER PRIMARY KEY,"
                    " description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                ).format(sql.Identifier(self.schema))
            )
            cursor = await conn.execute(
                sql.SQL("SELECT COALESCE(MAX(version), 0) FROM {}.schema_migrations").format(
                    sql.Identifier(self.schema)
                )
            )
            (current,) = await cursor.fetchone() or (0,)
            for migration in pending_migrations(POSTGRES_MIGRATIONS, int(current), self.url):
                for statement in migration.statements:
                    await conn.execute(statement.format(schema=quoted))
                if migration.report is not None:
                    found = await conn.execute(migration.report.format(schema=quoted))
                    if rows_found := await found.fetchall():
                        reports.append(report_message(migration, rows_found))
                await conn.execute(
                    sql.SQL(
                        "INSERT INTO {}.schema_migrations (version, description) VALUES (%s, %s)"
                    ).format(sql.Identifier(self.schema)),
                    (migration.version, migration.description),
                )
        announce(reports)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        pool = self._pool
        if pool is None:
            raise StoreUnavailable(f"the store {self.url} is not open")
        self._health.refuse_if_down()
        conn = await self._checkout(pool)
        try:
            yield conn
        except psycopg.errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "users_external_id":
                raise ExternalIdTaken from exc
            if exc.diag.constraint_name == "organizations_slug":
                raise SlugTaken from exc
            if exc.diag.constraint_name == "memberships_organization_user":
                raise AlreadyMember from exc
            detail = exc.diag.message_detail or str(exc)
            raise DuplicateRecord(f"already stored in {exc.diag.table_name}: {detail}") from exc
        except psycopg.OperationalError as exc:
            if conn.closed:  # the connection was lost: is the server still there?
                await self._health.answers()
            raise StoreUnavailable(f"the store {self.url} failed: {exc}".strip()) from exc
        finally:
            await pool.putconn(conn)

    async def _checkout(self, pool: AsyncConnectionPool[Connection]) -> Connection:
        # After a server restart every idle connection is dead. Drop them at once (the
        # pool connects replacements in the background) until a live one turns up,
        # rather than failing a call or sleeping between checks; but if the server no
        # longer accepts connections at all, say so now.
        for _ in range(self._max_size + 1):
            conn = await self._getconn(pool)
            if not _is_dead(conn):
                return conn
            await conn.close()
            await pool.putconn(conn)
            if not await self._health.answers():
                raise self._health.unreachable()
        raise StoreUnavailable(f"the store {self.url} has no live connection")

    async def _getconn(self, pool: AsyncConnectionPool[Connection]) -> Connection:
        """A pooled connection within ``timeout`` seconds; the wait goes on only while
        the server still accepts connections (looked at after 10 ms, when a concurrent
        call may have found the server gone, then every probe interval; probed at most
        once a second while the pool is merely busy)."""
        deadline = time.monotonic() + self._timeout
        wait = self._health.interval / 10
        while True:
            wait = min(wait, deadline - time.monotonic())
            try:
                return await pool.getconn(timeout=wait)
            except PoolTimeout as exc:
                wait = self._health.interval
                if time.monotonic() >= deadline:
                    raise StoreUnavailable(
                        f"the store {self.url} had no free connection within {self._timeout:g} s"
                    ) from exc
                if not await self._health.answers(reuse=_BUSY_POOL_TRUST):
                    raise self._health.unreachable() from exc
            except psycopg.OperationalError as exc:  # the pool was closed
                raise StoreUnavailable(f"the store {self.url} failed: {exc}".strip()) from exc

    async def _call(  # type: ignore[override]  # takes only coroutine functions, as ``ops`` holds
        self,
        op: Callable[Concatenate[Connection, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``await op(connection, *args, **kwargs)`` on a pooled connection."""
        async with self._connection() as conn:
            return await op(conn, *args, **kwargs)

    # -- writes that append to the change log (and notify) ------------------------------
    async def update_user(
        self, user_id: str, mutate: UserMutation, *, now_ms: int
    ) -> tuple[UserRecord, UserRecord]:
        """Atomic read-modify-write holding the user's row lock; returns ``(before, after)``."""
        return await self._call(ops.update_user, self._feed, user_id, mutate, now_ms)

    async def delete_user(self, user_id: str, *, now_ms: int) -> list[str]:
        """Delete the user, revoke its active sessions, append one ``user_deleted`` change."""
        return await self._call(ops.delete_user, self._feed, user_id, now_ms)

    async def end_session(
        self, session_id: str, status: SessionStatus, *, now_ms: int
    ) -> SessionRecord:
        """Move an active session to ``status`` and append a ``session`` change."""
        rows.check_end_status(status)
        return await self._call(ops.end_session, self._feed, session_id, status, now_ms)

    async def insert_key(self, key: KeyRecord, *, retire_others_at: int | None) -> None:
        """Insert ``key``, optionally retire the others, append a ``keys`` change."""
        await self._call(ops.insert_key, self._feed, key, retire_others_at)

    async def update_organization(
        self, org_id: str, mutate: OrganizationMutation, *, now_ms: int
    ) -> tuple[OrganizationRecord, OrganizationRecord]:
        """Atomic read-modify-write holding the organization's row lock."""
        return await self._call(ops.update_organization, self._feed, org_id, mutate, now_ms)

    async def delete_organization(self, org_id: str, *, now_ms: int) -> None:
        """Delete the organization and its memberships; append ``organization_deleted``."""
        await self._call(ops.delete_organization, self._feed, org_id, now_ms)

    async def insert_membership(self, membership: MembershipRecord) -> None:
        """Insert a membership, count it, append a ``membership`` change."""
        await self._call(ops.insert_membership, self._feed, membership)

    async def update_membership(
        self, org_id: str, user_id: str, mutate: MembershipMutation, *, now_ms: int
    ) -> tuple[MembershipRecord, MembershipRecord]:
        """Atomic read-modify-write holding the membership's row lock."""
        return await self._call(ops.update_membership, self._feed, org_id, user_id, mutate, now_ms)

    async def delete_membership(
        self, org_id: str, user_id: str, *, now_ms: int
    ) -> MembershipRecord:
        """Delete the membership, uncount it, append a ``membership_deleted`` change."""
        return await self._call(ops.delete_membership, self._feed, org_id, user_id, now_ms)

    async def delete_retired_keys(self, *, now_ms: int) -> int:
        """Delete keys whose ``retire_at`` has passed; append a ``keys`` change if any."""
        return await self._call(ops.delete_retired_keys, self._feed, now_ms)

    # -- notifications ----------------------------------------------------------------
    async def listen(self, on_change: Callable[[], Awaitable[None]]) -> None:
        """Call ``on_change`` when another instance may have written a change; runs until
        cancelled (see :class:`~sessionclaims.stores.ChangeListener`).

        LISTENs on :attr:`channel` over a dedicated connection (not from the pool; the
        store need not be open). ``on_change`` is also called once each time listening
        starts or resumes after a lost connection (reconnecting with exponential
        backoff up to ``listen_backoff_max`` seconds), and after each liveness check of
        the connection (every ``listen_check_interval`` seconds), so that nothing
        written while a notification could not arrive is missed for long.
        """
        await listen_forever(
            connect=lambda: psycopg.AsyncConnection.connect(
                self._conninfo, **self._listener_kwargs
            ),
            channel=self.channel,
            on_change=on_change,
            backoff_max=self._listen_backoff_max,
            check_interval=self._listen_check_interval,
            where=self.url,
        )
