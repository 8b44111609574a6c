"""The examples and docs/curl.md, run for real: each example is imported by path and
driven over HTTP (``httpx.ASGITransport``, or uvicorn on loopback); the store is a real
SQLite file. The cURL page is parsed and every call replayed against ``backend.api``."""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from sessionclaims import Backend
from sessionclaims.reasons import SIGN_OUT_REASONS

from .helpers import FakeClock, lifespan
from .servers import running_server

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CURL_DOC = ROOT / "docs" / "curl.md"
LOCAL = "http://127.0.0.1:8000"
SECRET = "sk_test_examples_7Qp2"
_loads = itertools.count()


def load_example(relative: str) -> ModuleType:
    """Import an example file by path, as a fresh module each time."""
    path = EXAMPLES / relative
    name = f"sessionclaims_example_{path.stem}_{next(_loads)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def client(app: Any, base_url: str = LOCAL) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def example_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The examples keep ``sqlite:///auth.db`` (relative) and read the secret key from the
    environment: run them in a fresh directory with a known key."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SESSIONCLAIMS_SECRET_KEY", SECRET)
    return tmp_path


async def new_person(http: httpx.AsyncClient, prefix: str, **public: Any) -> tuple[str, str]:
    """Create a user (public metadata) and a session through the backend API: (id, token)."""
    headers = bearer(SECRET)
    answer = await http.post(
        f"{prefix}/v1/users", headers=headers, json={"public_metadata": public}
    )
    assert answer.status_code == 201, answer.text
    user_id = answer.json()["id"]
    answer = await http.post(f"{prefix}/v1/sessions", headers=headers, json={"user_id": user_id})
    assert answer.status_code == 201, answer.text
    return user_id, answer.json()["token"]


# -- minimal_starlette.py ----------------------------------------------------------------
async def test_minimal_starlette_reads_the_role_from_the_token(example_env: Path) -> None:
    example = load_example("minimal_starlette.py")
    async with lifespan(example.app), client(example.app) as http:
        user_id, token = await new_person(http, "/auth", role="member")
        answer = await http.get("/dashboard", headers=bearer(token))
        assert answer.json() == {"signed_in": True, "role": "member"}

        answer = await http.patch(
            f"/auth/v1/users/{user_id}/metadata",
            headers=bearer(SECRET),
            json={"public_metadata": {"role": "admin"}},
        )
        assert answer.status_code == 200, answer.text
        # The same token again: the middleware reissues it on this very request.
        answer = await http.get("/dashboard", headers=bearer(token))
        assert answer.json() == {"signed_in": True, "role": "admin"}
        assert answer.headers["x-session-token"] != token

        answer = await http.get("/dashboard")
        assert answer.json() == {"signed_in": False, "role": None}
    assert not example.backend.is_open  # the lifespan's shutdown closed the store
    assert (example_env / "auth.db").exists()


def test_minimal_starlette_stays_minimal() -> None:
    """It is the README's 30-line example (tests/test_docs.py checks the README shows it)."""
    lines = (EXAMPLES / "minimal_starlette.py").read_text(encoding="utf-8").splitlines()
    assert len([line for line in lines if line.strip()]) <= 30


