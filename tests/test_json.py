"""Strict JSON: every refusal, what stays allowed, and a round-trip property."""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionclaims._json import JSONError, dumps_compact, loads_strict

REFUSED: list[tuple[str, bytes | str]] = [
    ("bom-bytes", b'\xef\xbb\xbf{"a":1}'),
    ("bom-str", '\ufeff{"a":1}'),
    ("invalid-utf8", b'{"a":"\xff"}'),
    ("truncated-utf8", b'{"a":"\xc3"}'),
    ("overlong-utf8", b'{"a":"\xc0\xaf"}'),
    ("utf8-encoded-surrogate", b'{"a":"\xed\xa0\x80"}'),
    ("utf16-bytes", '{"a":1}'.encode("utf-16")),
    ("duplicate-top", '{"a":1,"a":1}'),
    ("duplicate-last-wins-bait", '{"role":"user","role":"admin"}'),
    ("duplicate-nested", '{"a":{"b":1,"c":2,"b":3}}'),
    ("duplicate-in-array", '[{"x":1},{"y":1,"y":2}]'),
    ("duplicate-after-escape", '{"a":1,"\\u0061":2}'),
    ("nan", '{"a":NaN}'),
    ("infinity", "[Infinity]"),
    ("minus-infinity", "-Infinity"),
    ("overflow-1e400", '{"exp":1e400}'),
    ("overflow-negative", "[-1e400]"),
    ("overflow-long-mantissa", "1" * 400 + ".0"),
    ("int-over-digit-limit", "9" * (sys.get_int_max_str_digits() + 1)),
    ("lone-high-surrogate", '"\\ud800"'),
    ("lone-low-surrogate", '["\\udfff"]'),
    ("lone-surrogate-in-key", '{"\\udc00":1}'),
    ("reversed-pair", '"\\ude00\\ud83d"'),
    ("literal-surrogate-in-str", '"\ud800"'),
    ("depth-65-arrays", "[" * 65 + "]" * 65),
    ("depth-65-objects", '{"a":' * 65 + "1" + "}" * 65),
    ("depth-65-mixed", '[{"a":' * 33 + "1" + "}]" * 33),
    ("unbalanced-deep", "[" * 100),
    ("trailing-data", '{"a":1} {"b":2}'),
    ("trailing-comma", "[1,2,]"),
    ("single-quotes", "{'a':1}"),
    ("control-character", '"a\nb"'),
    ("empty", ""),
    ("whitespace-only", "   "),
    ("nested-invalid-value", '{"a":[1,{"b":tru}]}'),
]


@pytest.mark.parametrize(("name", "text"), REFUSED, ids=[name for name, _ in REFUSED])
def test_refused(name: str, text: bytes | str) -> None:
    with pytest.raises(JSONError) as caught:
        loads_strict(text)
    assert str(caught.value), name
    assert caught.value.code == "malformed_json"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"\\u0000"', "\x00"),
        ('{"nul\\u0000":"x\\u0000y"}', {"nul\x00": "x\x00y"}),
        ('"\\ud83d\\ude00"', "\U0001f600"),
        ('"\\\\ud800"', "\\ud800"),
        ('"\U0001f600 é"', "\U0001f600 é"),
        ("1e308", 1e308),
        ("-0.0", -0.0),
        ("1e-400", 0.0),
        ("9" * sys.get_int_max_str_digits(), int("9" * sys.get_int_max_str_digits())),
        (' {"a" : [1, 2] } ', {"a": [1, 2]}),
        ('{"a":1,"A":2}', {"a": 1, "A": 2}),
        ('[{"a":1},{"a":2}]', [{"a": 1}, {"a": 2}]),
        ("[" * 64 + "]" * 64, json.loads("[" * 64 + "]" * 64)),
        ('{"s":"' + "[" * 1000 + '"}', {"s": "[" * 1000}),
        ('{"s":"' + '\\"[' * 100 + '"}', {"s": '"[' * 100}),
        ("null", None),
        ("true", True),
        ("42", 42),
    ],
)
def test_allowed(text: str, expected: Any) -> None:
    assert loads_strict(text) == expected
    assert loads_strict(text.encode("utf-8")) == expected


def test_bytes_like_inputs() -> None:
    assert loads_strict(bytearray(b'{"a":1}')) == {"a": 1}
    assert loads_strict(memoryview(b"[1]")) == [1]
    with pytest.raises(JSONError):
        loads_strict(42)  # type: ignore[arg-type]


def test_max_depth_is_configurable() -> None:
    assert loads_strict("[[[]]]", max_depth=3) == [[[]]]
    with pytest.raises(JSONError, match="deeper than 2"):
        loads_strict("[[[]]]", max_depth=2)
    assert loads_strict("[" * 200 + "]" * 200, max_depth=200)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        "[" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        "[1," * 100_000 + "1" + "]" * 100_000,
        "[" * 65 + '"\\' + '"\\' * 50_000,
    ],
    ids=["balanced", "unclosed", "objects", "with-values", "hostile-strings"],
)
def test_deep_nesting_is_refused_quickly_without_recursion(text: str) -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(200, len(_stack_depth())) + 100)  # a recursive parser would blow up
    try:
        started = time.perf_counter()
        with pytest.raises(JSONError):
            loads_strict(text)
        assert time.perf_counter() - started < 0.5
    finally:
        sys.setrecursionlimit(limit)


def _stack_depth() -> list[None]:
    frame, frames = sys._getframe(), []
    while frame is not None:
        frames.append(None)
        frame = frame.f_back  # type: ignore[assignment]
    return frames


def test_messages_say_what_is_wrong() -> None:
    cases = {
        '{"a":1,"a":2}': "duplicate member name 'a'",
        "[NaN]": "NaN",
        "1e999": "too large",
        '"\\ud800"': "surrogate",
        b"\xff": "UTF-8",
        "[" * 65 + "]" * 65: "deeper than 64",
        "[1,": "invalid JSON",
    }
    for text, fragment in cases.items():
        with pytest.raises(JSONError, match=fragment):
            loads_strict(text)


def test_dumps_compact() -> None:
    assert (
        dumps_compact({"a": [1, "é", None], "b": {"c": True}})
        == '{"a":[1,"é",null],"b":{"c":true}}'
    )
    with pytest.raises(ValueError):
        dumps_compact({"x": math.nan})
    with pytest.raises(ValueError):
        dumps_compact([math.inf])


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None)
@given(_JSON)
def test_round_trip(value: Any) -> None:
    text = dumps_compact(value)
    assert loads_strict(text) == value
    assert loads_strict(text.encode("utf-8")) == value
    assert json.loads(text) == value


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_json_error(data: bytes) -> None:
    with contextlib.suppress(JSONError):
        loads_strict(data)
