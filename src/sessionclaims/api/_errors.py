"""The one place where exceptions become HTTP error responses.

Every error the API answers, whatever raised it, has the body (docs/http-api.md)::

    {"errors": [{"code": "metadata_too_large", "message": "...", "meta": {"param": "..."}}]}

=====================================  ======  ========================================
exception                              status  code
=====================================  ======  ========================================
:class:`ApiError` (raised by the API)  its own its own (``unauthorized``, ``malformed_json``...)
``InvalidRequest`` / ``MetadataError``  .status .code, with ``.meta`` (``NotAMember``: 403
                                               ``not_a_member``)
``TokenError``                         401     ``unauthorized``, ``meta.reason``
``NotFound`` (user, organization...)   404     ``resource_not_found``
``Conflict`` (slug taken...)           409     ``conflict``, ``meta.param`` when known
``StoreUnavailable``                   503     ``store_unavailable`` (a write adds
                                               "nothing was written")
Starlette's 404 / 405 (routing)        404/405 ``resource_not_found`` / ``method_not_allowed``
anything else                          500     ``internal_error`` (logged; no details sent)
=====================================  ======  ========================================

:data:`EXCEPTION_HANDLERS` registers these with the Starlette app, so a route only raises.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ExceptionHandler

from .._errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    SessionClaimsError,
    StoreUnavailable,
    TokenError,
)
from .._json import JSONError

__all__ = ["EXCEPTION_HANDLERS", "ApiError", "error_response", "response_for"]

logger = logging.getLogger("sessionclaims.api")

_HTTP_CODES: Mapping[int, str] = {
    400: "malformed_json",
    401: "unauthorized",
    404: "resource_not_found",
    405: "method_not_allowed",
    413: "request_too_large",
}
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that write nothing: their 503 says only that the store is unreachable."""
_HTTP_MESSAGES: Mapping[int, str] = {
    404: "no such path in this API; see /openapi.json",
    405: "this path does not accept this method",
    413: "the request body is over the size limit",
}


class ApiError(Exception):
    """An error answer decided by the HTTP layer itself: a missing secret key, a body
    that is not JSON, an id that cannot exist, a cookie request from the wrong Origin."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        meta: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.meta: dict[str, Any] = dict(meta or {})
        self.headers: dict[str, str] = dict(headers or {})


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    meta: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A response in the error format. A 401 always says ``WWW-Authenticate: Bearer``."""
    all_headers = {"Cache-Control": "no-store", **(headers or {})}
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", "Bearer")
    body = {"errors": [{"code": code, "message": message, "meta": dict(meta or {})}]}
    return JSONResponse(body, status_code=status, headers=all_headers)


def _from_http_exception(exc: HTTPException) -> JSONResponse:
    status = exc.status_code
    code = _HTTP_CODES.get(status, f"http_{status}")
    message = _HTTP_MESSAGES.get(status) or (
        exc.detail if isinstance(exc.detail, str) else "request refused"
    )
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
    return error_response(status, code, message, headers=headers)


def response_for(exc: BaseException, *, method: str) -> JSONResponse:
    """The error response for ``exc`` raised while answering a ``method`` request: the
    table in this module's docstring."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, meta=exc.meta, headers=exc.headers)
    if isinstance(exc, InvalidRequest):
        return error_response(exc.status, exc.code, exc.message, meta=exc.meta)
    if isinstance(exc, TokenError):
        return error_response(
            401,
            "unauthorized",
            f"the credential was refused: {exc.reason}",
            meta={"reason": exc.reason},
        )
    if isinstance(exc, NotFound):
        # Ids reach the store only after matching a strict pattern, so echoing one is safe.
        return error_response(404, exc.code, str(exc), meta={"resource": exc.kind})
    if isinstance(exc, Conflict):
        return error_response(
            409,
            "conflict",
            str(exc) or "the request conflicts with the current state of the resource",
            meta={"param": exc.param} if exc.param else None,
        )
    if isinstance(exc, StoreUnavailable):
        logger.error("store unavailable: %s", exc)
        message = "the store is unreachable"
        if method.upper() not in _READS:
            message += "; nothing was written"
        return error_response(503, "store_unavailable", message, headers={"Retry-After": "1"})
    if isinstance(exc, JSONError):
        return error_response(400, "malformed_json", f"the body is not valid JSON: {exc}")
    if isinstance(exc, HTTPException):
        return _from_http_exception(exc)
    logger.error("unexpected error in the HTTP API", exc_info=exc)
    return error_response(500, "internal_error", "internal error; the server log has details")


async def _handle(request: Request, exc: Exception) -> Response:
    return response_for(exc, method=request.method)


EXCEPTION_HANDLERS: Mapping[Any, ExceptionHandler] = {
    ApiError: _handle,
    SessionClaimsError: _handle,
    JSONError: _handle,
    HTTPException: _handle,
    Exception: _handle,
}
"""Starlette ``exception_handlers`` for the API app (``Exception`` is the last resort)."""
