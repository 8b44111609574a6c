"""Reading a request's credentials: the one parser of the ``Authorization`` header and the
one parser of the ``Cookie`` header. The middleware, the HTTP API and the verify-only
paths all read credentials through these functions.

The ``Bearer`` scheme is matched case-insensitively (RFC 7235, section 2.1): ``bearer``,
``BEARER`` and ``BeArEr`` are the same scheme. Everything after the scheme and its
spaces is the credential; a blank one counts as absent.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "bearer_credential",
    "bearer_value",
    "is_bearer",
    "parse_cookies",
    "request_cookies",
]

_SCHEME = b"bearer "


def is_bearer(value: bytes) -> bool:
    """True when an ``Authorization`` value uses the Bearer scheme with a non-blank
    credential (the scheme in any letter case)."""
    if len(value) <= 7 or not (value.startswith(b"Bearer ") or value[:7].lower() == _SCHEME):
        return False
    # A last byte that is not blank proves the credential is not blank, without a copy.
    return value[-1] not in b" \t" or bool(value[7:].strip())


def bearer_value(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The first ``Authorization`` header value that is a Bearer credential, whole
    (scheme included); ``None`` when there is none."""
    for name, value in headers:
        if name == b"authorization" and is_bearer(value):
            return value
    return None


def bearer_credential(value: bytes) -> str:
    """The credential of an ``Authorization`` value that :func:`is_bearer` accepted."""
    return value[7:].strip().decode("latin-1")


def parse_cookies(header: bytes | str) -> dict[str, str]:
    """Cookie header -> dict; the first occurrence of a name wins, malformed pairs are
    skipped, a value in double quotes loses its quotes."""
    text = header.decode("latin-1") if isinstance(header, bytes) else header
    cookies: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if not sep:
            continue
        name = name.strip()
        if name and name not in cookies:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            cookies[name] = value
    return cookies


def request_cookies(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Every ``Cookie`` header of a request, parsed as one."""
    joined = b"; ".join(value for name, value in headers if name == b"cookie")
    return parse_cookies(joined) if joined else {}
