"""Hostile request bodies against every write route, and hostile ids in the paths of the
organization routes: always a 4xx in the error format, never a 500, and the store exactly
as it was (byte for byte).

Nothing here may change the store, which every test checks, so one backend (per app
kind) serves the whole module: that keeps these hundreds of cases fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.helpers import FakeClock, make_app, make_backend, sqlite_url

from .helpers import (
    API_SETTINGS,
    APP_KINDS,
    HOSTILE_IDS,
    Api,
    Member,
    StoreSnapshot,
    assert_error,
    make_member,
    open_client,
    snapshot,
)

pytestmark = pytest.mark.anyio

LIMIT = 64 * 1024


@dataclass(frozen=True)
class WriteRoute:
    """A route that takes a body; ``wrap`` puts a JSON value where the route reads one."""

    method: str
    path: str
    wrap: Callable[[bytes], bytes]
    auth: str  # "secret", "session" or "none"
    body_required: bool = True

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def field(name: str) -> Callable[[bytes], bytes]:
    return lambda value: b'{"' + name.encode() + b'": ' + value + b"}"


def in_tier(tier: str) -> Callable[[bytes], bytes]:
    return lambda value: b'{"' + tier.encode() + b'": {"a": ' + value + b"}}"


ROUTES = [
    WriteRoute("POST", "/v1/users", in_tier("public_metadata"), "secret"),
    WriteRoute("PATCH", "/v1/users/{user}/metadata", in_tier("private_metadata"), "secret"),
    WriteRoute("PUT", "/v1/users/{user}/metadata", in_tier("trusted_metadata"), "secret"),
    WriteRoute("POST", "/v1/sessions", field("user_id"), "secret"),
    WriteRoute("POST", "/v1/sessions/{session}/revoke", field("a"), "secret", False),
    WriteRoute(
        "POST", "/v1/sessions/{session}/tokens", field("expires_in_seconds"), "secret", False
    ),
    WriteRoute("POST", "/v1/sessions/{session}/tokens/reports", field("a"), "secret", False),
    WriteRoute("POST", "/v1/sign_ups/{sign_up}/complete", field("a"), "secret", False),
    WriteRoute("PATCH", "/v1/me", in_tier("unsafe_metadata"), "session"),
    WriteRoute("PATCH", "/v1/me/metadata", in_tier("untrusted_metadata"), "session"),
    WriteRoute("POST", "/v1/sign_ups", in_tier("unsafe_metadata"), "none"),
    WriteRoute("POST", "/v1/tokens/reissue", field("token"), "secret"),
    WriteRoute("PATCH", "/v1/sessions/{session}", field("active_organization_id"), "secret"),
    WriteRoute("POST", "/v1/organizations", in_tier("public_metadata"), "secret"),
    WriteRoute("PATCH", "/v1/organizations/{org}", field("name"), "secret"),
    WriteRoute("PATCH", "/v1/organizations/{org}/metadata", in_tier("private_metadata"), "secret"),
    WriteRoute("PUT", "/v1/organizations/{org}/metadata", in_tier("trusted_metadata"), "secret"),
    WriteRoute("POST", "/v1/organizations/{org}/memberships", field("user_id"), "secret"),
    WriteRoute("PATCH", "/v1/organizations/{org}/memberships/{user}", field("role"), "secret"),
    WriteRoute(
        "PATCH",
        "/v1/organizations/{org}/memberships/{user}/metadata",
        in_tier("public_metadata"),
        "secret",
    ),
    WriteRoute(
        "PUT",
        "/v1/organizations/{org}/memberships/{user}/metadata",
        in_tier("private_metadata"),
        "secret",
    ),
    WriteRoute("POST", "/v1/me/active_organization", field("organization_id"), "session"),
]


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def padded(route: WriteRoute, size: int) -> bytes:
    """A well-formed body of exactly ``size`` bytes."""
    shell = route.wrap(b'""')
    return route.wrap(b'"' + b"x" * (size - len(shell)) + b'"')


# name -> (body for a route, expected status)
HOSTILE: dict[str, tuple[Callable[[WriteRoute], bytes], int]] = {
    "empty": (lambda r: b"", 400),
    "null": (lambda r: b"null", 400),
    "array": (lambda r: b"[]", 400),
    "string": (lambda r: b'"str"', 400),
    "number": (lambda r: b"1", 400),
    "boolean": (lambda r: b"true", 400),
    "whitespace": (lambda r: b"  \n ", 400),
    "truncated": (lambda r: r.wrap(b'{"b": [1, 2')[:-2], 400),
    "two documents": (lambda r: b"{}{}", 400),
    "trailing garbage": (lambda r: r.wrap(b"1") + b" x", 400),
    "invalid utf-8": (lambda r: r.wrap(b'"\xff\xfe\xc3"'), 400),
    "overlong utf-8": (lambda r: r.wrap(b'"\xc0\xaf"'), 400),
    "bom": (lambda r: b"\xef\xbb\xbf" + r.wrap(b"1"), 400),
    "utf-16": (lambda r: r.wrap(b"1").decode().encode("utf-16"), 400),
    "NaN": (lambda r: r.wrap(b"NaN"), 400),
    "Infinity": (lambda r: r.wrap(b"Infinity"), 400),
    "-Infinity": (lambda r: r.wrap(b"-Infinity"), 400),
    "1e400": (lambda r: r.wrap(b"1e400"), 400),
    "-1e400": (lambda r: r.wrap(b"-1e400"), 400),
    "huge integer": (lambda r: r.wrap(b"9" * 5000), 400),
    "lone surrogate": (lambda r: r.wrap(b'"\\ud800"'), 400),
    "lone low surrogate in a key": (lambda r: r.wrap(b'{"\\udc00": 1}'), 400),
    "duplicate keys": (lambda r: r.wrap(b'{"k": 1, "k": 2}'), 400),
    "duplicate top-level keys": (lambda r: r.wrap(b"1")[:-1] + b", " + r.wrap(b"2")[1:], 400),
    "single quotes": (lambda r: b"{'a': 1}", 400),
    "comment": (lambda r: b"/* x */ {}", 400),
    "30,000-deep array": (lambda r: r.wrap(deep(30_000)), 400),
    "100,000-deep array": (lambda r: r.wrap(deep(100_000)), 413),
    "65 KiB + 1": (lambda r: padded(r, LIMIT + 1), 413),
    "1 MiB": (lambda r: padded(r, 1024 * 1024), 413),
}
CASES = [
    pytest.param(route, name, id=f"{route}-{name}")
    for route in ROUTES
    for name in HOSTILE
    if route.body_required or name != "empty"
]


@dataclass
class World:
    """The stored things a hostile body could touch."""

    member: Member
    sign_up_id: str
    org_id: str


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module", params=APP_KINDS)
async def api_and_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Api, World]]:
    kind: str = request.param
    backend = make_backend(
        sqlite_url(tmp_path_factory.mktemp("hostile")), FakeClock(), preset=API_SETTINGS
    )
    async with backend:
        member = await make_member(backend)
        sign_up = await backend.sign_ups.create_sign_up(unsafe_metadata={"nickname": "pending"})
        org = await backend.organizations.create_organization(
            "Hostile Inc",
            created_by=member.user_id,
            public_metadata={"plan": "pro"},
            private_metadata={"stripe": "cus_1"},
        )
        await backend.organizations.update_membership_metadata(
            org.id, member.user_id, public_metadata={"seat": 1}, private_metadata={"n": 2}
        )
        client = open_client(
            backend.api if kind == "bare" else make_app(backend, routes=[], api_at="/auth"),
            "/auth" if kind == "mounted" else "",
            backend,
        )
        async with client.http:
            yield client, World(member, sign_up.id, org.id)


@pytest.fixture
def api(api_and_world: tuple[Api, World]) -> Api:
    return api_and_world[0]


@pytest.fixture
def world(api_and_world: tuple[Api, World]) -> World:
    return api_and_world[1]


async def stored(api: Api, world: World) -> StoreSnapshot:
    """Everything a hostile body could touch: the user, the organization, the membership
    and the session's active organization, byte for byte."""
    return await snapshot(
        api.backend, world.member.user_id, org_id=world.org_id, session_id=world.member.session_id
    )


