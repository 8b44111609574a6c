"""The README's login handler (``examples/login_handler.py``): two concurrent first
logins of one person make one user and two sessions."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .test_examples import example_env, load_example

__all__ = ["example_env"]  # the fixture, used by name

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_shows_the_handler_as_the_example_has_it() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = (ROOT / "examples" / "login_handler.py").read_text(encoding="utf-8")
    shown = re.search(r"```python\n(async def sign_in\(.*?)```", readme, re.S)
    assert shown is not None, "README shows sign_in"
    assert shown.group(1).strip() in example
    assert "examples/login_handler.py" in readme


async def test_two_concurrent_first_logins_make_one_user(
    example_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    login_handler = load_example("login_handler.py")
    backend = login_handler.backend
    # Both logins look the person up before either creates it: the real store answers
    # each lookup, and the second lookup of each login (after the conflict) passes.
    real_lookup = backend.users.get_user_by_external_id
    both_looked = asyncio.Barrier(2)
    lookups = 0

    async def lookup(external_id: str) -> Any:
        nonlocal lookups
        lookups += 1
        try:
            return await real_lookup(external_id)
        finally:
            if lookups <= 2:
                await both_looked.wait()

    monkeypatch.setattr(backend.users, "get_user_by_external_id", lookup)

    async def callback(request: Request) -> Response:
        return await login_handler.sign_in(request, "github|1234")  # as your OAuth says

    app = Starlette(routes=[Route("/callback", callback)])
    async with backend:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
            first, second = await asyncio.gather(c.get("/callback"), c.get("/callback"))
        assert (first.status_code, second.status_code) == (303, 303)
        for response in (first, second):
            assert "__session" in response.cookies
            assert "__refresh" in response.headers.get("set-cookie", "")
        users = await backend.users.list_users(external_id="github|1234")
        assert users.total_count == 1
        sessions = await backend.sessions.list_sessions(user_id=users.data[0].id)
        assert sessions.total_count == 2
        assert lookups == 3  # two first lookups, one re-read after the conflict
        assert (await backend.users.list_users()).total_count == 1
