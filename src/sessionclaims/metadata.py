"""The metadata rules: three tiers, their aliases, merge / replace, and the limits.

Pure functions over plain values: no store, no HTTP. The backend and the HTTP API call
:func:`canonical_tiers` on the incoming fields, then :func:`apply_metadata` on the
stored tiers, and write the result only if nothing was raised.

Tiers and aliases (docs/concepts.md)::

    public_metadata    alias trusted_metadata
    private_metadata   (no alias)
    unsafe_metadata    alias untrusted_metadata

What a tier may hold, checked by :func:`check_tier` in this order:

1. the tier is an object (any :class:`~collections.abc.Mapping`) → else ``invalid_metadata``;
2. at most ``max_keys`` top-level keys → else ``metadata_too_many_keys``;
3. every key is a ``str``, every value is JSON (``str``, ``int``, finite ``float``,
   ``bool``, ``None``, an object, or an array: ``list`` / ``tuple``), every string is
   encodable as UTF-8 (no lone surrogate) → else ``invalid_metadata``; nesting depth at
   most ``max_depth`` → else ``metadata_too_deep``. These are found in one iterative walk,
   so hostile nesting (or a cycle) cannot exhaust the interpreter's stack;
4. the compact UTF-8 JSON form is at most ``max_bytes`` → else ``metadata_too_large``.

**Depth**: the tier object itself is at depth 1 and every object or array nested in it
adds one level; scalars add nothing. ``{}`` and ``{"a": 1}`` have depth 1,
``{"a": {"b": [1]}}`` has depth 3.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from ._errors import ConfigurationError, MetadataError
from ._json import dumps_compact

__all__ = [
    "ALIASES",
    "FRONTEND_FORBIDDEN",
    "ORGANIZATION_TIERS",
    "TIERS",
    "MetadataLimits",
    "apply_metadata",
    "canonical_tiers",
    "check_tier",
    "merge_tier",
    "metadata_size",
]

TIERS: tuple[str, ...] = ("public_metadata", "private_metadata", "unsafe_metadata")
"""The canonical tier names of a user, in the order they are reported."""

ORGANIZATION_TIERS: tuple[str, ...] = ("public_metadata", "private_metadata")
"""The tiers of an organization and of a membership: no ``unsafe_metadata`` (nobody but
the backend writes them)."""

ALIASES: Mapping[str, str] = MappingProxyType(
    {"trusted_metadata": "public_metadata", "untrusted_metadata": "unsafe_metadata"}
)
"""Input aliases (the trusted / untrusted spelling) → canonical tier name."""

FRONTEND_FORBIDDEN: frozenset[str] = frozenset(
    {"public_metadata", "private_metadata", "trusted_metadata"}
)
"""Tier names a frontend write (session token, sign-up) may never use: 403
``form_param_not_allowed``."""
_ALIAS_OF: Mapping[str, str] = MappingProxyType({v: k for k, v in ALIASES.items()})

_MAX_DEPTH_CEILING = 256
"""No configuration may allow deeper nesting: JSON encoders recurse, and a depth of a
few hundred is already far beyond any real use of metadata."""


@dataclass(frozen=True, slots=True)
class MetadataLimits:
    """Per-tier limits. The defaults are the trusted / untrusted seed's (20 keys, 4 KB)."""

    max_keys: int = 20
    """Most top-level keys a tier may hold."""
    max_bytes: int = 4096
    """Largest size of a tier as compact UTF-8 JSON, in bytes."""
    max_depth: int = 16
    """Deepest nesting; the tier object itself is depth 1."""

    def __post_init__(self) -> None:
        for field, lowest, highest in (
            ("max_keys", 1, None),
            ("max_bytes", 2, None),
            ("max_depth", 1, _MAX_DEPTH_CEILING),
        ):
            value = getattr(self, field)
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or value < lowest
                or (highest is not None and value > highest)
            ):
                bound = f"between {lowest} and {highest}" if highest else f"at least {lowest}"
                raise ConfigurationError(
                    f"MetadataLimits.{field} must be an integer {bound}, not {value!r}"
                )


