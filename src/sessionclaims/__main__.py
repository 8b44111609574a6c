"""``python -m sessionclaims``: the command line (see :mod:`sessionclaims.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
