"""Strict JSON for untrusted input (token headers and payloads, HTTP request bodies).

:func:`loads_strict` accepts exactly the JSON texts of RFC 8259 that have a single meaning
and can be processed safely, and refuses everything else with :class:`JSONError`:

- bytes that are not UTF-8, or that start with a byte order mark;
- duplicate member names in any object, at any depth (parsers disagree on which one wins,
  which is how a payload can mean one thing to a verifier and another to an application);
- ``NaN``, ``Infinity`` and ``-Infinity``, and numbers that overflow to infinity (``1e400``);
- integers longer than Python's int-from-string limit;
- nesting deeper than ``max_depth``, checked before parsing by a pre-scan that neither
  recurses nor loops over characters in Python;
- lone UTF-16 surrogates (``"\\ud800"``) in strings or names: they cannot be encoded as
  UTF-8, so such a value would fail later, far from here.

``\\u0000`` is allowed. No other exception (``RecursionError``, ``UnicodeError``,
``OverflowError``) ever escapes.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from typing import Any, NoReturn, cast

__all__ = ["JSONError", "dumps_compact", "loads_strict"]


class JSONError(ValueError):
    """The text is not strict JSON. The message says what is wrong."""

    code = "malformed_json"


_BOM = b"\xef\xbb\xbf"
# An escape that may produce a surrogate in a parsed string (\uD800-\uDFFF). Only a
# trigger: a match makes loads_strict inspect the parsed strings, where a valid escaped
# pair has become one character. (Its literal prefix keeps the search fast.)
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
# A string literal, up to its closing quote or, if unterminated, to the end of the text, so
# that removing every string is linear even on hostile input (possessive quantifiers).
_STRING_RE = re.compile(r'"(?:[^"\\]++|\\[\s\S]?)*+(?:"|\Z)')
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]++")


def _refuse(message: str) -> NoReturn:
    raise JSONError(message)


def _refuse_constant(name: str) -> NoReturn:
    raise JSONError(f"{name} is not allowed in JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        shown = text if len(text) <= 32 else text[:29] + "..."
        raise JSONError(f"number {shown} is too large (it overflows to infinity)")
    return value


def _object_from_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                shown = name if len(name) <= 64 else name[:61] + "..."
                raise JSONError(f"duplicate member name {shown!r}")
            seen.add(name)
    return obj


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_from_pairs,
    parse_float=_parse_float,
    parse_constant=_refuse_constant,
)
# The decoder's C scanner (an attribute typeshed does not declare): (text, index) -> (value, end).
_SCAN_ONCE: Callable[[str, int], tuple[Any, int]] = cast(Any, _DECODER).scan_once
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@functools.lru_cache(maxsize=8)
def _opening_run(length: int) -> re.Pattern[str]:
    return re.compile(r"\[{" + str(length) + "}")


def _check_depth(text: str, max_depth: int) -> None:
    """Refuse ``text`` if its arrays and objects nest deeper than ``max_depth``.

    The caller skips this when there are no more opening brackets than ``max_depth`` (the
    depth cannot exceed their number). Here strings are removed and the remaining brackets
    reduced by deleting innermost ``[]`` pairs, one level per pass: after ``d`` passes a
    text nested ``d`` deep is empty. A pass that removes nothing means unbalanced brackets,
    which is not JSON either. A run
    of ``max_depth + 1`` opening brackets ends the scan at once (the usual attack shape).
    """
    brackets = _NOT_BRACKET_RE.sub("", _STRING_RE.sub("", text))
    brackets = brackets.replace("{", "[").replace("}", "]")
    too_deep = _opening_run(max_depth + 1)
    for _ in range(max_depth + 1):
        if not brackets:
            return
        if too_deep.search(brackets) is not None:
            break
        reduced = brackets.replace("[]", "")
        if len(reduced) == len(brackets):
            _refuse("unbalanced brackets")
        brackets = reduced
    _refuse(f"arrays and objects nest deeper than {max_depth} levels")


def _check_no_surrogates(value: Any) -> None:
    """Refuse lone surrogates in any string or member name of a parsed value (no recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE_RE.search(item) is not None:
                _refuse("a string contains a lone UTF-16 surrogate (\\ud800-\\udfff)")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _text(data: object) -> str:
    """The text of anything but ``bytes`` (:func:`_utf8`, the path of every token)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return _utf8(bytes(data))
    if isinstance(data, str):
        if data.startswith("\ufeff"):
            _refuse("JSON must not start with a byte order mark")
        if not data.isascii() and _SURROGATE_RE.search(data) is not None:
            _refuse("JSON text contains a lone UTF-16 surrogate: it is not valid Unicode")
        return data
    raise JSONError(f"JSON must be bytes or str, not {type(data).__name__}")


def _utf8(data: bytes) -> str:
    if data.startswith(_BOM):
        _refuse("JSON must not start with a byte order mark")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONError(f"JSON is not valid UTF-8 (byte {exc.start})") from None


def loads_strict(data: bytes | str, *, max_depth: int = 64) -> Any:
    """Parse one strict JSON text; raise :class:`JSONError` for anything refused (see module)."""
    text = _utf8(data) if type(data) is bytes else _text(data)
    if text.count("[") + text.count("{") > max_depth:
        _check_depth(text, max_depth)
    try:
        # The decoder's C scanner itself; decode() only for what it cannot finish alone
        # (surrounding whitespace, trailing data, nothing at all), for its exact error.
        try:
            value, end = _SCAN_ONCE(text, 0)
        except StopIteration:
            end = -1
        if end != len(text):
            value = _DECODER.decode(text)
    except JSONError:
        raise
    except json.JSONDecodeError as exc:
        raise JSONError(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (ValueError, RecursionError, OverflowError) as exc:
        # int-from-str limit (ValueError), or a max_depth set above the interpreter's limit.
        raise JSONError(f"invalid JSON: {exc}") from None
    if "\\u" in text and _SURROGATE_ESCAPE_RE.search(text) is not None:
        _check_no_surrogates(value)
    return value


def dumps_compact(value: Any, *, default: Callable[[Any], Any] | None = None) -> str:
    """Serialize to compact JSON: no spaces, UTF-8 characters kept, NaN/Infinity refused.
    The one compact form (tokens, stored metadata, sizes, template text); ``default``
    turns other objects into JSON values, as in :func:`json.dumps`."""
    if default is None:
        return _ENCODER.encode(value)
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=default
    )