# -- organizations.py --------------------------------------------------------------------
async def test_organizations_example_reads_the_active_organizations_role(
    example_env: Path,
) -> None:
    example = load_example("organizations.py")
    backend = example.backend
    async with lifespan(example.app), client(example.app) as http:
        ada = await backend.users.create_user()
        grace = await backend.users.create_user()
        acme = await backend.organizations.create_organization("Acme", created_by=ada.id)
        await backend.organizations.create_membership(acme.id, grace.id)
        new = await backend.sessions.create_session(grace.id, active_organization_id=acme.id)

        answer = await http.get("/workspace", headers=bearer(new.token))
        assert answer.json() == {"org": "acme", "role": "org:member"}
        answer = await http.post("/invoices", headers=bearer(new.token))
        assert answer.status_code == 403  # org:member may read invoices, not write them

        await backend.organizations.update_membership(acme.id, grace.id, role="org:admin")
        # The same token again: reissued on this very request with the new role.
        answer = await http.post("/invoices", headers=bearer(new.token))
        assert answer.status_code == 201
        assert answer.json() == {"created_in": acme.id}
        fresh = answer.headers["x-session-token"]
        answer = await http.get("/workspace", headers=bearer(fresh))
        assert answer.json() == {"org": "acme", "role": "org:admin"}
        assert "x-session-token" not in answer.headers  # the new token is fresh

        await backend.organizations.delete_membership(acme.id, grace.id)
        answer = await http.get("/workspace", headers=bearer(fresh))
        assert answer.json() == {"org": None, "role": None}  # never once more the old role


# -- fastapi_app.py ----------------------------------------------------------------------
async def test_fastapi_example_dependencies(example_env: Path) -> None:
    example = load_example("fastapi_app.py")
    app = example.app
    async with app.router.lifespan_context(app), client(app) as http:
        _, member = await new_person(http, "/auth", role="member")
        _, admin = await new_person(http, "/auth", role="admin", plan="pro")

        answer = await http.get("/me")
        assert answer.status_code == 401
        assert answer.json()["detail"]["reason"] == "token-missing"
        assert answer.headers["www-authenticate"].startswith("Bearer")

        answer = await http.get("/me", headers=bearer(member))
        assert answer.status_code == 200
        assert answer.json()["role"] == "member"
        assert answer.json()["plan"] == "free"

        answer = await http.get("/admin/report", headers=bearer(member))
        assert answer.status_code == 403
        assert "insufficient_scope" in answer.headers["www-authenticate"]

        answer = await http.get("/admin/report", headers=bearer(admin))
        assert answer.status_code == 200
        assert answer.json()["report"] == "only admins see this"

        answer = await http.get("/me", headers=bearer(member[:-4] + "AAAA"))
        assert answer.status_code == 401
        assert answer.json()["detail"]["reason"] == "token-invalid-signature"
    assert not example.backend.is_open