async def send(
    api: Api, world: World, route: WriteRoute, content: Any, headers: dict[str, str]
) -> httpx.Response:
    path = (
        route.path.replace("{user}", world.member.user_id)
        .replace("{session}", world.member.session_id)
        .replace("{sign_up}", world.sign_up_id)
        .replace("{org}", world.org_id)
    )
    if route.auth == "secret":
        return await api.backend_call(route.method, path, content=content, headers=headers)
    if route.auth == "session":
        return await api.call(
            route.method, path, token=world.member.token, content=content, headers=headers
        )
    return await api.call(route.method, path, content=content, headers=headers)


@pytest.mark.parametrize(("route", "name"), CASES)
async def test_hostile_body(api: Api, world: World, route: WriteRoute, name: str) -> None:
    make, status = HOSTILE[name]
    body = make(route)
    before = await stored(api, world)
    response = await send(api, world, route, body, {"Content-Type": "application/json"})
    code = "request_too_large" if status == 413 else "malformed_json"
    assert_error(response, status, code)
    assert await stored(api, world) == before


# external_id: well-formed bodies with a hostile value. POST /v1/users checks the value
# (422 invalid_field); the user update routes take no external_id at all (422
# unknown_field); a string that is no valid JSON text is refused when parsed (400).
EXTERNAL_ID_ROUTES = ROUTES[:3]
HOSTILE_EXTERNAL_IDS: dict[str, tuple[bytes, int]] = {
    "number": (b"42", 422),
    "float": (b"4.2", 422),
    "boolean": (b"false", 422),
    "array": (b'["ada"]', 422),
    "object": (b'{"id": "ada"}', 422),
    "empty": (b'""', 422),
    "256 characters": (b'"' + b"x" * 256 + b'"', 422),
    "256 four-byte characters": (('"' + "\U0001f600" * 256 + '"').encode(), 422),
    "1 MiB": (b'"' + b"x" * (1024 * 1024) + b'"', 413),
    "escaped NUL": (b'"auth0|\\u0000"', 422),
    "only NUL": (b'"\\u0000"', 422),
    "raw NUL": (b'"auth0|\x00"', 400),
    "raw control character": (b'"a\nb"', 400),
    "lone surrogate": (b'"\\ud800"', 400),
    "lone low surrogate": (b'"ada\\udfff"', 400),
    "surrogate pair reversed": (b'"\\udc00\\ud800"', 400),
    "surrogate as UTF-8 bytes": (b'"\xed\xa0\x80"', 400),
    "invalid utf-8": (b'"ada\xff"', 400),
}
EXTERNAL_ID_CASES = [
    pytest.param(route, name, id=f"{route}-{name}")
    for route in EXTERNAL_ID_ROUTES
    for name in HOSTILE_EXTERNAL_IDS
]


