"""A complete login handler: find the user by your app's own id or create it, then sign in.

Call ``sign_in`` once your app has authenticated the person (OAuth callback, password,
email code: identity proofing is yours) with the id your identity provider gives them.
Safe when two logins of a new person race: one creates the user, the other gets the
409 ``ExternalIdTaken`` and reads the user the first one created.

Run it: ``SESSIONCLAIMS_SECRET_KEY=sk_test_... uvicorn examples.login_handler:app``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount

from sessionclaims import Backend, ExternalIdTaken, UserNotFound

backend = Backend(
    "sqlite:///auth.db",
    issuer="http://127.0.0.1:8000",
    session_template={"role": "{{user.public_metadata.role || 'member'}}"},
    authorized_parties=["http://127.0.0.1:8000"],
)


async def sign_in(request: Request, external_id: str) -> Response:
    """Sign in the person your app knows as ``external_id``; creates the user once."""
    try:
        user = await backend.users.get_user_by_external_id(external_id)
    except UserNotFound:
        try:
            user = await backend.users.create_user(
                external_id=external_id, public_metadata={"role": "member"}
            )
        except ExternalIdTaken:  # another login of the same person created it first
            user = await backend.users.get_user_by_external_id(external_id)
    new = await backend.sessions.create_session(user.id)
    response = RedirectResponse("/", status_code=303)
    backend.set_session_cookies(response, new, request=request)
    return response


@contextlib.asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    async with backend:  # a bad database URL stops the app here, with the store's error
        yield


app = Starlette(routes=[Mount("/auth", app=backend.api)], lifespan=lifespan)
