"""What every command shares: settings from flags, the backend, JSON arguments, output.

Settings flags are mapped onto :class:`~sessionclaims.Backend` keyword arguments, so the
precedence *flags > ``SESSIONCLAIMS_*`` environment > TOML file* is
:func:`~sessionclaims.config.resolve_settings`'s, not re-implemented here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .._errors import ConfigurationError
from ..backend import Backend
from ..backend._context import Page
from ..config import Settings, resolve_settings
from ..models import Session, User
from ..stores import SQLiteStore, redact_url

__all__ = [
    "GLOBAL_DEFAULTS",
    "CLIError",
    "Output",
    "compact",
    "iso_ms",
    "iso_time",
    "load_json_argument",
    "load_json_object",
    "make_backend",
    "metadata_tiers",
    "no_default_database",
    "parse_json",
    "read_text",
    "require_database",
    "resolve_args_settings",
    "run_with_backend",
    "setting_overrides",
    "shown_url",
]

T = TypeVar("T")


class _Listed(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


L = TypeVar("L", bound=_Listed)

GLOBAL_DEFAULTS: Mapping[str, Any] = {
    "config": None,
    "database_url": None,
    "issuer": None,
    "secret_key": None,
    "authorized_party": None,
    "session_template": None,
    "templates": None,
    "token_lifetime": None,
    "max_token_bytes": None,
    "signing_algorithm": None,
    "json": False,
    "traceback": False,
}
"""Global options and their values when not given (they are parsed with SUPPRESS so that
they may appear before or after the command)."""

# Settings flags whose value is taken as given (None = not given).
_PLAIN_SETTINGS = (
    "database_url",
    "issuer",
    "secret_key",
    "token_lifetime",
    "max_token_bytes",
    "signing_algorithm",
)
# The issuer of a backend opened by a command that issues no token (``users``, ``keys``,
# ``sessions get|list|revoke``) when none is configured: it never reaches a token, only
# the token-size estimate metadata writes are checked against, which it makes as for a
# 64-character issuer (as a backend without authorized parties estimates ``azp``). It
# also tells "no issuer configured" from other configuration errors.
_NO_ISSUER = "urn:sessionclaims:cli:no-issuer:".ljust(64, "-")


class CLIError(Exception):
    """A failure the CLI reports as one ``error: ...`` line, with ``exit_code``."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- reading arguments -----------------------------------------------------------------
def read_text(source: str, what: str) -> str:
    """The text of file ``source`` (``-`` = standard input), for the argument ``what``."""
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"{what}: cannot read {source!r}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CLIError(f"{what}: {source!r} is not UTF-8 text") from exc


def parse_json(text: str, what: str) -> Any:
    """``json.loads`` with an error that names the argument, line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CLIError(
            f"{what}: invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc


def load_json_argument(value: str, what: str) -> Any:
    """A JSON argument: literal JSON text, or ``@file.json`` (``@-`` = standard input)."""
    if value.startswith("@"):
        return parse_json(read_text(value[1:], what), what)
    return parse_json(value, what)


def load_json_object(value: str, what: str) -> dict[str, Any]:
    """Like :func:`load_json_argument`, but the value must be a JSON object."""
    data = load_json_argument(value, what)
    if not isinstance(data, dict):
        raise CLIError(
            f'{what}: expected a JSON object like \'{{"role": "admin"}}\', '
            f"got {type(data).__name__}"
        )
    return data


def metadata_tiers(
    args: argparse.Namespace, flags: Mapping[str, str], *, required: str | None = None
) -> dict[str, Any]:
    """The metadata tiers given as ``--public '{...}'`` etc., as keyword arguments
    (``flags``: flag dest → keyword). ``required`` is the usage error (exit 2) raised when
    none is given."""
    tiers = {
        keyword: load_json_object(getattr(args, dest), f"--{dest}")
        for dest, keyword in flags.items()
        if getattr(args, dest) is not None
    }
    if not tiers and required is not None:
        raise CLIError(required, exit_code=2)
    return tiers


# -- settings and the backend ----------------------------------------------------------
def setting_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags, as ``Backend`` keyword arguments (unset ones left out)."""
    overrides: dict[str, Any] = {}
    for name in _PLAIN_SETTINGS:
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    if args.authorized_party:
        overrides["authorized_parties"] = list(args.authorized_party)
    if args.session_template is not None:
        overrides["session_template"] = load_json_object(
            args.session_template, "--session-template"
        )
    if args.templates is not None:
        overrides["templates"] = load_json_object(args.templates, "--templates")
    return overrides


def make_backend(
    args: argparse.Namespace, *, issues_tokens: bool = True, **settings: Any
) -> Backend:
    """A :class:`Backend` configured from flags (``settings`` win over them), then the
    environment, then the TOML file (``--config`` or ``SESSIONCLAIMS_CONFIG``).

    ``issues_tokens=False`` is for commands that mint and verify no token: they run
    without a configured issuer (the issuer is a property of tokens, not of users, sessions
    or keys)."""
    merged = {**setting_overrides(args), **settings}
    if not _resolve(merged, args.config)[1]:
        if issues_tokens:
            raise CLIError(
                "issuer is required: this command mints tokens, and every token carries "
                "the exact issuer URL as 'iss' (your app's issuer, e.g. "
                "https://auth.example.com): give --issuer URL, SESSIONCLAIMS_ISSUER or "
                "issuer in the TOML file"
            )
        merged["issuer"] = _NO_ISSUER
    database_url = merged.pop("database_url", None)
    return Backend(database_url, config_file=args.config, **merged)


