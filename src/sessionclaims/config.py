"""Settings for a :class:`~sessionclaims.Backend`, from three places.

Precedence, highest first: keyword arguments (and CLI flags), ``SESSIONCLAIMS_*``
environment variables, a TOML file (``config_file=`` or ``SESSIONCLAIMS_CONFIG``), then
the defaults below. In the environment, lists are comma-separated and templates are JSON;
in TOML, settings sit at the top level or under a ``[sessionclaims]`` table.

========================  ===============================  ==============================
setting                   environment variable             default
========================  ===============================  ==============================
database_url              SESSIONCLAIMS_DATABASE_URL       ``sqlite:///sessionclaims.db``
issuer                    SESSIONCLAIMS_ISSUER             (required)
secret_key                SESSIONCLAIMS_SECRET_KEY         none: backend API refuses all
session_template          SESSIONCLAIMS_SESSION_TEMPLATE   ``{}``
templates                 SESSIONCLAIMS_TEMPLATES          ``{}``
token_lifetime            SESSIONCLAIMS_TOKEN_LIFETIME     60 s
max_token_lifetime        SESSIONCLAIMS_MAX_TOKEN_LIFETIME ``token_lifetime``
clock_skew                SESSIONCLAIMS_CLOCK_SKEW         5 s
signing_algorithm         SESSIONCLAIMS_SIGNING_ALGORITHM  ``ES256``
authorized_parties        SESSIONCLAIMS_AUTHORIZED_PARTIES none
session_lifetime          SESSIONCLAIMS_SESSION_LIFETIME   604800 s (7 days)
max_token_bytes           SESSIONCLAIMS_MAX_TOKEN_BYTES    4000
metadata_max_keys         SESSIONCLAIMS_METADATA_MAX_KEYS  20
metadata_max_bytes        SESSIONCLAIMS_METADATA_MAX_BYTES 4096
metadata_max_depth        SESSIONCLAIMS_METADATA_MAX_DEPTH 16
key_encryption            SESSIONCLAIMS_KEY_ENCRYPTION     ``aes-256-gcm`` (``none``: plain)
key_encryption_secret     ..._KEY_ENCRYPTION_SECRET        from ``secret_key``, else a file
previous_key_encryption_secrets (..._SECRETS)              none (comma-separated in the env)
poll_interval             SESSIONCLAIMS_POLL_INTERVAL      0.25 s
freshness_size            SESSIONCLAIMS_FRESHNESS_SIZE     100000
cache_size                SESSIONCLAIMS_CACHE_SIZE         10000
feed_keys                 SESSIONCLAIMS_FEED_KEYS          none (comma-separated in the env)
changes_keepalive         SESSIONCLAIMS_CHANGES_KEEPALIVE  10 s (at most 15)
roles                     SESSIONCLAIMS_ROLES (JSON)       ``org:admin``, ``org:member``
========================  ===============================  ==============================

``roles`` maps each organization role to its permissions (:class:`~sessionclaims.roles.Roles`);
in TOML it is a ``[roles]`` table (``[sessionclaims.roles]`` when the settings sit under
``[sessionclaims]``) whose keys are quoted: ``"org:admin" = ["org:invoices:write"]``.

Private signing keys are encrypted at rest: docs/security.md says where the secret comes
from (``key_encryption_secret``, else derived from ``secret_key``, else a key file beside
an SQLite database) and how to rotate it.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ._errors import ConfigurationError
from .roles import Roles

__all__ = ["KEY_ENCRYPTION_MODES", "SECRET_SETTINGS", "Settings", "resolve_settings"]

ENV_PREFIX = "SESSIONCLAIMS_"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of a backend, resolved and checked."""

    database_url: str = "sqlite:///sessionclaims.db"
    issuer: str = ""
    secret_key: str | None = None
    session_template: Mapping[str, Any] = field(default_factory=dict)
    templates: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    token_lifetime: int = 60
    max_token_lifetime: int | None = None
    clock_skew: int = 5
    signing_algorithm: str = "ES256"
    authorized_parties: tuple[str, ...] = ()
    session_lifetime: int = 7 * 24 * 3600
    max_token_bytes: int = 4000
    metadata_max_keys: int = 20
    metadata_max_bytes: int = 4096
    metadata_max_depth: int = 16
    key_encryption: str = "aes-256-gcm"
    key_encryption_secret: str | None = None
    previous_key_encryption_secrets: tuple[str, ...] = ()
    poll_interval: float = 0.25
    freshness_size: int = 100_000
    cache_size: int = 10_000
    feed_keys: tuple[str, ...] = ()
    changes_keepalive: float = 10.0
    roles: Roles = field(default_factory=Roles)

    def __repr__(self) -> str:
        shown = {
            f.name: (
                "<hidden>"
                if f.name in SECRET_SETTINGS and getattr(self, f.name)
                else getattr(self, f.name)
            )
            for f in fields(self)
        }
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


