"""The claims template language: parsed and checked once, compiled to a pure render function.

A template is a JSON object whose string values may hold ``{{ ... }}`` shortcodes
(docs/concepts.md). :func:`compile_template` checks it (:mod:`._template_parser` splits each
string into text and shortcodes) and turns it into closures, so that
:meth:`CompiledTemplate.render` does no parsing and no I/O. Rules, including those the
spec leaves to the implementation:

* A string that is exactly one shortcode (spaces inside the braces allowed) keeps the
  value's JSON type; objects and arrays are deep copies, so mutating rendered claims never
  touches the user. If it is missing or ``null`` the key is **omitted** (nested objects
  too; a nested object whose keys are all omitted stays as ``{}``); in an array it renders
  as ``null``, keeping positions.
* Any other string interpolates to a string: missing or ``null`` → ``null``, booleans →
  ``true`` / ``false``, numbers, objects and arrays → compact JSON (``1.0``, ``{"a":1}``).
* Keys are never templated; numbers, booleans and ``null`` pass through; nested objects
  and arrays render recursively. Paths use dots, never index arrays, and a path through a
  non-object is missing. A path segment is word characters and ``-``.
* ``a || b || 'x'`` is the first operand neither missing, ``null`` nor ``false``, else the
  last. Literals: ``'quoted'`` (escapes ``\\'`` and ``\\\\`` only), JSON numbers, ``true``,
  ``false``; there is no ``null`` literal.
* ``}}`` outside a shortcode is a syntax error (usually a typo); write a literal ``{{`` or
  ``}}`` as ``{{ '{{' }}``.
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Protocol

from ._errors import TemplateError
from ._json import dumps_compact
from ._template_parser import _Operand, _Parser
from .models import Session, User

__all__ = [
    "ORGANIZATION_CLAIMS",
    "RESERVED_CLAIMS",
    "CompiledTemplate",
    "MembershipValues",
    "NamedTemplate",
    "OrganizationValues",
    "compile_template",
    "load_named_template",
]

logger = logging.getLogger("sessionclaims.templates")

ORGANIZATION_CLAIMS: frozenset[str] = frozenset(
    {"org_id", "org_slug", "org_role", "org_permissions"}
)
"""The four default claims of a token with an active organization (docs/concepts.md)."""

RESERVED_CLAIMS: frozenset[str] = frozenset(
    {"iss", "sub", "sid", "iat", "nbf", "exp", "azp", "v", "ver", "aud", "jti"}
    | ORGANIZATION_CLAIMS
    | {"org_ver", "mem_ver"}
)
"""Claims the issuer sets itself (docs/concepts.md); no template may produce them at the
top level."""


class OrganizationValues(Protocol):
    """What a template reads from the active organization (an ``Organization`` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def slug(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def public_metadata(self) -> Mapping[str, Any]: ...


class MembershipValues(Protocol):
    """What a template reads from the person's membership in the active organization:
    ``permissions`` are those of ``role`` (from the ``roles`` setting)."""

    @property
    def role(self) -> str: ...
    @property
    def permissions(self) -> Sequence[str]: ...
    @property
    def public_metadata(self) -> Mapping[str, Any]: ...


_Org = OrganizationValues | None
_Member = MembershipValues | None
_Getter = Callable[[User, Session | None, _Org, _Member], Any]
_OMIT: Final = object()  # a whole-value shortcode with no value: the key is left out
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
_MAX_NESTING: Final = 32  # templates are small; this bounds the compiler's recursion

_USER_FIELDS: Final = ("id", "external_id", "created_at", "updated_at")
_SESSION_FIELDS: Final = ("id", "created_at")
_ORG_FIELDS: Final = ("id", "slug", "name")
_MEMBERSHIP_FIELDS: Final = ("role", "permissions")
_FIELDS: Final = {
    "user": _USER_FIELDS,
    "session": _SESSION_FIELDS,
    "org": _ORG_FIELDS,
    "membership": _MEMBERSHIP_FIELDS,
}
_METADATA: Final = {  # root → spelling → canonical tier
    "user": {
        "public_metadata": "public_metadata",
        "trusted_metadata": "public_metadata",
        "unsafe_metadata": "unsafe_metadata",
        "untrusted_metadata": "unsafe_metadata",
    },
    "org": {"public_metadata": "public_metadata", "trusted_metadata": "public_metadata"},
    "membership": {"public_metadata": "public_metadata", "trusted_metadata": "public_metadata"},
}
_PRIVATE_REFUSED: Final = (
    "{root}.private_metadata cannot be read by a claims template: a token is readable by "
    "whoever holds it (the browser, the user), and private metadata is backend-only. "
    "Move the value to public_metadata if the user may see it"
)


def _copy_json(value: Any) -> Any:
    """A deep copy of JSON data; scalars are immutable and shared (the fast path)."""
    if isinstance(value, dict | MappingProxyType):
        return {k: v if type(v) in _SCALARS else _copy_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [v if type(v) in _SCALARS else _copy_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _copy_json(v) for k, v in value.items()}
    return value


def _json_default(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else str(value)


def _text(value: Any) -> str:
    """How a value reads inside interpolated text."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return "null" if value is None else "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    return dumps_compact(value, default=_json_default)


def _root_getter(root: str) -> _Getter:
    """The object a path starts from (``None`` when absent: no session, no active org)."""
    if root == "user":
        return lambda user, session, org, member: user
    if root == "session":
        return lambda user, session, org, member: session
    if root == "org":
        return lambda user, session, org, member: org
    return lambda user, session, org, member: member


def _metadata_getter(root: str, tier: str, keys: tuple[str, ...]) -> _Getter:
    start = _root_getter(root)

    def getter(user: User, session: Session | None, org: _Org, member: _Member) -> Any:
        holder = start(user, session, org, member)
        if holder is None:
            return None
        value: Any = getattr(holder, tier)
        for key in keys:
            if not isinstance(value, dict | MappingProxyType) and not isinstance(value, Mapping):
                return None  # a path through a non-object is missing
            value = value.get(key)
        return value

    return getter


def _attribute_getter(root: str, field: str) -> _Getter:
    if root == "user":
        return lambda user, session, org, member: getattr(user, field)
    start = _root_getter(root)

    def getter(user: User, session: Session | None, org: _Org, member: _Member) -> Any:
        holder = start(user, session, org, member)
        return None if holder is None else getattr(holder, field)

    return getter


def _literal_getter(value: Any) -> _Getter:
    return lambda user, session, org, member: value


def _first_of(getters: tuple[_Getter, ...]) -> _Getter:
    if len(getters) == 1:
        return getters[0]
    first, last = getters[:-1], getters[-1]

    def getter(user: User, session: Session | None, org: _Org, member: _Member) -> Any:
        for get in first:
            value = get(user, session, org, member)
            if value is not None and value is not False:
                return value
        return last(user, session, org, member)

    return getter


def _whole_value(get: _Getter) -> _Getter:
    def render(user: User, session: Session | None, org: _Org, member: _Member) -> Any:
        value = get(user, session, org, member)
        if value is None:
            return _OMIT
        return value if isinstance(value, str | int | float) else _copy_json(value)

    return render


def _field_problem(spelled: str, root: str, field: str, keys: tuple[str, ...]) -> str | None:
    """Why a path (not a metadata path) names no field, or None if it names one."""
    if root == "null":
        return "null is not a literal; a missing value already omits the claim"
    if root not in _FIELDS:
        roots = ", ".join(f"'{r}.'" for r in _FIELDS)
        return f"unknown root {root!r} in {spelled!r}; a field starts with one of {roots}"
    known = (*_FIELDS[root], *_METADATA.get(root, ()))
    if not field:
        return f"{root!r} is not a value; name one of its fields: {', '.join(known)}"
    if field == "private_metadata" and root != "session":
        return _PRIVATE_REFUSED.format(root=root)
    if field not in known:
        close = difflib.get_close_matches(field, known, n=1)
        hint = f"; did you mean '{root}.{close[0]}'?" if close else ""
        return f"unknown field {spelled!r}; {root} fields are: {', '.join(known)}{hint}"
    if keys:
        return f"{root}.{field} is not an object, so {spelled!r} never has a value"
    return None


class _Compiler:
    def __init__(self, name: str) -> None:
        self.prefix = f"claims template {name!r}: "
        self.fields: set[str] = set()
        self.unsafe_claims: list[str] = []

    def error(self, message: str, path: str, column: int | None = None) -> TemplateError:
        return TemplateError(f"{self.prefix}{message}", path=path, column=column)

    def field(self, operand: _Operand, path: str) -> _Getter:
        """Resolve a path operand to a getter, recording the canonical field it reads."""
        root, _, rest = operand.value.partition(".")
        field, _, subpath = rest.partition(".")
        keys = tuple(subpath.split(".")) if subpath else ()
        tier = _METADATA.get(root, {}).get(field)
        if tier is not None:
            if tier == "unsafe_metadata":
                self.unsafe_claims.append(path)
            self.fields.add(".".join((root, tier, *keys)))
            return _metadata_getter(root, tier, keys)
        problem = _field_problem(operand.value, root, field, keys)
        if problem is not None:
            raise self.error(problem, path, operand.column)
        self.fields.add(f"{root}.{field}")
        return _attribute_getter(root, field)

    def string(self, text: str, path: str) -> _Getter:
        pieces: list[str | _Getter] = []
        for part in _Parser(text, path, self.prefix).parts():
            if isinstance(part, str):
                pieces.append(part)
            else:
                ops = [
                    _literal_getter(op.value) if op.literal else self.field(op, path) for op in part
                ]
                pieces.append(_first_of(tuple(ops)))
        if len(pieces) <= 1:
            only = pieces[0] if pieces else ""
            return _literal_getter(only) if isinstance(only, str) else _whole_value(only)
        frozen = tuple(pieces)
        return lambda user, session, org, member: "".join(
            [
                piece if isinstance(piece, str) else _text(piece(user, session, org, member))
                for piece in frozen
            ]
        )

    def value(self, value: Any, path: str, depth: int) -> _Getter:
        if isinstance(value, str):
            return self.string(value, path)
        if value is None or isinstance(value, bool | int):
            return _literal_getter(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.error(f"{value!r} is not a JSON number", path)
            return _literal_getter(value)
        if depth >= _MAX_NESTING:
            raise self.error(f"a template nests at most {_MAX_NESTING} levels", path)
        if isinstance(value, Mapping):
            return self.mapping(value, path, depth + 1)
        if not isinstance(value, list | tuple):
            raise self.error(f"a {type(value).__name__} is not a JSON value", path)
        items = tuple(self.value(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
        return lambda user, session, org, member: [
            None if (rendered := item(user, session, org, member)) is _OMIT else rendered
            for item in items
        ]

    def mapping(self, template: Mapping[Any, Any], path: str, depth: int) -> _Getter:
        entries: list[tuple[str, _Getter]] = []
        for key, value in template.items():
            if not isinstance(key, str):
                raise self.error(f"the key {key!r} is not a string", path)
            entries.append((key, self.value(value, f"{path}.{key}" if path else key, depth)))
        frozen = tuple(entries)

        def render(
            user: User, session: Session | None, org: _Org, member: _Member
        ) -> dict[str, Any]:
            claims: dict[str, Any] = {}
            for key, get in frozen:
                rendered = get(user, session, org, member)
                if rendered is not _OMIT:
                    claims[key] = rendered
            return claims

        return render


class CompiledTemplate:
    """A checked template, ready to render. Made by :func:`compile_template`."""

    __slots__ = ("_render", "fields", "name", "reads_unsafe")

    name: str
    """The template's name (``"session"`` for the session template)."""
    reads_unsafe: bool
    """True if a claim reads ``user.unsafe_metadata``: such claims are user-written."""
    fields: frozenset[str]
    """Every field read, canonical spelling: ``"user.public_metadata.role"``, ``"session.id"``."""

    def __init__(self, name: str, render: _Getter, fields: frozenset[str], unsafe: bool) -> None:
        self.name, self._render, self.fields, self.reads_unsafe = name, render, fields, unsafe

    def render(
        self,
        user: User,
        session: Session | None = None,
        organization: OrganizationValues | None = None,
        membership: MembershipValues | None = None,
    ) -> dict[str, Any]:
        """The claims for ``user``, ``session`` and the active ``organization`` with the
        person's ``membership`` in it (a field of an absent one is missing). Pure: no
        I/O, and the result shares nothing mutable with its inputs."""
        claims: dict[str, Any] = self._render(user, session, organization, membership)
        return claims

    @property
    def reads_organization(self) -> bool:
        """True if a claim reads ``org.*`` or ``membership.*``."""
        return any(f.startswith(("org.", "membership.")) for f in self.fields)

    def __repr__(self) -> str:
        return f"<CompiledTemplate {self.name!r} fields={sorted(self.fields)!r}>"


def compile_template(
    template: Mapping[str, Any],
    *,
    name: str = "session",
    reserved: frozenset[str] = RESERVED_CLAIMS,
) -> CompiledTemplate:
    """Check ``template`` and compile it. Raises :class:`TemplateError` (with ``.path``
    and, for problems inside a string, ``.column``) on the first problem found.

    A template that reads unsafe metadata compiles, but logs a warning on the
    ``sessionclaims.templates`` logger: those claims must never be used for authorization.
    """
    compiler = _Compiler(name)
    if not isinstance(template, Mapping):
        raise compiler.error(f"a template must be a JSON object, not {type(template).__name__}", "")
    for key in template:
        if key in reserved:
            message = f"{key!r} is a reserved claim set by the issuer; a template may not set it"
            raise compiler.error(message, key)
    render = compiler.mapping(template, "", 0)
    if compiler.unsafe_claims:
        logger.warning(
            "claims template %r reads user.unsafe_metadata (in %s): those claims are written "
            "by the user and must never be used for authorization",
            name,
            ", ".join(dict.fromkeys(compiler.unsafe_claims)),
        )
    return CompiledTemplate(name, render, frozenset(compiler.fields), bool(compiler.unsafe_claims))


@dataclass(frozen=True, slots=True)
class NamedTemplate:
    """A template that mints its own JWT (``POST /v1/sessions/{sid}/tokens/{name}``)."""

    name: str
    template: CompiledTemplate
    lifetime: int = 60
    """Seconds from ``iat`` to ``exp``; positive."""
    clock_skew: int = 5
    """Seconds of leeway; ``nbf = iat - clock_skew``. Zero or more."""
    aud: str | None = None
    """The ``aud`` claim of its tokens, if any."""

    def __post_init__(self) -> None:
        prefix = f"named template {self.name!r}: "
        for key, lowest in (("lifetime", 1), ("clock_skew", 0)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < lowest:
                what = "a positive" if lowest else "a non-negative"
                raise TemplateError(f"{prefix}{key!r} must be {what} integer, not {value!r}")
        if self.aud is not None and (not isinstance(self.aud, str) or not self.aud):
            raise TemplateError(f"{prefix}'aud' must be a non-empty string, not {self.aud!r}")


_NAMED_KEYS: Final = ("claims", "lifetime", "clock_skew", "aud")


def load_named_template(name: str, spec: Mapping[str, Any]) -> NamedTemplate:
    """Load a named template from its configuration,
    ``{"claims": {...}, "lifetime": 300, "clock_skew": 5, "aud": "reports-service"}``.

    ``claims`` is required; the others default as in :class:`NamedTemplate` (seconds).
    Unknown keys and wrong values raise :class:`TemplateError` naming the key.
    """
    if not isinstance(name, str) or not name:
        raise TemplateError(f"a named template needs a non-empty string name, not {name!r}")
    prefix = f"named template {name!r}: "
    if not isinstance(spec, Mapping):
        raise TemplateError(f"{prefix}expected an object with keys {', '.join(_NAMED_KEYS)}")
    for key in spec:
        if key not in _NAMED_KEYS:
            raise TemplateError(f"{prefix}unknown key {key!r}; keys: {', '.join(_NAMED_KEYS)}")
    if "claims" not in spec:
        raise TemplateError(f"{prefix}'claims' is required (use {{}} for no extra claims)")
    return NamedTemplate(
        name=name,
        template=compile_template(spec["claims"], name=name),
        lifetime=spec.get("lifetime", 60),
        clock_skew=spec.get("clock_skew", 5),
        aud=spec.get("aud"),
    )
