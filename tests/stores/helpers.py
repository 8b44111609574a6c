"""The ``store`` fixture: every contract test runs against every store.

PostgreSQL tests use the server at ``SESSIONCLAIMS_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``), each in a schema of its own that is
dropped afterwards. When the server cannot be reached they skip, except under ``CI``,
where they fail: a green CI run must have exercised PostgreSQL.
"""

from __future__ import annotations

import functools
import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

from sessionclaims.stores import (
    MembershipRecord,
    OrganizationRecord,
    SessionRecord,
    Store,
    UserRecord,
    open_store,
)

POSTGRES_URL = os.environ.get(
    "SESSIONCLAIMS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
NOW = 1_800_000_000_000
DAY = 86_400_000

ODD_METADATA: dict[str, Any] = {  # stored byte for byte, key order and all
    "z": 1,
    "a": "nul\x00inside",
    "ünïcödé": "日本語 🎉 مرحبا",
    "nested": {"b": [1, 2.5, None, True, False], "a": {}, "deep": [[[{"x": "y"}]]]},
    "big": 2**53 + 1,
    "neg": -0.0,
    "float": 0.1,
    "escapes": '"quoted" \\ back\nslash \u2028 \t',
    "control": "\x01\x1f\x7f",
    "": "empty key",
}

STORE_KINDS = [
    "sqlite-memory",
    "sqlite-file",
    pytest.param("postgres", marks=pytest.mark.postgres),
]


@functools.cache
def postgres_problem() -> str | None:
    """Why the test server cannot be used, or ``None`` when it can."""
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed ({exc}); pip install -e '.[dev]'"
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}".strip()
    return None


def psycopg_or_skip() -> ModuleType:
    """``psycopg``, imported for a PostgreSQL-only test module; without the driver the
    whole module skips (fails under ``CI``, where the dev extra must be installed)."""
    try:
        import psycopg
    except ImportError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"psycopg is not installed ({exc})", allow_module_level=True)
    return psycopg


def require_postgres() -> None:
    """Skip (fail under ``CI``) when the PostgreSQL test server is unreachable."""
    problem = postgres_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{problem} (CI is set: PostgreSQL tests must run, not skip)")
    pytest.skip(problem)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema name, dropped (with everything in it) afterwards."""
    import psycopg

    name = f"sc_test_{uuid.uuid4().hex[:16]}"
    try:
        yield name
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def postgres_options(schema: str, **extra: Any) -> dict[str, Any]:
    """Small pools and short timeouts: tests share the server with other runs."""
    return {
        "schema": schema,
        "min_size": 1,
        "max_size": 4,
        "timeout": 5.0,
        "application_name": f"sc-test-{schema}",
        **extra,
    }


@dataclass
class StoreTarget:
    """How to make (more) instances of the store under test."""

    kind: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def shared(self) -> bool:
        """True when two instances see the same data (a file or a server)."""
        return self.kind != "sqlite-memory"

    def make(self) -> Store:
        return open_store(self.url, **self.options)


def make_user(
    user_id: str = "user_1",
    *,
    created_at: int = NOW,
    public: dict[str, Any] | None = None,
    private: dict[str, Any] | None = None,
    unsafe: dict[str, Any] | None = None,
    version: int = 1,
    external_id: str | None = None,
) -> UserRecord:
    return UserRecord(
        id=user_id,
        external_id=external_id,
        created_at=created_at,
        updated_at=created_at,
        public_metadata=public or {},
        private_metadata=private or {},
        unsafe_metadata=unsafe or {},
        version=version,
    )


def make_session(
    session_id: str,
    user_id: str = "user_1",
    *,
    created_at: int = NOW,
    expire_at: int = NOW + 7 * DAY,
    status: Any = "active",
    origin: str | None = None,
) -> SessionRecord:
    return SessionRecord(
        id=session_id,
        user_id=user_id,
        status=status,
        created_at=created_at,
        expire_at=expire_at,
        last_active_at=created_at,
        refresh_hash=hashlib.sha256(session_id.encode()).digest(),
        origin=origin,
    )


def make_org(
    org_id: str = "org_1",
    *,
    name: str | None = None,
    slug: str | None = None,
    created_at: int = NOW,
    public: dict[str, Any] | None = None,
    private: dict[str, Any] | None = None,
    version: int = 1,
) -> OrganizationRecord:
    return OrganizationRecord(
        id=org_id,
        name=name or f"Org {org_id}",
        slug=slug or org_id.replace("_", "-"),
        created_at=created_at,
        updated_at=created_at,
        public_metadata=public or {},
        private_metadata=private or {},
        version=version,
    )


def make_membership(
    org_id: str = "org_1",
    user_id: str = "user_1",
    *,
    membership_id: str | None = None,
    role: str = "org:member",
    created_at: int = NOW,
    public: dict[str, Any] | None = None,
    private: dict[str, Any] | None = None,
    version: int = 1,
    token_bytes: int = 0,
) -> MembershipRecord:
    return MembershipRecord(
        id=membership_id or f"mem_{org_id}_{user_id}",
        organization_id=org_id,
        user_id=user_id,
        role=role,
        created_at=created_at,
        updated_at=created_at,
        public_metadata=public or {},
        private_metadata=private or {},
        version=version,
        token_bytes=token_bytes,
    )
