"""The ``sessionclaims`` command line: every command, its ``--json`` output and its errors.

Commands run in-process through ``main([...])`` against an SQLite file in ``tmp_path``;
``serve`` and ``demo`` run for real in a subprocess (marked slow).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionclaims._cli import _serve, build_parser
from sessionclaims.cli import main
from sessionclaims.keys import SigningKey
from sessionclaims.tokens import encode_token

ISSUER = "https://auth.example.com"
ROLE_TEMPLATE = '{"role": "{{user.public_metadata.role}}"}'


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("SESSIONCLAIMS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'auth.db'}"


@pytest.fixture
def bare(capsys: pytest.CaptureFixture[str]) -> Run:
    """``main(args)`` with nothing added."""

    def run(*args: str) -> Result:
        code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture
def cli(bare: Run, db: str) -> Run:
    """``main(args)`` with ``--database-url`` and ``--issuer`` of this test's store."""

    def run(*args: str) -> Result:
        return bare("--database-url", db, "--issuer", ISSUER, *args)

    return run


def create_user(cli: Run, *args: str) -> str:
    result = cli("--json", "users", "create", *args)
    assert result.code == 0, result.err
    user_id: str = result.json["id"]
    return user_id


def create_session(cli: Run, user_id: str, *args: str) -> dict[str, Any]:
    result = cli("--json", "sessions", "create", user_id, *args)
    assert result.code == 0, result.err
    new: dict[str, Any] = result.json
    return new


def assert_error(result: Result, *fragments: str, code: int = 1) -> None:
    assert result.code == code, (result.out, result.err)
    assert result.err.startswith("error: "), result.err
    assert len(result.err.strip().splitlines()) == 1, result.err  # one line, no traceback
    for fragment in fragments:
        assert fragment in result.err


# -- the command line itself -----------------------------------------------------------
def test_help_version_and_usage_errors(bare: Run) -> None:
    result = bare("--help")
    assert result.code == 0
    for command in ("serve", "demo", "users", "sessions", "keys", "tokens", "templates"):
        assert command in result.out
    assert bare("--version").code == 0
    assert bare().code == 2  # no command
    assert bare("users").code == 2  # no subcommand
    assert bare("users", "frobnicate").code == 2
    assert bare("sessions", "token").code == 2  # SESSION_ID missing
    assert bare("serve", "--port", "eighty").code == 2


SETTINGS_HEADING = "settings (flags > SESSIONCLAIMS_* environment > TOML file):"
GLOBAL_FLAGS = ("--config", "--database-url", "--issuer", "--signing-algorithm", "--json")


def command_paths() -> list[tuple[str, ...]]:
    """Every group and command of the parser tree, as the words that name it."""
    paths: list[tuple[str, ...]] = []

    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    paths.append((*prefix, name))
                    walk(child, (*prefix, name))

    walk(build_parser(), ())
    return paths


@pytest.fixture
def help_of(bare: Run, monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[str]]:
    """The lines of ``sessionclaims WORDS... --help`` (80 columns)."""
    monkeypatch.setenv("COLUMNS", "80")

    def run(*words: str) -> list[str]:
        result = bare(*words, "--help")
        assert result.code == 0, result.err
        return result.out.splitlines()

    return run


def option_lines(lines: list[str]) -> list[str]:
    """The option names of a help text, in order (``-h`` first)."""
    return [line.split()[0].rstrip(",") for line in lines if line.startswith("  -")]


def test_settings_are_listed_once_in_the_top_level_help(help_of: Callable[..., list[str]]) -> None:
    top = help_of()
    assert top.count(SETTINGS_HEADING) == 1
    assert set(GLOBAL_FLAGS) <= set(option_lines(top))
    paths = command_paths()
    assert ("users", "create") in paths
    assert len(paths) > 25
    for path in paths:
        lines = help_of(*path)
        assert SETTINGS_HEADING not in lines, path
        assert not set(GLOBAL_FLAGS) & set(option_lines(lines)), path
        assert lines[-1].endswith("'sessionclaims --help' lists them."), path


def test_each_command_help_is_led_by_its_own_options(help_of: Callable[..., list[str]]) -> None:
    users = help_of("users")  # 46 lines when each help repeated the settings
    assert len(users) <= 20
    assert users[0] == "usage: sessionclaims users [-h] COMMAND ..."
    create = help_of("users", "create")
    assert len(create) <= 20
    assert create[0].startswith("usage: sessionclaims users create [-h] [--external-id ID]")
    assert option_lines(create)[:3] == ["-h", "--external-id", "--public"]
    verify = help_of("tokens", "verify")
    assert verify[0].startswith("usage: sessionclaims tokens verify [-h] [--jwks-url URL")
    assert option_lines(verify) == [
        "-h",
        "--jwks-url",
        "--jwks-file",
        "--cookie",
        "--required-claims",
    ]
    assert option_lines(help_of("config", "show")) == ["-h"]
    assert option_lines(help_of("serve"))[:2] == ["-h", "--host"]


def test_tokens_verify_help_says_when_azp_is_required(
    help_of: Callable[..., list[str]],
) -> None:
    text = " ".join(" ".join(help_of("tokens", "verify")).split())
    assert (
        "--cookie the token came from a cookie: when authorized parties are configured, "
        "a token without azp is then refused"
    ) in text


def test_global_options_may_follow_the_command(cli: Run) -> None:
    user_id = create_user(cli)
    result = cli("users", "get", user_id, "--json")
    assert result.code == 0
    assert result.json["id"] == user_id


