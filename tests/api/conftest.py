"""Fixtures for the HTTP API tests (helpers live in tests/api/helpers.py): a real SQLite
backend and a real ASGI app, mounted or bare. The store is never mocked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sessionclaims import Backend
from tests.helpers import FakeClock, make_app, make_backend, sqlite_url

from .helpers import API_SETTINGS, APP_KINDS, Api, Member, make_member, open_client


@pytest.fixture
async def backend(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Backend]:
    instance = make_backend(sqlite_url(tmp_path), clock, preset=API_SETTINGS)
    await instance.ensure_open()
    try:
        yield instance
    finally:
        await instance.aclose()


@pytest.fixture(params=APP_KINDS)
def app_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def api(backend: Backend, app_kind: str) -> AsyncIterator[Api]:
    app = backend.api if app_kind == "bare" else make_app(backend, routes=[], api_at="/auth")
    client = open_client(app, "/auth" if app_kind == "mounted" else "", backend)
    async with client.http:
        yield client


@pytest.fixture
async def member(backend: Backend) -> Member:
    return await make_member(backend)
