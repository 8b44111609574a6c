"""``tokens inspect`` and ``tokens verify``.

``inspect`` decodes a token's header and claims **without trusting them**, shows its
times as ISO 8601 and, when a key source is at hand, says whether it verifies and, if not,
why (the verifier's reason, e.g. ``token-expired``). ``verify`` does the same check and
exits 1 when the token does not verify.

Key sources, first match wins: ``--jwks-url`` (fetched once with httpx), ``--jwks-file``,
else the public keys of the database in effect, the one ``sessions create`` writes to: the
database URL from the flag, environment or TOML, else the built-in default
``sqlite:///sessionclaims.db`` when that file exists. The store is only read: no key is
created, rotated or decrypted.

The verification policy is the middleware's (:class:`~sessionclaims.TokenVerifier`):
``iss`` must equal the configured issuer, ``azp`` must be an authorized party when some
are configured, times are checked with the configured clock skew as leeway. Without a
configured issuer, ``inspect`` uses the token's own ``iss`` and says it was not checked;
``verify`` refuses to run (exit 2), as it does without a key source.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .._b64 import b64url_decode
from .._credentials import is_bearer
from .._errors import TokenError
from .._json import JSONError, loads_strict
from ..config import Settings
from ..keys import KeySet
from ..stores import SQLiteStore, Store, open_store
from ..tokens import REQUIRED_CLAIMS, TokenVerifier, VerifyOptions, unverified_header
from ._common import (
    CLIError,
    Output,
    iso_time,
    no_default_database,
    read_text,
    resolve_args_settings,
    shown_url,
)

__all__ = ["tokens_inspect", "tokens_verify"]

_TIME_CLAIMS = ("iat", "nbf", "exp", "auth_time")
_MAX_INSPECT_BYTES = 64 * 1024  # inspect decodes what the verifier (8 KiB) would refuse
_MAX_JWKS_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class _Decoded:
    token: str
    header: dict[str, Any]
    claims: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Verdict:
    source: str | None  # where the keys came from; None = not checked
    verified: bool | None
    reason: str | None = None
    message: str | None = None
    issuer_checked: bool = True
    skipped_keys: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "key_source": self.source,
            "reason": self.reason,
            "message": self.message,
            "issuer_checked": self.issuer_checked,
            "skipped_keys": list(self.skipped_keys),
        }


# -- decoding ---------------------------------------------------------------------------
def _read_token(value: str) -> str:
    token = sys.stdin.read() if value == "-" else value
    token = token.strip()
    # A pasted "Authorization: Bearer <jwt>" value: the scheme in any letter case.
    return token[7:].strip() if is_bearer(token.encode("utf-8", "replace")) else token


def _decode(token: str) -> _Decoded:
    """Header and claims of a compact JWS, unverified; CLIError if it cannot be decoded."""
    try:
        header = unverified_header(token, max_token_bytes=_MAX_INSPECT_BYTES)
        claims = loads_strict(b64url_decode(token.split(".")[1]))
    except TokenError as exc:
        raise CLIError(f"cannot decode the token ({exc.reason}): {exc}") from exc
    except (ValueError, JSONError) as exc:
        raise CLIError(f"cannot decode the token's claims: {exc}") from exc
    if not isinstance(claims, dict):
        raise CLIError("cannot decode the token's claims: the payload is not a JSON object")
    return _Decoded(token, header, claims)


# -- key sources ------------------------------------------------------------------------
def _jwks_from_url(url: str) -> KeySet:
    if not url.startswith(("https://", "http://")):
        raise CLIError(f"--jwks-url must be an http(s) URL, got {url!r}", exit_code=2)
    try:
        response = httpx.get(url, timeout=10.0, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        raise CLIError(f"cannot fetch the JWKS: {url} answered {exc.response.status_code}") from exc
    except httpx.HTTPError as exc:
        raise CLIError(f"cannot fetch the JWKS from {url}: {exc or type(exc).__name__}") from exc
    if len(response.content) > _MAX_JWKS_BYTES:
        raise CLIError(f"the JWKS at {url} is larger than {_MAX_JWKS_BYTES} bytes")
    return _jwks_document(response.content, url)


def _jwks_document(data: bytes | str, where: str) -> KeySet:
    try:
        document = loads_strict(data)
    except JSONError as exc:
        raise CLIError(f"{where} is not a JWKS: {exc}") from exc
    return KeySet.from_jwks(document)  # KeyFormatError if it is no JWKS


def _store_keys(database_url: str) -> KeySet:
    """The public keys that verify now, read from the store (nothing is written)."""
    store = open_store(database_url)
    if isinstance(store, SQLiteStore) and (store.path is None or not Path(store.path).exists()):
        raise CLIError(f"no database at {shown_url(database_url)}: nothing to verify against")
    return asyncio.run(_read_keys(store))


async def _read_keys(store: Store) -> KeySet:
    await store.open()
    try:
        records = await store.list_keys()
    finally:
        await store.close()
    now_ms = int(time.time() * 1000)
    live = [r for r in records if r.retire_at is None or r.retire_at > now_ms]
    return KeySet.from_jwks({"keys": [json.loads(r.public_jwk) for r in live]})


def _key_source(args: argparse.Namespace, settings: Settings) -> tuple[str, KeySet] | None:
    if args.jwks_url:
        return args.jwks_url, _jwks_from_url(args.jwks_url)
    if args.jwks_file:
        text = read_text(args.jwks_file, "--jwks-file")
        return args.jwks_file, _jwks_document(text, args.jwks_file)
    if no_default_database(args, settings):
        return None
    return shown_url(settings.database_url), _store_keys(settings.database_url)


# -- verification -----------------------------------------------------------------------
def _verify(args: argparse.Namespace, decoded: _Decoded, *, strict: bool) -> _Verdict:
    """Check ``decoded`` against the key source; ``strict`` (``tokens verify``) requires a
    key source and a configured issuer."""
    settings, issuer_known = resolve_args_settings(args)
    if strict and not issuer_known:
        raise CLIError(
            "tokens verify needs the issuer the token must carry: --issuer, "
            "SESSIONCLAIMS_ISSUER or issuer in the TOML file",
            exit_code=2,
        )
    source = _key_source(args, settings)
    if source is None:
        if strict:
            raise CLIError(
                "tokens verify needs a key source: --jwks-url, --jwks-file or --database-url "
                f"(there is no database at the default {Settings().database_url})",
                exit_code=2,
            )
        return _Verdict(None, None)
    where, keys = source
    issuer = settings.issuer
    if not issuer_known:
        token_iss = decoded.claims.get("iss")
        issuer = token_iss if isinstance(token_iss, str) and token_iss else "(none)"
    required = REQUIRED_CLAIMS
    if args.required_claims is not None:
        names = [n.strip() for n in args.required_claims.split(",") if n.strip()]
        required = tuple(dict.fromkeys(["exp", "iat", "iss", *names]))
    options = VerifyOptions(
        issuer=issuer,
        authorized_parties=frozenset(settings.authorized_parties) or None,
        leeway=settings.clock_skew,
        required_claims=required,
    )
    verifier = TokenVerifier(options, cache_size=0)
    try:
        verifier.verify(decoded.token, keys, from_cookie=args.cookie)
    except TokenError as exc:
        return _Verdict(where, False, exc.reason, str(exc), issuer_known, keys.skipped)
    return _Verdict(where, True, issuer_checked=issuer_known, skipped_keys=keys.skipped)


# -- output -----------------------------------------------------------------------------
def _ago(delta: float) -> str:
    seconds = abs(int(delta))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{seconds // size} {unit}"
            break
    else:
        amount = f"{seconds} s"
    return f"in {amount}" if delta > 0 else f"{amount} ago"


def _times(claims: dict[str, Any]) -> dict[str, str]:
    return {
        name: iso_time(claims[name])
        for name in _TIME_CLAIMS
        if type(claims.get(name)) is int and 0 <= claims[name] < 253402300800
    }


def _report(decoded: _Decoded, verdict: _Verdict) -> dict[str, Any]:
    return {
        "trusted": bool(verdict.verified) and verdict.issuer_checked,
        "header": decoded.header,
        "claims": decoded.claims,
        "times": _times(decoded.claims),
        "size_bytes": len(decoded.token.encode()),
        "verification": verdict.to_dict(),
    }


def _verdict_text(out: Output, verdict: _Verdict) -> None:
    if verdict.source is None:
        out.line(
            "verification: not checked: no key source "
            "(give --jwks-url, --jwks-file or --database-url)"
        )
        return
    out.line(f"verification against {verdict.source}:")
    if verdict.verified:
        out.line("  verifies")
    else:
        out.line(f"  does not verify: {verdict.reason} ({verdict.message})")
    if not verdict.issuer_checked:
        out.line("  (iss not checked: no issuer configured; give --issuer)")
    for skipped in verdict.skipped_keys:
        out.line(f"  (skipped key {skipped})")


def _inspect_text(out: Output, decoded: _Decoded, verdict: _Verdict) -> None:
    if not verdict.verified:
        out.line("Decoded WITHOUT verification: do not trust these values.")
        out.line()
    out.line("header:")
    out.json(decoded.header)
    out.line("claims:")
    out.json(decoded.claims)
    times = _times(decoded.claims)
    if times:
        now = time.time()
        out.line("times (UTC):")
        for name, iso in times.items():
            out.line(
                f"  {name:<9} {decoded.claims[name]:<11} {iso}  "
                f"({_ago(decoded.claims[name] - now)})"
            )
    out.line(f"size: {len(decoded.token.encode())} bytes")
    _verdict_text(out, verdict)


# -- commands ---------------------------------------------------------------------------
def tokens_inspect(args: argparse.Namespace, out: Output) -> int:
    """``tokens inspect TOKEN``: exit 0 whether or not it verifies; 1 if undecodable."""
    decoded = _decode(_read_token(args.token))
    verdict = _verify(args, decoded, strict=False)
    out.result(_report(decoded, verdict), lambda: _inspect_text(out, decoded, verdict))
    return 0


def tokens_verify(args: argparse.Namespace, out: Output) -> int:
    """``tokens verify TOKEN``: exit 0 if it verifies, 1 (with the reason) if not."""
    decoded = _decode(_read_token(args.token))
    verdict = _verify(args, decoded, strict=True)

    def text() -> None:
        if verdict.verified:
            out.line(f"verifies against {verdict.source}")
            out.json(decoded.claims)

    out.result(_report(decoded, verdict), text)
    if not verdict.verified:
        hint = _hint(args, decoded, verdict)
        raise CLIError(
            f"does not verify: {verdict.reason} ({verdict.message})" + (hint and f": {hint}")
        )
    return 0


def _hint(args: argparse.Namespace, decoded: _Decoded, verdict: _Verdict) -> str:
    """What to do about the reasons a user meets first ("" when there is nothing to add)."""
    settings = resolve_args_settings(args)[0]
    claims = decoded.claims
    if verdict.reason == "token-invalid-issuer":
        return (
            f"the token's iss is {claims.get('iss')!r} and the configured issuer is "
            f"{settings.issuer!r}; give the issuer that minted it (--issuer)"
        )
    if verdict.reason == "token-invalid-authorized-party":
        parties = ", ".join(settings.authorized_parties)
        if "azp" not in claims:
            return (
                f"the token carries no azp, which a cookie token needs when authorized "
                f"parties are configured ({parties}); mint it with --origin"
            )
        return (
            f"the token's azp is {claims['azp']!r} and the authorized parties are "
            f"{parties}; add it with --authorized-party"
        )
    if verdict.reason == "token-unknown-key":
        return (
            f"no key of {verdict.source} has kid {decoded.header.get('kid')!r}; verify "
            "against the keys of the issuer that minted it (its --database-url or "
            "--jwks-url)"
        )
    if verdict.reason == "token-expired" and type(claims.get("exp")) is int:
        return (
            f"it expired {_ago(claims['exp'] - time.time())}; "
            "`sessionclaims sessions token SESSION_ID` mints a fresh one"
        )
    return ""