def test_python_dash_m(db: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sessionclaims",
            "--database-url",
            db,
            "--issuer",
            ISSUER,
            "--json",
            "users",
            "get",
            "user_missing",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == "error: user 'user_missing' was not found\n"


# -- users -----------------------------------------------------------------------------
def test_users_create_get_and_list(cli: Run, tmp_path: Path) -> None:
    private = tmp_path / "private.json"
    private.write_text('{"stripe_id": "cus_123"}')
    result = cli(
        "--json",
        "users",
        "create",
        "--external-id",
        "ext-1",
        "--public",
        '{"role": "admin"}',
        "--private",
        f"@{private}",
        "--unsafe",
        '{"nickname": "Ada"}',
    )
    assert result.code == 0, result.err
    user = result.json
    assert user["object"] == "user"
    assert user["external_id"] == "ext-1"
    assert user["public_metadata"] == {"role": "admin"}
    assert user["private_metadata"] == {"stripe_id": "cus_123"}
    assert user["unsafe_metadata"] == {"nickname": "Ada"}

    text = cli("users", "get", user["id"])
    assert text.code == 0
    assert user["id"] in text.out
    assert '"stripe_id": "cus_123"' in text.out
    assert "ext-1" in text.out

    assert cli("--json", "users", "get", user["id"]).json == user
    listing = cli("--json", "users", "list")
    assert listing.json == {"data": [user], "total_count": 1}
    assert "(1 of 1 users)" in cli("users", "list").out


def test_users_aliases(cli: Run) -> None:
    user = cli("--json", "users", "create", "--trusted", '{"a": 1}', "--untrusted", '{"b": 2}').json
    assert user["public_metadata"] == {"a": 1}
    assert user["unsafe_metadata"] == {"b": 2}
    both = cli("users", "create", "--public", "{}", "--trusted", "{}")
    assert_error(both, "ambiguous_field")


def test_users_update_metadata_merges(cli: Run) -> None:
    user_id = create_user(cli, "--public", '{"role": "member", "plan": "free", "x": 1}')
    result = cli(
        "--json", "users", "update-metadata", user_id, "--public", '{"role": "admin", "x": null}'
    )
    assert result.code == 0, result.err
    assert result.json["public_metadata"] == {"role": "admin", "plan": "free"}
    text = cli("users", "update-metadata", user_id, "--private", '{"p": true}')
    assert text.code == 0
    assert '"p": true' in text.out


def test_users_replace_metadata_replaces(cli: Run) -> None:
    user_id = create_user(
        cli, "--public", '{"role": "member", "plan": "free"}', "--unsafe", '{"keep": 1}'
    )
    result = cli("--json", "users", "replace-metadata", user_id, "--public", '{"role": "admin"}')
    assert result.code == 0, result.err
    assert result.json["public_metadata"] == {"role": "admin"}
    assert result.json["unsafe_metadata"] == {"keep": 1}


def test_users_delete(cli: Run) -> None:
    user_id = create_user(cli)
    session = create_session(cli, user_id)["session"]
    result = cli("--json", "users", "delete", user_id)
    assert result.json == {"id": user_id, "object": "user", "deleted": True}
    assert_error(cli("users", "get", user_id), f"user {user_id!r} was not found")
    assert cli("--json", "sessions", "get", session["id"]).json["status"] == "revoked"
    assert_error(cli("users", "delete", user_id), "not found")
    assert "deleted user" in cli("users", "delete", create_user(cli)).out


def test_users_errors(cli: Run, tmp_path: Path) -> None:
    assert_error(cli("users", "get", "user_nope"), "user 'user_nope' was not found")
    assert_error(cli("users", "update-metadata", "user_nope", "--public", "{}"), "not found")
    assert_error(
        cli("users", "create", "--public", "{not json"),
        "--public",
        "invalid JSON",
        "line 1 column 2",
    )
    assert_error(cli("users", "create", "--public", "[1, 2]"), "--public", "JSON object")
    assert_error(
        cli("users", "create", "--private", f"@{tmp_path / 'missing.json'}"),
        "--private",
        "cannot read",
    )
    assert_error(cli("users", "update-metadata", "user_x"), "at least one tier", code=2)
    too_many = json.dumps({f"k{i}": i for i in range(21)})
    assert_error(cli("users", "create", "--public", too_many), "metadata_too_many_keys")
    assert_error(cli("users", "list", "--limit", "501"), "limit")


def test_commands_that_mint_no_token_need_no_issuer(bare: Run, db: str) -> None:
    base = ("--database-url", db)  # and no issuer anywhere
    created = bare(*base, "--json", "users", "create", "--external-id", "ada")
    assert created.code == 0, created.err
    user_id = created.json["id"]
    assert created.json["external_id"] == "ada"
    for args in (
        ("users", "get", user_id),
        ("users", "get", "--external-id", "ada"),
        ("users", "list"),
        ("users", "update-metadata", user_id, "--public", '{"role": "admin"}'),
        ("users", "replace-metadata", user_id, "--unsafe", '{"theme": "dark"}'),
        ("keys", "list"),
        ("keys", "rotate"),
        ("keys", "jwks"),
        ("sessions", "list"),
        ("config", "show"),
    ):
        result = bare(*base, *args)
        assert result.code == 0, (args, result.err)
        assert "no-issuer" not in result.out
    # the token-size budget still holds for metadata writes
    big = json.dumps({"role": "x" * 3900})
    assert_error(
        bare(*base, "--session-template", ROLE_TEMPLATE, "users", "create", "--public", big),
        "session_token_too_large",
    )
    # the commands that mint a token say what they miss, and the tokens carry the issuer
    assert_error(
        bare(*base, "sessions", "create", user_id),
        "issuer is required",
        "--issuer URL, SESSIONCLAIMS_ISSUER or issuer in the TOML file",
    )
    new = create_session(lambda *a: bare(*base, "--issuer", ISSUER, *a), user_id)
    assert bare("--json", "tokens", "inspect", new["token"]).json["claims"]["iss"] == ISSUER
    session_id = new["session"]["id"]
    assert bare(*base, "sessions", "get", session_id).code == 0
    assert bare(*base, "--json", "sessions", "revoke", session_id).json["status"] == "revoked"
    assert bare(*base, "users", "delete", user_id).code == 0


# -- sessions --------------------------------------------------------------------------
def test_sessions_create_get_list_revoke(cli: Run) -> None:
    user_id = create_user(cli)
    new = create_session(cli, user_id)
    assert set(new) == {"session", "token", "refresh_credential"}
    session = new["session"]
    assert session["object"] == "session"
    assert session["user_id"] == user_id
    assert session["status"] == "active"

    text = cli("sessions", "create", user_id)
    assert text.code == 0
    assert "token " in text.out
    assert "refresh_credential" in text.out

    assert cli("--json", "sessions", "get", session["id"]).json == session
    listing = cli("--json", "sessions", "list", "--user-id", user_id).json
    assert listing["total_count"] == 2
    revoked = cli("--json", "sessions", "revoke", session["id"]).json
    assert revoked["status"] == "revoked"
    active = cli("--json", "sessions", "list", "--status", "active").json
    assert [s["id"] for s in active["data"]] != [session["id"]]
    assert active["total_count"] == 1
    assert "status: revoked" in cli("sessions", "get", session["id"]).out
    assert "(2 of 2 sessions)" in cli("sessions", "list").out


def test_sessions_token(cli: Run) -> None:
    user_id = create_user(cli, "--public", '{"role": "admin", "plan": "pro"}')
    session_id = create_session(cli, user_id)["session"]["id"]
    templates = '{"reports": {"claims": {"plan": "{{user.public_metadata.plan}}"}, "aud": "r"}}'
    result = cli(
        "--session-template",
        ROLE_TEMPLATE,
        "--templates",
        templates,
        "sessions",
        "token",
        session_id,
    )
    assert result.code == 0, result.err
    jwt = result.out.strip()
    assert jwt.count(".") == 2
    claims = cli("--json", "tokens", "inspect", jwt).json["claims"]
    assert claims["role"] == "admin"
    assert claims["iss"] == ISSUER

    named = cli(
        "--json", "--templates", templates, "sessions", "token", session_id, "--template", "reports"
    )
    assert set(named.json) == {"jwt"}
    named_claims = cli("--json", "tokens", "inspect", named.json["jwt"]).json["claims"]
    assert named_claims["plan"] == "pro"
    assert named_claims["aud"] == "r"

    short = cli("--json", "sessions", "token", session_id, "--expires-in", "10").json["jwt"]
    short_claims = cli("--json", "tokens", "inspect", short).json["claims"]
    assert short_claims["exp"] - short_claims["iat"] == 10


def test_sessions_errors(cli: Run) -> None:
    assert_error(cli("sessions", "create", "user_nope"), "user 'user_nope' was not found")
    assert_error(cli("sessions", "get", "sess_nope"), "session 'sess_nope' was not found")
    assert_error(cli("sessions", "revoke", "sess_nope"), "not found")
    assert_error(cli("sessions", "token", "sess_nope"), "not found")
    session_id = create_session(cli, create_user(cli))["session"]["id"]
    assert_error(
        cli("sessions", "token", session_id, "--template", "nope"), "template 'nope' was not found"
    )
    assert_error(cli("sessions", "token", session_id, "--expires-in", "3600"), "expires_in_seconds")
    cli("sessions", "revoke", session_id)
    assert_error(cli("sessions", "token", session_id), "is revoked")
    assert_error(cli("sessions", "revoke", session_id))
    assert_error(
        cli(
            "sessions",
            "create",
            create_user(cli),
            "--origin",
            "https://x.example",
            "--authorized-party",
            "https://app.example.com",
        ),
        "invalid_origin",
    )


# -- keys ------------------------------------------------------------------------------
def test_keys_list_rotate_jwks(cli: Run) -> None:
    first = cli("--json", "keys", "list").json["data"]
    assert len(first) == 1
    assert first[0]["signing"] is True
    assert first[0]["alg"] == "ES256"
    assert set(first[0]) == {"kid", "alg", "created_at", "retire_at", "signing"}

    rotated = cli("--json", "keys", "rotate").json
    assert rotated["signing"] is True
    assert rotated["kid"] != first[0]["kid"]
    keys = {k["kid"]: k for k in rotated["keys"]}
    assert keys[first[0]["kid"]]["retire_at"] is not None
    assert keys[first[0]["kid"]]["signing"] is False

    jwks = cli("keys", "jwks").json
    assert {k["kid"] for k in jwks["keys"]} == set(keys)
    assert cli("--json", "keys", "jwks").json == jwks

    text = cli("keys", "list")
    assert rotated["kid"] in text.out
    assert first[0]["kid"] in text.out
    assert "rotated:" in cli("keys", "rotate").out


def test_no_secret_is_ever_printed(bare: Run, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONCLAIMS_KEY_ENCRYPTION_SECRET", "kek-secret-value")
    monkeypatch.setenv("SESSIONCLAIMS_PREVIOUS_KEY_ENCRYPTION_SECRETS", "old-kek-value")
    monkeypatch.setenv("SESSIONCLAIMS_FEED_KEYS", "fk_feed_value")
    base = ("--database-url", db, "--issuer", ISSUER, "--secret-key", "sk_test_secret_value")
    outputs = [
        bare(*base, "--json", "keys", "list"),
        bare(*base, "keys", "list"),
        bare(*base, "keys", "rotate"),
        bare(*base, "--json", "keys", "jwks"),
        bare(*base, "config", "show"),
        bare(*base, "--json", "config", "show"),
    ]
    for result in outputs:
        assert result.code == 0, result.err
        for secret in (
            "kek-secret-value",
            "old-kek-value",
            "fk_feed_value",
            "sk_test_secret_value",
            "PRIVATE KEY",
        ):
            assert secret not in result.out + result.err
    for key in bare(*base, "keys", "jwks").json["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    shown = bare(*base, "--json", "config", "show").json
    assert shown["secret_key"] == "<set>"
    assert shown["key_encryption_secret"] == "<set>"
    assert shown["previous_key_encryption_secrets"] == "<set>"
    assert shown["feed_keys"] == "<set>"
    assert shown["key_encryption"] == "aes-256-gcm"


# -- configuration ----------------------------------------------------------------------
def token_issuer(bare: Run, *args: str) -> str:
    """Mint a token with the settings ``args`` and return its ``iss``."""
    user = bare(*args, "--json", "users", "create")
    assert user.code == 0, user.err
    new = bare(*args, "--json", "sessions", "create", user.json["id"]).json
    issuer: str = bare("--json", "tokens", "inspect", new["token"]).json["claims"]["iss"]
    return issuer


def test_precedence_flag_over_env_over_toml(
    bare: Run, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "sessionclaims.toml"
    toml.write_text(
        f'[sessionclaims]\nissuer = "https://toml.example.com"\ndatabase_url = "{db}"\n'
        "token_lifetime = 120\n"
    )
    assert token_issuer(bare, "--config", str(toml)) == "https://toml.example.com"
    monkeypatch.setenv("SESSIONCLAIMS_ISSUER", "https://env.example.com")
    assert token_issuer(bare, "--config", str(toml)) == "https://env.example.com"
    assert token_issuer(bare, "--config", str(toml), "--issuer", "https://flag.example.com") == (
        "https://flag.example.com"
    )
    # the same resolution for commands that open no backend
    shown = bare("--config", str(toml), "--json", "config", "show").json
    assert shown["issuer"] == "https://env.example.com"
    assert shown["token_lifetime"] == 120
    assert shown["database_url"] == db
    monkeypatch.setenv("SESSIONCLAIMS_CONFIG", str(toml))
    monkeypatch.delenv("SESSIONCLAIMS_ISSUER")
    assert bare("--json", "config", "show").json["issuer"] == "https://toml.example.com"


def test_configuration_errors(bare: Run, db: str, tmp_path: Path) -> None:
    # only the commands that mint a token need the issuer
    assert_error(bare("--database-url", db, "sessions", "create", "user_x"), "issuer is required")
    assert_error(
        bare("--issuer", ISSUER, "--config", str(tmp_path / "nope.toml"), "users", "list"),
        "cannot read the config file",
    )
    broken = tmp_path / "broken.toml"
    broken.write_text("issuer = \n")
    assert_error(bare("--config", str(broken), "config", "show"), "not valid TOML")
    assert_error(
        bare("--issuer", ISSUER, "--database-url", "mysql://x/y", "users", "list"),
        "unknown store URL",
    )
    assert_error(
        bare("--issuer", ISSUER, "--session-template", "{", "config", "show"),
        "--session-template",
        "invalid JSON",
    )
    shown = bare("config", "show")
    assert shown.code == 0
    assert "no issuer configured" in shown.out


# -- tokens ----------------------------------------------------------------------------
@pytest.fixture
def minted(cli: Run) -> dict[str, Any]:
    user_id = create_user(cli, "--public", '{"role": "admin"}')
    return create_session(cli, user_id, "--session-template", ROLE_TEMPLATE)


def test_tokens_inspect_verifies_against_the_store(cli: Run, minted: dict[str, Any]) -> None:
    result = cli("tokens", "inspect", minted["token"])
    assert result.code == 0, result.err
    assert '"role": "admin"' in result.out
    assert "verifies" in result.out
    assert "does not verify" not in result.out
    # times as ISO 8601 too
    claims = cli("--json", "tokens", "inspect", minted["token"]).json["claims"]
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["exp"]))
    assert iso in result.out

    report = cli("--json", "tokens", "inspect", minted["token"]).json
    assert report["trusted"] is True
    assert report["header"]["alg"] == "ES256"
    assert report["claims"]["sid"] == minted["session"]["id"]
    assert report["times"]["exp"] == iso
    assert report["verification"]["verified"] is True


def test_tokens_inspect_without_keys_is_untrusted(bare: Run, minted: dict[str, Any]) -> None:
    result = bare("tokens", "inspect", minted["token"])
    assert result.code == 0, result.err
    assert "WITHOUT verification" in result.out
    assert "not checked" in result.out
    report = bare("--json", "tokens", "inspect", minted["token"]).json
    assert report["trusted"] is False
    assert report["verification"]["verified"] is None
    assert report["claims"]["role"] == "admin"


def test_tokens_inspect_says_why_not(cli: Run, minted: dict[str, Any]) -> None:
    wrong_issuer = cli("tokens", "inspect", minted["token"], "--issuer", "https://other.example")
    assert wrong_issuer.code == 0
    assert "does not verify: token-invalid-issuer" in wrong_issuer.out
    header, payload, signature = minted["token"].split(".")
    flipped = "A" if signature[10] != "A" else "B"
    forged = f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}"
    report = cli("--json", "tokens", "inspect", forged).json
    assert report["verification"]["verified"] is False
    assert report["verification"]["reason"] == "token-invalid-signature"
    assert report["trusted"] is False


def test_tokens_inspect_from_stdin_and_jwks_file(
    cli: Run, bare: Run, minted: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(cli("keys", "jwks").out)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"Bearer {minted['token']}\n"))
    result = bare("--json", "tokens", "inspect", "-", "--jwks-file", str(jwks))
    assert result.code == 0, result.err
    assert result.json["verification"]["verified"] is True
    assert result.json["verification"]["key_source"] == str(jwks)
    assert result.json["verification"]["issuer_checked"] is False
    assert result.json["trusted"] is False  # iss was not checked


