"""Reading request input: bodies, their fields, path ids and query parameters.

A body is read from the ASGI stream chunk by chunk and refused with 413
``request_too_large`` as soon as it passes 64 KiB (a ``Content-Length`` over the limit is
refused before anything is read); then it is parsed with
:func:`~sessionclaims._json.loads_strict` and must be a JSON object (400
``malformed_json`` otherwise). Field checks follow, in this order:

1. frontend only: a public or private tier → 403 ``form_param_not_allowed``;
2. a tier under both its name and its alias → 422 ``ambiguous_field``;
3. any field the route does not take → 422 ``unknown_field``.

Path ids must match a strict pattern before anything looks them up (an organization may
also be named by its slug where a route says so); anything else is a 404
``resource_not_found`` that never reaches the store.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.requests import ClientDisconnect, Request

from .._json import JSONError, loads_strict
from ..backend._context import TEMPLATE_NAME
from ..metadata import ALIASES, FRONTEND_FORBIDDEN, ORGANIZATION_TIERS, TIERS, canonical_tiers
from ..models import DEFAULT_PAGE_SIZE, PAGE_SIZE_LIMIT
from ._errors import ApiError

__all__ = [
    "FRONTEND_FORBIDDEN",
    "MAX_BODY_BYTES",
    "MAX_OFFSET",
    "ORGANIZATION_TIER_FIELDS",
    "TIER_FIELDS",
    "backend_tiers",
    "forbid_frontend_tiers",
    "frontend_tiers",
    "is_id",
    "is_slug",
    "organization_tiers",
    "page_bounds",
    "path_id",
    "path_id_or_slug",
    "query_id",
    "query_int",
    "query_text",
    "query_texts",
    "read_body",
    "read_json_object",
    "reject_unknown",
    "template_name",
]

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted, in bytes (docs/http-api.md: 413 above it)."""

MAX_JSON_DEPTH = 64
"""Deepest nesting parsed at all; metadata has its own, lower limit (422 past it)."""

TIER_FIELDS: frozenset[str] = frozenset(TIERS) | frozenset(ALIASES)
"""Every spelling of a metadata tier a request may use."""


_UNSAFE_FIELDS = frozenset({"unsafe_metadata", "untrusted_metadata"})
ORGANIZATION_TIER_FIELDS: frozenset[str] = frozenset(ORGANIZATION_TIERS) | frozenset(
    alias for alias, tier in ALIASES.items() if tier in ORGANIZATION_TIERS
)
"""Every spelling of a tier an organization or a membership has (no unsafe tier)."""
_ID_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
_SLUG_RE = re.compile(r"[a-z0-9-]{1,64}")
MAX_QUERY_TEXT = 256
MAX_OFFSET = 999_999_999
"""Largest ``offset`` a listing accepts."""
_TEMPLATE_RE = TEMPLATE_NAME
_UINT_RE = re.compile(r"[0-9]{1,9}")
_DIGITS_RE = re.compile(r"[0-9]+")


def _shown(name: str) -> str:
    """A field name as quoted in a message: clients choose them, so keep them short."""
    return name if len(name) <= 64 else name[:61] + "..."


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "request_too_large", f"the request body is over the limit of {limit} bytes"
    )


async def read_body(request: Request, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refused (413) as soon as it passes ``limit`` bytes."""
    declared = (request.headers.get("content-length") or "").strip()
    if _DIGITS_RE.fullmatch(declared) and (len(declared) > 12 or int(declared) > limit):
        raise _too_large(limit)
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(
            400, "malformed_json", "the client went away before the body ended"
        ) from None
    return b"".join(chunks)


def _check_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type")
    if content_type is None:
        return
    media_type, *params = (part.strip().lower() for part in content_type.split(";"))
    charsets = [p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")]
    if media_type != "application/json" or any(c not in ("utf-8", "utf8") for c in charsets):
        raise ApiError(
            400,
            "malformed_json",
            "the body must be JSON sent as Content-Type: application/json (UTF-8)",
        )


async def read_json_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object. An empty body is ``{}`` when not ``required``."""
    raw = await read_body(request)
    if not raw and not required:
        return {}
    _check_content_type(request)
    if not raw:
        raise ApiError(400, "malformed_json", "the body must be a JSON object; it is empty")
    try:
        value = loads_strict(raw, max_depth=MAX_JSON_DEPTH)
    except JSONError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "malformed_json", f"the body must be a JSON object, not {_kind(value)}")
    return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "a number"


def reject_unknown(body: Mapping[str, Any], allowed: Collection[str]) -> None:
    """422 ``unknown_field`` (``param`` = the field) for a field the route does not take."""
    unknown = sorted(name for name in body if name not in allowed)
    if unknown:
        name = unknown[0]
        expected = ", ".join(sorted(allowed)) or "no fields"
        raise ApiError(
            422,
            "unknown_field",
            f"unknown field {_shown(name)!r}; this route takes {expected}",
            meta={"param": name},
        )


def backend_tiers(body: Mapping[str, Any], *, also: Collection[str] = ()) -> dict[str, Any]:
    """The canonical tiers of a backend write; other fields must be in ``also``."""
    tiers = canonical_tiers(body)
    reject_unknown(body, TIER_FIELDS | frozenset(also))
    return tiers


