"""The argument parser of ``sessionclaims``: commands, their options and help texts."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..__about__ import __version__
from ..keys import ALGORITHMS
from ..models import SESSION_STATUSES
from . import _organizations as orgs
from . import _resources as res
from ._common import Output
from ._serve import demo, serve
from ._templates import templates_check
from ._tokens import tokens_inspect, tokens_verify

__all__ = ["Handler", "build_parser"]

Handler = Callable[[argparse.Namespace, Output], int]

_DESCRIPTION = """\
Manage a sessionclaims backend: users and their metadata, organizations and their
memberships, sessions and their tokens, signing keys; inspect and verify tokens; check
claims templates; serve the HTTP API.

Settings come from flags, then SESSIONCLAIMS_* environment variables, then a TOML file
(--config or SESSIONCLAIMS_CONFIG), in that order of precedence. Global options may be
given before or after the command. Errors: one 'error: ...' line on stderr, exit 1
(2 for usage errors)."""


_GLOBAL_NOTE = """\
Settings (--database-url, --issuer, --config, ...), --json and --traceback may be given
before or after the command: 'sessionclaims --help' lists them."""


def _add_global_options(parser: argparse.ArgumentParser, *, listed: bool) -> None:
    """Add the options every command accepts to ``parser``, which must have been made
    with ``argument_default=SUPPRESS``: a value given before the command is then not reset
    by the command's parser (see GLOBAL_DEFAULTS).

    They are ``listed`` in ``sessionclaims --help`` only: each command's help shows its
    own options and points there (_GLOBAL_NOTE)."""

    def shown(text: str) -> str:
        return text if listed else argparse.SUPPRESS

    settings = parser.add_argument_group(
        "settings (flags > SESSIONCLAIMS_* environment > TOML file)"
    )
    settings.add_argument(
        "--config",
        metavar="FILE",
        help=shown("TOML settings file (default: $SESSIONCLAIMS_CONFIG)"),
    )
    settings.add_argument(
        "--database-url",
        metavar="URL",
        help=shown("sqlite:///path.db, sqlite:////abs/path.db or postgresql://..."),
    )
    settings.add_argument(
        "--issuer",
        metavar="URL",
        help=shown("the exact 'iss' of every token (needed by commands that mint or verify one)"),
    )
    settings.add_argument(
        "--secret-key",
        metavar="KEY",
        help=shown(
            "guards the HTTP backend API (prefer SESSIONCLAIMS_SECRET_KEY: flags show in ps)"
        ),
    )
    settings.add_argument(
        "--authorized-party",
        metavar="ORIGIN",
        action="append",
        help=shown("an allowed azp origin; repeat for several"),
    )
    settings.add_argument(
        "--session-template",
        metavar="JSON",
        help=shown("the session claims template: JSON or @FILE.json"),
    )
    settings.add_argument(
        "--templates",
        metavar="JSON",
        help=shown("named templates {name: {claims, lifetime, aud}}: JSON or @FILE"),
    )
    settings.add_argument(
        "--token-lifetime",
        metavar="SECONDS",
        type=int,
        help=shown("session token lifetime (default 60)"),
    )
    settings.add_argument(
        "--max-token-bytes",
        metavar="N",
        type=int,
        help=shown("session token size budget (default 4000)"),
    )
    settings.add_argument(
        "--signing-algorithm",
        choices=sorted(ALGORITHMS),
        help=shown("algorithm of new signing keys (default ES256)"),
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--json",
        action="store_true",
        help=shown("machine-readable JSON on stdout (the HTTP API's object shapes)"),
    )
    output.add_argument(
        "--traceback",
        action="store_true",
        help=shown("show the traceback of an error instead of one line"),
    )


class _Builder:
    def __init__(self, common: argparse.ArgumentParser) -> None:
        self.common = common

    def group(
        self, parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str
    ) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        parser = parent.add_parser(
            name,
            help=help,
            description=help,
            epilog=_GLOBAL_NOTE,
            parents=[self.common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(
        self,
        parent: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        handler: Handler,
        help: str,
        description: str | None = None,
    ) -> argparse.ArgumentParser:
        parser = parent.add_parser(
            name,
            help=help,
            description=description or help,
            epilog=_GLOBAL_NOTE,
            parents=[self.common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.set_defaults(handler=handler)
        return parser


def _metadata_options(parser: argparse.ArgumentParser, *, unsafe: bool = True) -> None:
    """The metadata tier flags; ``unsafe=False`` for organizations and memberships, which
    have no user-writable tier."""
    tiers = parser.add_argument_group("metadata (each a JSON object or @FILE.json)")
    tiers.add_argument(
        "--public", metavar="JSON", help="public_metadata: backend-written, readable in tokens"
    )
    tiers.add_argument(
        "--private", metavar="JSON", help="private_metadata: backend-only, never in tokens"
    )
    if unsafe:
        tiers.add_argument("--unsafe", metavar="JSON", help="unsafe_metadata: user-writable")
    tiers.add_argument("--trusted", metavar="JSON", help="alias of --public")
    if unsafe:
        tiers.add_argument("--untrusted", metavar="JSON", help="alias of --unsafe")


def _paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=100, help="at most 500 (default 100)")
    parser.add_argument("--offset", type=int, default=0)


def _users(b: _Builder, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = b.group(sub, "users", "users and their metadata")
    p = b.command(users, "create", res.users_create, "create a user")
    p.add_argument("--external-id", metavar="ID", help="your own id for the user")
    _metadata_options(p)
    p = b.command(users, "get", res.users_get, "show a user with all three metadata tiers")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("user_id", metavar="USER_ID", nargs="?", help="the user's id")
    which.add_argument("--external-id", metavar="ID", help="find the user by your own id")
    p = b.command(users, "list", res.users_list, "list users, oldest first")
    p.add_argument("--external-id", metavar="ID", help="only the user with this id of yours")
    _paging(p)
    p = b.command(
        users,
        "update-metadata",
        res.users_update_metadata,
        "merge metadata into a user's tiers",
        "Merge: each top-level key given replaces the stored one; null deletes it.\n"
        "Sessions whose claims change get a fresh token on their next request.",
    )
    p.add_argument("user_id", metavar="USER_ID")
    _metadata_options(p)
    p = b.command(
        users,
        "replace-metadata",
        res.users_replace_metadata,
        "replace whole metadata tiers of a user",
        "Replace: each tier given is replaced whole ({} clears it); other tiers stay.",
    )
    p.add_argument("user_id", metavar="USER_ID")
    _metadata_options(p)
    p = b.command(users, "delete", res.users_delete, "delete a user and revoke its sessions")
    p.add_argument("user_id", metavar="USER_ID")


def _sessions(b: _Builder, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sessions = b.group(sub, "sessions", "sessions and their tokens")
    p = b.command(
        sessions,
        "create",
        res.sessions_create,
        "create a session for a user your app has authenticated",
        "Prints the session, its first token and its refresh credential (shown once).",
    )
    p.add_argument("user_id", metavar="USER_ID")
    p.add_argument(
        "--origin", metavar="ORIGIN", help="the tokens' azp (default: the first authorized party)"
    )
    p.add_argument(
        "--active-organization",
        metavar="ORG_ID_OR_SLUG",
        help="start with this organization (id or slug) active (the user must be a member)",
    )
    p = b.command(sessions, "get", res.sessions_get, "show a session")
    p.add_argument("session_id", metavar="SESSION_ID")
    p = b.command(sessions, "list", res.sessions_list, "list sessions")
    p.add_argument("--user-id", metavar="USER_ID", help="only this user's sessions")
    p.add_argument("--status", choices=SESSION_STATUSES)
    _paging(p)
    p = b.command(
        sessions,
        "revoke",
        res.sessions_revoke,
        "revoke a session: its tokens are refused from the next request on",
    )
    p.add_argument("session_id", metavar="SESSION_ID")
    p = b.command(
        sessions,
        "set-organization",
        res.sessions_set_organization,
        "set (or --clear) a session's active organization",
        "Prints the session and its new token, which already carries org_id, org_slug,\n"
        "org_role and org_permissions (none of them after --clear). The user must be a\n"
        "member of the organization.",
    )
    p.add_argument("session_id", metavar="SESSION_ID")
    p.add_argument(
        "org_id",
        metavar="ORG_ID_OR_SLUG",
        nargs="?",
        help="the organization to make active: its id (org_...) or slug",
    )
    p.add_argument("--clear", action="store_true", help="leave no active organization")
    p = b.command(sessions, "token", res.sessions_token, "mint a fresh token for a session")
    p.add_argument("session_id", metavar="SESSION_ID")
    p.add_argument("--template", metavar="NAME", help="a named template instead of the session's")
    p.add_argument(
        "--expires-in",
        metavar="SECONDS",
        type=int,
        help="lifetime of a session token (at most max_token_lifetime)",
    )


_ORG_HELP = "the organization: its id (org_...) or its slug (looked up first)"


def _organizations(b: _Builder, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    organizations = b.group(sub, "organizations", "organizations and their metadata")
    p = b.command(
        organizations,
        "create",
        orgs.organizations_create,
        "create an organization",
        "The slug is derived from the name unless --slug is given; --created-by makes\n"
        "that user its first member, with the role org:admin.",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--slug", metavar="SLUG", help="a-z, 0-9 and -, 1-64 characters; unique")
    p.add_argument("--created-by", metavar="USER_ID", help="the first member (org:admin)")
    _metadata_options(p, unsafe=False)
    p = b.command(organizations, "get", orgs.organizations_get, "show an organization")
    p.add_argument("org", metavar="ORG_ID_OR_SLUG", help=_ORG_HELP)
    p = b.command(
        organizations, "list", orgs.organizations_list, "list organizations, oldest first"
    )
    p.add_argument("--query", metavar="TEXT", help="a part of the name or slug (any case)")
    _paging(p)
    p = b.command(
        organizations, "update", orgs.organizations_update, "rename or re-slug an organization"
    )
    p.add_argument("org_id", metavar="ORG_ID_OR_SLUG", help=_ORG_HELP)
    p.add_argument("--name", dest="new_name", metavar="NAME", help="the new name")
    p.add_argument("--slug", metavar="SLUG", help="the new slug")
    p = b.command(
        organizations,
        "update-metadata",
        orgs.organizations_update_metadata,
        "merge metadata into an organization's tiers",
        "Merge: each top-level key given replaces the stored one; null deletes it.\n"
        "Session tokens of the organization get the change on their next request.",
    )
    p.add_argument("org_id", metavar="ORG_ID_OR_SLUG", help=_ORG_HELP)
    _metadata_options(p, unsafe=False)
    p = b.command(
        organizations,
        "replace-metadata",
        orgs.organizations_replace_metadata,
        "replace whole metadata tiers of an organization",
        "Replace: each tier given is replaced whole ({} clears it); other tiers stay.",
    )
    p.add_argument("org_id", metavar="ORG_ID_OR_SLUG", help=_ORG_HELP)
    _metadata_options(p, unsafe=False)
    p = b.command(
        organizations,
        "delete",
        orgs.organizations_delete,
        "delete an organization and its memberships",
    )
    p.add_argument("org_id", metavar="ORG_ID_OR_SLUG", help=_ORG_HELP)


def _memberships(b: _Builder, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    memberships = b.group(sub, "memberships", "people's memberships in organizations")
    p = b.command(memberships, "create", orgs.memberships_create, "make a user a member")
    p.add_argument("org_id", metavar="ORG_ID_OR_SLUG", help=_ORG_HELP)
    p.add_argument("user_id", metavar="USER_ID")
    p.add_argument("--role", metavar="ROLE", help="a configured role (default org:member)")
    p = b.command(memberships, "get", orgs.memberships_get, "show a membership")
    p.add_argument("org_id", metavar="ORG_ID_OR_SLUG", help=_ORG_HELP)
    p.add_argument("user_id", metavar="USER_ID")
    p = b.command(
        memberships, "list", orgs.memberships_list, "list an organization's or a user's memberships"
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--org", metavar="ORG_ID_OR_SLUG", help="the organization's memberships (id or slug)"
    )
    which.add_argument("--user", metavar="USER_ID", help="the user's memberships")
    _paging(p)
    p = b.command(memberships, "update", orgs.memberships_update, "change a member's role")
    p.add_argument("org_id", metavar="ORG_ID_OR_SLUG", help=_ORG_HELP)
    p.add_argument("user_id", metavar="USER_ID")
    p.add_argument("--role", metavar="ROLE", required=True, help="a configured role")
    for name, handler, help in (
        ("update-metadata", orgs.memberships_update_metadata, "merge metadata into a membership"),
        ("replace-metadata", orgs.memberships_replace_metadata, "replace a membership's tiers"),
    ):
        p = b.command(memberships, name, handler, help)
        p.add_argument("org_id", metavar="ORG_ID_OR_SLUG", help=_ORG_HELP)
        p.add_argument("user_id", metavar="USER_ID")
        _metadata_options(p, unsafe=False)
    p = b.command(memberships, "delete", orgs.memberships_delete, "remove a member")
    p.add_argument("org_id", metavar="ORG_ID_OR_SLUG", help=_ORG_HELP)
    p.add_argument("user_id", metavar="USER_ID")


def _keys(b: _Builder, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = b.group(sub, "keys", "signing keys (public data only is ever printed)")
    b.command(keys, "list", res.keys_list, "list the live signing keys")
    b.command(
        keys,
        "rotate",
        res.keys_rotate,
        "make a new key the signer; older keys verify until their tokens expire",
    )
    b.command(keys, "jwks", res.keys_jwks, "print the public JWKS")


def _tokens(b: _Builder, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = b.group(sub, "tokens", "inspect and verify tokens")
    for name, handler, help, description in (
        (
            "inspect",
            tokens_inspect,
            "decode a token and say whether it verifies",
            "Decodes the header and claims WITHOUT trusting them and shows the times as ISO\n"
            "8601. With a key source (--jwks-url, --jwks-file, else the database in effect\n"
            "when it exists), says whether the token verifies, and why not. Exit 0 either\n"
            "way; 1 if the token cannot be decoded.",
        ),
        (
            "verify",
            tokens_verify,
            "verify a token (exit 1 if it does not verify)",
            "Verifies like the middleware does: signature, iss (the configured issuer),\n"
            "azp (the authorized parties), times (clock skew as leeway). Needs an issuer\n"
            "and a key source: --jwks-url, --jwks-file, else the database in effect (the\n"
            "one sessions create writes to). Exit 0 if it verifies, 1 if not, with the reason.",
        ),
    ):
        p = b.command(tokens, name, handler, help, description)
        p.add_argument("token", metavar="TOKEN", help="the JWT, or - to read standard input")
        source = p.add_mutually_exclusive_group()
        source.add_argument("--jwks-url", metavar="URL", help="fetch the keys from this URL")
        source.add_argument("--jwks-file", metavar="FILE", help="read the keys from a JWKS file")
        p.add_argument(
            "--cookie",
            action="store_true",
            help="the token came from a cookie: when authorized parties are configured, "
            "a token without azp is then refused",
        )
        p.add_argument(
            "--required-claims",
            metavar="NAMES",
            help="comma-separated claims to require besides exp, iat, iss (default: sub,sid)",
        )


def _templates(b: _Builder, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    templates = b.group(sub, "templates", "claims templates")
    p = b.command(
        templates,
        "check",
        templates_check,
        "check templates, render them and report the session token size",
        'FILE is JSON: a session template, or {"session_template": {...},\n'
        '"templates": {name: {"claims": {...}, "lifetime": 300, "aud": "..."}}}.\n'
        "Renders against --user from the configured store (with --organization\n"
        "active, if given), or an empty user, and\n"
        "reports the session token's size against max_token_bytes (the backend's own\n"
        "estimate, the figure metadata writes are checked against). Exit 1 if a\n"
        "template fails its check or the token would be over budget.",
    )
    p.add_argument("file", metavar="FILE", help="JSON file (- reads standard input)")
    p.add_argument("--user", metavar="USER_ID", help="render for this user of the store")
    p.add_argument(
        "--organization",
        metavar="ORG_ID_OR_SLUG",
        help="with --user: render with this organization active (the user must be a "
        "member): its four claims, org.* and membership.*",
    )


def _servers(b: _Builder, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    levels = ["critical", "error", "warning", "info", "debug"]
    p = b.command(sub, "serve", serve, "serve the HTTP API standalone (uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free port")
    p.add_argument("--log-level", choices=levels, default="info")
    p = b.command(
        sub,
        "demo",
        demo,
        "run the demo app (from a source checkout)",
        "Runs examples/demo/app.py of the source checkout on http://127.0.0.1:PORT,\n"
        "with its data in ./sessionclaims-demo.db (or --database-url), kept between runs.",
    )
    p.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free port")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start over: delete the demo people (and their sessions) and seed them anew",
    )
    p.add_argument("--log-level", choices=levels, default="info")


def _config(b: _Builder, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = b.group(sub, "config", "settings")
    b.command(
        config, "show", res.config_show, "show the settings in effect (secrets are never printed)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``sessionclaims`` parser; each command sets ``handler``."""
    parser = argparse.ArgumentParser(
        prog="sessionclaims",
        usage="%(prog)s [-h] [--version] [settings and output options] COMMAND ...",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(
        title="commands", metavar="COMMAND", required=True, prog="sessionclaims"
    )
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    _add_global_options(common, listed=False)
    builder = _Builder(common)
    _servers(builder, sub)
    _users(builder, sub)
    _organizations(builder, sub)
    _memberships(builder, sub)
    _sessions(builder, sub)
    _keys(builder, sub)
    _tokens(builder, sub)
    _templates(builder, sub)
    _config(builder, sub)
    _add_global_options(parser, listed=True)  # after the commands in the help
    return parser
