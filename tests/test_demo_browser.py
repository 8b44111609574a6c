"""The demo in a real browser: Debian's Chromium driven by Playwright, against the demo
served by uvicorn on loopback.

Two browser contexts (two people, separate cookie jars): Grace (member) opening /admin
gets the demo's styled 403 page; Ada (admin) promotes Grace on /admin and sees a
confirmation telling her to reload Grace's page; Grace's next page load shows role admin
without signing in again, because the middleware reissued her token on that request;
Grace then saves her birthday (unsafe metadata) from the page's own script, and it
survives a reload.

Organizations: both start in Analytical Engines (Ada its admin, Grace a member); Grace
switches the active organization in the page header to Compiler Works and sees her role
there (org:admin), then back; Ada changes Grace's role in Analytical Engines on
/organization and sees a confirmation; Grace's next page load shows org:admin without
signing in again. The header is one row on a desktop; at a phone's width (390 px) the
title and Sign out share a row and the switcher has the next, nothing wider than the
screen.

Chromium is the system package (``apt-get install chromium``); Playwright never downloads
a browser here (no ``playwright install``).
"""

from __future__ import annotations

import importlib.util
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.types import ASGIApp

from .helpers import FakeClock
from .servers import free_socket

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo" / "app.py"
TIMEOUT_MS = 15_000


def _chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("no Chromium: install Debian's package (apt-get install chromium)")
    return found


def _sync_playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (python) is not importable: pip install playwright")
    return sync_playwright


