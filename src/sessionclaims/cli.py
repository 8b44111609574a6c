"""The ``sessionclaims`` command: ``sessionclaims --help`` (or ``python -m sessionclaims``).

::

    sessionclaims serve [--host HOST] [--port PORT]        the HTTP API, standalone
    sessionclaims demo [--port PORT]                       the demo app (source checkout)
    sessionclaims users create|get|list|update-metadata|replace-metadata|delete
    sessionclaims sessions create|get|list|revoke|token
    sessionclaims keys list|rotate|jwks
    sessionclaims tokens inspect|verify TOKEN [--jwks-url URL | --jwks-file FILE]
    sessionclaims templates check FILE [--user USER_ID]
    sessionclaims config show

Settings come from flags (``--database-url``, ``--issuer``, ``--authorized-party``...),
then ``SESSIONCLAIMS_*`` environment variables, then a TOML file (``--config`` or
``SESSIONCLAIMS_CONFIG``). ``--json`` prints machine-readable output (the HTTP API's
object shapes). Every error is one ``error: ...`` line on stderr with exit status 1 (2
for usage errors, 130 when interrupted); secrets and private keys are never printed.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import httpx

from ._cli import GLOBAL_DEFAULTS, CLIError, Handler, Output, build_parser
from ._errors import InvalidRequest, SessionClaimsError, TokenError

__all__ = ["main"]


class _StderrHandler(logging.Handler):
    """Library warnings as ``warning: ...`` lines on the current ``sys.stderr``."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(f"{record.levelname.lower()}: {self.format(record)}", file=sys.stderr)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    logger = logging.getLogger("sessionclaims")
    handler = _StderrHandler(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _describe(exc: BaseException) -> tuple[int, str]:
    """Exit status and one-line message for an error."""
    if isinstance(exc, CLIError):
        return exc.exit_code, str(exc)
    if isinstance(exc, InvalidRequest):
        return 1, f"{exc.message} ({exc.code})"
    if isinstance(exc, TokenError):
        message = str(exc)
        return 1, exc.reason if message == exc.reason else f"{exc.reason}: {message}"
    if isinstance(exc, SessionClaimsError | httpx.HTTPError):
        return 1, str(exc) or type(exc).__name__
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return 1, f"{where}{exc.strerror or exc}"
    if isinstance(exc, ValueError):
        return 1, str(exc)
    return 1, f"unexpected {type(exc).__name__}: {exc} (rerun with --traceback to see where)"


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 2


def main(argv: list[str] | None = None) -> int:
    """Run ``sessionclaims`` with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Never raises for a failure: it prints ``error: ...`` on stderr and returns 1 (2 for a
    usage error), unless ``--traceback`` was given.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse reported
        return _exit_status(exc.code)
    for name, default in GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    handler: Handler = args.handler
    with _warnings_to_stderr():
        try:
            return handler(args, Output(args.json))
        except KeyboardInterrupt:
            return 130
        except Exception as exc:
            if args.traceback:
                raise
            status, message = _describe(exc)
            print(f"error: {' '.join(message.split())}", file=sys.stderr)
            return status


if __name__ == "__main__":
    sys.exit(main())
