"""The ``store`` fixture: every contract test runs against every store (helpers live in
tests/stores/helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from sessionclaims.stores import Store

from .helpers import (
    POSTGRES_URL,
    STORE_KINDS,
    StoreTarget,
    postgres_options,
    postgres_schema,
    require_postgres,
)


@pytest.fixture(params=STORE_KINDS)
def store_target(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[StoreTarget]:
    kind: str = request.param
    if kind == "sqlite-memory":
        yield StoreTarget(kind, "sqlite://")
    elif kind == "sqlite-file":
        yield StoreTarget(kind, f"sqlite:///{tmp_path / 'auth.db'}")
    else:
        require_postgres()
        with postgres_schema() as schema:
            yield StoreTarget(kind, POSTGRES_URL, postgres_options(schema))


@pytest.fixture
async def store(store_target: StoreTarget) -> AsyncIterator[Store]:
    instance = store_target.make()
    await instance.open()
    try:
        yield instance
    finally:
        await instance.close()