def canonical_tiers(fields: Mapping[str, Any], *, tiers: tuple[str, ...] = TIERS) -> dict[str, Any]:
    """Pick the metadata tiers out of a request body or keyword arguments.

    Returns ``{canonical tier name: value}`` for every tier present under its canonical
    name or its alias, in :data:`TIERS` order. Other keys are ignored: the caller decides
    about them. Values are returned as given, unchecked.

    ``tiers`` are the tiers the object has (:data:`ORGANIZATION_TIERS` for organizations
    and memberships): a user tier it lacks, under either spelling, is a
    :class:`MetadataError` ``unknown_field`` (``param`` = the name sent).

    Raises :class:`MetadataError` ``ambiguous_field`` (``param`` = the alias) when a tier
    is present under both spellings.
    """
    for tier in TIERS:
        if tier in tiers:
            continue
        for name in (tier, _ALIAS_OF.get(tier)):
            if name is not None and name in fields:
                raise MetadataError(
                    "unknown_field",
                    f"{name} is not a tier here; the tiers are "
                    + ", ".join(_spelled(t) for t in tiers),
                    param=name,
                )
    found: dict[str, Any] = {}
    for tier in tiers:
        alias = _ALIAS_OF.get(tier)
        if tier in fields:
            if alias is not None and alias in fields:
                raise MetadataError(
                    "ambiguous_field",
                    f"{tier} and its alias {alias} were both sent; send one of them",
                    param=alias,
                )
            found[tier] = fields[tier]
        elif alias is not None and alias in fields:
            found[tier] = fields[alias]
    return found


def _spelled(tier: str) -> str:
    alias = _ALIAS_OF.get(tier)
    return f"{tier} (alias {alias})" if alias else tier