def resolve_args_settings(args: argparse.Namespace) -> tuple[Settings, bool]:
    """Resolved settings for commands that need no backend, and whether an issuer is
    configured at all (when it is not, ``settings.issuer`` is a placeholder)."""
    return _resolve(setting_overrides(args), args.config)


def _resolve(overrides: dict[str, Any], config_file: str | None) -> tuple[Settings, bool]:
    try:
        return resolve_settings(overrides, config_file=config_file), True
    except ConfigurationError:
        if "issuer" in overrides:
            raise
        try:
            settings = resolve_settings(
                {**overrides, "issuer": _NO_ISSUER}, config_file=config_file
            )
        except ConfigurationError:
            pass
        else:  # the only problem was the missing issuer
            return settings, False
        raise


def no_default_database(args: argparse.Namespace, settings: Settings) -> bool:
    """True when no database URL is configured and the default one holds no database."""
    default = Settings().database_url
    if args.database_url or settings.database_url != default:
        return False
    return not Path(SQLiteStore.from_url(default).path or "").exists()


def require_database(args: argparse.Namespace, command: str) -> None:
    """Refuse (exit 2) a command that only reads when no database URL is configured and the
    default file does not exist: opening it would create an empty database."""
    settings, _ = resolve_args_settings(args)
    if no_default_database(args, settings):
        raise CLIError(
            f"{command}: no database exists at the default {settings.database_url} "
            f"({Path(SQLiteStore.from_url(settings.database_url).path or '').resolve()}); "
            "point at yours with --database-url URL "
            "or SESSIONCLAIMS_DATABASE_URL (or database_url in the TOML file); it is created by "
            "the first command that writes (users create, sessions create, serve)",
            exit_code=2,
        )


def run_with_backend(
    args: argparse.Namespace,
    action: Callable[[Backend], Awaitable[T]],
    *,
    issues_tokens: bool = True,
    reads_only: str | None = None,
) -> T:
    """Run ``action`` on an open backend in one event loop; the backend is closed after.
    ``issues_tokens`` as for :func:`make_backend`. ``reads_only`` names a command that
    writes nothing: it is refused by :func:`require_database` rather than create the
    default database."""
    if reads_only is not None:
        require_database(args, reads_only)

    async def run() -> T:
        async with make_backend(args, issues_tokens=issues_tokens) as backend:
            return await action(backend)

    return asyncio.run(run())


# -- output ----------------------------------------------------------------------------
def iso_time(seconds: float) -> str:
    """``2026-01-31T12:00:00Z`` (milliseconds kept when there are some)."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def iso_ms(milliseconds: int | None) -> str:
    """A Unix time in milliseconds (as in the HTTP API) as ISO 8601, ``-`` for none."""
    return "-" if milliseconds is None else iso_time(milliseconds / 1000)


def shown_url(database_url: str) -> str:
    """A database URL fit to print: without its password. (SQLite URLs hold none, and
    ``redact_url`` would turn ``sqlite:///x.db`` into ``sqlite:/x.db``.)"""
    return database_url if database_url.startswith("sqlite:") else redact_url(database_url)


def compact(value: Any) -> str:
    """One-line JSON, as shown next to a label."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


class Output:
    """Writes a command's result to standard output: JSON with ``--json``, else text."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def line(self, text: str = "") -> None:
        """One line of text output."""
        print(text, file=sys.stdout)

    def json(self, data: Any) -> None:
        """Indented JSON, whatever the mode (JWKS and claims read best that way)."""
        self.line(json.dumps(data, indent=2, ensure_ascii=False))

    def result(self, data: Any, text: Callable[[], None]) -> None:
        """``data`` as JSON with ``--json``; otherwise call ``text`` to write prose."""
        if self.as_json:
            self.json(data)
        else:
            text()

    def page(self, page: Page[L], noun: str, row: Callable[[L], str]) -> None:
        """A page of a listing: ``{data, total_count}`` with ``--json``; otherwise ``row``
        of each item, a line each, then ``(N of TOTAL noun)``."""

        def text() -> None:
            for item in page.data:
                self.line(row(item))
            self.line(f"({len(page.data)} of {page.total_count} {noun})")

        data = {"data": [item.to_dict() for item in page.data], "total_count": page.total_count}
        self.result(data, text)

    def user(self, user: User) -> None:
        """A user: the HTTP API's user object with ``--json``."""
        self.result(user.to_dict(), lambda: self._user_text(user))

    def _user_text(self, user: User) -> None:
        self.line(f"{user.id}  external_id: {user.external_id or '-'}")
        self.line(f"  created_at        {iso_ms(user.created_at)}")
        self.line(f"  updated_at        {iso_ms(user.updated_at)}")
        self.line(f"  public_metadata   {compact(dict(user.public_metadata))}")
        self.line(f"  private_metadata  {compact(dict(user.private_metadata))}")
        self.line(f"  unsafe_metadata   {compact(dict(user.unsafe_metadata))}")

    def session(self, session: Session) -> None:
        """A session: the HTTP API's session object with ``--json``."""
        self.result(session.to_dict(), lambda: self.session_text(session))

    def session_text(self, session: Session) -> None:
        """A session as text."""
        self.line(f"{session.id}  user: {session.user_id}  status: {session.status}")
        self.line(f"  created_at      {iso_ms(session.created_at)}")
        self.line(f"  expire_at       {iso_ms(session.expire_at)}")
        self.line(f"  last_active_at  {iso_ms(session.last_active_at)}")
        if session.origin:
            self.line(f"  origin (azp)    {session.origin}")
        if session.active_organization_id:
            self.line(f"  organization    {session.active_organization_id}")
