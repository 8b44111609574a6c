"""Full-mode fixtures: backends on a temporary SQLite file or a private PostgreSQL schema,
users with ~4 KB of public metadata, and per-call timing helpers. Nothing here is timed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessionclaims import Backend
from sessionclaims._errors import MetadataError

from ..harness import fresh_scope, http_scope, noop_receive, percentile
from ._fixtures import AZP, ISSUER

__all__ = [
    "BIG_TEMPLATE",
    "PG_BASE_URL",
    "ROLE_TEMPLATE",
    "Capture",
    "PgUnavailable",
    "Samples",
    "bearer_scope",
    "big_metadata",
    "compact_size",
    "create_big_user",
    "make_backend",
    "pg_schema",
    "scratch_dir",
    "sqlite_url",
    "timed_call",
]

ROLE_TEMPLATE: dict[str, Any] = {"role": "{{user.public_metadata.role}}"}
"""The smallest useful session template (P5, P7, merges)."""

BIG_TEMPLATE: dict[str, Any] = {
    "metadata": "{{user.public_metadata.profile}}",
    "role": "{{user.public_metadata.role}}",
}
"""P3's template: most of a ~4 KB public metadata goes into the token (all of it cannot:
base64 makes 4 KB of JSON ~5.4 KB of token, over the 4000-byte budget)."""

PG_BASE_URL = os.environ.get(
    "SESSIONCLAIMS_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
"""The PostgreSQL server the benchmarks use (each run in its own schema, dropped after)."""

STORED_METADATA_BYTES = 4000
"""Size of the big user's public metadata as compact JSON (the limit is 4096)."""


BENCH_KEY_ENCRYPTION_SECRET = "sessionclaims-bench key-encryption secret"
"""Encrypts the benchmark backends' signing keys (every process of a run shares it)."""


def compact_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (how metadata limits count)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def make_backend(url: str, *, template: dict[str, Any] | None = None, **settings: Any) -> Backend:
    """A backend as the benchmarks use it: the shared issuer and origin, ES256, signing
    keys encrypted at rest as in a deployment."""
    return Backend(
        url,
        issuer=ISSUER,
        key_encryption_secret=BENCH_KEY_ENCRYPTION_SECRET,
        session_template=template if template is not None else ROLE_TEMPLATE,
        authorized_parties=[AZP],
        **settings,
    )


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory for SQLite files, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"sessionclaims-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sqlite_url(directory: Path, name: str) -> str:
    return f"sqlite:///{directory.resolve() / name}.db"


class PgUnavailable(RuntimeError):
    """The PostgreSQL rows cannot run; the message says why (printed in the table)."""


@contextlib.contextmanager
def pg_schema(label: str) -> Iterator[str]:
    """A store URL for a fresh schema on :data:`PG_BASE_URL`, dropped afterwards;
    :class:`PgUnavailable` when the driver, the store or the server is missing."""
    try:
        import psycopg

        from sessionclaims.stores.postgres import PostgresStore  # noqa: F401 - importable?
    except ImportError as exc:
        raise PgUnavailable(f"PostgreSQL store not importable ({exc})") from exc
    try:
        psycopg.connect(PG_BASE_URL, connect_timeout=3, autocommit=True).close()
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PgUnavailable(f"server not reachable at {_redact(PG_BASE_URL)}: {reason}") from exc
    schema = f"bench_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    separator = "&" if "?" in PG_BASE_URL else "?"
    try:
        yield f"{PG_BASE_URL}{separator}schema={schema}"
    finally:
        with (
            contextlib.suppress(Exception),
            psycopg.connect(PG_BASE_URL, connect_timeout=3, autocommit=True) as conn,
        ):
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    return f"{scheme}{sep}{userinfo}{at}{host}"


# --- a user with ~4 KB of public metadata ---------------------------------------------


def big_metadata(profile_bytes: int, total_bytes: int = STORED_METADATA_BYTES) -> dict[str, Any]:
    """Public metadata of ~``total_bytes`` (compact JSON) whose ``profile`` key holds
    ~``profile_bytes`` of it; ``role`` and ``plan`` are short."""
    profile: dict[str, Any] = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "locale": "en-GB",
        "teams": ["analytical-engine", "notes", "bernoulli"],
        "flags": {"beta": True, "newsletter": False, "seats": 12},
        "bio": "",
    }
    profile["bio"] = "n" * max(0, profile_bytes - compact_size(profile))
    metadata: dict[str, Any] = {"role": "admin", "plan": "pro", "profile": profile, "extra": ""}
    metadata["extra"] = "x" * max(0, total_bytes - compact_size(metadata))
    return metadata


async def create_big_user(backend: Backend, profile_bytes: int = 2800) -> tuple[str, int]:
    """Create a user with ~4 KB public metadata whose session token (``BIG_TEMPLATE``)
    fits the backend's budget: ``profile`` shrinks until the write is accepted.
    Returns ``(user_id, profile_bytes)``."""
    while profile_bytes > 0:
        try:
            user = await backend.users.create_user(public_metadata=big_metadata(profile_bytes))
        except MetadataError as exc:
            if exc.code != "session_token_too_large":
                raise
            profile_bytes -= 40
            continue
        return user.id, profile_bytes
    raise RuntimeError("no profile size fits the token budget")


# --- requests and per-call timing -------------------------------------------------------


def bearer_scope(token: str, path: str = "/") -> dict[str, Any]:
    return http_scope(path, [(b"authorization", f"Bearer {token}".encode("ascii"))])


@dataclass
class Capture:
    """An ASGI ``send`` that keeps the response start (status, headers), nothing else."""

    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = list(message.get("headers", ()))

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


async def timed_call(app: Any, scope: dict[str, Any]) -> tuple[int, dict[str, Any], Capture]:
    """One in-process request: ``(elapsed ns, the scope as the app left it, response)``.
    Only ``await app(...)`` is inside the timer; the scope is built before."""
    call_scope = fresh_scope(scope)
    capture = Capture()
    start = time.perf_counter_ns()
    await app(call_scope, noop_receive, capture)
    elapsed = time.perf_counter_ns() - start
    return elapsed, call_scope, capture


@dataclass
class Samples:
    """Per-call times of one peer, batch by batch (the first batch is the warm-up)."""

    batches: list[list[int]] = field(default_factory=list)

    def new_batch(self) -> list[int]:
        batch: list[int] = []
        self.batches.append(batch)
        return batch

    def timed(self, *, skip_warmup: bool = True) -> list[float]:
        """Every per-call time in µs, without the warm-up batch."""
        batches = self.batches[1:] if skip_warmup else self.batches
        return [ns / 1000.0 for batch in batches for ns in batch]

    def p(self, q: float) -> float:
        return percentile(self.timed(), q)
