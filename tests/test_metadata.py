"""The metadata rules (metadata.md): tiers, aliases, merge / replace, limits."""

from __future__ import annotations

import copy
import json
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionclaims._errors import ConfigurationError, MetadataError
from sessionclaims.metadata import (
    ALIASES,
    ORGANIZATION_TIERS,
    TIERS,
    MetadataLimits,
    apply_metadata,
    canonical_tiers,
    check_tier,
    merge_tier,
    metadata_size,
)

from .vector_files import METADATA_MERGE, load_json

DEFAULT = MetadataLimits()
EMPTY: dict[str, dict[str, Any]] = {tier: {} for tier in TIERS}


def _merge_cases() -> list[Any]:
    cases = load_json(METADATA_MERGE)["cases"]
    assert cases, f"{METADATA_MERGE} holds no case"
    return [pytest.param(case, id=case["name"]) for case in cases]


def _dumped(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _nested(depth: int) -> dict[str, Any]:
    """A tier of exactly ``depth`` levels (the tier object is level 1), built iteratively."""
    tier: dict[str, Any] = {}
    inner: dict[str, Any] | list[Any] = tier
    for level in range(depth - 1):
        child: dict[str, Any] | list[Any] = [] if level % 2 else {}
        if isinstance(inner, dict):
            inner["k"] = child
        else:
            inner.append(child)
        inner = child
    return tier


def _error(excinfo: pytest.ExceptionInfo[MetadataError]) -> tuple[str, str | None, int]:
    return excinfo.value.code, excinfo.value.param, excinfo.value.status


# --- the seed's vectors ------------------------------------------------------------------


@pytest.mark.parametrize("case", _merge_cases())
def test_vectors_through_merge_tier(case: dict[str, Any]) -> None:
    initial, update = copy.deepcopy(case["initial"]), copy.deepcopy(case["update"])
    assert merge_tier(initial, update) == case["result"]
    assert (initial, update) == (case["initial"], case["update"])


@pytest.mark.parametrize("case", _merge_cases())
def test_vectors_through_apply_metadata(case: dict[str, Any]) -> None:
    changes = canonical_tiers({case["tier"]: case["update"], "external_id": "ignored"})
    tier = ALIASES.get(case["tier"], case["tier"])
    assert list(changes) == [tier]
    current = {**EMPTY, tier: case["initial"]}
    result = apply_metadata(current, changes, mode="merge", limits=DEFAULT)
    assert result == {**EMPTY, tier: case["result"]}


# --- canonical_tiers ----------------------------------------------------------------------


def test_canonical_tiers_maps_aliases_and_ignores_other_fields() -> None:
    fields = {"trusted_metadata": {"a": 1}, "private_metadata": {}, "untrusted_metadata": None}
    assert canonical_tiers({**fields, "name": "x"}) == {
        "public_metadata": {"a": 1},
        "private_metadata": {},
        "unsafe_metadata": None,
    }
    assert canonical_tiers({"public_metadata": 1, "unsafe_metadata": 2}) == {
        "public_metadata": 1,
        "unsafe_metadata": 2,
    }
    assert canonical_tiers({"email": "a@example.com"}) == {}


@pytest.mark.parametrize(("canonical", "alias"), sorted((v, k) for k, v in ALIASES.items()))
def test_canonical_and_alias_together_is_ambiguous(canonical: str, alias: str) -> None:
    with pytest.raises(MetadataError) as excinfo:
        canonical_tiers({canonical: {}, alias: {}})
    assert _error(excinfo) == ("ambiguous_field", alias, 422)
    assert canonical in excinfo.value.message
    assert alias in excinfo.value.message
    assert excinfo.value.meta == {"param": alias}


@pytest.mark.parametrize("name", ["unsafe_metadata", "untrusted_metadata"])
def test_organization_tiers_refuse_the_unsafe_tier_by_name(name: str) -> None:
    with pytest.raises(MetadataError) as excinfo:
        canonical_tiers({"public_metadata": {}, name: {}}, tiers=ORGANIZATION_TIERS)
    assert _error(excinfo) == ("unknown_field", name, 422)
    assert "public_metadata (alias trusted_metadata), private_metadata" in excinfo.value.message


def test_organization_tiers_take_the_trusted_alias() -> None:
    fields = {"trusted_metadata": {"plan": "pro"}, "private_metadata": {"crm": 7}, "name": "x"}
    assert canonical_tiers(fields, tiers=ORGANIZATION_TIERS) == {
        "public_metadata": {"plan": "pro"},
        "private_metadata": {"crm": 7},
    }


def test_apply_metadata_over_organization_tiers_returns_just_those() -> None:
    current = {"public_metadata": {"a": 1}, "private_metadata": {"b": 2}}
    result = apply_metadata(
        current,
        {"public_metadata": {"c": 3}},
        mode="merge",
        limits=DEFAULT,
        tiers=ORGANIZATION_TIERS,
    )
    assert result == {"public_metadata": {"a": 1, "c": 3}, "private_metadata": {"b": 2}}
    with pytest.raises(MetadataError) as excinfo:
        apply_metadata(
            current, {"unsafe_metadata": {}}, mode="merge", limits=DEFAULT, tiers=ORGANIZATION_TIERS
        )
    assert _error(excinfo)[0] == "invalid_metadata"


def test_private_metadata_has_no_alias() -> None:
    assert "private_metadata" not in ALIASES.values()
    assert canonical_tiers({"trusted_private_metadata": {}}) == {}


# --- merge_tier ---------------------------------------------------------------------------


def test_merge_replaces_top_level_values_whole_and_keeps_order() -> None:
    stored = {"a": {"x": 1, "y": 2}, "b": [1, 2], "c": 3}
    merged = merge_tier(stored, {"a": {"y": 5}, "b": [3], "d": 4, "c": None})
    assert merged == {"a": {"y": 5}, "b": [3], "d": 4}
    assert list(merged) == ["a", "b", "d"]
    assert stored == {"a": {"x": 1, "y": 2}, "b": [1, 2], "c": 3}


def test_merge_with_falsy_values_sets_them() -> None:
    assert merge_tier({"a": 1}, {"a": False, "b": 0, "c": "", "d": [], "e": {}}) == {
        "a": False,
        "b": 0,
        "c": "",
        "d": [],
        "e": {},
    }


def test_merge_accepts_read_only_mappings() -> None:
    stored = MappingProxyType({"a": 1})
    assert merge_tier(stored, MappingProxyType({"b": 2})) == {"a": 1, "b": 2}


# --- check_tier ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [[], "text", 3, None, 1.5, True])
def test_a_tier_must_be_an_object(value: Any) -> None:
    with pytest.raises(MetadataError) as excinfo:
        check_tier("unsafe_metadata", value, DEFAULT)
    assert _error(excinfo) == ("invalid_metadata", "unsafe_metadata", 422)
    assert "must be a JSON object" in excinfo.value.message


def test_key_count_limit() -> None:
    check_tier("public_metadata", {f"k{i}": i for i in range(20)}, DEFAULT)
    with pytest.raises(MetadataError) as excinfo:
        check_tier("public_metadata", {f"k{i}": i for i in range(21)}, DEFAULT)
    assert _error(excinfo) == ("metadata_too_many_keys", "public_metadata", 422)
    assert excinfo.value.message == "public_metadata has 21 top-level keys; the limit is 20"


def test_nested_keys_do_not_count_towards_the_key_limit() -> None:
    check_tier("public_metadata", {"a": {f"k{i}": i for i in range(100)}}, DEFAULT)


def test_size_limit_counts_compact_utf8_bytes() -> None:
    overhead = len(_dumped({"k": ""}))
    check_tier("public_metadata", {"k": "x" * (4096 - overhead)}, DEFAULT)
    check_tier("public_metadata", {"k": "é" * ((4096 - overhead) // 2)}, DEFAULT)
    with pytest.raises(MetadataError) as excinfo:
        check_tier("public_metadata", {"k": "x" * (5120 - overhead)}, DEFAULT)
    assert _error(excinfo) == ("metadata_too_large", "public_metadata", 422)
    assert excinfo.value.message == "public_metadata is 5120 bytes; the limit is 4096"
    with pytest.raises(MetadataError, match="4098 bytes") as excinfo:
        check_tier("private_metadata", {"k": "é" * ((4096 - overhead) // 2 + 1)}, DEFAULT)
    assert excinfo.value.param == "private_metadata"


def test_depth_limit_counts_the_tier_as_level_one() -> None:
    check_tier("public_metadata", _nested(16), DEFAULT)
    check_tier("public_metadata", {}, MetadataLimits(max_depth=1))
    check_tier("public_metadata", {"a": 1}, MetadataLimits(max_depth=1))
    with pytest.raises(MetadataError) as excinfo:
        check_tier("public_metadata", {"a": []}, MetadataLimits(max_depth=1))
    assert _error(excinfo) == ("metadata_too_deep", "public_metadata", 422)
    with pytest.raises(MetadataError) as excinfo:
        check_tier("public_metadata", _nested(17), DEFAULT)
    assert _error(excinfo) == ("metadata_too_deep", "public_metadata", 422)
    assert "at most 16 levels" in excinfo.value.message


def test_hostile_depth_and_cycles_are_refused_without_recursion() -> None:
    with pytest.raises(MetadataError) as excinfo:
        check_tier("unsafe_metadata", _nested(200_000), DEFAULT)
    assert excinfo.value.code == "metadata_too_deep"
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    with pytest.raises(MetadataError) as excinfo:
        check_tier("unsafe_metadata", cyclic, DEFAULT)
    assert excinfo.value.code == "metadata_too_deep"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({1: "a"}, "keys must be strings"),
        ({"a": {"b": {2: 1}}}, "public_metadata.a.b has the key 2"),
        ({"a": float("nan")}, "finite"),
        ({"a": [1, float("inf")]}, "public_metadata.a[1]"),
        ({"a": {1, 2}}, "set"),
        ({"a": b"bytes"}, "bytes"),
        ({"a": object()}, "not a JSON value"),
        ({"a": "\ud800"}, "lone surrogate"),
        ({"\udfff": 1}, "lone surrogate"),
        ({"a": [{"b": "ok\udc80"}]}, "public_metadata.a[0].b"),
    ],
)
def test_values_must_be_json(value: Any, fragment: str) -> None:
    with pytest.raises(MetadataError) as excinfo:
        check_tier("public_metadata", value, DEFAULT)
    assert _error(excinfo) == ("invalid_metadata", "public_metadata", 422)
    assert fragment in excinfo.value.message


def test_json_values_of_every_kind_are_accepted() -> None:
    value = {
        "s": "ü",
        "i": -(2**60),
        "f": 1.5,
        "t": True,
        "n": None,
        "l": [1, "a", None, [], {}],
        "tuple": (1, 2),
        "o": MappingProxyType({"x": {"y": [False]}}),
    }
    check_tier("public_metadata", value, DEFAULT)


def test_key_count_is_checked_before_contents() -> None:
    with pytest.raises(MetadataError) as excinfo:
        check_tier("public_metadata", {f"k{i}": object() for i in range(21)}, DEFAULT)
    assert excinfo.value.code == "metadata_too_many_keys"


def test_configurable_limits() -> None:
    limits = MetadataLimits(max_keys=2, max_bytes=20, max_depth=2)
    check_tier("public_metadata", {"a": [1], "b": 2}, limits)
    for value, code in [
        ({"a": 1, "b": 2, "c": 3}, "metadata_too_many_keys"),
        ({"a": "x" * 20}, "metadata_too_large"),
        ({"a": [[1]]}, "metadata_too_deep"),
    ]:
        with pytest.raises(MetadataError) as excinfo:
            check_tier("public_metadata", value, limits)
        assert excinfo.value.code == code
    check_tier("public_metadata", {f"k{i}": i for i in range(50)}, MetadataLimits(max_keys=50))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_keys": 0},
        {"max_keys": True},
        {"max_bytes": 1},
        {"max_bytes": 4096.0},
        {"max_depth": 0},
        {"max_depth": 257},
    ],
)
def test_limits_are_validated(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(kwargs))):
        MetadataLimits(**kwargs)


def test_default_limits() -> None:
    assert (DEFAULT.max_keys, DEFAULT.max_bytes, DEFAULT.max_depth) == (20, 4096, 16)


def test_metadata_size() -> None:
    assert metadata_size({}) == 2
    assert metadata_size({"é": [1, 2.5, None, True]}) == len(_dumped({"é": [1, 2.5, None, True]}))
    assert metadata_size({"a": MappingProxyType({"b": (1,)})}) == len(b'{"a":{"b":[1]}}')
    with pytest.raises(MetadataError) as excinfo:
        metadata_size({"a": object()})
    assert excinfo.value.code == "invalid_metadata"


# --- apply_metadata -----------------------------------------------------------------------


def test_merge_and_replace_modes() -> None:
    current = {
        "public_metadata": {"role": "member", "plan": "free"},
        "private_metadata": {"stripe": "cus_1"},
        "unsafe_metadata": {"theme": "dark"},
    }
    merged = apply_metadata(
        current,
        {"public_metadata": {"role": "admin"}, "unsafe_metadata": {"theme": None}},
        mode="merge",
        limits=DEFAULT,
    )
    assert merged == {
        "public_metadata": {"role": "admin", "plan": "free"},
        "private_metadata": {"stripe": "cus_1"},
        "unsafe_metadata": {},
    }
    replaced = apply_metadata(
        current,
        {"public_metadata": {"role": "admin", "gone": None}, "private_metadata": {}},
        mode="replace",
        limits=DEFAULT,
    )
    assert replaced == {
        "public_metadata": {"role": "admin", "gone": None},
        "private_metadata": {},
        "unsafe_metadata": {"theme": "dark"},
    }


def test_missing_current_tiers_count_as_empty() -> None:
    result = apply_metadata({}, {"unsafe_metadata": {"a": 1}}, mode="merge", limits=DEFAULT)
    assert result == {"public_metadata": {}, "private_metadata": {}, "unsafe_metadata": {"a": 1}}


@pytest.mark.parametrize("mode", ["merge", "replace"])
@pytest.mark.parametrize("patch", [None, [], "x", 1])
def test_the_patch_itself_must_be_an_object(mode: Any, patch: Any) -> None:
    with pytest.raises(MetadataError) as excinfo:
        apply_metadata(EMPTY, {"private_metadata": patch}, mode=mode, limits=DEFAULT)
    assert _error(excinfo) == ("invalid_metadata", "private_metadata", 422)


def test_unknown_tier_and_mode_are_refused() -> None:
    with pytest.raises(MetadataError) as excinfo:
        apply_metadata(EMPTY, {"trusted_metadata": {}}, mode="merge", limits=DEFAULT)
    assert _error(excinfo) == ("invalid_metadata", "trusted_metadata", 422)
    with pytest.raises(ValueError, match="mode"):
        apply_metadata(EMPTY, {}, mode="upsert", limits=DEFAULT)  # type: ignore[arg-type]


def test_limits_apply_to_the_result_not_the_patch() -> None:
    full = {f"k{i}": i for i in range(20)}
    current = {**EMPTY, "public_metadata": full}
    swap = {"k0": None, "new": 1}
    result = apply_metadata(current, {"public_metadata": swap}, mode="merge", limits=DEFAULT)
    assert len(result["public_metadata"]) == 20
    assert "new" in result["public_metadata"]
    with pytest.raises(MetadataError) as excinfo:
        apply_metadata(current, {"public_metadata": {"new": 1}}, mode="merge", limits=DEFAULT)
    assert excinfo.value.code == "metadata_too_many_keys"
    deletions = {f"gone{i}": None for i in range(30)}
    result = apply_metadata(EMPTY, {"unsafe_metadata": deletions}, mode="merge", limits=DEFAULT)
    assert result["unsafe_metadata"] == {}
    big = {"blob": "x" * 4000}
    with pytest.raises(MetadataError) as excinfo:
        apply_metadata(
            {**EMPTY, "public_metadata": big},
            {"public_metadata": {"more": "y" * 200}},
            mode="merge",
            limits=DEFAULT,
        )
    assert excinfo.value.code == "metadata_too_large"
    shrink = {"blob": None, "more": "y" * 200}
    apply_metadata(
        {**EMPTY, "public_metadata": big}, {"public_metadata": shrink}, mode="merge", limits=DEFAULT
    )


def test_a_failing_tier_fails_the_whole_write_and_mutates_nothing() -> None:
    current = {**EMPTY, "public_metadata": {"a": [1]}}
    snapshot = copy.deepcopy(current)
    changes = {"public_metadata": {"b": 2}, "unsafe_metadata": {"x": float("nan")}}
    with pytest.raises(MetadataError) as excinfo:
        apply_metadata(current, changes, mode="merge", limits=DEFAULT)
    assert excinfo.value.param == "unsafe_metadata"
    assert current == snapshot


def test_the_result_shares_nothing_with_the_inputs() -> None:
    current = {**EMPTY, "public_metadata": {"keep": {"x": [1]}}}
    patch = {"new": {"y": [2]}}
    result = apply_metadata(current, {"public_metadata": patch}, mode="merge", limits=DEFAULT)
    result["public_metadata"]["keep"]["x"].append(99)
    result["public_metadata"]["new"]["y"].append(99)
    assert current["public_metadata"] == {"keep": {"x": [1]}}
    assert patch == {"new": {"y": [2]}}


def test_read_only_mappings_and_tuples_come_back_as_plain_json() -> None:
    patch = MappingProxyType({"a": MappingProxyType({"b": (1, 2)})})
    result = apply_metadata(EMPTY, {"public_metadata": patch}, mode="replace", limits=DEFAULT)
    assert result["public_metadata"] == {"a": {"b": [1, 2]}}
    assert type(result["public_metadata"]["a"]) is dict
    assert type(result["public_metadata"]["a"]["b"]) is list


# --- properties ---------------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
_tiers = st.dictionaries(st.text(max_size=6), _values, max_size=8)
_SMALL = MetadataLimits(max_keys=6, max_bytes=160, max_depth=3)


@settings(max_examples=60, deadline=None)
@given(_tiers)
def test_merging_nothing_is_the_identity(stored: dict[str, Any]) -> None:
    assert merge_tier(stored, {}) == stored


@settings(max_examples=60, deadline=None)
@given(_tiers, _tiers)
def test_merge_then_delete_restores_the_original(
    stored: dict[str, Any], patch: dict[str, Any]
) -> None:
    new_keys = {
        key: value for key, value in patch.items() if key not in stored and value is not None
    }
    merged = merge_tier(stored, new_keys)
    assert merge_tier(merged, dict.fromkeys(new_keys)) == stored


@settings(max_examples=100, deadline=None)
@given(_tiers, _tiers, st.sampled_from(["merge", "replace"]), st.sampled_from(TIERS))
def test_apply_either_refuses_or_returns_tiers_within_limits(
    stored: dict[str, Any], patch: dict[str, Any], mode: Any, tier: str
) -> None:
    current = {**EMPTY, tier: stored}
    snapshot = (copy.deepcopy(current), copy.deepcopy(patch))
    error: MetadataError | None = None
    try:
        result = apply_metadata(current, {tier: patch}, mode=mode, limits=_SMALL)
    except MetadataError as exc:
        error, result = exc, {}
    if error is None:
        check_tier(tier, result[tier], _SMALL)
        assert metadata_size(result[tier]) == len(_dumped(result[tier]))
    else:
        assert error.param == tier
        assert error.code != "ambiguous_field"
    assert (current, patch) == snapshot


@settings(max_examples=60, deadline=None)
@given(_tiers)
def test_metadata_size_is_the_compact_utf8_json_length(value: dict[str, Any]) -> None:
    assert metadata_size(value) == len(_dumped(value))