def merge_tier(stored: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level merge of ``patch`` into ``stored``; returns a new dict.

    A key of the patch replaces the stored key's whole value (nested objects and arrays
    are not merged); a value of ``None`` (JSON ``null``) deletes the key, and deleting a
    missing key is not an error. Stored key order is kept; new keys are appended.

    Neither input is mutated, but values are not copied: the result shares nested objects
    with the inputs. :func:`apply_metadata` returns independent copies.
    """
    merged = dict(stored)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _describe(location: tuple[Any, ...]) -> str:
    """``("public_metadata", "a", 0, "b")`` → ``public_metadata.a[0].b``."""
    text = str(location[0])
    for step in location[1:]:
        text += f"[{step}]" if isinstance(step, int) else f".{step}"
    return text


def _invalid(name: str, message: str) -> MetadataError:
    return MetadataError("invalid_metadata", message, param=name)


def _check_str(name: str, text: str, location: tuple[Any, ...], what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid(
            name,
            f"{what} at {_describe(location)} is not valid Unicode (it holds a lone surrogate)",
        ) from None


def _check_scalar(name: str, value: Any, location: tuple[Any, ...]) -> None:
    if isinstance(value, str):
        _check_str(name, value, location, "a string")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _invalid(name, f"{_describe(location)} is {value!r}; numbers must be finite")
    elif value is not None and not isinstance(value, int):  # bool is an int
        raise _invalid(
            name,
            f"{_describe(location)} is a {type(value).__name__}, which is not a JSON value",
        )


def _walk(name: str, tier: Mapping[str, Any], max_depth: int) -> None:
    """Check keys, values and depth of ``tier`` without recursion."""
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(tier, 1, (name,))]
    while stack:
        node, depth, location = stack.pop()
        if depth > max_depth:
            raise MetadataError(
                "metadata_too_deep",
                f"{_describe(location)} is at depth {depth}; "
                f"{name} may nest at most {max_depth} levels",
                param=name,
            )
        items = node.items() if isinstance(node, Mapping) else enumerate(node)
        for key, value in items:
            if isinstance(node, Mapping):
                if not isinstance(key, str):
                    raise _invalid(
                        name,
                        f"{_describe(location)} has the key {key!r}; keys must be strings",
                    )
                _check_str(name, key, location, f"the key {key!r}")
            if isinstance(value, Mapping | list | tuple):
                stack.append((value, depth + 1, (*location, key)))
            else:
                _check_scalar(name, value, (*location, key))


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def metadata_size(value: Mapping[str, Any]) -> int:
    """Size of ``value`` as compact UTF-8 JSON (the storage form), in bytes.

    Raises :class:`MetadataError` ``invalid_metadata`` if ``value`` cannot be written
    as JSON.
    """
    try:
        text = dumps_compact(value, default=_json_default)
        return len(text.encode("utf-8"))
    except (TypeError, ValueError, RecursionError) as exc:
        # UnicodeEncodeError is a ValueError; so are NaN and integers too long to print.
        raise MetadataError(
            "invalid_metadata", f"metadata cannot be written as JSON: {exc}"
        ) from exc


def check_tier(name: str, value: Any, limits: MetadataLimits) -> None:
    """Raise :class:`MetadataError` (``param`` = ``name``) unless ``value`` is a valid
    tier within ``limits``. The checks and their order are in the module docstring."""
    if not isinstance(value, Mapping):
        kind = "null" if value is None else type(value).__name__
        raise _invalid(name, f"{name} must be a JSON object, not {kind}")
    if len(value) > limits.max_keys:
        raise MetadataError(
            "metadata_too_many_keys",
            f"{name} has {len(value)} top-level keys; the limit is {limits.max_keys}",
            param=name,
        )
    _walk(name, value, limits.max_depth)
    try:
        size = metadata_size(value)
    except MetadataError as exc:
        raise _invalid(name, f"{name}: {exc.message}") from exc
    if size > limits.max_bytes:
        raise MetadataError(
            "metadata_too_large",
            f"{name} is {size} bytes; the limit is {limits.max_bytes}",
            param=name,
        )


def _copy(value: Any) -> Any:
    """An independent copy of checked JSON data (depth is bounded by the limits)."""
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


def apply_metadata(
    current: Mapping[str, Mapping[str, Any]],
    changes: Mapping[str, Any],
    *,
    mode: Literal["merge", "replace"],
    limits: MetadataLimits,
    tiers: tuple[str, ...] = TIERS,
) -> dict[str, dict[str, Any]]:
    """Apply a metadata write to the stored ``tiers`` (a user's three by default, or
    :data:`ORGANIZATION_TIERS`); return every one of them, new.

    ``current`` maps each canonical tier to its stored object (a missing tier counts as
    ``{}``). ``changes`` maps canonical tiers to the value sent (pass request fields
    through :func:`canonical_tiers` first). With ``mode="merge"`` each value is merged
    into the stored tier (:func:`merge_tier`); with ``mode="replace"`` it replaces the
    tier whole. Tiers absent from ``changes`` are returned as they were (shallow
    copies of ``current``).

    Each value sent must be an object, else ``invalid_metadata`` (``param`` = the tier);
    the limits are checked on the **result** (:func:`check_tier`), never on the patch,
    so a full tier may take a patch that deletes one key and adds another.

    Raises :class:`MetadataError` on the first problem. The inputs are never mutated
    and the changed tiers of the result share nothing with them, so a caller that writes
    only on success is atomic.
    """
    if mode not in ("merge", "replace"):
        raise ValueError(f"mode must be 'merge' or 'replace', not {mode!r}")
    for name in changes:
        if name not in tiers:
            raise _invalid(
                str(name), f"{name!r} is not a metadata tier; expected one of {', '.join(tiers)}"
            )
    result: dict[str, dict[str, Any]] = {tier: dict(current.get(tier) or {}) for tier in tiers}
    for name, patch in changes.items():
        if not isinstance(patch, Mapping):
            kind = "null" if patch is None else type(patch).__name__
            raise _invalid(name, f"{name} must be a JSON object, not {kind}")
        new = merge_tier(result[name], patch) if mode == "merge" else dict(patch)
        check_tier(name, new, limits)
        result[name] = _copy(new)
    return result