SECRET_SETTINGS = frozenset(
    {"secret_key", "key_encryption_secret", "previous_key_encryption_secrets", "feed_keys"}
)
"""The settings whose values are never shown (``repr``, ``sessionclaims config show``)."""
KEY_ENCRYPTION_MODES = ("aes-256-gcm", "none")
"""``key_encryption``: seal private signing keys at rest (the default), or opt out."""
_LISTS = frozenset({"authorized_parties", "feed_keys", "previous_key_encryption_secrets"})
_INTS = frozenset(
    {
        "token_lifetime",
        "max_token_lifetime",
        "clock_skew",
        "session_lifetime",
        "max_token_bytes",
        "metadata_max_keys",
        "metadata_max_bytes",
        "metadata_max_depth",
        "freshness_size",
        "cache_size",
    }
)
_POSITIVE = _INTS - {"clock_skew", "max_token_lifetime"}
_JSON = frozenset({"session_template", "templates", "roles"})
_NAMES = frozenset(f.name for f in fields(Settings))


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _NAMES:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is None or raw == "":
            continue
        if name in _JSON:
            try:
                values[name] = json.loads(raw)
            except ValueError as exc:
                raise ConfigurationError(f"{ENV_PREFIX}{name.upper()} must be JSON: {exc}") from exc
        elif name in _LISTS:
            values[name] = [part.strip() for part in raw.split(",") if part.strip()]
        else:
            values[name] = raw
    return values


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read the config file {str(path)!r}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{str(path)!r} is not valid TOML: {exc}") from exc
    table = data.get("sessionclaims", data)
    if not isinstance(table, dict):
        raise ConfigurationError(f"[sessionclaims] in {str(path)!r} must be a table")
    if table is not data and "roles" in data:  # [roles] next to [sessionclaims]
        if "roles" in table:
            raise ConfigurationError(
                f"{str(path)!r} has both [roles] and [sessionclaims.roles]; keep one"
            )
        table = {**table, "roles": data["roles"]}
    unknown = sorted(set(table) - _NAMES)
    if unknown:
        raise ConfigurationError(
            f"unknown setting(s) {', '.join(unknown)} in {str(path)!r}; "
            f"known: {', '.join(sorted(_NAMES))}"
        )
    return dict(table)


