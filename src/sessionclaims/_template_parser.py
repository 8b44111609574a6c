"""The shortcode parser of claims templates: one claim string → text and shortcodes.

A shortcode, ``{{ a || b || 'x' }}``, is operands separated by ``||``: a path (word
characters and ``-``, joined by dots), a ``'quoted'`` string (escapes ``\\'`` and ``\\\\``
only), a JSON number, ``true`` or ``false``. Syntax errors are :class:`TemplateError` with
a 1-based ``column`` within the claim's string. What a path names, and how a part renders,
is :mod:`.templates`' job.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ._errors import TemplateError

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?(?![\w.])")
_PATH = re.compile(r"[\w-]+(?:\.[\w-]+)*")
_STRING = re.compile(r"'((?:[^'\\]|\\['\\])*)('?)")  # group 2 empty: not closed here
_ESCAPE = re.compile(r"\\(['\\])")


@dataclass(frozen=True, slots=True)
class _Operand:
    column: int  # 1-based, within the claim's string
    literal: bool
    value: Any  # the literal's value, or the path as written


_Part = str | tuple[_Operand, ...]


class _Parser:
    """Splits one claim string into text and shortcodes (tuples of operands)."""

    def __init__(self, text: str, path: str, prefix: str) -> None:
        self.text, self.path, self.prefix, self.pos = text, path, prefix, 0

    def fail(self, message: str, index: int) -> TemplateError:
        return TemplateError(f"{self.prefix}{message}", path=self.path, column=index + 1)

    def parts(self) -> list[_Part]:
        text, parts = self.text, list[_Part]()
        while True:
            start, stray = text.find("{{", self.pos), text.find("}}", self.pos)
            if stray != -1 and (start == -1 or stray < start):
                raise self.fail("'}}' without an opening '{{'", stray)
            if start == -1:
                return [*parts, text[self.pos :]] if self.pos < len(text) else parts
            if start > self.pos:
                parts.append(text[self.pos : start])
            self.pos = start + 2
            parts.append(self.shortcode(start))

    def at(self, token: str) -> bool:
        """Skip spaces; is ``token`` next?"""
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.text.startswith(token, self.pos)

    def shortcode(self, opening: int) -> tuple[_Operand, ...]:
        operands: list[_Operand] = []
        after_or: int | None = None  # where the last '||' was: a value must follow it
        while True:
            if self.at("}}") or self.at("||"):
                if after_or is not None:
                    raise self.fail("'||' must be followed by a value", after_or)
                if self.at("}}"):
                    raise self.fail("empty shortcode", opening)
                raise self.fail("'||' must follow a value", self.pos)
            if self.pos >= len(self.text):
                raise self.fail("'{{' is never closed", opening)
            operands.append(self.operand())
            if self.at("}}"):
                self.pos += 2
                return tuple(operands)
            if self.pos >= len(self.text):
                raise self.fail("'{{' is never closed", opening)
            if not self.at("||"):
                char = self.text[self.pos]
                hint = {"|": "; did you mean '||'?", "}": "; a shortcode ends with '}}'"}
                message = f"unexpected {char!r}: expected '||' or '}}}}'{hint.get(char, '')}"
                raise self.fail(message, self.pos)
            after_or, self.pos = self.pos, self.pos + 2

    def operand(self) -> _Operand:
        text, start = self.text, self.pos
        if text[start] == "'":
            match = _STRING.match(text, start)
            if match is None or not match[2]:
                stop = match.end() if match else start
                if stop < len(text):
                    raise self.fail(r"unknown escape in a string literal (only \' and \\)", stop)
                raise self.fail("string literal is never closed", start)
            self.pos = match.end()
            return _Operand(start + 1, True, _ESCAPE.sub(r"\1", match[1]))
        if text[start] == "-" or "0" <= text[start] <= "9":
            match = _NUMBER.match(text, start)
            if match is None:
                raise self.fail("malformed number", start)
            self.pos = match.end()
            number = float(match[0]) if match[1] or match[2] else int(match[0])
            if not math.isfinite(number):
                raise self.fail("number out of range", start)
            return _Operand(start + 1, True, number)
        match = _PATH.match(text, start)
        if match is None:
            raise self.fail(f"unexpected character {text[start]!r}", start)
        self.pos = match.end()
        if text.startswith(".", self.pos):
            raise self.fail("empty path segment after '.'", self.pos)
        if match[0] in ("true", "false"):
            return _Operand(start + 1, True, match[0] == "true")
        return _Operand(start + 1, False, match[0])
