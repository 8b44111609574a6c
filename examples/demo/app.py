"""The sessionclaims demo: claims that change without signing in again.

Run it with ``sessionclaims demo`` or ``python examples/demo/app.py`` and open
http://127.0.0.1:8000. Two demo people are seeded: Ada (role admin, plan pro) and Grace
(role member, plan free), and two organizations: Analytical Engines (Ada its admin,
Grace a member) and Compiler Works (Grace its admin, Ada a member). Sign in as each in
two browser windows (one private); as Ada, promote Grace on /admin; reload Grace's page:
she is an admin now, without signing in again, because the middleware reissued her
token on that very request. The same goes for a role in an organization: switch the
active organization in the page header, and change a member's role on /organization.

What each part shows:

* ``GET /`` greets the person by name (a store read) and reads role and plan, and the
  active organization with the person's role in it, from ``request.auth``: the verified
  session token, with **no** database call.
  Unsafe metadata (the "birthday" form) is read and written by the browser itself
  through the frontend API (``/auth/v1/me``).
* A page that needs a signed-in person (``/admin``, ``/organization``) sends a signed-out
  visitor to ``/sign-in`` (303), which comes back to that page after signing in.
* ``POST /admin/role`` changes a person's role in public metadata through the backend HTTP
  API with the secret key, the way a non-Python backend would.
* ``POST /organization/active`` (the header's switcher) makes another organization
  active for this session (``backend.sessions.set_active_organization``): the new token
  it returns already carries that organization's claims.
* ``POST /organization/role`` changes a member's role in the active organization
  (``backend.organizations.update_membership``); only a member whose token carries the
  ``org:members:manage`` permission may (``@requires`` reads it from the token).
* Signing in is a DEMO: identity proofing (passwords, OAuth, codes) is your app's job;
  ``sessionclaims`` starts once your app knows who the person is.

No template engine and no external assets: the HTML is in this file, and every value put
into it goes through ``html.escape``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import html
import json
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from sessionclaims import (
    AlreadyMember,
    Backend,
    Membership,
    NotAMember,
    Organization,
    OrganizationNotFound,
    SessionClaimsError,
    SessionClaimsMiddleware,
    User,
    UserNotFound,
)
from sessionclaims.cookies import session_cookie

# The demo people, by external id: what a real app would find after authenticating someone.
PEOPLE: dict[str, dict[str, str]] = {
    "demo-ada": {"name": "Ada", "role": "admin", "plan": "pro"},
    "demo-grace": {"name": "Grace", "role": "member", "plan": "free"},
}
ROLES = ("admin", "member")
# The demo organizations, by slug; the first member listed creates it (so is its
# org:admin). Each person's first membership is the active organization at sign-in.
ORGANIZATIONS: dict[str, dict[str, Any]] = {
    "analytical-engines": {
        "name": "Analytical Engines",
        "members": {"demo-ada": "org:admin", "demo-grace": "org:member"},
    },
    "compiler-works": {
        "name": "Compiler Works",
        "members": {"demo-grace": "org:admin", "demo-ada": "org:member"},
    },
}
MANAGE_MEMBERS = "org:members:manage"
ORG_ROLES = {
    "org:admin": [MANAGE_MEMBERS, "org:reports:read"],
    "org:member": ["org:reports:read"],
}
SESSION_TEMPLATE = {
    "role": "{{user.public_metadata.role || 'member'}}",
    "plan": "{{user.public_metadata.plan || 'free'}}",
    "org_name": "{{org.name}}",  # absent without an active organization
}

# Why the page is signed out, in words: one sentence per reason of sessionclaims.reasons
# (a test checks that every reason has one; an unknown one gets a general sentence).
SIGNED_OUT_TEXT: dict[str, str] = {
    "token-missing": "You are not signed in: this browser sent no session cookie.",
    "token-too-large": "The session token your browser sent is too large to be one of ours.",
    "token-malformed": "Your browser sent something that is not a well-formed session token.",
    "token-header-not-allowed": "The session token's header has a field this app refuses.",
    "token-critical-header-unsupported": (
        "The session token asks for a header extension this app does not support."
    ),
    "token-algorithm-not-allowed": (
        "The session token was signed with an algorithm this app does not accept."
    ),
    "token-unknown-key": (
        "Your session token was signed with a key this demo does not have, for example "
        "one from before the demo started over."
    ),
    "token-invalid-signature": "The session token's signature does not match: it was altered.",
    "token-missing-claim": "The session token lacks a claim every session token carries.",
    "token-invalid-claim": "A claim of the session token has a value of the wrong type.",
    "token-invalid-issuer": "The session token was issued by another server.",
    "token-invalid-audience": "The session token was issued for another service.",
    "token-invalid-authorized-party": "The session token was issued for another website.",
    "token-expired": "Your session token expired and could not be renewed.",
    "token-not-active-yet": "The session token is not valid yet: check this computer's clock.",
    "token-iat-in-the-future": (
        "The session token says it was issued in the future: check this computer's clock."
    ),
    "token-not-a-session-token": "Your browser sent a token that is not a session token.",
    "session-revoked": (
        "Your session has ended: you signed out, or it was revoked, or it ran out."
    ),
    "store-unavailable": "The demo cannot reach its database right now; try again shortly.",
    "reissue-failed": "Your session token was out of date and a new one could not be made.",
    "jwks-unavailable": "The keys that check session tokens could not be fetched.",
    "refresh-credential-missing": "Your browser sent no refresh cookie to renew the session.",
    "refresh-credential-invalid": (
        "Your refresh cookie is no longer valid: its session ended, or it is from before "
        "the demo started over."
    ),
    "token-invalid": "Your session token is not valid.",
    "middleware-missing": "The session middleware is not installed in this app.",
}


def esc(value: object) -> str:
    """Every value that goes into the HTML goes through here."""
    return html.escape(str(value), quote=True)


def _key_encryption_secret(database_url: str) -> str | None:
    """A random secret kept (mode 0600) beside the demo's SQLite file, made on first run;
    ``None`` for an in-memory database (nothing at rest)."""
    if not database_url.startswith("sqlite:///"):
        return None
    path = Path(database_url.removeprefix("sqlite:///") + ".demo-key-secret")
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32), encoding="ascii")
    return path.read_text(encoding="ascii").strip()


def create_app(
    database_url: str = "sqlite:///sessionclaims-demo.db",
    *,
    origin: str = "http://127.0.0.1:8000",
    clock: Callable[[], float] | None = None,
    fresh: bool = False,
) -> Starlette:
    """The demo app, served at ``origin`` (scheme, host and port, no trailing slash).

    The demo's people and organizations keep what was done to them between runs;
    ``fresh=True`` (``sessionclaims demo --fresh``) deletes them at start-up and seeds
    them anew."""
    # The demo calls its own backend API in-process; a fresh random secret key per run
    # means nothing else can call it. The signing keys, which persist with the database,
    # are therefore encrypted under a secret of their own (docs/security.md).
    secret_key = "sk_demo_" + secrets.token_urlsafe(24)
    backend = Backend(
        database_url,
        issuer=origin,
        secret_key=secret_key,
        key_encryption_secret=_key_encryption_secret(database_url),
        session_template=SESSION_TEMPLATE,
        authorized_parties=[origin],
        roles=ORG_ROLES,
        clock=clock,
    )
    host = urlsplit(origin).netloc

    async def show(request: Request, title: str, body: str, *, status: int = 200) -> HTMLResponse:
        """The page in the demo's layout; a signed-in person's header has the switcher
        of the active organization (their memberships: a store read) and Sign out."""
        auth = request.auth
        if not auth.is_signed_in or not auth.user_id:
            return page(title, body, status=status)
        memberships = await backend.organizations.list_user_memberships(
            auth.user_id, limit=20, offset=0
        )
        organizations = [organization for _, organization in memberships.data]
        header = switcher(organizations, auth.org_id, auth.org_role, request.url.path)
        return page(title, body, status=status, header=header + SIGN_OUT)

    def elsewhere(request: Request) -> Response | None:
        """Send a browser that came in by another name (localhost) to ``origin``: the
        session cookies and the Origin checks are for that one origin."""
        if request.url.netloc == host:
            return None
        return RedirectResponse(origin + request.url.path, status_code=307)

    def from_this_site(request: Request) -> bool:
        """The demo's forms are cookie-authenticated POSTs: accept them from this origin
        only (CSRF), as the API does for ``PATCH /auth/v1/me``."""
        return request.headers.get("origin") == origin

    async def sign_in_page(request: Request) -> Response:
        if (redirect := elsewhere(request)) is not None:
            return redirect
        back = local_path(request.query_params.get("next"))  # the page that sent them here
        buttons = "".join(
            f'<li><button id="sign-in-{esc(key)}" name="person" value="{esc(key)}">'
            f"Sign in as {esc(user.public_metadata.get('name'))}</button> "
            f"role {esc(user.public_metadata.get('role'))}, "
            f"plan {esc(user.public_metadata.get('plan'))}</li>"
            for key, user in (await find_people(backend)).items()
        )
        return page(
            "DEMO sign-in",
            '<p class="warn"><strong>DEMO sign-in.</strong> Identity proofing is your '
            "app's job; this page just picks a person. Your app authenticates people "
            "however it likes, then calls <code>backend.sessions.create_session(user.id)</code>."
            '</p><form method="post" action="/sign-in">'
            f'<input type="hidden" name="next" value="{esc(back)}"><ul>{buttons}</ul></form>',
        )

    async def sign_in(request: Request) -> Response:
        if not from_this_site(request):
            return forbidden("this form only accepts posts from " + origin)
        fields = await form(request)
        person = fields.get("person", "")
        user = (await find_people(backend)).get(person)
        if user is None:
            return page("Unknown person", "<p>No such demo person.</p>", status=400)
        if request.auth.session_id:  # one browser, one session: end the previous one
            with contextlib.suppress(SessionClaimsError):
                await backend.sessions.end_session(request.auth.session_id)
        new = await backend.sessions.create_session(
            user.id, origin=origin, active_organization_id=await first_organization(user)
        )
        response = RedirectResponse(local_path(fields.get("next")), status_code=303)
        backend.set_session_cookies(response, new, request=request)
        return response

    async def first_organization(user: User) -> str | None:
        """The organization a person starts in: the first demo organization they belong to."""
        memberships = await backend.organizations.list_user_memberships(user.id, limit=20, offset=0)
        slugs = {organization.slug: organization.id for _, organization in memberships.data}
        return next((slugs[slug] for slug in ORGANIZATIONS if slug in slugs), None)

    async def sign_out(request: Request) -> Response:
        if not from_this_site(request):
            return forbidden("this form only accepts posts from " + origin)
        if request.auth.session_id:
            with contextlib.suppress(SessionClaimsError):
                await backend.sessions.end_session(request.auth.session_id)
        response = RedirectResponse("/sign-in", status_code=303)
        backend.clear_session_cookies(response)
        return response

    async def home(request: Request) -> Response:
        if (redirect := elsewhere(request)) is not None:
            return redirect
        auth = request.auth
        if not auth.is_signed_in:
            return page(
                "Signed out",
                f'<p id="signed-out">{esc(signed_out_text(auth.reason))} '
                '<a href="/sign-in">Sign in</a> as a demo person.</p>'
                '<p class="note">For developers: <code>request.auth.reason</code> is '
                f'<code id="reason">{esc(auth.reason)}</code>.</p>',
            )
        # Role, plan, the organization claims and iat come from the verified session
        # token: NO store call (the header's list of organizations is one). The
        # middleware verified it (a cache hit after the first time) or, if the backend
        # changed this person since it was issued, reissued it for this very request.
        claims = auth.session_claims
        name = await display_name(backend, auth.user_id or "")  # a store read, like the header
        admin_link = '<a href="/admin">Admin page</a>' if auth.has(role="admin") else ""
        body = Template(HOME).substitute(
            name=esc(name),
            user_id=esc(auth.user_id),
            role=esc(claims.get("role")),
            plan=esc(claims.get("plan")),
            organization=organization_section(auth),
            iat=esc(claims.get("iat")),
            iat_time=esc(iso(claims.get("iat"))),
            reissue=reissue_note(claims, request.cookies.get("__session")),
            admin_link=admin_link,
        )
        return await show(request, "Home", body)

    @requires("admin")  # Starlette's own decorator: the middleware puts the role in scopes
    async def admin(request: Request) -> Response:
        people = await find_people(backend)
        rows = "".join(admin_row(key, user) for key, user in people.items())
        changed = people.get(request.query_params.get("changed", ""))
        return await show(
            request,
            "Admin",
            (confirmation(changed) if changed is not None else "")
            + "<p>Roles live in <strong>public</strong> metadata: people can read it but only "
            "the backend can write it. This page writes it through the backend HTTP API "
            "(<code>PATCH /v1/users/{id}/metadata</code> with the secret key).</p>"
            "<table><tr><th>person</th><th>role</th><th>plan</th><th>set role</th></tr>"
            f'{rows}</table><p><a href="/">Home</a></p>',
        )

    @requires("admin")
    async def set_role(request: Request) -> Response:
        if not from_this_site(request):
            return forbidden("this form only accepts posts from " + origin)
        fields = await form(request)
        role, user_id = fields.get("role"), fields.get("user_id", "")
        if role not in ROLES:
            return page("Bad role", f"<p>role must be one of {esc(ROLES)}</p>", status=400)
        # Through the backend HTTP API, as any other backend (Node, Go, cURL) would do it;
        # in Python, `await backend.users.update_user_metadata(...)` is the same call.
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=backend.api),
            base_url=origin,
            headers={"Authorization": f"Bearer {secret_key}"},
        ) as api:
            answer = await api.patch(
                f"/v1/users/{quote(user_id, safe='')}/metadata",
                json={"public_metadata": {"role": role}},
            )
        if answer.status_code != 200:
            message = answer.json()["errors"][0]["message"]
            return page("Not changed", f"<p>The API said: {esc(message)}</p>", status=400)
        changed = answer.json().get("external_id") or ""
        return RedirectResponse(f"/admin?changed={quote(changed, safe='')}", status_code=303)

    @requires("authenticated")
    async def organization(request: Request) -> Response:
        auth = request.auth
        if auth.org_id is None:
            return await show(
                request,
                "No organization",
                "<p>No organization is active: pick one in the header.</p>",
            )
        try:
            org = await backend.organizations.get_organization(auth.org_id)
        except OrganizationNotFound:
            return await show(request, "No organization", "<p>It was deleted.</p>", status=404)
        people = await find_people(backend)
        by_id = {user.id: (key, user) for key, user in people.items()}
        members = await backend.organizations.list_memberships(
            organization_id=org.id, limit=100, offset=0
        )
        manage = auth.has_permission(MANAGE_MEMBERS)  # from the token
        rows = "".join(
            member_row(*by_id[m.user_id], m.role, manage=manage)
            for m in members.data
            if m.user_id in by_id
        )
        changed = people.get(request.query_params.get("changed", ""))
        note = (
            "<p>Your token carries the permission <code>org:members:manage</code> here, so "
            "you may change roles (<code>backend.organizations.update_membership</code>).</p>"
            if manage
            else "<p>Only members with the permission <code>org:members:manage</code> (the "
            "organization's admins) may change roles here.</p>"
        )
        body = (
            (org_confirmation(changed, org.name, members.data) if changed is not None else "")
            + f'<h2>Members of <span id="members-of">{esc(org.name)}</span></h2>{note}'
            "<table><tr><th>person</th><th>role here</th><th></th></tr>"
            f'{rows}</table><p><a href="/">Home</a></p>'
        )
        return await show(request, org.name, body)

    @requires(MANAGE_MEMBERS)  # a permission of the active organization, from the token
    async def set_org_role(request: Request) -> Response:
        if not from_this_site(request):
            return forbidden("this form only accepts posts from " + origin)
        fields = await form(request)
        role, key = fields.get("role", ""), fields.get("person", "")
        user = (await find_people(backend)).get(key)
        org_id = request.auth.org_id
        if role not in ORG_ROLES or user is None or org_id is None:
            return page("Not changed", "<p>No such person or role.</p>", status=400)
        try:
            await backend.organizations.update_membership(org_id, user.id, role=role)
        except SessionClaimsError as exc:
            return page("Not changed", f"<p>{esc(exc)}</p>", status=400)
        return RedirectResponse(f"/organization?changed={quote(key, safe='')}", status_code=303)

    @requires("authenticated")
    async def switch_organization(request: Request) -> Response:
        if not from_this_site(request):
            return forbidden("this form only accepts posts from " + origin)
        fields = await form(request)
        try:
            token = await backend.sessions.set_active_organization(
                request.auth.session_id or "", fields.get("organization_id") or None
            )
        except NotAMember:
            return forbidden("you are not a member of that organization")
        except SessionClaimsError as exc:
            return page("Not switched", f"<p>{esc(exc)}</p>", status=400)
        # The new token already carries the organization's claims: hand it to the browser.
        response = RedirectResponse(local_path(fields.get("next")), status_code=303)
        secure = request.url.scheme == "https"
        response.headers.append("Set-Cookie", session_cookie(token, secure=secure))
        return response

    async def refused(request: Request, exc: Exception) -> Response:
        """Starlette's ``@requires`` raises a bare 403: send a signed-out visitor to the
        sign-in page (back here after it, for a page), else answer with the demo's page."""
        auth = request.auth
        if not auth.is_signed_in:
            back = f"?next={quote(request.url.path, safe='/')}" if request.method == "GET" else ""
            return RedirectResponse("/sign-in" + back, status_code=303)
        if request.url.path.startswith("/organization"):
            title = "Organization admins only"
            text = (
                "Changing roles here needs the permission <code>org:members:manage</code> "
                "in the active organization, and your session token says your role in "
                f"{esc(auth.session_claims.get('org_name'))} is "
                f"<strong>{esc(auth.org_role)}</strong>. "
                '<a href="/organization">Members</a>'
            )
        else:
            title = "Admins only"
            text = (
                "This page is for admins, and your session token says your role is "
                f"<strong>{esc(auth.session_claims.get('role'))}</strong>. An admin "
                "can promote you on this page; your next page load then shows it, without "
                'signing in again. <a href="/">Home</a>'
            )
        body = (
            f'<section id="forbidden" class="refused"><h2>{esc(title)}</h2><p>{text}</p></section>'
        )
        return await show(request, title, body, status=403)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with backend:  # open the store and keys now; close them at shutdown
            if fresh:
                await start_over(backend)
            await seed_people(backend)
            await seed_organizations(backend)
            yield

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/sign-in", sign_in_page, methods=["GET"]),
            Route("/sign-in", sign_in, methods=["POST"]),
            Route("/sign-out", sign_out, methods=["POST"]),
            Route("/admin", admin),
            Route("/admin/role", set_role, methods=["POST"]),
            Route("/organization", organization),
            Route("/organization/role", set_org_role, methods=["POST"]),
            Route("/organization/active", switch_organization, methods=["POST"]),
            Route("/favicon.ico", favicon),
            Mount("/auth", app=backend.api),  # the frontend API the page's script calls
        ],
        middleware=[Middleware(SessionClaimsMiddleware, backend=backend)],
        exception_handlers={403: refused},
        lifespan=lifespan,
    )
    app.state.backend = backend
    return app