def test_tokens_inspect_errors(bare: Run, cli: Run, minted: dict[str, Any], tmp_path: Path) -> None:
    assert_error(bare("tokens", "inspect", "not-a-token"), "cannot decode", "token-malformed")
    assert_error(bare("tokens", "inspect", "e30.e30x.c2ln"), "cannot decode")
    assert_error(bare("tokens", "inspect", "e30.WzFd.c2ln"), "not a JSON object")
    assert_error(
        bare("tokens", "inspect", minted["token"], "--jwks-file", str(tmp_path / "none.json")),
        "--jwks-file",
        "cannot read",
    )
    not_jwks = tmp_path / "not.json"
    not_jwks.write_text('{"kty": "EC"}')
    assert_error(
        bare("tokens", "inspect", minted["token"], "--jwks-file", str(not_jwks)), '"keys" array'
    )
    assert_error(
        bare(
            "tokens",
            "inspect",
            minted["token"],
            "--database-url",
            f"sqlite:///{tmp_path / 'absent.db'}",
        ),
        "no database at",
    )
    assert not (tmp_path / "absent.db").exists()  # inspect never creates a store
    assert bare("tokens", "inspect", "x", "--jwks-url", "u", "--jwks-file", "f").code == 2


@pytest.fixture
def jwks_server() -> Iterator[Callable[[int, bytes], str]]:
    """A local HTTP server answering every GET with a given status and body."""
    answer: dict[str, Any] = {"status": 200, "body": b"{}"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answer["status"])
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer["body"])

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(status: int, body: bytes) -> str:
        answer.update(status=status, body=body)
        return f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"

    yield serve
    server.shutdown()
    server.server_close()