def _load_demo() -> Any:
    spec = importlib.util.spec_from_file_location("sessionclaims_demo_browser", DEMO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def serve_at_own_origin(build: Callable[[str], ASGIApp]) -> Iterator[str]:
    """Bind a loopback port first, build the app for that origin, serve it with uvicorn
    (lifespan on: the demo opens its store and seeds its people at start-up)."""
    sock = free_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(build(base), log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # waiting for the server to bind, not for time to pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_demo_promotion_reaches_the_member_without_a_new_sign_in(tmp_path: Path) -> None:
    executable = _chromium()
    sync_playwright = _sync_playwright()
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    demo = _load_demo()
    # The server's clock starts at the real time and only moves when the test moves it,
    # so the reissued token's iat is certainly different from the first one.
    clock = FakeClock(float(int(time.time())))
    db = f"sqlite:///{tmp_path}/demo.db"
    started = time.monotonic()

    with (
        serve_at_own_origin(lambda origin: demo.create_app(db, origin=origin, clock=clock)) as base,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            admin_context = browser.new_context()
            member_context = browser.new_context()
            for context in (admin_context, member_context):
                context.set_default_timeout(TIMEOUT_MS)
            ada = admin_context.new_page()
            grace = member_context.new_page()

            def sign_in(page: Any, person: str) -> None:
                page.goto(f"{base}/sign-in")
                expect(page.locator("main")).to_contain_text("DEMO sign-in")
                page.click(f"#sign-in-{person}")
                page.wait_for_url(f"{base}/")

            sign_in(ada, "demo-ada")
            sign_in(grace, "demo-grace")

            # Both cookies reached the browser, the Secure refresh cookie included:
            # Chromium treats http://127.0.0.1 as a secure context.
            cookies = {c["name"]: c for c in member_context.cookies(base)}
            assert set(cookies) >= {"__session", "__refresh"}, cookies
            assert cookies["__refresh"]["secure"] is True
            assert cookies["__refresh"]["httpOnly"] is True
            assert cookies["__session"]["httpOnly"] is False

            expect(grace.locator("#role")).to_have_text("member")
            expect(grace.locator("#plan")).to_have_text("free")
            expect(grace.locator("#reissue")).to_have_attribute("data-reissued", "false")
            first_iat = int(grace.locator("#token-iat").get_attribute("data-iat") or "0")
            assert first_iat == int(clock())
            expect(ada.locator("#role")).to_have_text("admin")

            # Not an admin (yet): the demo's own 403 page, in the demo's layout.
            refused = grace.goto(f"{base}/admin")
            assert refused is not None
            assert refused.status == 403
            expect(grace).to_have_title("Admins only · sessionclaims demo")
            expect(grace.locator("header h1")).to_contain_text("sessionclaims")
            expect(grace.locator("#sign-out")).to_be_visible()
            expect(grace.locator("#forbidden h2")).to_have_text("Admins only")
            expect(grace.locator("#forbidden")).to_contain_text("your role is member")
            background = grace.locator("#forbidden").evaluate(
                "element => getComputedStyle(element).backgroundColor"
            )
            assert background not in ("rgba(0, 0, 0, 0)", "transparent")  # styled

            clock.advance(5)
            ada.goto(f"{base}/admin")
            expect(ada.locator("#role-demo-grace")).to_have_text("member")
            ada.click("#make-admin-demo-grace")
            ada.wait_for_url(f"{base}/admin?changed=demo-grace")
            expect(ada.locator("#role-demo-grace")).to_have_text("admin")
            expect(ada.locator("#confirmation")).to_contain_text("Grace is now admin.")
            expect(ada.locator("#confirmation")).to_contain_text("Reload Grace's page")

            # Grace's next page load: admin, without signing in again; the token was
            # reissued by the middleware on this very request.
            grace.goto(f"{base}/")
            expect(grace.locator("#role")).to_have_text("admin")
            expect(grace.locator("#reissue")).to_contain_text("reissued on this request")
            new_iat = int(grace.locator("#token-iat").get_attribute("data-iat") or "0")
            assert new_iat == first_iat + 5
            expect(grace.locator("#token-iat")).to_contain_text(f"token issued at {new_iat} (")
            grace.screenshot(path=str(tmp_path / "member-reissued.png"), full_page=True)
            cookie = {c["name"]: c for c in member_context.cookies(base)}["__session"]
            assert cookie["value"] != cookies["__session"]["value"]  # Set-Cookie was taken

            # The birthday form: the page's script PATCHes /auth/v1/me itself.
            expect(grace.locator("#saved-birthday")).to_have_text("(not set)")
            grace.fill("#birthday", "11-30-1969")
            grace.click("#save-birthday")
            expect(grace.locator("#saved-birthday")).to_have_text("11-30-1969")
            expect(grace.locator("#birthday-status")).to_have_text("saved")

            grace.reload()
            expect(grace.locator("#saved-birthday")).to_have_text("11-30-1969")
            expect(grace.locator("#birthday")).to_have_value("11-30-1969")
            expect(grace.locator("#role")).to_have_text("admin")
            # The browser holds the reissued token now: it is fresh, nothing to reissue.
            expect(grace.locator("#reissue")).to_have_attribute("data-reissued", "false")
            expect(grace.locator("#who")).to_have_text("Grace")

            # Without a __session cookie (it lives as long as the token), the browser's
            # Secure, HttpOnly __refresh cookie still goes to http://127.0.0.1, and the
            # middleware mints a token from it.
            member_context.clear_cookies(name="__session")
            grace.reload()
            expect(grace.locator("#reissue")).to_contain_text("Token minted on this request")
            expect(grace.locator("#role")).to_have_text("admin")
            assert "__session" in {c["name"] for c in member_context.cookies(base)}

            # Organizations. Both start in Analytical Engines: Grace is a member there.
            switch = grace.locator("#org-switch")
            expect(switch.locator("option:checked")).to_have_text("Analytical Engines")
            expect(grace.locator("#org-name")).to_have_text("Analytical Engines")
            expect(grace.locator("#org-role")).to_have_text("org:member")
            expect(grace.locator("#header-org-role")).to_have_text("org:member")

            # Grace switches in the header: in Compiler Works she is its admin.
            with grace.expect_navigation():
                switch.select_option(label="Compiler Works")
            expect(switch.locator("option:checked")).to_have_text("Compiler Works")
            expect(grace.locator("#org-name")).to_have_text("Compiler Works")
            expect(grace.locator("#org-slug")).to_have_text("compiler-works")
            expect(grace.locator("#org-role")).to_have_text("org:admin")
            expect(grace.locator("#header-org-role")).to_have_text("org:admin")
            expect(grace.locator("#org-permissions")).to_contain_text("org:members:manage")
            with grace.expect_navigation():
                switch.select_option(label="Analytical Engines")
            expect(grace.locator("#org-role")).to_have_text("org:member")
            grace.goto(f"{base}/organization")  # a member sees the members, no buttons
            expect(grace.locator("#members-of")).to_have_text("Analytical Engines")
            expect(grace.locator("#org-role-demo-grace")).to_have_text("org:member")
            expect(grace.locator("#org-make-admin-demo-grace")).to_have_count(0)

            # Ada, the admin of Analytical Engines, makes Grace an admin there.
            clock.advance(5)
            ada.goto(f"{base}/")
            expect(ada.locator("#org-role")).to_have_text("org:admin")
            ada.click("text=Members of Analytical Engines")
            ada.wait_for_url(f"{base}/organization")
            ada.click("#org-make-admin-demo-grace")
            ada.wait_for_url(f"{base}/organization?changed=demo-grace")
            expect(ada.locator("#org-role-demo-grace")).to_have_text("org:admin")
            confirmed = ada.locator("#confirmation")
            expect(confirmed).to_contain_text("Grace is now org:admin in Analytical Engines.")
            expect(confirmed).to_contain_text("Reload Grace's page")

            # Grace's next page load: org:admin there, without signing in again.
            grace.goto(f"{base}/")
            expect(grace.locator("#org-role")).to_have_text("org:admin")
            expect(grace.locator("#header-org-role")).to_have_text("org:admin")
            expect(grace.locator("#reissue")).to_contain_text("reissued on this request")
            expect(grace.locator("#reissue")).to_contain_text("org:member in its organization")
            expect(switch.locator("option:checked")).to_have_text("Analytical Engines")
            grace.goto(f"{base}/organization")
            expect(grace.locator("#org-make-member-demo-ada")).to_be_visible()

            # The header: one row on a desktop (1280 px by default)...
            grace.goto(f"{base}/")
            title, sign_out, switcher = (
                grace.locator(selector).bounding_box()
                for selector in ("header h1", "#sign-out", "#org-switch")
            )
            header = grace.locator("header").bounding_box()
            assert header is not None
            assert title is not None
            assert sign_out is not None
            assert switcher is not None
            assert header["height"] < 64, header
            assert switcher["y"] < title["y"] + title["height"], (title, switcher)
            # ...and at a phone's width, the title (one line) and Sign out on the first
            # row, the switcher on the second, nothing wider than the screen.
            grace.set_viewport_size({"width": 390, "height": 844})
            grace.reload()
            title, sign_out, switcher = (
                grace.locator(selector).bounding_box()
                for selector in ("header h1", "#sign-out", "#org-switch")
            )
            header = grace.locator("header").bounding_box()
            assert header is not None
            assert title is not None
            assert sign_out is not None
            assert switcher is not None
            assert title["height"] < 2 * 16 * 1.15 * 1.2, title  # one line of the h1
            assert sign_out["y"] < title["y"] + title["height"], (title, sign_out)  # same row
            assert switcher["y"] >= title["y"] + title["height"], (title, switcher)  # next row
            assert switcher["x"] + switcher["width"] <= 390
            assert header["height"] < 110, header
            assert grace.evaluate("document.documentElement.scrollWidth") <= 390
            grace.screenshot(path=str(tmp_path / "member-390px.png"), full_page=True)

            ada.goto(f"{base}/")
            shots = {
                "admin": tmp_path / "admin.png",
                "member": tmp_path / "member.png",
                "member-reissued": tmp_path / "member-reissued.png",
            }
            ada.screenshot(path=str(shots["admin"]), full_page=True)
            grace.screenshot(path=str(shots["member"]), full_page=True)
            for shot in shots.values():
                assert shot.is_file()
                assert shot.stat().st_size > 0
                assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        finally:
            browser.close()
    assert time.monotonic() - started < 60