# -- people -------------------------------------------------------------------------------
async def display_name(backend: Backend, user_id: str) -> str:
    """The person's name (the demo seeds it into public metadata), else their id."""
    try:
        user = await backend.users.get_user(user_id)
    except UserNotFound:
        return user_id
    return str(user.public_metadata.get("name") or user.external_id or user.id)


async def find_people(backend: Backend) -> dict[str, User]:
    """The demo people by external id (store reads: fine on the sign-in and admin pages)."""
    found: dict[str, User] = {}
    for key in PEOPLE:
        with contextlib.suppress(UserNotFound):
            found[key] = await backend.users.get_user_by_external_id(key)
    return found


async def seed_people(backend: Backend) -> None:
    """Create the demo people that are missing; people already there keep their roles."""
    existing = await find_people(backend)
    for key, person in PEOPLE.items():
        if key not in existing:
            await backend.users.create_user(external_id=key, public_metadata=person)


async def seed_organizations(backend: Backend) -> None:
    """Create the demo organizations and memberships that are missing; those already
    there keep their roles."""
    people = await find_people(backend)
    for slug, spec in ORGANIZATIONS.items():
        members: dict[str, str] = spec["members"]
        try:
            org = await backend.organizations.get_organization(slug)
        except OrganizationNotFound:
            creator = people[next(iter(members))]
            org = await backend.organizations.create_organization(
                spec["name"], slug=slug, created_by=creator.id
            )
        for key, role in list(members.items())[1:]:
            with contextlib.suppress(AlreadyMember):
                await backend.organizations.create_membership(org.id, people[key].id, role=role)


