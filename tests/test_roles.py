"""Organization roles: the ``roles`` setting (keyword, environment, TOML), its checks at
construction, and the ``unknown_role`` refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sessionclaims import Backend, ConfigurationError, InvalidRequest
from sessionclaims.roles import CREATOR_ROLE, DEFAULT_ROLE, DEFAULT_ROLES, Roles

from .helpers import ISSUER

INVOICES = {
    "org:admin": ["org:invoices:read", "org:invoices:write"],
    "org:member": ["org:invoices:read"],
}


def test_the_default_is_admin_and_member_without_permissions() -> None:
    roles = Backend("sqlite://", issuer=ISSUER).roles
    assert dict(roles) == {"org:admin": (), "org:member": ()}
    assert dict(DEFAULT_ROLES) == dict(roles)
    assert (CREATOR_ROLE, DEFAULT_ROLE) == ("org:admin", "org:member")


def test_permissions_for_a_role() -> None:
    roles = Roles(INVOICES)
    assert roles.permissions_for("org:admin") == ("org:invoices:read", "org:invoices:write")
    assert roles.permissions_for("org:member") == ("org:invoices:read",)
    # a role dropped from the setting grants nothing (memberships keep their role)
    assert roles.permissions_for("org:billing") == ()
    assert roles.to_dict() == INVOICES


@pytest.mark.parametrize("role", ["org:owner", "", "x" * 10_000, None, 3, ["org:admin"]])
def test_an_unknown_role_is_a_422_naming_the_param(role: Any) -> None:
    with pytest.raises(InvalidRequest) as refused:
        Roles(INVOICES).check(role)
    assert refused.value.code == "unknown_role"
    assert refused.value.status == 422
    assert refused.value.param == "role"
    assert "org:admin" in refused.value.message
    assert len(refused.value.message) < 300


def test_a_known_role_passes_the_check() -> None:
    assert Roles(INVOICES).check("org:member") == "org:member"


def test_the_keyword_setting() -> None:
    backend = Backend("sqlite://", issuer=ISSUER, roles=INVOICES)
    assert backend.roles.to_dict() == INVOICES
    assert backend.settings.roles == backend.roles


def test_the_environment_setting_is_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SESSIONCLAIMS_ROLES", '{"org:admin": ["org:x"], "org:member": [], "org:viewer": []}'
    )
    backend = Backend("sqlite://", issuer=ISSUER)
    assert backend.roles.to_dict() == {"org:admin": ["org:x"], "org:member": [], "org:viewer": []}
    monkeypatch.setenv("SESSIONCLAIMS_ROLES", "{not json")
    with pytest.raises(ConfigurationError, match="SESSIONCLAIMS_ROLES must be JSON"):
        Backend("sqlite://", issuer=ISSUER)


@pytest.mark.parametrize("under_sessionclaims", [False, True])
def test_the_toml_roles_table(tmp_path: Path, under_sessionclaims: bool) -> None:
    config = tmp_path / "sessionclaims.toml"
    head = (
        '[sessionclaims]\nissuer = "https://auth.example.com"\n'
        if under_sessionclaims
        else ('issuer = "https://auth.example.com"\n')
    )
    config.write_text(
        head + '[roles]\n"org:admin" = ["org:invoices:read", "org:invoices:write"]\n'
        '"org:member" = ["org:invoices:read"]\n'
    )
    assert Backend("sqlite://", config_file=str(config)).roles.to_dict() == INVOICES


def test_the_nested_toml_roles_table(tmp_path: Path) -> None:
    config = tmp_path / "sessionclaims.toml"
    config.write_text(
        '[sessionclaims]\nissuer = "https://auth.example.com"\n'
        '[sessionclaims.roles]\n"org:admin" = []\n"org:member" = ["org:read"]\n'
    )
    roles = Backend("sqlite://", config_file=str(config)).roles
    assert roles.to_dict() == {"org:admin": [], "org:member": ["org:read"]}
    config.write_text(config.read_text() + '[roles]\n"org:admin" = []\n"org:member" = []\n')
    with pytest.raises(ConfigurationError, match="both"):
        Backend("sqlite://", config_file=str(config))


def test_a_keyword_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONCLAIMS_ROLES", '{"org:admin": [], "org:member": []}')
    assert Backend("sqlite://", issuer=ISSUER, roles=INVOICES).roles.to_dict() == INVOICES


@pytest.mark.parametrize(
    ("roles", "fragment"),
    [
        (["org:admin"], "mapping of role key"),
        ({"org:admin": []}, "'org:member'"),
        ({"org:member": []}, "'org:admin'"),
        ({"org:admin": [], "org:member": "org:read"}, "list of strings"),
        ({"org:admin": [], "org:member": [3]}, "a permission of 'org:member'"),
        ({"org:admin": [], "org:member": ["has space"]}, "1-64 characters"),
        ({"org:admin": [], "org:member": [], "": []}, "the role key ''"),
        ({"org:admin": [], "org:member": [], "x" * 65: []}, "1-64 characters"),
        ({"org:admin": ["a", "a"], "org:member": []}, "twice"),
    ],
)
def test_a_bad_setting_fails_at_construction_saying_what_to_change(
    roles: Any, fragment: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Backend("sqlite://", issuer=ISSUER, roles=roles)
    assert fragment in str(refused.value)
