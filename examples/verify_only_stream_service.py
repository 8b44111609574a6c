"""A verify-only service that follows the auth server's change stream.

Like ``verify_only_service.py`` it has no database and no secret key, and a fresh token
costs it no network call. With ``changes_url=`` and a feed key it also learns of every
change the auth server makes, on its next request: a revoked session is refused, and a
token whose claims changed (a new role) is reissued through the auth server once, so
this very request already sees the new role and the response carries the new token
(``X-Session-Token``). ``/healthz`` reports the stream's lag for a health check.

Configuration (environment variables, with defaults for an auth server on port 8000 that
mounts its API at /auth and was started with ``SESSIONCLAIMS_FEED_KEYS=fk_dev_feed``):

* ``SESSIONCLAIMS_JWKS_URL``     http://127.0.0.1:8000/auth/.well-known/jwks.json
* ``SESSIONCLAIMS_CHANGES_URL``  http://127.0.0.1:8000/auth/v1/changes
* ``SESSIONCLAIMS_FEED_KEY``     fk_dev_feed (one of the auth server's feed keys)
* ``SESSIONCLAIMS_ISSUER``       http://127.0.0.1:8000 (the exact ``iss`` of the tokens)
* ``SESSIONCLAIMS_AUTHORIZED_PARTIES``  http://127.0.0.1:8000 (comma-separated)

Run: ``uvicorn verify_only_stream_service:app --port 8001``.
"""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sessionclaims import SessionClaimsMiddleware

AUTH = "http://127.0.0.1:8000"
JWKS_URL = os.environ.get("SESSIONCLAIMS_JWKS_URL", f"{AUTH}/auth/.well-known/jwks.json")
CHANGES_URL = os.environ.get("SESSIONCLAIMS_CHANGES_URL", f"{AUTH}/auth/v1/changes")
FEED_KEY = os.environ.get("SESSIONCLAIMS_FEED_KEY", "fk_dev_feed")
ISSUER = os.environ.get("SESSIONCLAIMS_ISSUER", AUTH)
AUTHORIZED_PARTIES = [
    party.strip()
    for party in os.environ.get("SESSIONCLAIMS_AUTHORIZED_PARTIES", ISSUER).split(",")
    if party.strip()
]
LAG_LIMIT = 30.0  # seconds without an event or keep-alive before /healthz says 503


async def whoami(request: Request) -> JSONResponse:
    auth = request.auth
    if not auth.is_signed_in:
        return JSONResponse({"signed_in": False, "reason": auth.reason}, status_code=401)
    return JSONResponse(
        {"signed_in": True, "user_id": auth.user_id, "role": auth.session_claims.get("role")}
    )


async def healthz(request: Request) -> JSONResponse:
    stream = app.change_stream
    assert stream is not None
    lag = stream.lag
    healthy = stream.live and lag < LAG_LIMIT
    return JSONResponse(
        {
            "live": stream.live,
            "lag_seconds": round(lag, 3) if lag != float("inf") else None,
            "last_event_id": stream.last_event_id,
            "events_applied": stream.events_applied,
            "network_calls": app.network_calls,
        },
        status_code=200 if healthy else 503,
    )


service = Starlette(routes=[Route("/whoami", whoami), Route("/healthz", healthz)])

# The middleware wraps the app directly so that /healthz can read ``app.change_stream``.
# It starts following the stream with the lifespan (or the first request) and stops on
# lifespan shutdown.
app = SessionClaimsMiddleware(
    service,
    jwks_url=JWKS_URL,
    issuer=ISSUER,
    authorized_parties=AUTHORIZED_PARTIES,
    changes_url=CHANGES_URL,
    feed_key=FEED_KEY,
)