def test_tokens_jwks_url(
    cli: Run, bare: Run, minted: dict[str, Any], jwks_server: Callable[[int, bytes], str]
) -> None:
    url = jwks_server(200, cli("keys", "jwks").out.encode())
    result = bare("--issuer", ISSUER, "tokens", "verify", minted["token"], "--jwks-url", url)
    assert result.code == 0, result.err
    assert f"verifies against {url}" in result.out
    url = jwks_server(404, b"{}")
    assert_error(bare("tokens", "inspect", minted["token"], "--jwks-url", url), "answered 404")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/jwks.json"
    assert_error(
        bare("tokens", "inspect", minted["token"], "--jwks-url", closed), "cannot fetch the JWKS"
    )
    assert_error(
        bare("tokens", "inspect", minted["token"], "--jwks-url", "file:///etc/passwd"),
        "http(s) URL",
        code=2,
    )


def test_tokens_verify(cli: Run, bare: Run, minted: dict[str, Any]) -> None:
    ok = cli("tokens", "verify", minted["token"])
    assert ok.code == 0, ok.err
    assert '"role": "admin"' in ok.out
    report = cli("--json", "tokens", "verify", minted["token"]).json
    assert report["verification"]["verified"] is True

    wrong = cli("tokens", "verify", minted["token"], "--issuer", "https://other.example")
    assert_error(
        wrong,
        "does not verify: token-invalid-issuer",
        f"the token's iss is {ISSUER!r} and the configured issuer is 'https://other.example'",
        "--issuer",
    )
    assert wrong.out == ""
    wrong_json = cli("--json", "tokens", "verify", minted["token"], "--issuer", "https://o.x")
    assert wrong_json.code == 1
    assert wrong_json.json["verification"]["reason"] == "token-invalid-issuer"

    assert_error(
        bare("--issuer", ISSUER, "tokens", "verify", minted["token"]), "needs a key source", code=2
    )
    assert_error(
        bare("tokens", "verify", minted["token"], "--jwks-file", "x.json"),
        "needs the issuer",
        code=2,
    )