def _coerce(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _INTS:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ConfigurationError(f"{name} must be an integer, got {value!r}")
        try:
            number = int(value)
        except ValueError as exc:
            raise ConfigurationError(f"{name} must be an integer, got {value!r}") from exc
        if name in _POSITIVE and number <= 0:
            raise ConfigurationError(f"{name} must be > 0, got {number}")
        if number < 0:
            raise ConfigurationError(f"{name} must be >= 0, got {number}")
        return number
    if name == "poll_interval":
        try:
            seconds = float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"poll_interval must be a number, got {value!r}") from exc
        if not 0 < seconds <= 1:
            raise ConfigurationError(
                "poll_interval must be in (0, 1] seconds: the freshness bound across "
                f"processes is 1 s (got {seconds})"
            )
        return seconds
    if name == "changes_keepalive":
        try:
            seconds = float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"changes_keepalive must be a number, got {value!r}") from exc
        if not 0 < seconds <= 15:
            raise ConfigurationError(
                f"changes_keepalive must be in (0, 15] seconds (docs/deployment.md); got {seconds}"
            )
        return seconds
    if name == "feed_keys":
        if not isinstance(value, str | list | tuple):
            raise ConfigurationError("feed_keys must be a list of strings")
        keys = (value,) if isinstance(value, str) else tuple(value)
        for key in keys:
            if not isinstance(key, str) or not key.strip() or key != key.strip():
                raise ConfigurationError("feed_keys holds non-empty strings without spaces")
        return keys
    if name == "previous_key_encryption_secrets":
        if not isinstance(value, str | list | tuple):
            raise ConfigurationError("previous_key_encryption_secrets must be a list of strings")
        secrets = (value,) if isinstance(value, str) else tuple(value)
        if not all(isinstance(secret, str) and secret for secret in secrets):
            raise ConfigurationError("previous_key_encryption_secrets holds non-empty strings")
        return secrets
    if name == "key_encryption":
        if value not in KEY_ENCRYPTION_MODES:
            raise ConfigurationError(
                f"key_encryption must be one of {', '.join(KEY_ENCRYPTION_MODES)} "
                f"(SESSIONCLAIMS_KEY_ENCRYPTION); got {value!r}"
            )
        return value
    if name == "authorized_parties":
        if isinstance(value, str):
            value = [value]
        parties = tuple(value)
        for party in parties:
            if not isinstance(party, str) or not party.startswith(("https://", "http://")):
                raise ConfigurationError(
                    f"authorized_parties holds origins like 'https://app.example.com'; "
                    f"got {party!r}"
                )
            if party.endswith("/"):
                raise ConfigurationError(
                    f"an origin has no trailing slash: use {party.rstrip('/')!r}"
                )
        return parties
    if name == "roles":
        return value if isinstance(value, Roles) else Roles(value)
    if name in _JSON:
        if not isinstance(value, Mapping):
            raise ConfigurationError(f"{name} must be a JSON object / dict, got {value!r}")
        return value
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string, got {value!r}")
    return value


def resolve_settings(
    overrides: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> Settings:
    """Merge keyword arguments, environment and TOML file into checked :class:`Settings`."""
    unknown = sorted(set(overrides) - _NAMES)
    if unknown:
        raise ConfigurationError(
            f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(_NAMES))}"
        )
    env = os.environ if env is None else env
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    merged: dict[str, Any] = _from_toml(Path(path)) if path else {}
    merged.update(_from_env(env))
    merged.update({k: v for k, v in overrides.items() if v is not None})
    values = {name: _coerce(name, value) for name, value in merged.items()}
    settings = Settings(**values)
    if not settings.issuer:
        raise ConfigurationError(
            "issuer is required: the exact URL that goes into every token's 'iss', "
            "e.g. issuer='https://auth.example.com' (or SESSIONCLAIMS_ISSUER)"
        )
    if settings.clock_skew >= settings.token_lifetime:
        raise ConfigurationError("clock_skew must be smaller than token_lifetime")
    if settings.max_token_lifetime is not None and (
        settings.max_token_lifetime < settings.token_lifetime
    ):
        raise ConfigurationError("max_token_lifetime must be >= token_lifetime")
    if settings.secret_key is not None and settings.secret_key in settings.feed_keys:
        raise ConfigurationError("a feed key must differ from the secret key")
    if settings.max_token_bytes < 512:
        raise ConfigurationError("max_token_bytes below 512 leaves no room for any claim")
    return settings