def organization_tiers(body: Mapping[str, Any], *, also: Collection[str] = ()) -> dict[str, Any]:
    """The canonical tiers of an organization or membership write (public, private); an
    unsafe tier is a 422 ``unknown_field``, like any field not in ``also``."""
    tiers = canonical_tiers(body, tiers=ORGANIZATION_TIERS)
    reject_unknown(body, ORGANIZATION_TIER_FIELDS | frozenset(also))
    return tiers


def forbid_frontend_tiers(
    body: Mapping[str, Any], *, where: str, allowed: str = "only unsafe_metadata can"
) -> None:
    """403 ``form_param_not_allowed`` when a frontend body names a public or private tier;
    the message says ``allowed`` (what the route does take)."""
    forbidden = sorted(name for name in body if name in FRONTEND_FORBIDDEN)
    if forbidden:
        name = forbidden[0]
        raise ApiError(
            403,
            "form_param_not_allowed",
            f"{name} cannot be set {where}; {allowed}. Public and private "
            "metadata are written by the backend (secret key)",
            meta={"param": name},
        )


def frontend_tiers(body: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """The unsafe tier of a frontend write (``{}`` or ``{"unsafe_metadata": ...}``).

    Public or private metadata is a 403 ``form_param_not_allowed`` before anything else
    is looked at, so such a request writes nothing, not even its unsafe part."""
    forbid_frontend_tiers(body, where=where)
    tiers = canonical_tiers(body)
    reject_unknown(body, _UNSAFE_FIELDS)
    return tiers


def path_id(request: Request, name: str, kind: str) -> str:
    """The path parameter ``name`` if it can be an id; else 404 without a store call."""
    value = request.path_params.get(name)
    if not isinstance(value, str) or _ID_RE.fullmatch(value) is None:
        raise ApiError(404, "resource_not_found", f"{kind} not found", meta={"resource": kind})
    return value


def path_id_or_slug(request: Request, name: str, kind: str) -> str:
    """The path parameter ``name`` if it can be an id or a slug; else 404 without a store
    call."""
    value = request.path_params.get(name)
    if isinstance(value, str) and _SLUG_RE.fullmatch(value) is not None:
        return value
    return path_id(request, name, kind)


def template_name(request: Request) -> str:
    """The ``{template}`` path parameter if it can be a template name; else 404."""
    value = request.path_params.get("template")
    if not isinstance(value, str) or _TEMPLATE_RE.fullmatch(value) is None:
        raise ApiError(
            404, "resource_not_found", "template not found", meta={"resource": "template"}
        )
    return value


def query_int(request: Request, name: str, *, default: int, lowest: int, highest: int) -> int:
    """An integer query parameter within bounds; 422 ``invalid_field`` otherwise."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if _UINT_RE.fullmatch(raw) is None or not lowest <= int(raw) <= highest:
        raise ApiError(
            422,
            "invalid_field",
            f"{name} must be an integer from {lowest} to {highest}",
            meta={"param": name},
        )
    return int(raw)


def query_id(request: Request, name: str) -> str | None:
    """An optional id in the query string; 422 ``invalid_field`` if it cannot be one."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if _ID_RE.fullmatch(raw) is None:
        raise ApiError(422, "invalid_field", f"{name} is not a valid id", meta={"param": name})
    return raw


def page_bounds(request: Request) -> tuple[int, int]:
    """``limit`` (1..500, default 100) and ``offset`` of a listing; 422 ``invalid_field``."""
    limit = query_int(
        request, "limit", default=DEFAULT_PAGE_SIZE, lowest=1, highest=PAGE_SIZE_LIMIT
    )
    offset = query_int(request, "offset", default=0, lowest=0, highest=MAX_OFFSET)
    return limit, offset


def query_text(request: Request, name: str, *, longest: int = MAX_QUERY_TEXT) -> str | None:
    """An optional search text given at most once: 1 to ``longest`` characters without
    NUL; 422 ``invalid_field`` otherwise."""
    values = query_texts(request, name)
    if not values:
        return None
    if len(values) > 1 or not 1 <= len(values[0]) <= longest or "\x00" in values[0]:
        raise ApiError(
            422,
            "invalid_field",
            f"give {name} once, as 1 to {longest} characters (no NUL)",
            meta={"param": name},
        )
    return values[0]


def is_slug(value: object) -> bool:
    """True when ``value`` is a string that can be a slug."""
    return isinstance(value, str) and _SLUG_RE.fullmatch(value) is not None


def query_texts(request: Request, name: str) -> list[str]:
    """Every value of the query parameter ``name``, percent-decoded as strict UTF-8; 422
    ``invalid_field`` for a value that is not UTF-8 (where Starlette's ``query_params``
    would read U+FFFD, a value nobody sent)."""
    wanted = name.encode()
    values = []
    for pair in request.scope.get("query_string", b"").split(b"&"):
        key, _, value = pair.partition(b"=")
        if unquote_to_bytes(key.replace(b"+", b" ")) != wanted:
            continue
        try:
            values.append(unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8"))
        except UnicodeDecodeError:
            raise ApiError(
                422, "invalid_field", f"{name} is not UTF-8 text", meta={"param": name}
            ) from None
    return values


def is_id(value: object) -> bool:
    """True when ``value`` is a string that can be an id."""
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None