def test_tokens_verify_uses_the_database_in_effect(
    bare: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no database URL anywhere: users and sessions go to ./sessionclaims.db, and verify
    # reads its keys from there too
    monkeypatch.setenv("SESSIONCLAIMS_ISSUER", ISSUER)
    user_id = create_user(bare)
    token = create_session(bare, user_id)["token"]
    assert bare("--json", "config", "show").json["database_url"] == "sqlite:///sessionclaims.db"
    ok = bare("tokens", "verify", token)
    assert ok.code == 0, ok.err
    assert ok.out.startswith("verifies against sqlite:///sessionclaims.db")
    report = bare("--json", "tokens", "verify", token).json
    assert report["verification"]["key_source"] == "sqlite:///sessionclaims.db"
    assert report["trusted"] is True

    # a database URL from the environment, and from the TOML file
    (tmp_path / "sessionclaims.db").rename(tmp_path / "moved.db")
    assert_error(bare("tokens", "verify", token), "needs a key source", "no database", code=2)
    assert not (tmp_path / "sessionclaims.db").exists()  # nothing was created
    inspected = bare("--json", "tokens", "inspect", token).json
    assert inspected["verification"]["verified"] is None
    monkeypatch.setenv("SESSIONCLAIMS_DATABASE_URL", f"sqlite:///{tmp_path / 'moved.db'}")
    assert bare("tokens", "verify", token).code == 0
    monkeypatch.delenv("SESSIONCLAIMS_DATABASE_URL")
    toml = tmp_path / "settings.toml"
    toml.write_text('database_url = "sqlite:///moved.db"\n')
    assert bare("--config", str(toml), "tokens", "verify", token).code == 0


READ_ONLY_COMMANDS = (
    ("keys", "list"),
    ("keys", "jwks"),
    ("users", "list"),
    ("users", "get", "user_x"),
    ("users", "get", "--external-id", "ada"),
    ("sessions", "list"),
    ("sessions", "get", "sess_x"),
    ("sessions", "token", "sess_x"),
    ("organizations", "list"),
    ("organizations", "get", "acme"),
    ("memberships", "list", "--org", "org_x"),
    ("memberships", "get", "org_x", "user_x"),
)


def test_read_only_commands_never_create_the_default_database(
    bare: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no database URL anywhere and no ./sessionclaims.db: reading commands refuse, saying
    # where they looked and how to point at a database, and create nothing
    monkeypatch.setenv("SESSIONCLAIMS_ISSUER", ISSUER)
    for command in READ_ONLY_COMMANDS:
        assert_error(
            bare(*command),
            f"{' '.join(command[:2])}: no database exists at the default "
            "sqlite:///sessionclaims.db",
            str(tmp_path / "sessionclaims.db"),
            "--database-url",
            "SESSIONCLAIMS_DATABASE_URL",
            code=2,
        )
    templates = tmp_path / "t.json"
    templates.write_text("{}")
    assert_error(
        bare("templates", "check", str(templates), "--user", "user_x"), "no database", code=2
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]  # nothing created

    # a write creates it; then the reads read it
    user_id = create_user(bare)
    assert (tmp_path / "sessionclaims.db").exists()
    assert bare("--json", "users", "get", user_id).json["id"] == user_id
    assert bare("--json", "keys", "list").json["data"]
    # a database URL that is given is opened as before
    elsewhere = f"sqlite:///{tmp_path / 'other.db'}"
    assert bare("--database-url", elsewhere, "users", "list").code == 0


def test_tokens_verify_cookie_and_required_claims(cli: Run, minted: dict[str, Any]) -> None:
    # minted without authorized parties: the token carries no azp
    party = ("--authorized-party", "https://app.example.com")
    assert cli(*party, "tokens", "verify", minted["token"]).code == 0
    # azp is required of a cookie token only when authorized parties are configured
    assert cli("tokens", "verify", minted["token"], "--cookie").code == 0
    assert_error(
        cli(*party, "tokens", "verify", minted["token"], "--cookie"),
        "token-invalid-authorized-party",
        "the token carries no azp",
    )
    assert_error(
        cli("tokens", "verify", minted["token"], "--required-claims", "sub,org"),
        "token-missing-claim",
        "'org'",
    )


def test_tokens_verify_expired(bare: Run, tmp_path: Path) -> None:
    key = SigningKey.generate("ES256")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.public_key.to_jwk()]}))
    now = int(time.time())
    token = encode_token(
        {
            "iss": ISSUER,
            "sub": "user_1",
            "sid": "sess_1",
            "iat": now - 600,
            "nbf": now - 605,
            "exp": now - 540,
        },
        key,
    )
    args = ("--issuer", ISSUER, "tokens")
    assert_error(
        bare(*args, "verify", token, "--jwks-file", str(jwks)),
        "token-expired",
        "it expired 9 min ago",
        "sessionclaims sessions token SESSION_ID",
    )
    other = encode_token(
        {"iss": ISSUER, "sub": "u", "sid": "s", "iat": now, "exp": now + 60},
        SigningKey.generate("ES256"),
    )
    assert_error(
        bare(*args, "verify", other, "--jwks-file", str(jwks)),
        "token-unknown-key",
        f"no key of {jwks} has kid",
        "--jwks-url",
    )
    inspected = bare(*args, "inspect", token, "--jwks-file", str(jwks))
    assert inspected.code == 0
    assert "does not verify: token-expired" in inspected.out
    assert "min ago" in inspected.out


# -- templates -------------------------------------------------------------------------
def write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_templates_check_empty_user(cli: Run, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.json",
        {
            "role": "{{user.public_metadata.role || 'member'}}",
            "org": {"plan": "{{user.public_metadata.plan}}"},
        },
    )
    result = cli("templates", "check", path)
    assert result.code == 0, result.err
    assert '"role": "member"' in result.out
    assert "of 4000 bytes" in result.out
    assert "OK" in result.out
    report = cli("--json", "templates", "check", path).json
    assert report["ok"] is True
    assert report["session_template"]["claims"] == {"role": "member", "org": {}}
    assert 300 < report["session_template"]["token_bytes"] < 4000
    assert report["session_template"]["max_token_bytes"] == 4000


def test_templates_check_for_a_user_with_named_templates(cli: Run, tmp_path: Path) -> None:
    user_id = create_user(
        cli, "--public", '{"role": "admin", "plan": "pro"}', "--unsafe", '{"nickname": "Ada"}'
    )
    path = write(
        tmp_path,
        "settings.json",
        {
            "session_template": {
                "role": "{{user.public_metadata.role}}",
                "nick": "{{user.unsafe_metadata.nickname}}",
            },
            "templates": {
                "reports": {
                    "claims": {"plan": "{{user.public_metadata.plan}}"},
                    "lifetime": 300,
                    "aud": "reports-service",
                }
            },
        },
    )
    result = cli("templates", "check", path, "--user", user_id)
    assert result.code == 0, result.err
    assert user_id in result.out
    assert "'reports'" in result.out
    assert "reads user.unsafe_metadata" in result.err  # the library's load-time warning
    report = cli("--json", "templates", "check", path, "--user", user_id).json
    assert report["session_template"]["claims"] == {"role": "admin", "nick": "Ada"}
    assert report["session_template"]["reads_unsafe"] is True
    assert report["templates"]["reports"]["claims"] == {"plan": "pro"}
    assert report["templates"]["reports"]["aud"] == "reports-service"
    # the session token minted for this user is no larger than the reported budget figure
    session = create_session(
        cli,
        user_id,
        "--session-template",
        json.dumps(json.loads(Path(path).read_text())["session_template"]),
    )
    assert len(session["token"]) <= report["session_template"]["token_bytes"]