async def start_over(backend: Backend) -> None:
    """Delete the demo organizations and people (their sessions end with them), for the
    seeds to create them anew: a browser still signed in from before is signed out."""
    for slug in ORGANIZATIONS:
        with contextlib.suppress(OrganizationNotFound):
            org = await backend.organizations.get_organization(slug)
            await backend.organizations.delete_organization(org.id)
    for user in (await find_people(backend)).values():
        await backend.users.delete_user(user.id)


def local_path(value: str | None) -> str:
    """Where to go back after a form: a path of this site, else ``/``."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def signed_out_text(reason: str | None) -> str:
    """A sentence for a person saying why the page is signed out."""
    return SIGNED_OUT_TEXT.get(reason or "", "You are signed out.")


async def form(request: Request) -> dict[str, str]:
    """A urlencoded form (no python-multipart needed for these few fields)."""
    body = (await request.body()).decode("utf-8", "replace")
    return {name: values[0] for name, values in parse_qs(body).items()}


# -- the token the browser sent -----------------------------------------------------------
def unverified_claims(token: str | None) -> dict[str, Any] | None:
    """The payload of a JWT, decoded WITHOUT verifying anything: for display only.

    Never make a decision on this: ``request.auth`` holds the verified claims."""
    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def reissue_note(claims: Mapping[str, Any], sent_cookie: str | None) -> str:
    """Compare the verified claims with the token the browser sent in ``__session``."""
    sent = unverified_claims(sent_cookie)
    if sent is None:
        return (
            '<p id="reissue" data-reissued="true"><strong>Token minted on this request'
            "</strong>: your browser sent no <code>__session</code> cookie (it lasts as "
            "long as the token), so the middleware issued one from the refresh cookie.</p>"
        )
    if sent == dict(claims):
        return (
            '<p id="reissue" data-reissued="false">The token your browser sent is fresh: '
            "verified (or found in the verification cache), no store call.</p>"
        )
    org_role = f", role {esc(sent['org_role'])} in its organization" if "org_role" in sent else ""
    return (
        '<p id="reissue" data-reissued="true"><strong>Token reissued on this request.'
        "</strong> Your browser sent a token issued at "
        f"{esc(sent.get('iat'))} with role {esc(sent.get('role'))}, plan "
        f"{esc(sent.get('plan'))}{org_role} (decoded WITHOUT verification, only to show it "
        "here). The "
        "backend changed this person since, so the middleware signed a new token: this "
        "page already sees its claims, and the response carries it back to the browser "
        "(<code>Set-Cookie: __session</code> and <code>X-Session-Token</code>).</p>"
    )


def iso(timestamp: object) -> str:
    if not isinstance(timestamp, int):
        return "?"
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


# -- HTML ---------------------------------------------------------------------------------
def page(title: str, body: str, *, status: int = 200, header: str = "") -> HTMLResponse:
    """``body`` and ``header`` (the header's right-hand side) are HTML built by this file,
    every value in them already escaped."""
    return HTMLResponse(
        LAYOUT.substitute(title=esc(title), body=body, header=header),
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def switcher(
    organizations: list[Organization], active_id: str | None, role: str | None, path: str
) -> str:
    """The header's form that switches the active organization, with the person's role
    in the active one (from the token)."""
    if not organizations:
        return '<span class="org-switch note">No organization</span>'
    options = "".join(
        f'<option value="{esc(org.id)}"{" selected" if org.id == active_id else ""}>'
        f"{esc(org.name)}</option>"
        for org in organizations
    )
    if active_id is None:
        options = '<option value="" selected>(none)</option>' + options
    badge = f'<span id="header-org-role" class="role">{esc(role)}</span>' if role else ""
    return (
        '<form method="post" action="/organization/active" class="org-switch">'
        '<label for="org-switch" class="note">Organization</label>'
        f'<select id="org-switch" name="organization_id">{options}</select>'
        f'<input type="hidden" name="next" value="{esc(path)}">'
        f'<noscript><button id="switch-org">Switch</button></noscript>{badge}</form>'
    )


def organization_section(auth: Any) -> str:
    """The active organization and the person's role in it, from the token's claims."""
    if auth.org_id is None:
        return (
            '<p id="no-organization">No active organization: pick one in the header; the '
            "token then carries <code>org_id</code>, <code>org_slug</code>, "
            "<code>org_role</code> and <code>org_permissions</code>.</p>"
        )
    name = auth.session_claims.get("org_name")
    return (
        f'<p>organization: <strong id="org-name">{esc(name)}</strong> '
        f'(<code id="org-slug">{esc(auth.org_slug)}</code>) &middot; your role there: '
        f'<strong id="org-role">{esc(auth.org_role)}</strong></p>'
        f'<p>permissions: <span id="org-permissions">'
        f"{esc(', '.join(auth.org_permissions) or '(none)')}</span> &middot; "
        f'<a href="/organization">Members of {esc(name)}</a></p>'
    )


def forbidden(message: str) -> HTMLResponse:
    return page(
        "Refused",
        f'<section id="forbidden" class="refused"><h2>Refused</h2><p>{esc(message)}</p></section>',
        status=403,
    )


def member_row(key: str, user: User, role: str, *, manage: bool) -> str:
    buttons = "".join(
        f'<button id="org-make-{esc(option.removeprefix("org:"))}-{esc(key)}" name="role" '
        f'value="{esc(option)}"{" disabled" if role == option else ""}>make {esc(option)}'
        "</button> "
        for option in ORG_ROLES
    )
    form = (
        f'<td><form method="post" action="/organization/role">'
        f'<input type="hidden" name="person" value="{esc(key)}">{buttons}</form></td>'
        if manage
        else "<td></td>"
    )
    return (
        f"<tr><td>{esc(user.public_metadata.get('name'))}</td>"
        f'<td id="org-role-{esc(key)}">{esc(role)}</td>{form}</tr>'
    )


def org_confirmation(user: User, org_name: str, memberships: list[Membership]) -> str:
    """What an organization's admin sees after changing someone's role in it."""
    name = esc(user.public_metadata.get("name"))
    role = next((m.role for m in memberships if m.user_id == user.id), None)
    return (
        f'<p id="confirmation" class="ok" role="status"><strong>{name} is now '
        f"{esc(role)} in {esc(org_name)}.</strong> Reload {name}'s page in the other browser "
        f"window: with {esc(org_name)} active there, the next page load shows role "
        f"{esc(role)}, without signing in again.</p>"
    )


def confirmation(user: User) -> str:
    """What the admin sees after changing someone's role: done, and what to do next."""
    name = esc(user.public_metadata.get("name"))
    role = esc(user.public_metadata.get("role"))
    return (
        f'<p id="confirmation" class="ok" role="status"><strong>{name} is now {role}.</strong> '
        f"Reload {name}'s page in the other browser window: the next page load shows role "
        f"{role}, without signing in again.</p>"
    )


async def favicon(request: Request) -> Response:
    """A tiny inline icon, so browsers asking for ``/favicon.ico`` get one."""
    return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


def admin_row(key: str, user: User) -> str:
    meta = user.public_metadata
    buttons = "".join(
        f'<button id="make-{role}-{esc(key)}" name="role" value="{role}"'
        f"{' disabled' if meta.get('role') == role else ''}>make {role}</button> "
        for role in ROLES
    )
    return (
        f"<tr><td>{esc(meta.get('name'))}</td>"
        f'<td id="role-{esc(key)}">{esc(meta.get("role"))}</td><td>{esc(meta.get("plan"))}</td>'
        f'<td><form method="post" action="/admin/role">'
        f'<input type="hidden" name="user_id" value="{esc(user.id)}">{buttons}</form></td></tr>'
    )


LAYOUT = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title · sessionclaims demo</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 1rem auto;
         padding: 0 1rem; color: #1d2330; }
  header { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem;
           border-bottom: 1px solid #d6dae3; margin-bottom: 1rem; padding: .5rem 0; }
  header h1 { font-size: 1.4rem; margin: 0 auto 0 0; white-space: nowrap; }
  header form { margin: 0; flex: none; }
  .org-switch { display: flex; align-items: center; gap: .4rem; }
  select { font: inherit; padding: .15rem .3rem; max-width: 14rem; }
  .role { font-size: .8rem; background: #eef4ff; border: 1px solid #b9cdf5;
          border-radius: .3rem; padding: 0 .4rem; white-space: nowrap; }
  .refused { background: #fdecec; border: 1px solid #e6a3a3; padding: .75rem;
             border-radius: .4rem; }
  .refused h2 { margin-top: 0; }
  .ok { background: #e9f7ee; border: 1px solid #8fcca4; padding: .75rem;
        border-radius: .4rem; }
  footer { margin-top: 2rem; border-top: 1px solid #d6dae3; }
  .badge { background: #ffe08a; padding: .1rem .5rem; border-radius: .3rem;
           font-size: .8rem; font-weight: 700; }
  .warn { background: #fff6d6; border: 1px solid #e8cf78; padding: .75rem;
          border-radius: .4rem; }
  .claims { background: #eef4ff; border: 1px solid #b9cdf5; padding: .75rem;
            border-radius: .4rem; }
  .note { color: #556; font-size: .9rem; }
  code, pre { background: #f2f3f6; padding: 0 .25rem; border-radius: .2rem; }
  table { border-collapse: collapse; } td, th { padding: .3rem .8rem; text-align: left; }
  ul { list-style: none; padding: 0; } li { margin: .5rem 0; }
  button { font: inherit; padding: .2rem .7rem; cursor: pointer; }
  @media (max-width: 30rem) {
    header h1 { font-size: 1.15rem; }
    .org-switch { order: 3; flex-basis: 100%; }  /* its own row under title and Sign out */
  }
</style></head>
<body><header><h1>sessionclaims <span class="badge">DEMO</span></h1>$header</header>
<main>$body</main>
<footer><p class="note" id="start-over">The demo keeps what you do in its database between
runs. To start over (the two people and the two organizations as first seeded, nobody
signed in), stop it (Ctrl+C) and run it with <code>--fresh</code>:
<code>make demo DEMO_ARGS=--fresh</code>, or <code>sessionclaims demo --fresh</code>.</p>
</footer>
<script>
  // Switch as soon as another organization is picked (without script: the Switch button).
  const orgSwitch = document.getElementById("org-switch");
  if (orgSwitch) orgSwitch.addEventListener("change", () => orgSwitch.form.submit());
</script></body></html>
""")

FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" rx="3" fill="#1d2330"/>'
    '<text x="8" y="12" font-size="11" font-family="sans-serif" font-weight="700" '
    'text-anchor="middle" fill="#ffe08a">s</text></svg>'
)

SIGN_OUT = '<form method="post" action="/sign-out"><button id="sign-out">Sign out</button></form>'

HOME = """
<p>Signed in as <strong id="who">$name</strong>
<span class="note">(<code id="user-id">$user_id</code>)</span>. $admin_link</p>
<section class="claims">
  <h2>From the session token</h2>
  <p class="note">Read from <code>request.auth</code>: the verified token, no database
  call (the header's list of your organizations is a store read; the role shown beside
  it comes from the token).</p>
  <p>role: <strong id="role">$role</strong> &middot; plan: <strong id="plan">$plan</strong></p>
  $organization
  <p id="token-iat" data-iat="$iat">token issued at $iat ($iat_time)</p>
  $reissue
</section>
<section>
  <h2>Unsafe metadata: the person edits it</h2>
  <p class="note">Read by your browser from <code>GET /auth/v1/me</code> (a store read,
  unlike role and plan above) and saved by it with <code>PATCH /auth/v1/me</code>, which
  <em>replaces</em> unsafe metadata: the script sends <code>{...current, birthday}</code>
  so other keys survive. Anyone can change these values; never base a permission on them.</p>
  <p><label>Birthday <input id="birthday" placeholder="11-30-1969"></label>
  <button id="save-birthday" disabled>Update birthday</button>
  <span id="birthday-status" class="note"></span></p>
  <p>saved birthday: <strong id="saved-birthday">loading&hellip;</strong></p>
  <p class="note">unsafe_metadata: <code id="unsafe-metadata"></code></p>
</section>
<script>
  const ME = "/auth/v1/me";
  let current = {};
  const byId = (id) => document.getElementById(id);

  function show(user) {
    current = user.unsafe_metadata || {};
    byId("who").textContent = (user.public_metadata || {}).name || user.id;
    byId("saved-birthday").textContent = current.birthday || "(not set)";
    byId("unsafe-metadata").textContent = JSON.stringify(current);
  }

  async function me(init) {
    const response = await fetch(ME, {credentials: "same-origin", ...init});
    const body = await response.json();
    if (!response.ok) throw new Error(body.errors ? body.errors[0].message : response.status);
    return body;
  }

  me({}).then((user) => {
    show(user);
    byId("birthday").value = current.birthday || "";
    byId("save-birthday").disabled = false;
  }).catch((error) => { byId("birthday-status").textContent = String(error.message); });

  byId("save-birthday").addEventListener("click", async () => {
    const birthday = byId("birthday").value;
    byId("birthday-status").textContent = "saving...";
    try {
      show(await me({
        method: "PATCH",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({unsafe_metadata: {...current, birthday}}),
      }));
      byId("birthday-status").textContent = "saved";
    } catch (error) {
      byId("birthday-status").textContent = String(error.message);
    }
  });
</script>
"""


if __name__ == "__main__":
    URL = "http://127.0.0.1:8000"
    print(f"sessionclaims demo: open {URL}  (Ctrl+C stops it)")
    uvicorn.run(create_app(origin=URL), host="127.0.0.1", port=8000, log_level="warning")
