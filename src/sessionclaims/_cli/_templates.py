"""``templates check FILE [--user USER_ID [--organization ORG]]``: load-time check, rendered
claims, token size.

FILE holds JSON in one of two forms:

* a session template: ``{"role": "{{user.public_metadata.role}}"}``;
* a settings fragment: ``{"session_template": {...}, "templates": {"reports": {"claims":
  {...}, "lifetime": 300, "aud": "reports-service"}}}`` (either key may be left out). An
  object whose only keys are ``session_template`` and/or ``templates`` is read this way,
  so a session template whose claims have exactly those names must use this form.

FILE is self-contained: the session and named templates configured elsewhere are
ignored, while the other settings that shape the token (issuer, signing algorithm,
authorized parties, token lifetime, ``max_token_bytes``) come from flags, environment and
TOML as usual.

The templates are checked as the backend checks them at construction (a
:class:`~sessionclaims.TemplateError` names the claim path and column), rendered against
the user ``--user`` from the configured store, or against an empty user, and the session
token's size is reported against ``max_token_bytes``. The size is the backend's own
budget estimate (``Issuer.estimated_size``), not a token minted for a dummy session: it
is the exact figure metadata writes are refused at, computed for the longest authorized
party as ``azp``, the fixed-length session id and the user's next version, and signed
with the configured algorithm. Without ``--user`` nothing is read or written: keys come
from a throw-away in-memory store. Session fields (``session.id``...) render as
placeholders. With ``--organization`` (an id or a slug; ``--user`` must be a member of
it) the templates render with that organization active, as the member's session token
would: ``org.*`` and ``membership.*`` resolve, and the size counts the four organization
claims too (the figure organization and membership writes are checked at).

Exit status 1 if a template fails its check or the session token would be over budget.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from .._errors import NotAMember
from ..backend import Backend
from ..backend.issuer import ActiveOrganization
from ..stores.base import UserRecord
from ._common import (
    CLIError,
    Output,
    compact,
    make_backend,
    parse_json,
    read_text,
    require_database,
)

__all__ = ["templates_check"]

_FRAGMENT_KEYS = frozenset({"session_template", "templates"})


def _load(path: str) -> tuple[Any, Any]:
    """``(session_template, templates)`` from FILE."""
    data = parse_json(read_text(path, "FILE"), path)
    if not isinstance(data, dict):
        raise CLIError(
            f"{path}: expected a JSON object (a session template, or "
            f'{{"session_template": ..., "templates": ...}}), '
            f"got {type(data).__name__}"
        )
    if data and set(data) <= _FRAGMENT_KEYS:
        return data.get("session_template", {}), data.get("templates", {})
    return data, {}


def _empty_user() -> UserRecord:
    now = int(time.time() * 1000)
    return UserRecord("user_" + "0" * 26, None, now, now, {}, {}, {}, version=1)


async def _active(backend: Backend, user: UserRecord, wanted: str) -> ActiveOrganization:
    """``wanted`` (id or slug) as the user's active organization; NotAMember if the user
    is no member of it."""
    organization = await backend.organizations.get_organization(wanted)
    record = await backend.store.get_organization(organization.id)
    membership = await backend.store.get_membership(organization.id, user.id)
    if record is None or membership is None:
        raise NotAMember(organization.id, user.id)
    return backend.organizations.active(record, membership)


def _check(
    backend: Backend, user: UserRecord, active: ActiveOrganization | None = None
) -> dict[str, Any]:
    issuer = backend.issuer
    size = issuer.estimated_size(user, active)
    organization = active.organization if active is not None else None
    named = {
        name: {
            "claims": template.template.render(user.to_user(), None, organization, active),
            "lifetime": template.lifetime,
            "aud": template.aud,
            "reads_unsafe": template.template.reads_unsafe,
        }
        for name, template in backend.named_templates.items()
    }
    return {
        "ok": size <= issuer.max_token_bytes,
        "user_id": user.id,
        "organization_id": organization.id if organization is not None else None,
        "session_template": {
            "claims": issuer.render_session_claims(user.to_user(), None, active),
            "reads_unsafe": backend.session_template.reads_unsafe,
            "token_bytes": size,
            "max_token_bytes": issuer.max_token_bytes,
            "signing_algorithm": backend.keys.signer.alg,
        },
        "templates": named,
    }


def _text(out: Output, report: dict[str, Any], user_given: bool) -> None:
    session = report["session_template"]
    who = report["user_id"] if user_given else "an empty user"
    if report["organization_id"] is not None:
        who += f" with {report['organization_id']} active"
    out.line(f"session template rendered for {who}:")
    out.json(session["claims"])
    verdict = "OK" if report["ok"] else "OVER BUDGET"
    spare = session["max_token_bytes"] - session["token_bytes"]
    out.line(
        f"session token: {session['token_bytes']} of {session['max_token_bytes']} bytes "
        f"(max_token_bytes, {session['signing_algorithm']}): {verdict}, "
        f"{abs(spare)} bytes {'to spare' if spare >= 0 else 'too many'}"
    )
    for name, named in report["templates"].items():
        aud = f", aud {named['aud']}" if named["aud"] else ""
        out.line(
            f"template {name!r} (lifetime {named['lifetime']} s{aud}): {compact(named['claims'])}"
        )


def templates_check(args: argparse.Namespace, out: Output) -> int:
    """``templates check FILE [--user USER_ID [--organization ORG]]``."""
    if args.organization is not None and args.user is None:
        raise CLIError("--organization needs --user (the member whose token is rendered)")
    session_template, templates = _load(args.file)
    settings = {"session_template": session_template, "templates": templates}
    if args.user is None:
        # Nothing to read: a throw-away in-memory store only provides a signing key.
        settings["database_url"] = "sqlite://"
    else:
        require_database(args, "templates check --user")
    backend = make_backend(args, **settings)  # TemplateError here: path and column

    async def run() -> dict[str, Any]:
        async with backend:
            if args.user is None:
                return _check(backend, _empty_user())
            user = await backend.users.get_record(args.user)
            if args.organization is None:
                return _check(backend, user)
            return _check(backend, user, await _active(backend, user, args.organization))

    report = asyncio.run(run())
    out.result(report, lambda: _text(out, report, args.user is not None))
    if not report["ok"]:
        session = report["session_template"]
        raise CLIError(
            f"the session token would be {session['token_bytes']} bytes; the limit is "
            f"{session['max_token_bytes']} (max_token_bytes)"
        )
    return 0