def test_templates_check_errors(cli: Run, tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.json", {"org": {"plan": "{{user.public_metadata.plan"}})
    assert_error(cli("templates", "check", bad), "'org.plan'", "column 1", "never closed")
    unknown = write(tmp_path, "unknown.json", {"role": "{{user.emial}}"})
    assert_error(cli("templates", "check", unknown), "user.emial", "'role'", "column 3")
    private = write(tmp_path, "private.json", {"p": "{{user.private_metadata.x}}"})
    assert_error(cli("templates", "check", private), "private_metadata")
    reserved = write(tmp_path, "reserved.json", {"sub": "x"})
    assert_error(cli("templates", "check", reserved), "'sub' is a reserved claim")
    named = write(tmp_path, "named.json", {"templates": {"r": {"claims": {}, "lifetime": 0}}})
    assert_error(cli("templates", "check", named), "named template 'r'", "lifetime")
    assert_error(cli("templates", "check", write(tmp_path, "x.json", "{")), "invalid JSON")
    assert_error(cli("templates", "check", write(tmp_path, "l.json", "[]")), "JSON object")
    assert_error(cli("templates", "check", str(tmp_path / "none.json")), "cannot read")
    good = write(tmp_path, "good.json", {"role": "{{user.public_metadata.role}}"})
    assert_error(cli("templates", "check", good, "--user", "user_nope"), "not found")


def test_templates_check_over_budget(cli: Run, tmp_path: Path) -> None:
    user_id = create_user(cli, "--public", json.dumps({"blob": "x" * 1200}))
    path = write(tmp_path, "t.json", {"blob": "{{user.public_metadata.blob}}"})
    result = cli("--max-token-bytes", "1000", "templates", "check", path, "--user", user_id)
    assert_error(result, "would be", "the limit is 1000")
    assert "OVER BUDGET" in result.out
    report = cli(
        "--json", "--max-token-bytes", "1000", "templates", "check", path, "--user", user_id
    )
    assert report.code == 1
    assert report.json["ok"] is False
    assert report.json["session_template"]["token_bytes"] > 1000
    assert cli("templates", "check", path, "--user", user_id).code == 0  # 4000 fits


# -- serve and demo --------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(url: str, process: subprocess.Popen[str], timeout: float = 10.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"exited with {process.returncode}: {out}\n{err}")
        try:
            return httpx.get(url, timeout=1.0)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                pytest.fail(f"{url} did not answer within {timeout} s")
            time.sleep(0.05)


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.terminate()
    try:
        return process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


def spawn(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sessionclaims", *args],
        env={**os.environ, **env},
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_serve(cli: Run, db: str, tmp_path: Path) -> None:
    jwks = cli("keys", "jwks").json
    port = free_port()
    process = spawn(
        "serve",
        "--port",
        str(port),
        env={
            "SESSIONCLAIMS_DATABASE_URL": db,
            "SESSIONCLAIMS_ISSUER": ISSUER,
            "SESSIONCLAIMS_SECRET_KEY": "sk_test_serve",
        },
        cwd=tmp_path,
    )
    try:
        response = wait_for(f"http://127.0.0.1:{port}/.well-known/jwks.json", process)
        assert response.status_code == 200
        assert response.json() == jwks
        users = httpx.post(
            f"http://127.0.0.1:{port}/v1/users",
            json={},
            headers={"Authorization": "Bearer sk_test_serve"},
        )
        assert users.status_code == 201
    finally:
        out, err = stop(process)
    assert f"http://127.0.0.1:{port}" in out
    assert "sk_test_serve" not in out + err
    assert "Application shutdown complete" in err  # the backend was closed in the lifespan
    # The server re-encrypted the keys under its secret key: admin commands run with the
    # app's configuration (docs/security.md).
    assert cli("--secret-key", "sk_test_serve", "--json", "users", "list").json["total_count"] == 1
    assert_error(cli("users", "list"), "does not decrypt", "previous_key_encryption_secrets")


def test_serve_errors(bare: Run, cli: Run) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert_error(cli("serve", "--port", str(busy.getsockname()[1])), "cannot listen")
    assert_error(bare("serve", "--port", str(free_port())), "issuer is required")


def test_demo_needs_the_source_checkout(
    bare: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_serve, "CHECKOUT_ROOT", tmp_path / "installed")
    result = bare("demo", "--port", str(free_port()))
    assert_error(result, "examples/demo/app.py", "source checkout")


def test_demo_without_create_app(bare: Run, tmp_path: Path) -> None:
    demo_dir = tmp_path / "examples" / "demo"
    demo_dir.mkdir(parents=True)
    (demo_dir / "app.py").write_text("app = None\n")
    assert_error(bare("demo"), "no create_app")
    (demo_dir / "app.py").write_text("raise ImportError('jinja2 is missing')\n")
    assert_error(bare("demo"), "cannot load the demo", "jinja2 is missing")
    (demo_dir / "app.py").write_text(FAKE_DEMO)
    assert_error(bare("demo", "--port", "0", "--fresh"), "cannot start over")


FAKE_DEMO = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


def create_app(database_url: str) -> Starlette:
    async def home(request):
        return PlainTextResponse("demo on " + database_url)

    return Starlette(routes=[Route("/", home)])
"""


@pytest.mark.slow
def test_demo_serves_the_checkout_demo(tmp_path: Path) -> None:
    demo_dir = tmp_path / "examples" / "demo"
    demo_dir.mkdir(parents=True)
    (demo_dir / "app.py").write_text(FAKE_DEMO)
    port = free_port()
    process = spawn("demo", "--port", str(port), env={}, cwd=tmp_path)
    try:
        response = wait_for(f"http://127.0.0.1:{port}/", process)
    finally:
        out, _ = stop(process)
    assert response.status_code == 200
    assert response.text == f"demo on sqlite:///{tmp_path / 'sessionclaims-demo.db'}"
    assert f"Open http://127.0.0.1:{port} in your browser" in out
    assert "a new database" in out  # the first run in this directory keeps nothing yet


def test_demo_banner_says_whether_data_was_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert _serve._is_new_sqlite_file(url)
    assert _serve._is_new_sqlite_file(url + "?busy_timeout=10")
    (tmp_path / "demo.db").write_bytes(b"")
    assert not _serve._is_new_sqlite_file(url)
    assert not _serve._is_new_sqlite_file("postgresql://app@db/demo")


@pytest.mark.slow
@pytest.mark.skipif(_serve.find_demo() is None, reason="examples/demo/app.py is not written yet")
def test_demo_real(tmp_path: Path) -> None:
    port = free_port()
    process = spawn("demo", "--port", str(port), "--fresh", env={}, cwd=tmp_path)
    try:
        response = wait_for(f"http://127.0.0.1:{port}/", process, timeout=15)
    finally:
        out, _ = stop(process)
    assert response.status_code == 200
    assert "sessionclaims demo" in response.text
    assert "starting over" in out
    assert f"Open http://127.0.0.1:{port} in your browser" in out
    assert (tmp_path / "sessionclaims-demo.db").exists()


def test_users_found_by_external_id(cli: Run) -> None:
    user_id = create_user(cli, "--external-id", "auth0|42")
    got = cli("--json", "users", "get", "--external-id", "auth0|42")
    assert got.code == 0, got.err
    assert got.json["id"] == user_id
    listed = cli("--json", "users", "list", "--external-id", "auth0|42")
    assert [u["id"] for u in listed.json["data"]] == [user_id]
    assert cli("--json", "users", "list", "--external-id", "auth0|4").json["total_count"] == 0
    assert_error(cli("users", "get", "--external-id", "nobody"), "external_id 'nobody'")
    # the errors say what to run: an id of the app's own is looked up with --external-id
    assert_error(
        cli("users", "get", "auth0|42"),
        "user 'auth0|42' was not found",
        "sessionclaims users get --external-id auth0|42",
    )
    assert_error(
        cli("users", "create", "--external-id", "auth0|42"),
        "external_id 'auth0|42'",
        "sessionclaims users get --external-id auth0|42",
    )
    assert cli("users", "get").code == 2  # USER_ID or --external-id
    assert cli("users", "get", user_id, "--external-id", "auth0|42").code == 2


# -- organizations and memberships -------------------------------------------------------
ROLES_JSON = '{"org:admin": ["org:invoices:read", "org:invoices:write"], "org:member": []}'


def create_org(cli: Run, *args: str) -> dict[str, Any]:
    result = cli("--json", "organizations", "create", *args)
    assert result.code == 0, result.err
    org: dict[str, Any] = result.json
    return org


def test_organizations_create_get_list_update_delete(cli: Run, tmp_path: Path) -> None:
    private = tmp_path / "private.json"
    private.write_text('{"stripe": "cus_1"}')
    admin = create_user(cli)
    org = create_org(
        cli,
        "Acme Corp",
        "--slug",
        "acme",
        "--created-by",
        admin,
        "--trusted",
        '{"plan": "pro"}',
        "--private",
        f"@{private}",
    )
    assert org["object"] == "organization"
    assert (org["name"], org["slug"], org["members_count"]) == ("Acme Corp", "acme", 1)
    assert org["public_metadata"] == {"plan": "pro"}
    assert org["private_metadata"] == {"stripe": "cus_1"}
    assert cli("--json", "organizations", "get", org["id"]).json == org
    assert cli("--json", "organizations", "get", "acme").json == org
    text = cli("organizations", "get", "acme")
    assert text.code == 0
    assert org["id"] in text.out
    assert '"stripe": "cus_1"' in text.out

    other = create_org(cli, "Globex")
    assert other["slug"]
    listing = cli("--json", "organizations", "list").json
    assert [o["id"] for o in listing["data"]] == [org["id"], other["id"]]
    assert listing["total_count"] == 2
    found = cli("--json", "organizations", "list", "--query", "GLOB").json
    assert [o["id"] for o in found["data"]] == [other["id"]]
    assert "(2 of 2 organizations)" in cli("organizations", "list").out

    updated = cli(
        "--json", "organizations", "update", org["id"], "--name", "Acme Inc", "--slug", "acme-inc"
    ).json
    assert (updated["name"], updated["slug"]) == ("Acme Inc", "acme-inc")

    merged = cli(
        "--json",
        "organizations",
        "update-metadata",
        org["id"],
        "--public",
        '{"plan": null, "region": "eu"}',
    ).json
    assert merged["public_metadata"] == {"region": "eu"}
    replaced = cli("--json", "organizations", "replace-metadata", org["id"], "--private", "{}").json
    assert replaced["private_metadata"] == {}
    assert replaced["public_metadata"] == {"region": "eu"}

    deleted = cli("--json", "organizations", "delete", org["id"])
    assert deleted.json == {"id": org["id"], "object": "organization", "deleted": True}
    assert "deleted organization" in cli("organizations", "delete", other["id"]).out
    assert_error(cli("organizations", "get", org["id"]), "not found")


def test_organizations_errors(cli: Run) -> None:
    create_org(cli, "Acme", "--slug", "acme")
    assert_error(cli("organizations", "create", "Other", "--slug", "acme"))  # taken
    assert_error(cli("organizations", "create", "Bad", "--slug", "Not A Slug"), "slug")
    assert_error(cli("organizations", "create", "X", "--created-by", "user_nope"), "not found")
    assert_error(cli("organizations", "create", "X", "--public", "[1]"), "--public", "JSON object")
    assert_error(cli("organizations", "get", "nope"), "not found")
    assert_error(cli("organizations", "update-metadata", "org_x"), "at least one tier", code=2)
    assert_error(cli("organizations", "update", "org_x"), "--name or --slug", code=2)
    assert_error(cli("organizations", "list", "--limit", "501"), "limit")
    assert cli("organizations", "create", "X", "--unsafe", "{}").code == 2  # no unsafe tier


def test_memberships_commands(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONCLAIMS_ROLES", ROLES_JSON)
    admin, member = create_user(cli), create_user(cli)
    org = create_org(cli, "Acme", "--created-by", admin)
    created = cli("--json", "memberships", "create", org["id"], member)
    assert created.code == 0, created.err
    membership = created.json
    assert membership["object"] == "organization_membership"
    assert (membership["user_id"], membership["role"]) == (member, "org:member")
    assert cli("--json", "memberships", "get", org["id"], member).json == membership

    listing = cli("--json", "memberships", "list", "--org", org["id"]).json
    assert [m["user_id"] for m in listing["data"]] == [admin, member]
    mine = cli("--json", "memberships", "list", "--user", member).json
    assert [m["organization_id"] for m in mine["data"]] == [org["id"]]
    assert "(2 of 2 memberships)" in cli("memberships", "list", "--org", org["id"]).out

    promoted = cli("--json", "memberships", "update", org["id"], member, "--role", "org:admin").json
    assert promoted["role"] == "org:admin"
    assert promoted["permissions"] == ["org:invoices:read", "org:invoices:write"]
    merged = cli(
        "--json", "memberships", "update-metadata", org["id"], member, "--public", '{"seat": 3}'
    ).json
    assert merged["public_metadata"] == {"seat": 3}
    replaced = cli(
        "--json", "memberships", "replace-metadata", org["id"], member, "--trusted", '{"d": 1}'
    ).json
    assert replaced["public_metadata"] == {"d": 1}
    text = cli("memberships", "get", org["id"], member)
    assert "role: org:admin" in text.out

    deleted = cli("--json", "memberships", "delete", org["id"], member).json
    assert deleted == {"id": membership["id"], "object": "organization_membership", "deleted": True}
    assert_error(cli("memberships", "get", org["id"], member))  # gone


def test_templates_check_with_an_active_organization(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESSIONCLAIMS_ROLES", ROLES_JSON)
    admin, outsider = create_user(cli), create_user(cli)
    org = create_org(
        cli, "Acme", "--slug", "acme", "--created-by", admin, "--public", '{"plan": "pro"}'
    )
    path = write(
        tmp_path,
        "org.json",
        {
            "session_template": {
                "plan": "{{org.public_metadata.plan}}",
                "perms": "{{membership.permissions}}",
            },
            "templates": {"billing": {"claims": {"org": "{{org.slug}}"}, "lifetime": 60}},
        },
    )
    plain = cli("--json", "templates", "check", path, "--user", admin).json
    assert plain["organization_id"] is None
    assert plain["session_template"]["claims"] == {}
    for wanted in (org["id"], "acme"):
        result = cli("templates", "check", path, "--user", admin, "--organization", wanted)
        assert result.code == 0, result.err
        assert f"with {org['id']} active" in result.out
        report = cli(
            "--json", "templates", "check", path, "--user", admin, "--organization", wanted
        ).json
        assert report["organization_id"] == org["id"]
        assert report["session_template"]["claims"] == {
            "plan": "pro",
            "perms": ["org:invoices:read", "org:invoices:write"],
        }
        assert report["templates"]["billing"]["claims"] == {"org": "acme"}
        # the four organization claims count too
        assert report["session_template"]["token_bytes"] > plain["session_template"]["token_bytes"]
    # the figure bounds the token the member's session with the organization gets
    session = create_session(
        cli,
        admin,
        "--active-organization",
        org["id"],
        "--session-template",
        json.dumps(json.loads(Path(path).read_text())["session_template"]),
    )
    assert len(session["token"]) <= report["session_template"]["token_bytes"]
    assert_error(
        cli("templates", "check", path, "--user", outsider, "--organization", "acme"),
        "not a member",
    )
    assert_error(
        cli("templates", "check", path, "--user", admin, "--organization", "nope"), "not found"
    )
    assert_error(cli("templates", "check", path, "--organization", "acme"), "needs --user")


def test_memberships_errors(cli: Run) -> None:
    admin = create_user(cli)
    org = create_org(cli, "Acme", "--created-by", admin)
    assert_error(cli("memberships", "create", org["id"], admin))  # a member already
    assert_error(cli("memberships", "create", org["id"], create_user(cli), "--role", "x"), "role")
    assert_error(cli("memberships", "create", "org_nope", admin), "not found")
    assert_error(cli("memberships", "update", org["id"], "user_nope", "--role", "org:member"))
    assert cli("memberships", "list").code == 2  # --org or --user
    assert cli("memberships", "update", org["id"], admin).code == 2  # --role missing


def test_organization_commands_take_a_slug(cli: Run) -> None:
    # every ORG argument is an id or a slug; a slug is resolved to its organization
    admin, member = create_user(cli), create_user(cli)
    org = create_org(cli, "Acme Co", "--slug", "acme-co", "--created-by", admin)
    renamed = cli("--json", "organizations", "update", "acme-co", "--name", "Acme Inc").json
    assert (renamed["id"], renamed["name"]) == (org["id"], "Acme Inc")
    meta = cli("--json", "organizations", "update-metadata", "acme-co", "--public", '{"a": 1}')
    assert meta.json["public_metadata"] == {"a": 1}
    replaced = cli("--json", "organizations", "replace-metadata", "acme-co", "--public", "{}")
    assert replaced.json["public_metadata"] == {}
    created = cli("--json", "memberships", "create", "acme-co", member).json
    assert created["organization_id"] == org["id"]
    assert cli("--json", "memberships", "get", "acme-co", member).json == created
    listed = cli("--json", "memberships", "list", "--org", "acme-co").json
    assert listed["total_count"] == 2
    promoted = cli("--json", "memberships", "update", "acme-co", member, "--role", "org:admin")
    assert promoted.json["role"] == "org:admin"
    seat = ("--public", '{"seat": 1}')
    assert cli("--json", "memberships", "update-metadata", "acme-co", member, *seat).code == 0
    assert cli("--json", "memberships", "replace-metadata", "acme-co", member, *seat).code == 0
    session = create_session(cli, member, "--active-organization", "acme-co")
    assert session["session"]["active_organization_id"] == org["id"]
    switched = cli("--json", "sessions", "set-organization", session["session"]["id"], "acme-co")
    assert switched.json["session"]["active_organization_id"] == org["id"]
    removed = cli("memberships", "delete", "acme-co", member)
    assert f"from {org['id']}" in removed.out
    deleted = cli("--json", "organizations", "delete", "acme-co").json
    assert deleted == {"id": org["id"], "object": "organization", "deleted": True}
    # a slug no organization has is not found, by that name
    assert_error(cli("memberships", "create", "acme-co", member), "'acme-co'", "not found")
    assert "ORG_ID_OR_SLUG" in cli("organizations", "update", "--help").out


def test_sessions_with_an_active_organization(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONCLAIMS_ROLES", ROLES_JSON)
    admin, outsider = create_user(cli), create_user(cli)
    org = create_org(cli, "Acme", "--slug", "acme", "--created-by", admin)
    new = create_session(cli, admin, "--active-organization", org["id"])
    assert new["session"]["active_organization_id"] == org["id"]
    claims = cli("--json", "tokens", "inspect", new["token"]).json["claims"]
    assert (claims["org_id"], claims["org_slug"], claims["org_role"]) == (
        org["id"],
        "acme",
        "org:admin",
    )

    session_id = create_session(cli, admin)["session"]["id"]
    switched = cli("--json", "sessions", "set-organization", session_id, org["id"])
    assert switched.code == 0, switched.err
    assert set(switched.json) == {"session", "jwt"}
    assert switched.json["session"]["active_organization_id"] == org["id"]
    claims = cli("--json", "tokens", "inspect", switched.json["jwt"]).json["claims"]
    assert claims["org_permissions"] == ["org:invoices:read", "org:invoices:write"]
    assert f"organization    {org['id']}" in cli("sessions", "get", session_id).out

    cleared = cli("--json", "sessions", "set-organization", session_id, "--clear").json
    assert cleared["session"]["active_organization_id"] is None
    claims = cli("--json", "tokens", "inspect", cleared["jwt"]).json["claims"]
    assert "org_id" not in claims

    assert_error(
        cli("sessions", "create", outsider, "--active-organization", org["id"]), "not_a_member"
    )
    other_session = create_session(cli, outsider)["session"]["id"]
    assert_error(cli("sessions", "set-organization", other_session, org["id"]), "not_a_member")
    assert cli("sessions", "set-organization", session_id).code == 2  # ORG_ID or --clear
    assert cli("sessions", "set-organization", session_id, org["id"], "--clear").code == 2


def test_organization_commands_need_no_issuer(bare: Run, db: str) -> None:
    base = ("--database-url", db)  # and no issuer anywhere
    user_id = bare(*base, "--json", "users", "create").json["id"]
    created = bare(*base, "--json", "organizations", "create", "Acme", "--created-by", user_id)
    assert created.code == 0, created.err
    org_id = created.json["id"]
    for args in (
        ("organizations", "get", org_id),
        ("organizations", "list"),
        ("organizations", "update", org_id, "--name", "Acme Inc"),
        ("organizations", "update-metadata", org_id, "--public", '{"plan": "pro"}'),
        ("memberships", "list", "--org", org_id),
        ("memberships", "update", org_id, user_id, "--role", "org:member"),
        ("memberships", "replace-metadata", org_id, user_id, "--private", '{"n": 1}'),
        ("memberships", "delete", org_id, user_id),
        ("organizations", "delete", org_id),
    ):
        result = bare(*base, *args)
        assert result.code == 0, (args, result.err)
        assert "no-issuer" not in result.out
