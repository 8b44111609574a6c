"""The test vectors kept in ``tests/vectors/`` (see its README).

A missing or empty vector file is an error at collection, never a skip: a suite that
passes by running less proves nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parent / "vectors"
WYCHEPROOF = VECTORS / "wycheproof"
METADATA_MERGE = VECTORS / "metadata_merge.json"


def load_json(path: Path) -> Any:
    """The parsed file; raises ``FileNotFoundError`` naming it when it is absent."""
    if not path.is_file():
        raise FileNotFoundError(
            f"test vector file {path} is missing: it belongs to the repository "
            "(tests/vectors/); restore it with `git checkout -- tests/vectors`"
        )
    return json.loads(path.read_text(encoding="utf-8"))
