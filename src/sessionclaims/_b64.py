"""Strict base64url (RFC 4648 §5, no padding), as JOSE requires (RFC 7515 §2).

Strict means: only the alphabet ``[A-Za-z0-9_-]``; no ``=`` padding, no whitespace; a
length that is not ``1`` modulo 4; and a canonical last character, whose unused low bits
are zero. Without the last rule several strings decode to the same bytes, so a token could
be altered without touching its signature.

The checks are done with a compiled regular expression and set lookups, never with a
Python loop over the characters, because they sit on the path of every token verified.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["ALPHABET_RE", "b64url_decode", "b64url_encode", "decode_checked", "is_canonical"]

#: The whole string is made of base64url characters (may be empty). Use ``fullmatch``.
ALPHABET_RE = re.compile(r"[A-Za-z0-9_-]*")

# Last character allowed when the length is 2 (resp. 3) modulo 4: its value must be a
# multiple of 16 (resp. 4), i.e. the bits that do not belong to any byte are zero.
_LAST_OF_2 = frozenset("AQgw")
_LAST_OF_3 = frozenset("AEIMQUYcgkosw048")
_PADDING = ("", "", "==", "=")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def is_canonical(segment: str) -> bool:
    """Whether ``segment`` (already known to use the alphabet) has a valid length and last char.

    A length of 1 modulo 4 cannot encode whole bytes; for lengths of 2 or 3 modulo 4 the
    last character must not carry bits beyond the encoded bytes.
    """
    remainder = len(segment) & 3
    if remainder == 0:
        return True
    if remainder == 2:
        return segment[-1] in _LAST_OF_2
    if remainder == 3:
        return segment[-1] in _LAST_OF_3
    return False


def decode_checked(segment: str) -> bytes:
    """Decode a segment that already passed ``ALPHABET_RE`` and :func:`is_canonical`."""
    data = segment.encode("ascii").translate(_FROM_URLSAFE)
    return binascii.a2b_base64(data + _PADDING[len(segment) & 3].encode("ascii"))


def b64url_decode(value: str | bytes) -> bytes:
    """Decode strict base64url; raise ``ValueError`` saying what is wrong otherwise."""
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError("base64url must be ASCII") from None
    if not isinstance(value, str):
        raise ValueError(f"base64url must be a string, not {type(value).__name__}")
    if ALPHABET_RE.fullmatch(value) is None:
        raise ValueError(
            "base64url may only use A-Z, a-z, 0-9, '-' and '_' (no padding, no whitespace)"
        )
    if not is_canonical(value):
        raise ValueError("base64url has an impossible length or non-zero trailing bits")
    return decode_checked(value)


def b64url_encode(data: bytes) -> str:
    """Encode bytes as base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
