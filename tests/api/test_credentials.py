"""How credentials are read (one parser each): the Bearer scheme in any letter case
(RFC 7235), through the middleware and through every kind of API route; and the trailing
slash a mounting framework may add."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionclaims import Backend, SessionClaimsMiddleware

from .helpers import SECRET, Api, Member

pytestmark = pytest.mark.anyio

SPELLINGS = ["Bearer", "bearer", "BEARER", "BeArEr"]


@pytest.mark.parametrize("scheme", SPELLINGS)
async def test_middleware_reads_bearer_in_any_case(
    backend: Backend, member: Member, scheme: str
) -> None:
    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"user": request.auth.user_id, "reason": request.auth.reason})

    app = SessionClaimsMiddleware(Starlette(routes=[Route("/", whoami)]), backend=backend)
    headers = [(b"authorization", f"{scheme} {member.token}".encode())]
    for _ in range(2):  # the verifying call and the hot-cache hit
        status, _headers, body = await asgi_get(app, "/", headers)
        assert status == 200
        assert json.loads(body) == {"user": member.user_id, "reason": None}


@pytest.mark.parametrize("scheme", SPELLINGS)
async def test_api_reads_bearer_in_any_case(api: Api, member: Member, scheme: str) -> None:
    me = await api.call("GET", "/v1/me", headers={"Authorization": f"{scheme} {member.token}"})
    assert me.status_code == 200, me.text
    users = await api.call("GET", "/v1/users", headers={"Authorization": f"{scheme} {SECRET}"})
    assert users.status_code == 200, users.text
    refreshed = await api.call(
        "POST",
        f"/v1/client/sessions/{member.session_id}/tokens",
        headers={"Authorization": f"{scheme} {member.refresh_credential}"},
    )
    assert refreshed.status_code == 200, refreshed.text


async def test_blank_bearer_falls_back_to_the_cookie(api: Api, member: Member) -> None:
    headers = {"Authorization": "Bearer   ", "Cookie": f"__session={member.token}"}
    response = await api.call("GET", "/v1/me", headers=headers)
    assert response.status_code == 200, response.text


async def asgi_get(
    app: Any, path: str, headers: list[tuple[bytes, bytes]]
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One raw ASGI ``GET``: what a framework mounting the app hands it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"auth.example.com"), *headers],
        "server": ("auth.example.com", 443),
        "client": ("127.0.0.1", 5000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], start["headers"], body


@pytest.mark.parametrize(
    ("path", "credential"),
    [("/v1/me", "token"), ("/v1/users", "secret"), ("/v1/jwks", None), ("/openapi.json", None)],
)
async def test_a_trailing_slash_answers_as_the_path_without_it(
    backend: Backend, member: Member, path: str, credential: str | None
) -> None:
    value = {"token": member.token, "secret": SECRET, None: None}[credential]
    headers = [] if value is None else [(b"authorization", f"Bearer {value}".encode())]
    exact = await asgi_get(backend.api, path, headers)
    slashed = await asgi_get(backend.api, path + "/", headers)
    assert exact[0] == 200
    assert slashed[0] == 200  # not a 404, not a redirect
    assert json.loads(slashed[2]) == json.loads(exact[2])