@pytest.mark.parametrize(("route", "name"), EXTERNAL_ID_CASES)
async def test_hostile_external_id(api: Api, world: World, route: WriteRoute, name: str) -> None:
    value, status = HOSTILE_EXTERNAL_IDS[name]
    body = b'{"external_id": ' + value + b', "public_metadata": {"a": 1}}'
    before = await snapshot(api.backend, world.member.user_id)
    response = await send(api, world, route, body, {"Content-Type": "application/json"})
    if status == 413:
        assert_error(response, 413, "request_too_large")
    elif status == 400:
        assert_error(response, 400, "malformed_json")
    else:
        code = "invalid_field" if route.path == "/v1/users" else "unknown_field"
        assert assert_error(response, 422, code) == {"param": "external_id"}
    assert await snapshot(api.backend, world.member.user_id) == before


async def chunks(total: int, size: int = 4096) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b" " * min(size, total - sent)
        sent += len(chunk)
        yield chunk


@pytest.mark.parametrize("route", ROUTES, ids=str)
async def test_streamed_body_is_cut_off_at_the_limit(
    api: Api, world: World, route: WriteRoute
) -> None:
    """No Content-Length: the limit is enforced while the stream is read."""
    before = await stored(api, world)
    response = await send(api, world, route, chunks(LIMIT + 1), {})
    assert_error(response, 413, "request_too_large")
    assert await stored(api, world) == before


