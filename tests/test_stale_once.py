"""A stale token is verified and checked once per request: the fast path's finding
(``Stale``) carries over to the slow path, which reissues from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sessionclaims.tokens import KeySet, TokenVerifier, VerifiedToken

from .helpers import FakeClock, bearer, client, make_app, make_backend, sqlite_url

pytestmark = pytest.mark.anyio


class CountingVerifier(TokenVerifier):
    """The backend's real verifier, counting its ``verify`` calls (nothing is faked)."""

    tokens: list[str] = []  # noqa: RUF012 - one test at a time

    def verify(self, token: str, keys: KeySet, *, from_cookie: bool = False) -> VerifiedToken:
        CountingVerifier.tokens.append(token)
        return super().verify(token, keys, from_cookie=from_cookie)


async def test_a_stale_token_is_verified_once(tmp_path: Path, clock: FakeClock) -> None:
    backend = make_backend(sqlite_url(tmp_path), clock)
    backend.verifier.__class__ = CountingVerifier
    async with backend:
        user = await backend.users.create_user(public_metadata={"role": "member"})
        new = await backend.sessions.create_session(user.id)
        async with client(make_app(backend)) as http:
            assert (await http.get("/whoami", headers=bearer(new.token))).status_code == 200
            await backend.users.update_user_metadata(user.id, public_metadata={"role": "admin"})
            CountingVerifier.tokens.clear()
            response = await http.get("/whoami", headers=bearer(new.token))
        body: dict[str, Any] = response.json()
        assert body["claims"]["role"] == "admin"  # reissued in this very request
        assert "x-session-token" in response.headers
        # The hot cache found the stale token (no verification at all); the slow path
        # reissued from that finding instead of verifying the stale token again.
        assert new.token not in CountingVerifier.tokens
