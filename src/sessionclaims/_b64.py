"""Strict base64url (RFC 4648 §5, no padding), as JOSE requires (RFC 7515 §2).

Strict means: only the alphabet ``[A-Za-z0-9_-]``; no ``=`` padding, no whitespace; a
length that is not ``1`` modulo 4; and a canonical last character, whose unused low bits
are zero. Without the last rule several strings decode to the same bytes, so a token could
be altered without touching its signature.

The checks are done with ``bytes.translate``, strict ``binascii``, a compiled regular
expression and set lookups, never with a Python loop over the characters: they sit on the
path of every token verified. The token path (:mod:`._jws`) translates a whole token once
with :data:`TO_STANDARD` and checks each part with :func:`is_canonical` and
:data:`PADDING`; :func:`b64url_decode` checks and decodes one ``str`` value.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = [
    "LAST_CHARACTERS",
    "PADDING",
    "TO_STANDARD",
    "b64url_decode",
    "b64url_encode",
    "is_canonical",
]

_ALPHABET_RE = re.compile(r"[A-Za-z0-9_-]*")

# Last character allowed when the length is 2 (resp. 3) modulo 4: its value must be a
# multiple of 16 (resp. 4), i.e. the bits that do not belong to any byte are zero.
_LAST_OF_2 = frozenset(b"AQgw")
_LAST_OF_3 = frozenset(b"AEIMQUYcgkosw048")
#: The ``=`` padding that completes a part of each length modulo 4 (1 is impossible).
PADDING = (b"", b"", b"==", b"=")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
#: The allowed last characters of a part, by its length modulo 4: None (any), nothing
#: (length 1 is impossible), or the characters that leave the unused low bits zero. None of
#: them is ``-``, ``_``, ``+`` or ``/``, so they apply before and after :data:`TO_STANDARD`.
LAST_CHARACTERS: tuple[frozenset[int] | None, ...] = (
    None,
    frozenset(),
    _LAST_OF_2,
    _LAST_OF_3,
)


def _standard_table() -> bytes:
    table = bytearray(b"!" * 256)
    for byte in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.":
        table[byte] = byte
    table[ord("-")], table[ord("_")] = ord("+"), ord("/")
    return bytes(table)


#: ``token.translate(TO_STANDARD)`` turns a compact JWS into standard base64 parts joined by
#: ``.`` in one pass: ``-`` and ``_`` become ``+`` and ``/``, and every byte that has no
#: place in a compact JWS (``+``, ``/``, ``=``, whitespace, controls...) becomes ``!``,
#: which ``binascii.a2b_base64(..., strict_mode=True)`` refuses. So strict decoding of each
#: part checks the alphabet, and no byte outside it can be decoded by accident.
TO_STANDARD = _standard_table()


def is_canonical(segment: bytes) -> bool:
    """Whether ``segment`` (already known to use the alphabet) has a valid length and last char.

    A length of 1 modulo 4 cannot encode whole bytes; for lengths of 2 or 3 modulo 4 the
    last character must not carry bits beyond the encoded bytes (:data:`LAST_CHARACTERS`).
    """
    last = LAST_CHARACTERS[len(segment) & 3]
    return last is None or segment[-1] in last


def b64url_decode(value: str | bytes) -> bytes:
    """Decode strict base64url; raise ``ValueError`` saying what is wrong otherwise."""
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError("base64url must be ASCII") from None
    if not isinstance(value, str):
        raise ValueError(f"base64url must be a string, not {type(value).__name__}")
    if _ALPHABET_RE.fullmatch(value) is None:
        raise ValueError(
            "base64url may only use A-Z, a-z, 0-9, '-' and '_' (no padding, no whitespace)"
        )
    data = value.encode("ascii")
    if not is_canonical(data):
        raise ValueError("base64url has an impossible length or non-zero trailing bits")
    return binascii.a2b_base64(data.translate(_FROM_URLSAFE) + PADDING[len(data) & 3])


def b64url_encode(data: bytes) -> str:
    """Encode bytes as base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
