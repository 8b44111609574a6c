"""``users``, ``sessions``, ``keys`` and ``config``: thin wrappers over ``backend.*``.

Each command opens the configured backend once (``async with Backend(...)``), calls one
method and prints its result: the HTTP API's object shapes with ``--json``. Only the
commands that mint a token (``sessions create``, ``sessions token``) need an issuer.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from .._errors import ExternalIdTaken, UserNotFound
from ..backend import Backend
from ..backend._context import Page
from ..backend.signing_keys import KeyInfo
from ..config import SECRET_SETTINGS, Settings
from ..models import NewSession, Session, User
from ._common import (
    CLIError,
    Output,
    compact,
    iso_ms,
    metadata_tiers,
    resolve_args_settings,
    shown_url,
)
from ._common import run_with_backend as run
from ._organizations import org_id

__all__ = [
    "config_show",
    "keys_jwks",
    "keys_list",
    "keys_rotate",
    "sessions_create",
    "sessions_get",
    "sessions_list",
    "sessions_revoke",
    "sessions_set_organization",
    "sessions_token",
    "users_create",
    "users_delete",
    "users_get",
    "users_list",
    "users_replace_metadata",
    "users_update_metadata",
]

# flag dest → keyword argument of backend.users.*
_TIER_FLAGS = {
    "public": "public_metadata",
    "private": "private_metadata",
    "unsafe": "unsafe_metadata",
    "trusted": "trusted_metadata",
    "untrusted": "untrusted_metadata",
}
_NO_TIER = (
    "give at least one tier: --public, --private or --unsafe "
    "(or --trusted / --untrusted) with a JSON object"
)


# -- users ------------------------------------------------------------------------------
def users_create(args: argparse.Namespace, out: Output) -> int:
    """``users create [--external-id ID] [--public JSON] ...``"""
    tiers = metadata_tiers(args, _TIER_FLAGS)

    async def action(backend: Backend) -> User:
        return await backend.users.create_user(external_id=args.external_id, **tiers)

    try:
        user = run(args, action, issues_tokens=False)
    except ExternalIdTaken as exc:
        raise CLIError(
            f"another user already has external_id {args.external_id!r}: "
            f"`sessionclaims users get --external-id {args.external_id}` shows it"
        ) from exc
    out.user(user)
    return 0


def users_get(args: argparse.Namespace, out: Output) -> int:
    """``users get USER_ID`` or ``users get --external-id ID``"""

    async def action(backend: Backend) -> User:
        if args.external_id is not None:
            return await backend.users.get_user_by_external_id(args.external_id)
        return await backend.users.get_user(args.user_id)

    try:
        user = run(args, action, issues_tokens=False, reads_only="users get")
    except UserNotFound as exc:
        if args.external_id is not None or args.user_id.startswith("user_"):
            raise
        raise CLIError(
            f"{exc}: user ids start with 'user_'; to find a user by your own id, "
            f"run `sessionclaims users get --external-id {args.user_id}`"
        ) from exc
    out.user(user)
    return 0


def users_list(args: argparse.Namespace, out: Output) -> int:
    """``users list [--external-id ID] [--limit N] [--offset N]``"""

    async def action(backend: Backend) -> Page[User]:
        return await backend.users.list_users(
            limit=args.limit, offset=args.offset, external_id=args.external_id
        )

    out.page(
        run(args, action, issues_tokens=False, reads_only="users list"),
        "users",
        lambda user: f"{user.id}  {user.external_id or '-'}  created {iso_ms(user.created_at)}",
    )
    return 0


def users_update_metadata(args: argparse.Namespace, out: Output) -> int:
    """``users update-metadata USER_ID --public JSON ...``: merge (``null`` deletes a key)."""
    tiers = metadata_tiers(args, _TIER_FLAGS, required=_NO_TIER)

    async def action(backend: Backend) -> User:
        return await backend.users.update_user_metadata(args.user_id, **tiers)

    out.user(run(args, action, issues_tokens=False))
    return 0


def users_replace_metadata(args: argparse.Namespace, out: Output) -> int:
    """``users replace-metadata USER_ID --public JSON ...``: each given tier replaced whole."""
    tiers = metadata_tiers(args, _TIER_FLAGS, required=_NO_TIER)

    async def action(backend: Backend) -> User:
        return await backend.users.replace_user_metadata(args.user_id, **tiers)

    out.user(run(args, action, issues_tokens=False))
    return 0


def users_delete(args: argparse.Namespace, out: Output) -> int:
    """``users delete USER_ID``: its sessions are revoked too."""

    async def action(backend: Backend) -> None:
        await backend.users.delete_user(args.user_id)

    run(args, action, issues_tokens=False)
    out.result(
        {"id": args.user_id, "object": "user", "deleted": True},
        lambda: out.line(f"deleted user {args.user_id} (its sessions are revoked)"),
    )
    return 0


# -- sessions ---------------------------------------------------------------------------
def sessions_create(args: argparse.Namespace, out: Output) -> int:
    """``sessions create USER_ID [--origin ORIGIN] [--active-organization ORG]``:
    session, first token, refresh credential."""

    async def action(backend: Backend) -> NewSession:
        active = args.active_organization
        return await backend.sessions.create_session(
            args.user_id,
            origin=args.origin,
            active_organization_id=None if active is None else await org_id(backend, active),
        )

    new = run(args, action)

    def text() -> None:
        out.session_text(new.session)
        out.line(f"token               {new.token}")
        out.line(f"refresh_credential  {new.refresh_credential}")
        out.line("(the refresh credential is shown once: only its hash is stored)")

    out.result(new.to_dict(), text)
    return 0


def sessions_get(args: argparse.Namespace, out: Output) -> int:
    """``sessions get SESSION_ID``"""

    async def action(backend: Backend) -> Session:
        return await backend.sessions.get_session(args.session_id)

    out.session(run(args, action, issues_tokens=False, reads_only="sessions get"))
    return 0


def sessions_list(args: argparse.Namespace, out: Output) -> int:
    """``sessions list [--user-id ID] [--status STATUS]``"""

    async def action(backend: Backend) -> Page[Session]:
        return await backend.sessions.list_sessions(
            user_id=args.user_id, status=args.status, limit=args.limit, offset=args.offset
        )

    out.page(
        run(args, action, issues_tokens=False, reads_only="sessions list"),
        "sessions",
        lambda session: (
            f"{session.id}  {session.user_id}  {session.status:<8}  "
            f"expires {iso_ms(session.expire_at)}"
        ),
    )
    return 0


def sessions_revoke(args: argparse.Namespace, out: Output) -> int:
    """``sessions revoke SESSION_ID``: its tokens are refused from the next request on."""

    async def action(backend: Backend) -> Session:
        return await backend.sessions.revoke_session(args.session_id)

    out.session(run(args, action, issues_tokens=False))
    return 0


def sessions_set_organization(args: argparse.Namespace, out: Output) -> int:
    """``sessions set-organization SESSION_ID (ORG | --clear)``: the session and its new
    token, which already carries the organization claims (or none after ``--clear``)."""
    if (args.org_id is None) == (not args.clear):
        raise CLIError(
            "give ORG_ID_OR_SLUG, or --clear to leave no active organization", exit_code=2
        )

    async def action(backend: Backend) -> tuple[Session, str]:
        active = None if args.org_id is None else await org_id(backend, args.org_id)
        jwt = await backend.sessions.set_active_organization(args.session_id, active)
        return await backend.sessions.get_session(args.session_id), jwt

    session, jwt = run(args, action)

    def text() -> None:
        out.session_text(session)
        out.line(f"token               {jwt}")

    out.result({"session": session.to_dict(), "jwt": jwt}, text)
    return 0


def sessions_token(args: argparse.Namespace, out: Output) -> int:
    """``sessions token SESSION_ID [--template NAME] [--expires-in SECONDS]``: a fresh JWT."""

    async def action(backend: Backend) -> str:
        return await backend.sessions.get_token(
            args.session_id, args.template, expires_in_seconds=args.expires_in
        )

    jwt = run(args, action, reads_only="sessions token")
    out.result({"jwt": jwt}, lambda: out.line(jwt))
    return 0


# -- keys -------------------------------------------------------------------------------
def _key_dict(info: KeyInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def _keys_text(out: Output, keys: list[KeyInfo]) -> None:
    out.line(f"{'KID':<44}  {'ALG':<5}  {'CREATED':<24}  {'RETIRES':<24}  SIGNS")
    for key in keys:
        out.line(
            f"{key.kid:<44}  {key.alg:<5}  {iso_ms(key.created_at):<24}  "
            f"{iso_ms(key.retire_at):<24}  {'yes' if key.signing else ''}"
        )


def keys_list(args: argparse.Namespace, out: Output) -> int:
    """``keys list``: public facts about every live key (never key material)."""

    async def action(backend: Backend) -> list[KeyInfo]:
        return backend.keys.list()

    keys = run(args, action, issues_tokens=False, reads_only="keys list")
    out.result({"data": [_key_dict(k) for k in keys]}, lambda: _keys_text(out, keys))
    return 0


def keys_rotate(args: argparse.Namespace, out: Output) -> int:
    """``keys rotate``: a new key signs; older keys verify until their tokens expired."""

    async def action(backend: Backend) -> tuple[KeyInfo, list[KeyInfo]]:
        new = await backend.keys.rotate()
        return new, backend.keys.list()

    new, keys = run(args, action, issues_tokens=False)

    def text() -> None:
        out.line(
            f"rotated: {new.kid} ({new.alg}) now signs; the previous keys keep "
            "verifying until the tokens they signed have expired"
        )
        _keys_text(out, keys)

    out.result({**_key_dict(new), "keys": [_key_dict(k) for k in keys]}, text)
    return 0


def keys_jwks(args: argparse.Namespace, out: Output) -> int:
    """``keys jwks``: the public JWKS, as served at ``/.well-known/jwks.json``."""

    async def action(backend: Backend) -> dict[str, list[dict[str, str]]]:
        return backend.jwks()

    out.json(run(args, action, issues_tokens=False, reads_only="keys jwks"))
    return 0


# -- config -----------------------------------------------------------------------------


def _shown(settings: Settings, issuer_known: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if field.name in SECRET_SETTINGS:
            value = "<set>" if value else None
        elif field.name == "database_url":
            value = shown_url(value)
        elif field.name == "issuer" and not issuer_known:
            value = None
        elif isinstance(value, tuple):
            value = list(value)
        else:
            value = _plain(value)
        shown[field.name] = value
    return shown


def _plain(value: Any) -> Any:
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return value


def config_show(args: argparse.Namespace, out: Output) -> int:
    """``config show``: the settings in effect (secrets shown as ``<set>``, never their value)."""
    settings, issuer_known = resolve_args_settings(args)
    shown = _shown(settings, issuer_known)

    def text() -> None:
        width = max(len(name) for name in shown)
        for name, value in shown.items():
            rendered = value if isinstance(value, str) else compact(value)
            out.line(f"{name:<{width}}  {rendered}")
        if not issuer_known:
            out.line("(no issuer configured: --issuer, SESSIONCLAIMS_ISSUER or issuer in TOML)")

    out.result(shown, text)
    return 0
