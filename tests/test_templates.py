"""The claims template language (templates.md): rendering, load-time checks, named templates."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionclaims._errors import TemplateError
from sessionclaims.models import Session, User, frozen_mapping
from sessionclaims.templates import (
    RESERVED_CLAIMS,
    CompiledTemplate,
    NamedTemplate,
    compile_template,
    load_named_template,
)

SPEC_EXAMPLE = {
    "metadata": "{{user.public_metadata}}",
    "role": "{{user.public_metadata.role || 'member'}}",
    "greeting": "Hello {{user.unsafe_metadata.nickname}}",
    "org": {"plan": "{{user.public_metadata.plan}}"},
}


def make_user(
    public: Mapping[str, Any] | None = None,
    unsafe: Mapping[str, Any] | None = None,
    *,
    private: Mapping[str, Any] | None = None,
    external_id: str | None = "ext_42",
) -> User:
    return User(
        id="user_1",
        external_id=external_id,
        created_at=1_700_000_000_000,
        updated_at=1_700_000_000_500,
        public_metadata=frozen_mapping(public),
        private_metadata=frozen_mapping(private or {"stripe_id": "cus_123"}),
        unsafe_metadata=frozen_mapping(unsafe),
    )


SESSION = Session(
    id="sess_1",
    user_id="user_1",
    status="active",
    created_at=1_700_000_001_000,
    expire_at=1_800_000_000_000,
    last_active_at=1_700_000_001_000,
)


def render(template: Mapping[str, Any], user: User | None = None, **kwargs: Any) -> dict[str, Any]:
    return compile_template(template, **kwargs).render(user or make_user(), SESSION)


def one(value: Any, user: User | None = None) -> Any:
    """Render a single claim; ``...`` when it is omitted."""
    return render({"c": value}, user).get("c", ...)


def load_error(template: Any, **kwargs: Any) -> TemplateError:
    with pytest.raises(TemplateError) as excinfo:
        compile_template(template, **kwargs)
    return excinfo.value


# --- rendering ----------------------------------------------------------------------------


def test_the_spec_example() -> None:
    user = make_user({"role": "admin", "plan": {"name": "pro", "seats": 5}}, {"nickname": "Ada"})
    assert render(SPEC_EXAMPLE, user) == {
        "metadata": {"role": "admin", "plan": {"name": "pro", "seats": 5}},
        "role": "admin",
        "greeting": "Hello Ada",
        "org": {"plan": {"name": "pro", "seats": 5}},
    }
    assert render(SPEC_EXAMPLE, make_user()) == {
        "metadata": {},
        "role": "member",
        "greeting": "Hello null",
        "org": {},
    }


@pytest.mark.parametrize(
    "value", [{"a": [1, {"b": None}]}, [1, "two"], 3, -2.5, True, False, "text", "", 0, {}, []]
)
def test_a_whole_value_shortcode_keeps_the_json_type(value: Any) -> None:
    user = make_user({"v": value})
    assert one("{{user.public_metadata.v}}", user) == value
    rendered = one("{{   user.public_metadata.v\t}}", user)
    assert rendered == value
    assert type(rendered) is type(value)


def test_user_and_session_fields() -> None:
    template = {
        "uid": "{{user.id}}",
        "ext": "{{user.external_id}}",
        "created": "{{user.created_at}}",
        "updated": "{{user.updated_at}}",
        "session_id": "{{session.id}}",
        "since": "{{session.created_at}}",
    }
    assert render(template) == {
        "uid": "user_1",
        "ext": "ext_42",
        "created": 1_700_000_000_000,
        "updated": 1_700_000_000_500,
        "session_id": "sess_1",
        "since": 1_700_000_001_000,
    }
    compiled = compile_template(template)
    assert compiled.render(make_user(external_id=None)) == {
        "uid": "user_1",
        "created": 1_700_000_000_000,
        "updated": 1_700_000_000_500,
    }
    assert compiled.fields == {
        "user.id",
        "user.external_id",
        "user.created_at",
        "user.updated_at",
        "session.id",
        "session.created_at",
    }


def test_missing_or_null_whole_values_omit_the_claim_at_every_level() -> None:
    user = make_user({"null": None, "zero": 0, "no": False, "empty": ""})
    template = {
        "missing": "{{user.public_metadata.nope}}",
        "null": "{{user.public_metadata.null}}",
        "zero": "{{user.public_metadata.zero}}",
        "no": "{{user.public_metadata.no}}",
        "empty": "{{user.public_metadata.empty}}",
        "nested": {"gone": "{{user.public_metadata.nope}}", "kept": 1},
        "all_gone": {"gone": "{{user.public_metadata.null}}"},
        "session": "{{session.id}}",
    }
    claims = compile_template(template).render(user)
    assert claims == {"zero": 0, "no": False, "empty": "", "nested": {"kept": 1}, "all_gone": {}}
    assert "missing" not in claims
    assert "null" not in claims


def test_arrays_keep_positions_and_render_each_item() -> None:
    user = make_user({"role": "admin", "n": 2})
    template = [
        "{{user.public_metadata.role}}",
        "{{user.public_metadata.nope}}",
        "n={{user.public_metadata.n}}",
        {"deep": "{{user.public_metadata.n}}", "gone": "{{user.public_metadata.x}}"},
        [None, 1.5],
    ]
    assert one(template, user) == ["admin", None, "n=2", {"deep": 2}, [None, 1.5]]
    assert one(("{{user.id}}",), user) == ["user_1"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("s", "s"),
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (7, "7"),
        (-7.25, "-7.25"),
        (1.0, "1.0"),
        (1e100, "1e+100"),
        ({"a": [1, "é"]}, '{"a":[1,"é"]}'),
        ([], "[]"),
    ],
)
def test_interpolation_is_always_a_string(value: Any, text: str) -> None:
    user = make_user({"v": value})
    assert one("<{{user.public_metadata.v}}>", user) == f"<{text}>"
    assert one(" {{user.public_metadata.v}}", user) == f" {text}"


def test_interpolation_of_missing_values_and_several_shortcodes() -> None:
    user = make_user({"first": "Ada"}, {"last": "Lovelace"})
    assert one("Hi {{user.public_metadata.x}}", user) == "Hi null"
    template = "{{user.public_metadata.first}} {{user.untrusted_metadata.last}}{{user.id}}!"
    assert one(template, user) == "Ada Lovelaceuser_1!"
    assert one("{{user.id}}{{session.id}}", user) == "user_1sess_1"
    assert one("all: {{user.public_metadata}}", user) == 'all: {"first":"Ada"}'
    assert compile_template({"c": "at {{session.id}}"}).render(user) == {"c": "at null"}


def test_paths_use_dots_never_index_arrays_and_stop_at_non_objects() -> None:
    user = make_user({"addresses": {"home": {"city": "Paris"}}, "list": [{"a": 1}], "s": "str"})
    assert one("{{user.public_metadata.addresses.home.city}}", user) == "Paris"
    assert one("{{user.public_metadata.addresses.home}}", user) == {"city": "Paris"}
    assert one("{{user.public_metadata.list.0}}", user) is ...
    assert one("{{user.public_metadata.list.a}}", user) is ...
    assert one("{{user.public_metadata.s.length}}", user) is ...
    assert one("{{user.public_metadata.addresses.home.city.x}}", user) is ...
    odd_keys = make_user({"2fa": True, "first-name": "Ada", "clé": 1})
    assert one("{{user.public_metadata.2fa}}", odd_keys) is True
    assert one("{{user.public_metadata.first-name}}", odd_keys) == "Ada"
    assert one("{{user.public_metadata.clé}}", odd_keys) == 1


def test_fallbacks() -> None:
    user = make_user({"null": None, "no": False, "zero": 0, "empty": "", "role": "admin"})
    pm = "user.public_metadata"
    assert one(f"{{{{{pm}.nope || {pm}.null || {pm}.no || {pm}.role}}}}", user) == "admin"
    assert one(f"{{{{{pm}.zero || 'x'}}}}", user) == 0
    assert one(f"{{{{{pm}.empty || 'x'}}}}", user) == ""
    assert one(f"{{{{{pm}.nope||'member'}}}}", user) == "member"
    assert one(f"{{{{ {pm}.nope || {pm}.no }}}}", user) is False
    assert one(f"{{{{ {pm}.no || {pm}.nope }}}}", user) is ...
    assert one(f"{{{{ {pm}.nope || {pm}.null }}}}", user) is ...
    assert one(f"{{{{ {pm}.nope || false }}}}", user) is False
    assert one(f"role: {{{{ {pm}.nope || {pm}.null }}}}", user) == "role: null"
    assert one(f"role: {{{{ {pm}.nope || 'member' }}}}", user) == "role: member"
    assert one(f"{{{{ 'first' || {pm}.role }}}}", user) == "first"


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'member'", "member"),
        ("''", ""),
        (r"'it\'s'", "it's"),
        (r"'back\\slash'", "back\\slash"),
        ("'{{ }} || \"'", '{{ }} || "'),
        ("0", 0),
        ("-12", -12),
        ("3.5", 3.5),
        ("-0.5e-2", -0.005),
        ("1E3", 1000.0),
        ("true", True),
        ("false", False),
    ],
)
def test_literals(literal: str, value: Any) -> None:
    rendered = one(f"{{{{ user.public_metadata.nope || {literal} }}}}")
    assert rendered == value
    assert type(rendered) is type(value)
    assert one(f"{{{{{literal}}}}}") == value


def test_keys_are_never_templated_and_scalars_pass_through() -> None:
    template = {"{{user.id}}": "x", "n": 1, "f": 2.5, "b": False, "null": None, "s": "plain {"}
    assert render(template) == template


def test_aliases_read_the_same_tiers() -> None:
    user = make_user({"role": "admin"}, {"theme": "dark"})
    template = {
        "a": "{{user.trusted_metadata.role}}",
        "b": "{{user.public_metadata.role}}",
        "c": "{{user.untrusted_metadata.theme}}",
        "d": "{{user.unsafe_metadata.theme}}",
    }
    compiled = compile_template(template)
    assert compiled.render(user) == {"a": "admin", "b": "admin", "c": "dark", "d": "dark"}
    assert compiled.fields == {"user.public_metadata.role", "user.unsafe_metadata.theme"}


def test_session_fields_are_missing_without_a_session() -> None:
    compiled = compile_template({"session_id": "{{session.id}}", "s": "{{session.id || 'none'}}"})
    assert compiled.render(make_user()) == {"s": "none"}
    assert compiled.render(make_user(), None) == {"s": "none"}
    assert compiled.render(make_user(), SESSION) == {"session_id": "sess_1", "s": "sess_1"}


def test_rendering_is_pure_and_copies_deeply() -> None:
    public = {"plan": {"features": ["sso"], "limits": {"seats": 5}}, "tags": ["a"]}
    user = make_user(public)
    snapshot = copy.deepcopy(public)
    compiled = compile_template(
        {"all": "{{user.public_metadata}}", "plan": "{{user.public_metadata.plan}}", "n": [1]}
    )
    first = compiled.render(user, SESSION)
    assert compiled.render(user, SESSION) == first
    first["all"]["plan"]["features"].append("evil")
    first["all"]["tags"].clear()
    first["plan"]["limits"]["seats"] = 999
    first["n"].append(2)
    assert dict(user.public_metadata) == snapshot
    assert compiled.render(user, SESSION) == {
        "all": snapshot,
        "plan": snapshot["plan"],
        "n": [1],
    }
    assert type(first["all"]) is dict


def test_compiled_template_attributes() -> None:
    compiled = compile_template(SPEC_EXAMPLE)
    assert isinstance(compiled, CompiledTemplate)
    assert compiled.name == "session"
    assert compiled.reads_unsafe is True
    assert compiled.fields == {
        "user.public_metadata",
        "user.public_metadata.role",
        "user.unsafe_metadata.nickname",
        "user.public_metadata.plan",
    }
    assert "session" in repr(compiled)
    assert compile_template({}, name="reports").name == "reports"
    assert compile_template({"a": "{{user.id}}"}).reads_unsafe is False
    assert compile_template({}).render(make_user()) == {}


# --- the unsafe-metadata warning --------------------------------------------------------


@pytest.mark.parametrize("tier", ["unsafe_metadata", "untrusted_metadata"])
def test_reading_unsafe_metadata_warns_at_load(tier: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sessionclaims.templates"):
        compiled = compile_template(
            {"org": {"theme": f"{{{{user.public_metadata.x || user.{tier}.theme}}}}"}},
            name="prefs",
        )
    assert compiled.reads_unsafe
    [record] = caplog.records
    assert record.name == "sessionclaims.templates"
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "'prefs'" in message
    assert "org.theme" in message
    assert "written by the user" in message
    assert "never be used for authorization" in message


def test_no_warning_without_unsafe_metadata(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="sessionclaims.templates"):
        compile_template({"role": "{{user.public_metadata.role}}", "session_id": "{{session.id}}"})
    assert caplog.records == []


# --- load-time errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("{{user.id", 1, "never closed"),
        ("ab {{ user.id }", 15, "a shortcode ends with '}}'"),
        ("ok {{ user.id }} then {{", 23, "never closed"),
        ("{{}}", 1, "empty shortcode"),
        ("x {{   }}", 3, "empty shortcode"),
        ("a }} b", 3, "'}}' without an opening"),
        ("{{ user.id }}}}", 14, "'}}' without an opening"),
        ("{{ 'abc }}", 4, "string literal is never closed"),
        (r"{{ 'a\n' }}", 6, "unknown escape"),
        ("{{ 01 }}", 4, "malformed number"),
        ("{{ 1. }}", 4, "malformed number"),
        ("{{ 1.5.2 }}", 4, "malformed number"),
        ("{{ 2abc }}", 4, "malformed number"),
        ("{{ - }}", 4, "malformed number"),
        ("{{ 1e999 }}", 4, "out of range"),
        ("{{ user.id || }}", 12, "'||' must be followed by a value"),
        ("{{ user.id || || user.id }}", 12, "'||' must be followed by a value"),
        ("{{ || user.id }}", 4, "'||' must follow a value"),
        ("{{ user.id | user.id }}", 12, "did you mean '||'"),
        ("{{ user.id user.id }}", 12, "expected '||' or '}}'"),
        ("{{ user.id + 1 }}", 12, "unexpected '+'"),
        ('{{ "member" }}', 4, "unexpected character '\"'"),
        ("{{ {{ user.id }} }}", 4, "unexpected character '{'"),
        ("{{ user. }}", 8, "empty path segment"),
        ("{{ user.public_metadata..a }}", 24, "empty path segment"),
        ("{{ user.emial }}", 4, "unknown field 'user.emial'"),
        ("{{ user.public_metadata.x || user.ide }}", 30, "did you mean 'user.id'"),
        ("{{ team.x }}", 4, "unknown root 'team'"),
        ("{{ org.x }}", 4, "unknown field 'org.x'"),
        ("{{ User.id }}", 4, "unknown root 'User'"),
        ("{{ session.user_id }}", 4, "unknown field 'session.user_id'"),
        ("{{ user }}", 4, "'user' is not a value"),
        ("{{ session }}", 4, "'session' is not a value"),
        ("{{ user.id.length }}", 4, "user.id is not an object"),
        ("{{ null }}", 4, "null is not a literal"),
        ("{{ user.private_metadata }}", 4, "readable by whoever holds it"),
        ("hi {{ user.id || user.private_metadata.stripe_id }}", 18, "private metadata"),
    ],
)
def test_load_time_errors_name_the_claim_path_and_column(
    text: str, column: int, fragment: str
) -> None:
    error = load_error({"org": {"plan": text}}, name="reports")
    assert error.path == "org.plan"
    assert error.column == column
    assert fragment in str(error)
    assert "claims template 'reports'" in str(error)
    assert "at 'org.plan', column" in str(error)


def test_error_paths_inside_arrays_and_at_the_top_level() -> None:
    error = load_error({"roles": ["{{user.id}}", {"x": "{{ bad }}"}]})
    assert (error.path, error.column) == ("roles[1].x", 4)
    error = load_error({"role": "{{ user.emial }}"})
    assert (error.path, error.column) == ("role", 4)


def test_private_metadata_is_refused_anywhere() -> None:
    for template in (
        {"a": "{{user.private_metadata}}"},
        {"a": {"b": ["x {{user.private_metadata.stripe_id}}"]}},
        {"a": "{{user.public_metadata.x || user.private_metadata.y || 'z'}}"},
    ):
        error = load_error(template)
        assert "user.private_metadata" in str(error)
        assert "tokens" in str(error) or "token is readable" in str(error)
    assert (
        "private_metadata"
        not in render({"private_metadata": "literal key is fine"})["private_metadata"]
    )


@pytest.mark.parametrize("claim", sorted(RESERVED_CLAIMS))
def test_reserved_claims_are_refused_at_the_top_level(claim: str) -> None:
    error = load_error({"role": "x", claim: "{{user.id}}"})
    assert error.path == claim
    assert error.column is None
    assert repr(claim) in str(error)
    assert "reserved" in str(error)


def test_reserved_claims_may_be_nested_and_the_set_is_configurable() -> None:
    assert render({"org": {"sub": "{{user.id}}", "exp": 1}}) == {"org": {"sub": "user_1", "exp": 1}}
    assert {
        "iss",
        "sub",
        "sid",
        "iat",
        "nbf",
        "exp",
        "azp",
        "v",
        "ver",
        "aud",
        "jti",
        "org_id",
        "org_slug",
        "org_role",
        "org_permissions",
        "org_ver",
        "mem_ver",
    } == RESERVED_CLAIMS
    assert load_error({"tenant": 1}, reserved=frozenset({"tenant"})).path == "tenant"
    assert render({"sub": 1}, reserved=frozenset()) == {"sub": 1}


@pytest.mark.parametrize(
    ("template", "path", "fragment"),
    [
        (["{{user.id}}"], "", "must be a JSON object, not list"),
        ("{{user.id}}", "", "not str"),
        (None, "", "not NoneType"),
        ({1: "x"}, "", "the key 1 is not a string"),
        ({"a": {"b": {("t",): 1}}}, "a.b", "is not a string"),
        ({"a": float("nan")}, "a", "not a JSON number"),
        ({"a": [1, float("inf")]}, "a[1]", "not a JSON number"),
        ({"a": {1, 2}}, "a", "a set is not a JSON value"),
        ({"a": b"x"}, "a", "a bytes is not a JSON value"),
    ],
)
def test_a_template_must_be_a_json_object(template: Any, path: str, fragment: str) -> None:
    error = load_error(template)
    assert error.path == path
    assert error.column is None
    assert fragment in str(error)


def test_absurdly_nested_templates_are_refused() -> None:
    template: dict[str, Any] = {}
    inner = template
    for _ in range(100):
        inner["a"] = {}
        inner = inner["a"]
    error = load_error(template)
    assert "nests at most" in str(error)
    assert error.path.startswith("a.a.a")


# --- named templates ----------------------------------------------------------------------


def test_load_named_template() -> None:
    named = load_named_template(
        "reports",
        {
            "claims": {"plan": "{{user.public_metadata.plan}}"},
            "lifetime": 300,
            "aud": "reports-service",
        },
    )
    assert isinstance(named, NamedTemplate)
    assert (named.name, named.lifetime, named.clock_skew, named.aud) == (
        "reports",
        300,
        5,
        "reports-service",
    )
    assert named.template.name == "reports"
    assert named.template.render(make_user({"plan": "pro"})) == {"plan": "pro"}
    minimal = load_named_template("bare", {"claims": {}})
    assert (minimal.lifetime, minimal.clock_skew, minimal.aud) == (60, 5, None)
    assert load_named_template("skewless", {"claims": {}, "clock_skew": 0}).clock_skew == 0
    with pytest.raises(AttributeError):
        named.lifetime = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"claims": {}, "lifetme": 300}, "lifetme"),
        ({"claims": {}, "ttl": 300}, "ttl"),
        ({"lifetime": 300}, "claims"),
        ({"claims": {}, "lifetime": 0}, "lifetime"),
        ({"claims": {}, "lifetime": -5}, "lifetime"),
        ({"claims": {}, "lifetime": "300"}, "lifetime"),
        ({"claims": {}, "lifetime": 1.5}, "lifetime"),
        ({"claims": {}, "lifetime": True}, "lifetime"),
        ({"claims": {}, "lifetime": None}, "lifetime"),
        ({"claims": {}, "clock_skew": -1}, "clock_skew"),
        ({"claims": {}, "clock_skew": "5"}, "clock_skew"),
        ({"claims": {}, "aud": ""}, "aud"),
        ({"claims": {}, "aud": ["a", "b"]}, "aud"),
        ({"claims": {}, "aud": 5}, "aud"),
    ],
)
def test_named_template_spec_errors_name_the_key(spec: dict[str, Any], key: str) -> None:
    with pytest.raises(TemplateError) as excinfo:
        load_named_template("reports", spec)
    assert f"'{key}'" in str(excinfo.value)
    assert "named template 'reports'" in str(excinfo.value)


def test_named_template_claims_are_checked_like_any_template() -> None:
    with pytest.raises(TemplateError) as excinfo:
        load_named_template("reports", {"claims": {"aud": "x"}, "aud": "reports-service"})
    assert excinfo.value.path == "aud"
    with pytest.raises(TemplateError) as excinfo:
        load_named_template("reports", {"claims": {"org": {"p": "{{ user.emial }}"}}})
    assert (excinfo.value.path, excinfo.value.column) == ("org.p", 4)
    assert "claims template 'reports'" in str(excinfo.value)
    with pytest.raises(TemplateError, match="claims"):
        load_named_template("reports", {"claims": ["x"]})


@pytest.mark.parametrize(("name", "spec"), [("", {"claims": {}}), ("r", ["claims"]), ("r", None)])
def test_named_template_name_and_spec_shape(name: str, spec: Any) -> None:
    with pytest.raises(TemplateError):
        load_named_template(name, spec)


# --- property: rendering never raises on JSON metadata -------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["a", "b", "role", "plan", "x"]) | st.text(max_size=4),
            inner,
            max_size=4,
        )
    ),
    max_leaves=15,
)
_metadata = st.dictionaries(
    st.sampled_from(["a", "b", "role", "plan"]) | st.text(max_size=4), _values, max_size=6
)

_PROPERTY_TEMPLATE = compile_template(
    {
        "all": "{{user.public_metadata}}",
        "role": "{{user.public_metadata.role || user.unsafe_metadata.role || 'member'}}",
        "deep": "{{user.public_metadata.a.b.role}}",
        "text": "{{user.public_metadata.a}} / {{user.unsafe_metadata.plan.x || false}}",
        "list": ["{{user.unsafe_metadata}}", "{{user.public_metadata.b}}", "{{session.id}}"],
        "org": {
            "plan": "{{user.public_metadata.plan}}",
            "n": "{{ user.public_metadata.a || 1.5 }}",
        },
    }
)


@settings(max_examples=80, deadline=None)
@given(_metadata, _metadata, st.booleans())
def test_rendering_never_raises_on_json_metadata(
    public: dict[str, Any], unsafe: dict[str, Any], with_session: bool
) -> None:
    user = make_user(public, unsafe)
    snapshot = copy.deepcopy((public, unsafe))
    claims = _PROPERTY_TEMPLATE.render(user, SESSION if with_session else None)
    json.dumps(claims, allow_nan=False)
    assert isinstance(claims["text"], str)
    assert "role" in claims
    assert claims["all"] == public
    assert claims == _PROPERTY_TEMPLATE.render(user, SESSION if with_session else None)
    assert (public, unsafe) == snapshot