@pytest.mark.parametrize("route", ROUTES, ids=str)
@pytest.mark.parametrize("length", [str(LIMIT + 1), "1" + "0" * 15, "9" * 40])
async def test_huge_content_length_is_refused_before_reading(
    api: Api, world: World, route: WriteRoute, length: str
) -> None:
    before = await stored(api, world)
    response = await send(api, world, route, b"{}", {"Content-Length": length})
    assert_error(response, 413, "request_too_large")
    assert await stored(api, world) == before


@pytest.mark.parametrize("route", ROUTES, ids=str)
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/jsonx",
    ],
)
async def test_a_body_that_is_not_declared_json_is_refused(
    api: Api, world: World, route: WriteRoute, content_type: str
) -> None:
    before = await stored(api, world)
    response = await send(api, world, route, b"{}", {"Content-Type": content_type})
    assert_error(response, 400, "malformed_json")
    assert await stored(api, world) == before


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "Application/JSON; charset=UTF-8"]
)
async def test_json_content_types_are_accepted(
    api: Api, world: World, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await api.backend_call(
        "POST",
        "/v1/sessions/x/tokens/nope",
        content=b"{}",
        headers=headers,
    )
    # Past the body checks: the template is looked up (and is unknown).
    assert_error(response, 404, "resource_not_found")


async def test_a_body_exactly_at_the_limit_is_read(api: Api, world: World) -> None:
    body = padded(ROUTES[1], LIMIT)
    assert len(body) == LIMIT
    response = await api.backend_call(
        "PATCH", f"/v1/users/{world.member.user_id}/metadata", content=body
    )
    # Read and parsed: then refused by the metadata limits, not by the size cap.
    assert_error(response, 422, "metadata_too_large")


# -- hostile ids ------------------------------------------------------------------------
ID_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/v1/organizations/{org}", None),
    ("PATCH", "/v1/organizations/{org}", {"name": "x"}),
    ("DELETE", "/v1/organizations/{org}", None),
    ("PATCH", "/v1/organizations/{org}/metadata", {"public_metadata": {"a": 1}}),
    ("PUT", "/v1/organizations/{org}/metadata", {"public_metadata": {"a": 1}}),
    ("POST", "/v1/organizations/{org}/memberships", {"user_id": "{user}"}),
    ("GET", "/v1/organizations/{org}/memberships", None),
    ("PATCH", "/v1/organizations/{org}/memberships/{user}", {"role": "org:member"}),
    ("DELETE", "/v1/organizations/{org}/memberships/{user}", None),
    ("PATCH", "/v1/organizations/{org}/memberships/{user}/metadata", {"public_metadata": {}}),
    ("PUT", "/v1/organizations/{org}/memberships/{user}/metadata", {"public_metadata": {}}),
    ("GET", "/v1/users/{user}/organization_memberships", None),
    ("PATCH", "/v1/sessions/{session}", {"active_organization_id": None}),
]
"""The routes with an id in the path that came with organizations (the older ones have
their hostile-id tests in test_backend_routes.py and test_client_routes.py)."""

HOSTILE_ID_CASES = [
    pytest.param(method, path, body, hostile, where, id=f"{method} {path} {where}={hostile}")
    for method, path, body in ID_ROUTES
    for where in ("{org}", "{user}", "{session}")
    if where in path
    for hostile in HOSTILE_IDS
    # A client resolves '..' itself (RFC 3986 dot segments) before sending: a membership's
    # '../metadata' is the organization's own metadata route, which the server never sees.
    if not (hostile == ".." and where == "{user}" and "/memberships/" in path)
]


@pytest.mark.parametrize(("method", "path", "body", "hostile", "where"), HOSTILE_ID_CASES)
async def test_hostile_ids_are_404_and_write_nothing(
    api: Api, world: World, method: str, path: str, body: Any, hostile: str, where: str
) -> None:
    member = world.member
    ids = {"{org}": world.org_id, "{user}": member.user_id, "{session}": member.session_id}
    ids[where] = hostile
    for name, value in ids.items():
        path = path.replace(name, value)
    if isinstance(body, dict) and body.get("user_id") == "{user}":
        body = {"user_id": member.user_id}
    before = await stored(api, world)
    response = await api.backend_call(method, path, json=body)
    assert_error(response, 404, "resource_not_found")
    assert await stored(api, world) == before
