"""Helpers for the HTTP API tests (fixtures in conftest.py): a real SQLite backend and a
real ASGI app.

Every test talks HTTP through ``httpx.ASGITransport`` to either the API mounted at
``/auth`` in a host app that runs ``SessionClaimsMiddleware`` (``mounted``) or the bare
``backend.api`` (``bare``). The store is never mocked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx
from starlette.types import ASGIApp

from sessionclaims import Backend
from sessionclaims.metadata import TIERS
from sessionclaims.stores.base import dump_metadata

ISSUER = "https://auth.example.com"
SECRET = "sk_test_4f9a1c"
APP_ORIGIN = "https://app.example.com"
BASE_URL = "https://app.example.com"
SESSION_TEMPLATE = {
    "role": "{{user.public_metadata.role}}",
    "nick": "{{user.unsafe_metadata.nickname}}",
}
TEMPLATES = {
    "reports": {
        "claims": {"plan": "{{user.public_metadata.plan}}"},
        "lifetime": 300,
        "aud": "reports-service",
    }
}
APP_KINDS = ["mounted", "bare"]
HOSTILE_IDS = [
    "%2E%2E%2Fx",
    "%ff",
    "%ED%A0%80",
    "..",
    "%00",
    "%27%20OR%201%3D1",
    "x" * 65,
    "user%09id",
    "%C3%A9",
]
"""Path segments that can be no id (nor slug): each must be a 404 that reaches no store."""
ROLES = {
    "org:admin": ["org:invoices:read", "org:invoices:write"],
    "org:member": ["org:invoices:read"],
}
"""The roles the organization tests configure (organizations.md's example)."""


API_SETTINGS: dict[str, Any] = {
    "issuer": ISSUER,
    "secret_key": SECRET,
    "session_template": SESSION_TEMPLATE,
    "templates": TEMPLATES,
    "authorized_parties": [APP_ORIGIN],
}
"""The backend settings the HTTP tests expect (``make_backend(..., preset=API_SETTINGS)``)."""


def _no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing: every test sends exactly the cookies it means to."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


@dataclass
class Api:
    """An HTTP client for the API under test, wherever it is mounted."""

    http: httpx.AsyncClient
    prefix: str
    backend: Backend

    async def call(
        self,
        method: str,
        path: str,
        *,
        secret: str | None = None,
        token: str | None = None,
        cookie: str | None = None,
        origin: str | None = None,
        json: Any = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request. ``secret`` / ``token`` go in ``Authorization: Bearer``, ``cookie``
        is the ``__session`` cookie."""
        all_headers = dict(headers or {})
        if secret is not None:
            all_headers["Authorization"] = f"Bearer {secret}"
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if cookie is not None:
            all_headers["Cookie"] = f"__session={cookie}"
        if origin is not None:
            all_headers["Origin"] = origin
        return await self.http.request(
            method,
            self.prefix + path,
            json=json,
            content=content,
            headers=all_headers,
            params=params,
        )

    async def backend_call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A backend API request with the right secret key."""
        return await self.call(method, path, secret=SECRET, **kwargs)


def open_client(app: ASGIApp, prefix: str, backend: Backend, **transport: Any) -> Api:
    """An :class:`Api` on ``app`` (close ``.http`` afterwards)."""
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, **transport),
        base_url=BASE_URL,
        cookies=_no_cookies(),
    )
    return Api(http, prefix, backend)


@dataclass
class Member:
    """A user with every tier set and an active session."""

    user_id: str
    session_id: str
    token: str
    refresh_credential: str


async def make_member(backend: Backend) -> Member:
    user = await backend.users.create_user(
        public_metadata={"role": "member", "plan": "pro"},
        private_metadata={"stripe_id": "cus_123"},
        unsafe_metadata={"nickname": "ann", "theme": "dark"},
    )
    new = await backend.sessions.create_session(user.id, origin=APP_ORIGIN)
    return Member(user.id, new.session.id, new.token, new.refresh_credential)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is ``status`` in the error format with ``code``; returns its ``meta``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"errors"}
    assert isinstance(body["errors"], list)
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert set(error) == {"code", "message", "meta"}
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert "Traceback" not in response.text
    assert isinstance(error["meta"], dict)
    meta: dict[str, Any] = error["meta"]
    return meta


@dataclass(frozen=True)
class StoreSnapshot:
    """What a refused request must leave exactly as it was."""

    users: int
    sessions: int
    sign_ups: int
    last_change: int
    user: tuple[str, ...] | None
    organizations: int = 0
    organization: tuple[str, ...] | None = None
    membership: tuple[str, ...] | None = None
    active_organization: str | None = None


async def snapshot(
    backend: Backend,
    user_id: str | None = None,
    *,
    org_id: str | None = None,
    session_id: str | None = None,
) -> StoreSnapshot:
    """The stored user byte for byte (every tier's stored JSON text, version, updated_at)
    and the row counts; with ``org_id`` the organization and the user's membership in it
    the same way, with ``session_id`` that session's active organization."""
    store = backend.store
    _, users = await store.list_users(limit=1, offset=0)
    _, sessions = await store.list_sessions(
        user_id=None, status=None, now_ms=int(backend.clock() * 1000), limit=1, offset=0
    )
    record = await store.get_user(user_id) if user_id else None
    user = None
    if record is not None:
        user = (
            *(dump_metadata(getattr(record, tier)) for tier in TIERS),
            str(record.version),
            str(record.updated_at),
            str(record.external_id),
        )
    _, organizations = await store.list_organizations(limit=1, offset=0)
    organization = membership = active = None
    if org_id is not None:
        org = await store.get_organization(org_id)
        if org is not None:
            organization = (
                org.name,
                org.slug,
                dump_metadata(org.public_metadata),
                dump_metadata(org.private_metadata),
                str(org.members_count),
                str(org.version),
                str(org.updated_at),
            )
        found = await store.get_membership(org_id, user_id) if user_id else None
        if found is not None:
            membership = (
                found.role,
                dump_metadata(found.public_metadata),
                dump_metadata(found.private_metadata),
                str(found.version),
                str(found.updated_at),
            )
    if session_id is not None:
        session = await store.get_session(session_id)
        active = session.active_organization_id if session is not None else None
    return StoreSnapshot(
        users,
        sessions,
        count_sign_ups(backend),
        await store.last_change_seq(),
        user,
        organizations,
        organization,
        membership,
        active,
    )


def count_sign_ups(backend: Backend) -> int:
    """Sign-ups stored (the Store protocol has no listing of them: read the file)."""
    path = backend.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        (count,) = conn.execute("SELECT count(*) FROM sign_ups").fetchone()
    return int(count)