# -- verify_only_service.py --------------------------------------------------------------
async def test_verify_only_service_trusts_a_real_auth_servers_jwks(
    example_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth_server = load_example("minimal_starlette.py")  # its lifespan opens and closes the store
    with running_server(auth_server.app, lifespan="on") as base:
        monkeypatch.setenv("SESSIONCLAIMS_JWKS_URL", f"{base}/auth/.well-known/jwks.json")
        monkeypatch.setenv("SESSIONCLAIMS_ISSUER", LOCAL)  # the auth server's issuer string
        monkeypatch.setenv("SESSIONCLAIMS_AUTHORIZED_PARTIES", LOCAL)
        service = load_example("verify_only_service.py")
        jwks_url = f"{base}/auth/.well-known/jwks.json"
        assert jwks_url == service.JWKS_URL

        async with httpx.AsyncClient(base_url=base) as auth_http:
            _, admin = await new_person(auth_http, "/auth", role="admin")
            _, member = await new_person(auth_http, "/auth")

        app = service.app
        async with app.router.lifespan_context(app), client(app, "http://127.0.0.1:8001") as http:
            answer = await http.get("/whoami", headers=bearer(admin))
            assert answer.status_code == 200, answer.text
            assert answer.json()["role"] == "admin"

            answer = await http.get("/admin/stats", headers=bearer(admin))
            assert answer.status_code == 200
            answer = await http.get("/admin/stats", headers=bearer(member))
            assert answer.status_code == 403

            answer = await http.get("/whoami", headers=bearer(member))
            assert answer.json()["role"] == "member"  # the template's default

            answer = await http.get("/whoami")
            assert answer.status_code == 401
            assert answer.json() == {"signed_in": False, "reason": "token-missing"}

            answer = await http.get("/whoami", headers=bearer(admin[:-4] + "AAAA"))
            assert answer.status_code == 401
            assert answer.json()["reason"] == "token-invalid-signature"
        assert service.jwks_http.is_closed


# -- verify_only_stream_service.py -------------------------------------------------------
async def test_stream_service_sees_a_role_change_and_a_revocation_on_its_next_request(
    example_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    monkeypatch.setenv("SESSIONCLAIMS_FEED_KEYS", "fk_dev_feed")
    auth_server = load_example("minimal_starlette.py")
    with running_server(auth_server.app, lifespan="on") as base:
        monkeypatch.setenv("SESSIONCLAIMS_JWKS_URL", f"{base}/auth/.well-known/jwks.json")
        monkeypatch.setenv("SESSIONCLAIMS_CHANGES_URL", f"{base}/auth/v1/changes")
        monkeypatch.setenv("SESSIONCLAIMS_ISSUER", LOCAL)
        monkeypatch.setenv("SESSIONCLAIMS_AUTHORIZED_PARTIES", LOCAL)
        service = load_example("verify_only_stream_service.py")
        async with httpx.AsyncClient(base_url=base) as auth_http:
            user_id, token = await new_person(auth_http, "/auth")
            stream = service.app.change_stream
            async with lifespan(service.app), client(service.app) as http:
                for _ in range(1000):  # wait for the stream to be live (start-up)
                    if (await http.get("/healthz")).status_code == 200:
                        break
                    await asyncio.sleep(0.01)
                health = (await http.get("/healthz")).json()
                assert health["live"] is True
                assert health["lag_seconds"] is not None
                answer = await http.get("/whoami", headers=bearer(token))
                assert answer.json()["role"] == "member"

                applied = stream.events_applied
                await auth_http.patch(
                    f"/auth/v1/users/{user_id}/metadata",
                    headers=bearer(SECRET),
                    json={"public_metadata": {"role": "admin"}},
                )
                for _ in range(1000):  # wait for the event to arrive
                    if stream.events_applied > applied:
                        break
                    await asyncio.sleep(0.01)
                answer = await http.get("/whoami", headers=bearer(token))
                assert answer.json()["role"] == "admin"
                assert "x-session-token" in answer.headers

                session_id = (
                    await auth_http.get(
                        "/auth/v1/sessions", headers=bearer(SECRET), params={"user_id": user_id}
                    )
                ).json()["data"][0]["id"]
                applied = stream.events_applied
                await auth_http.post(
                    f"/auth/v1/sessions/{session_id}/revoke", headers=bearer(SECRET)
                )
                for _ in range(1000):
                    if stream.events_applied > applied:
                        break
                    await asyncio.sleep(0.01)
                answer = await http.get("/whoami", headers=bearer(token))
                assert answer.status_code == 401
                assert answer.json()["reason"] == "session-revoked"
            assert not stream.running


# -- examples/demo/app.py ----------------------------------------------------------------
def form_post(origin: str = LOCAL) -> dict[str, str]:
    return {"Origin": origin}


def element(page: str, element_id: str) -> str:
    """The text of the element with ``id`` (the demo's elements have no nested tags)."""
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*>([^<]*)<', page)
    assert match is not None, f"no #{element_id} in the page"
    return match.group(1)


async def test_demo_flow_over_asgi(tmp_path: Path, clock: FakeClock) -> None:
    demo = load_example("demo/app.py")
    app = demo.create_app(f"sqlite:///{tmp_path}/demo.db", origin=LOCAL, clock=clock)
    async with app.router.lifespan_context(app), client(app) as grace, client(app) as ada:
        page = (await grace.get("/")).text
        assert 'href="/sign-in"' in page

        page = (await grace.get("/sign-in")).text
        assert "DEMO sign-in" in page
        assert "identity proofing is your app" in page.lower()
        assert 'value="demo-ada"' in page
        assert 'value="demo-grace"' in page

        refused = await grace.post("/sign-in", data={"person": "demo-grace"})
        assert refused.status_code == 403  # no Origin: the demo's forms refuse it (CSRF)

        signed_in = await grace.post("/sign-in", data={"person": "demo-grace"}, headers=form_post())
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/"
        cookies = signed_in.headers.get_list("set-cookie")
        assert any(c.startswith("__session=") for c in cookies)
        assert any(c.startswith("__refresh=") and "HttpOnly" in c for c in cookies)
        assert (
            await ada.post("/sign-in", data={"person": "demo-ada"}, headers=form_post())
        ).status_code == 303

        page = (await grace.get("/")).text
        assert element(page, "who") == "Grace"  # the person's name, not their user id
        assert element(page, "user-id").startswith("user_")
        assert element(page, "role") == "member"
        assert element(page, "plan") == "free"
        first_iat = int(element(page, "token-iat").split()[3])
        assert first_iat == int(clock())
        assert 'data-reissued="false"' in page
        refused = await grace.get("/admin")
        assert refused.status_code == 403
        assert "<title>Admins only" in refused.text  # the demo's page, not a bare "Forbidden"
        assert 'id="forbidden"' in refused.text
        assert "your role is <strong>member</strong>" in refused.text
        assert 'id="sign-out"' in refused.text

        page = (await ada.get("/admin")).text
        assert element(page, "role-demo-grace") == "member"
        grace_id = re.search(
            r'name="user_id" value="([^"]+)"><button id="make-admin-demo-grace"', page
        )
        assert grace_id is not None
        assert (
            await grace.post(
                "/admin/role",
                data={"user_id": grace_id.group(1), "role": "admin"},
                headers=form_post(),
            )
        ).status_code == 403

        clock.advance(7)
        promoted = await ada.post(
            "/admin/role",
            data={"user_id": grace_id.group(1), "role": "admin"},
            headers=form_post(),
        )
        assert promoted.status_code == 303
        assert promoted.headers["location"] == "/admin?changed=demo-grace"
        page = (await ada.get(promoted.headers["location"])).text
        assert element(page, "role-demo-grace") == "admin"
        assert "Grace is now admin." in page
        assert "Reload Grace's page in the other browser window" in page
        assert 'id="confirmation"' not in (await ada.get("/admin")).text

        answer = await grace.get("/")
        page = answer.text
        assert element(page, "role") == "admin"  # no new sign-in
        assert int(element(page, "token-iat").split()[3]) == first_iat + 7
        assert 'data-reissued="true"' in page
        assert "reissued on this request" in page
        assert any(c.startswith("__session=") for c in answer.headers.get_list("set-cookie"))
        assert "x-session-token" in answer.headers
        page = (await grace.get("/")).text  # the browser now holds the new token
        assert 'data-reissued="false"' in page
        assert (await grace.get("/admin")).status_code == 200

        # The page's script saves unsafe metadata itself: PATCH /auth/v1/me, cookie + Origin.
        saved = await grace.patch(
            "/auth/v1/me",
            json={"unsafe_metadata": {"birthday": "11-30-1969"}},
            headers=form_post(),
        )
        assert saved.status_code == 200, saved.text
        me = (await grace.get("/auth/v1/me")).json()
        assert me["unsafe_metadata"] == {"birthday": "11-30-1969"}
        assert "private_metadata" not in me
        assert me["public_metadata"]["role"] == "admin"

        signed_out = await grace.post("/sign-out", headers=form_post())
        assert signed_out.status_code == 303
        page = (await grace.get("/")).text
        assert 'href="/sign-in"' in page
        assert element(page, "signed-out").startswith("You are not signed in")
        assert element(page, "reason") == "token-missing"
        assert "make demo DEMO_ARGS=--fresh" in page  # how to start over, on every page
        assert "sessionclaims demo --fresh" in page
        # A signed-out visit to a page that needs a sign-in goes to the sign-in page, which
        # comes back to that page after it; a signed-out form post goes there too.
        for path in ("/admin", "/organization"):
            sent = await grace.get(path)
            assert sent.status_code == 303
            assert sent.headers["location"] == f"/sign-in?next={path}"
        posted = await grace.post("/admin/role", data={"role": "admin"}, headers=form_post())
        assert (posted.status_code, posted.headers["location"]) == (303, "/sign-in")
        page = (await grace.get("/sign-in?next=/admin")).text
        assert '<input type="hidden" name="next" value="/admin">' in page
        back = {"person": "demo-grace", "next": "/admin"}
        signed_in = await grace.post("/sign-in", data=back, headers=form_post())
        assert signed_in.headers["location"] == "/admin"
        assert (await grace.get("/admin")).status_code == 200
        away = {"person": "demo-grace", "next": "//elsewhere.example/"}
        signed_in = await grace.post("/sign-in", data=away, headers=form_post())
        assert signed_in.headers["location"] == "/"  # only a path of this site
        sessions = await app.state.backend.sessions.list_sessions(user_id=grace_id.group(1))
        # the session signed out, and the one a second sign-in ended; the latest is active
        assert sorted(s.status for s in sessions.data) == ["active", "ended", "ended"]


async def test_demo_escapes_and_seeds_once(tmp_path: Path, clock: FakeClock) -> None:
    demo = load_example("demo/app.py")
    url = f"sqlite:///{tmp_path}/demo.db"
    for _ in range(2):  # a restart finds the people already there
        app = demo.create_app(url, origin=LOCAL, clock=clock)
        async with app.router.lifespan_context(app):
            backend = app.state.backend
            users = (await backend.users.list_users()).data
            assert sorted(u.external_id for u in users) == ["demo-ada", "demo-grace"]
            ada = next(u for u in users if u.external_id == "demo-ada")
            await backend.users.update_user_metadata(
                ada.id, public_metadata={"name": "<script>alert(1)</script>"}
            )
            async with client(app) as http:
                page = (await http.get("/sign-in")).text
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_demo_has_a_sentence_for_every_sign_out_reason() -> None:
    demo = load_example("demo/app.py")
    assert set(demo.SIGNED_OUT_TEXT) == SIGN_OUT_REASONS
    sentences = list(demo.SIGNED_OUT_TEXT.values())
    assert len(set(sentences)) == len(sentences)
    for sentence in sentences:
        assert sentence[0].isupper()
        assert sentence.endswith(".")
        assert not re.search(r"\b[a-z]+-[a-z]+-[a-z]+\b", sentence)  # no reason code in it
    assert demo.signed_out_text("no-such-reason") == "You are signed out."


async def test_demo_starts_over_and_has_an_icon(tmp_path: Path, clock: FakeClock) -> None:
    demo = load_example("demo/app.py")
    url = f"sqlite:///{tmp_path}/demo.db"
    app = demo.create_app(url, origin=LOCAL, clock=clock)
    async with app.router.lifespan_context(app), client(app) as grace:
        backend = app.state.backend
        icon = await grace.get("/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"] == "image/svg+xml"
        assert icon.text.startswith("<svg")
        await grace.post("/sign-in", data={"person": "demo-grace"}, headers=form_post())
        before = await backend.users.get_user_by_external_id("demo-grace")
        await backend.users.update_user_metadata(before.id, public_metadata={"role": "admin"})
        engines = await backend.organizations.get_organization("analytical-engines")
        await backend.organizations.update_membership(engines.id, before.id, role="org:admin")
    for fresh, role in ((False, "admin"), (True, "member")):
        app = demo.create_app(url, origin=LOCAL, clock=clock, fresh=fresh)
        async with app.router.lifespan_context(app), client(app) as http:
            backend = app.state.backend
            after = await backend.users.get_user_by_external_id("demo-grace")
            assert after.public_metadata["role"] == role
            assert (after.id == before.id) is not fresh
            assert len((await backend.users.list_users()).data) == 2
            organizations = (await backend.organizations.list_organizations()).data
            assert sorted(o.slug for o in organizations) == ["analytical-engines", "compiler-works"]
            assert all(o.members_count == 2 for o in organizations)
            engines = await backend.organizations.get_organization("analytical-engines")
            membership = await backend.organizations.get_membership(engines.id, after.id)
            assert membership.role == ("org:member" if fresh else "org:admin")
            # The browser signed in before starting over is signed out now.
            http.cookies = grace.cookies
            page = (await http.get("/")).text
            assert ('id="signed-out"' in page) is fresh


def org_ids(page: str) -> dict[str, str]:
    """The header switcher's organizations: name -> id."""
    return {
        name: org_id
        for org_id, name in re.findall(r'<option value="(org_[^"]+)"[^>]*>([^<]+)<', page)
    }


async def test_demo_organizations_over_asgi(tmp_path: Path, clock: FakeClock) -> None:
    demo = load_example("demo/app.py")
    app = demo.create_app(f"sqlite:///{tmp_path}/demo.db", origin=LOCAL, clock=clock)
    async with app.router.lifespan_context(app), client(app) as grace, client(app) as ada:
        for http, person in ((grace, "demo-grace"), (ada, "demo-ada")):
            await http.post("/sign-in", data={"person": person}, headers=form_post())
        page = (await grace.get("/")).text
        orgs = org_ids(page)
        assert set(orgs) == {"Analytical Engines", "Compiler Works"}
        assert f'<option value="{orgs["Analytical Engines"]}" selected>' in page
        assert element(page, "org-name") == "Analytical Engines"
        assert element(page, "org-role") == "org:member"
        assert element(page, "header-org-role") == "org:member"
        assert element(page, "org-permissions") == "org:reports:read"

        # The switcher: Origin-checked, a 303 back to the page it was on, with a new token.
        body = {"organization_id": orgs["Compiler Works"], "next": "/organization"}
        assert (await grace.post("/organization/active", data=body)).status_code == 403
        switched = await grace.post("/organization/active", data=body, headers=form_post())
        assert switched.status_code == 303
        assert switched.headers["location"] == "/organization"
        assert any(c.startswith("__session=") for c in switched.headers.get_list("set-cookie"))
        page = (await grace.get("/")).text
        assert element(page, "org-name") == "Compiler Works"
        assert element(page, "org-role") == "org:admin"
        assert "org:members:manage" in element(page, "org-permissions")
        body = {"organization_id": orgs["Analytical Engines"], "next": "//elsewhere.example/"}
        switched = await grace.post("/organization/active", data=body, headers=form_post())
        assert switched.headers["location"] == "/"  # only a path of this site
        assert element((await grace.get("/")).text, "org-role") == "org:member"

        # Not a member of an organization: the demo's 403 page.
        other = await app.state.backend.organizations.create_organization("Elsewhere")
        body = {"organization_id": other.id}
        refused = await grace.post("/organization/active", data=body, headers=form_post())
        assert refused.status_code == 403
        assert 'id="forbidden"' in refused.text
        assert "not a member" in refused.text

        # A member may see the members but not change a role.
        page = (await grace.get("/organization")).text
        assert element(page, "members-of") == "Analytical Engines"
        assert element(page, "org-role-demo-ada") == "org:admin"
        assert "org-make-admin-demo-grace" not in page
        change = {"person": "demo-grace", "role": "org:admin"}
        refused = await grace.post("/organization/role", data=change, headers=form_post())
        assert refused.status_code == 403
        assert "<title>Organization admins only" in refused.text
        assert "your role in Analytical Engines is <strong>org:member</strong>" in refused.text

        # The organization's admin changes it; the member's next request shows it.
        assert (await ada.post("/organization/role", data=change)).status_code == 403
        bad = {"person": "demo-grace", "role": "admin"}
        assert (
            await ada.post("/organization/role", data=bad, headers=form_post())
        ).status_code == 400
        clock.advance(3)
        changed = await ada.post("/organization/role", data=change, headers=form_post())
        assert changed.status_code == 303
        assert changed.headers["location"] == "/organization?changed=demo-grace"
        page = (await ada.get(changed.headers["location"])).text
        assert element(page, "org-role-demo-grace") == "org:admin"
        assert "Grace is now org:admin in Analytical Engines." in page
        page = (await grace.get("/")).text
        assert element(page, "org-role") == "org:admin"
        assert 'data-reissued="true"' in page
        assert "org-make-member-demo-ada" in (await grace.get("/organization")).text
        # Compiler Works kept its own roles.
        body = {"organization_id": orgs["Compiler Works"]}
        await ada.post("/organization/active", data=body, headers=form_post())
        assert element((await ada.get("/")).text, "org-role") == "org:member"


async def test_demo_sends_other_hosts_to_its_origin(tmp_path: Path, clock: FakeClock) -> None:
    demo = load_example("demo/app.py")
    app = demo.create_app(f"sqlite:///{tmp_path}/demo.db", origin=LOCAL, clock=clock)
    async with app.router.lifespan_context(app), client(app, "http://localhost:8000") as http:
        answer = await http.get("/sign-in")
        assert answer.status_code == 307
        assert answer.headers["location"] == f"{LOCAL}/sign-in"


# -- docs/curl.md ------------------------------------------------------------------------
@dataclass
class CurlCall:
    method: str
    url: str
    headers: dict[str, str]
    body: str | None
    status: int
    answer: Any


_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_STATUS = re.compile(r"Answer `(\d{3})[^`]*`")


def parse_curl_doc(text: str) -> tuple[dict[str, str], list[CurlCall]]:
    """The ``export`` settings and the calls of docs/curl.md.

    A call is a ```sh block holding one ``curl -X METHOD URL [-H ...] [-d ...]``, then a
    line ``Answer `STATUS ...` `` and a ```json block with the answer."""
    blocks = list(_FENCE.finditer(text))
    settings: dict[str, str] = {}
    calls: list[CurlCall] = []
    for index, block in enumerate(blocks):
        language, content = block.group(1), block.group(2)
        if language != "sh":
            continue
        words = shlex.split(content.replace("\\\n", " "), comments=True)
        if words[:1] != ["curl"]:
            for line in content.splitlines():
                parts = shlex.split(line, comments=True)
                if parts[:1] == ["export"]:
                    name, _, value = parts[1].partition("=")
                    settings[name] = value
            continue
        assert words[1] == "-X", f"write 'curl -X METHOD URL': {content!r}"
        method, url, rest = words[2], words[3], words[4:]
        headers: dict[str, str] = {}
        body = None
        for flag, value in zip(rest[::2], rest[1::2], strict=True):
            if flag == "-H":
                name, _, header_value = value.partition(":")
                headers[name.strip()] = header_value.strip()
            elif flag == "-d":
                body = value
            else:
                raise AssertionError(f"unexpected curl option {flag!r} in {content!r}")
        between = text[block.end() : blocks[index + 1].start()]
        status = _STATUS.search(between)
        assert status is not None, f"no 'Answer `NNN`' after {content!r}"
        answer_block = blocks[index + 1]
        assert answer_block.group(1) == "json", f"no ```json answer after {content!r}"
        calls.append(
            CurlCall(
                method, url, headers, body, int(status.group(1)), json.loads(answer_block.group(2))
            )
        )
    return settings, calls


_EXACT_KEYS = frozenset(
    {"object", "external_id", "status", "code", "param", "deleted", "user_id"}
    | {"public_metadata", "private_metadata", "unsafe_metadata"}
)


def assert_same_shape(documented: Any, actual: Any, key: str = "", *, ids: dict[str, str]) -> None:
    """Same keys everywhere; metadata, codes and statuses equal; ids, times and tokens of
    the same type (they differ on each run)."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), (key, actual)
        assert set(documented) == set(actual), (key, sorted(documented), sorted(actual))
        for name in documented:
            assert_same_shape(documented[name], actual[name], name, ids=ids)
    elif isinstance(documented, list):
        assert isinstance(actual, list), (key, actual)
        assert len(actual) == len(documented), (key, actual)
        for doc_item, item in zip(documented, actual, strict=True):
            assert_same_shape(doc_item, item, key, ids=ids)
    elif key == "user_id" or (key == "id" and isinstance(documented, str)):
        # A documented id stands for the same real id everywhere on the page.
        assert ids.setdefault(documented, actual) == actual, (key, documented, actual)
    elif key in _EXACT_KEYS:
        assert documented == actual, (key, documented, actual)
    else:
        assert type(documented) is type(actual), (key, documented, actual)


def substitute(text: str, variables: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"${name} is used before the page defines it"
        return variables[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)


def test_curl_doc_is_parseable() -> None:
    settings, calls = parse_curl_doc(CURL_DOC.read_text(encoding="utf-8"))
    assert {"SESSIONCLAIMS_SECRET_KEY", "SESSIONCLAIMS_ISSUER"} <= set(settings)
    seen = {(call.method, urlsplit(call.url).path) for call in calls}
    assert ("PATCH", "/v1/users/$USER_ID/metadata") in seen
    assert ("GET", "/v1/users/$USER_ID") in seen
    assert ("POST", "/v1/sessions") in seen
    assert ("PATCH", "/v1/me") in seen
    assert ("POST", "/v1/me/active_organization") in seen
    bodies = " ".join(call.body or "" for call in calls)
    for tier in ("private_metadata", "public_metadata", "unsafe_metadata"):
        assert tier in bodies
    assert all(urlsplit(call.url).netloc == "127.0.0.1:8000" for call in calls)


async def test_curl_doc_replays_against_the_real_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, calls = parse_curl_doc(CURL_DOC.read_text(encoding="utf-8"))
    for name, value in settings.items():  # what `sessionclaims serve` reads
        monkeypatch.setenv(name, value)
    variables = dict(settings)
    ids: dict[str, str] = {}
    async with Backend(f"sqlite:///{tmp_path}/serve.db") as backend, client(backend.api) as http:
        for call in calls:
            parts = urlsplit(substitute(call.url, variables))
            answer = await http.request(
                call.method,
                parts.path + (f"?{parts.query}" if parts.query else ""),
                headers={k: substitute(v, variables) for k, v in call.headers.items()},
                content=None if call.body is None else substitute(call.body, variables),
            )
            where = f"{call.method} {call.url}"
            assert answer.status_code == call.status, (where, answer.text)
            body = answer.json()
            assert_same_shape(call.answer, body, ids=ids)
            if call.method == "POST" and parts.path == "/v1/users":
                variables["USER_ID"] = body["id"]
            if call.method == "POST" and parts.path == "/v1/organizations":
                variables["ORG_ID"] = body["id"]
            if call.method == "POST" and parts.path == "/v1/me/active_organization":
                variables["ORG_TOKEN"] = body["jwt"]
            if call.method == "POST" and parts.path == "/v1/sessions":
                variables["SESSION_ID"] = body["session"]["id"]
                variables["SESSION_TOKEN"] = body["token"]
        user = await backend.users.get_user(variables["USER_ID"])
    # "the token ... with "role": "admin" among its claims" (the page's template)
    claims = jwt.decode(variables["SESSION_TOKEN"], options={"verify_signature": False})
    assert claims["role"] == "admin"
    org_claims = jwt.decode(variables["ORG_TOKEN"], options={"verify_signature": False})
    assert (org_claims["org_id"], org_claims["org_slug"]) == (variables["ORG_ID"], "acme")
    assert (org_claims["org_role"], org_claims["org_permissions"]) == ("org:admin", [])
    assert user.public_metadata == {"role": "admin"}
    assert user.private_metadata == {"stripeId": "cus_Nk3vLr2iT9"}
    assert user.unsafe_metadata == {"birthday": "11-30-1969", "theme": "dark"}
