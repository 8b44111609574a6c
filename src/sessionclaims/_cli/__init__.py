"""The ``sessionclaims`` command line, one module per family of commands.

* :mod:`._parser` — the argparse tree; every command sets a ``handler``;
* :mod:`._common` — settings from flags, the backend, JSON arguments, output;
* :mod:`._resources` — ``users``, ``sessions``, ``keys``, ``config``;
* :mod:`._organizations` — ``organizations``, ``memberships``;
* :mod:`._tokens` — ``tokens inspect`` / ``tokens verify``;
* :mod:`._templates` — ``templates check``;
* :mod:`._serve` — ``serve`` and ``demo``.

A family of commands is a ``_<family>(builder, sub)`` function in :mod:`._parser` (called
from ``build_parser``) and its handlers in a module of its own; a handler opens the
backend through ``run_with_backend`` (``issues_tokens=False`` when it mints and verifies
no token, so that it runs without an issuer). Each command's ``--help`` lists its own
options; the settings are listed once, in ``sessionclaims --help``.

The entry point is :func:`sessionclaims.cli.main`.
"""

from ._common import GLOBAL_DEFAULTS, CLIError, Output
from ._parser import Handler, build_parser

__all__ = ["GLOBAL_DEFAULTS", "CLIError", "Handler", "Output", "build_parser"]
