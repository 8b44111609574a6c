"""Side-by-side benchmarks of sessionclaims against its peers (performance.md).

Run ``python -m benchmarks`` (``make bench``); ``--quick`` for a smoke run, ``--only P1``
to pick scenarios. See ``benchmarks/README.md`` for what each scenario measures.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# The library is normally installed (``pip install -e .``); when it is not, measure the
# source tree next to this directory rather than fail.
if importlib.util.find_spec("sessionclaims") is None:  # pragma: no cover - depends on setup
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
