"""Templates reading the active organization: ``org.*`` and ``membership.*`` fields,
private tiers refused at load, the organization claims reserved."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pytest

from sessionclaims._errors import TemplateError
from sessionclaims.templates import ORGANIZATION_CLAIMS, compile_template

from .test_templates import SESSION, make_user


@dataclass(frozen=True)
class Org:
    id: str = "org_1"
    slug: str = "acme"
    name: str = "Acme Inc."
    public_metadata: Any = field(
        default_factory=lambda: MappingProxyType({"plan": "pro", "limits": {"seats": 5}})
    )
    private_metadata: Any = field(default_factory=lambda: MappingProxyType({"stripe": "c"}))


@dataclass(frozen=True)
class Member:
    role: str = "org:admin"
    permissions: tuple[str, ...] = ("org:invoices:read", "org:invoices:write")
    public_metadata: Any = field(
        default_factory=lambda: MappingProxyType({"seat": 3, "team": {"name": "core"}})
    )
    private_metadata: Any = field(default_factory=lambda: MappingProxyType({"salary": 1}))


TEMPLATE = {
    "org": {"name": "{{org.name}}", "plan": "{{org.public_metadata.plan || 'free'}}"},
    "tenant": "{{org.id}}/{{org.slug}}",
    "seats": "{{org.trusted_metadata.limits.seats}}",
    "role": "{{membership.role}}",
    "perms": "{{membership.permissions}}",
    "seat": "{{membership.public_metadata.seat}}",
    "team": "{{membership.trusted_metadata.team}}",
    "member": "{{membership.public_metadata}}",
}


def test_org_and_membership_fields_render() -> None:
    template = compile_template(TEMPLATE)
    claims = template.render(make_user(), SESSION, Org(), Member())
    assert claims == {
        "org": {"name": "Acme Inc.", "plan": "pro"},
        "tenant": "org_1/acme",
        "seats": 5,
        "role": "org:admin",
        "perms": ["org:invoices:read", "org:invoices:write"],
        "seat": 3,
        "team": {"name": "core"},
        "member": {"seat": 3, "team": {"name": "core"}},
    }
    assert template.reads_organization
    assert "org.public_metadata.limits.seats" in template.fields
    assert "membership.public_metadata.team" in template.fields
    # the rendered values are copies
    member = Member()
    claims = template.render(make_user(), SESSION, Org(), member)
    claims["team"]["name"] = "changed"
    assert member.public_metadata["team"]["name"] == "core"


def test_no_active_organization_resolves_to_nothing() -> None:
    template = compile_template(TEMPLATE)
    assert template.render(make_user(), SESSION) == {
        "org": {"plan": "free"},
        "tenant": "null/null",
    }
    assert not compile_template({"role": "{{user.public_metadata.role}}"}).reads_organization


@pytest.mark.parametrize(
    "text", ["{{org.private_metadata}}", "{{membership.private_metadata.salary}}"]
)
def test_private_tiers_are_refused_at_load(text: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template({"nested": {"x": f"a {text}"}})
    root = text.strip("{}").split(".")[0]
    assert f"{root}.private_metadata cannot be read" in str(info.value)
    assert info.value.path == "nested.x"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{{org.nmae}}", "did you mean 'org.name'?"),
        ("{{membership.rol}}", "did you mean 'membership.role'?"),
        ("{{membership.unsafe_metadata}}", "unknown field 'membership.unsafe_metadata'"),
        ("{{org.slug.x}}", "org.slug is not an object"),
        ("{{membership.permissions.read}}", "membership.permissions is not an object"),
    ],
)
def test_unknown_org_fields_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template({"claim": text})
    assert fragment in str(info.value)


@pytest.mark.parametrize("claim", sorted(ORGANIZATION_CLAIMS | {"org_ver", "mem_ver"}))
def test_organization_claims_are_reserved(claim: str) -> None:
    with pytest.raises(TemplateError) as info:
        compile_template({claim: "{{org.id}}"})
    assert repr(claim) in str(info.value)
    assert info.value.path == claim
    # nested, the same names are ordinary keys
    assert compile_template({"x": {claim: 1}}).render(make_user()) == {"x": {claim: 1}}
