"""Shared fixtures (helpers live in tests/helpers.py). Async tests run on asyncio through
anyio's pytest plugin."""

from __future__ import annotations

import pytest

from tests.helpers import FakeClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
