"""The suite and the benchmarks read nothing outside the repository.

A clone on its own (no ``shared/`` folder beside it) must run every test a clone with it
runs, so no test or benchmark may name the project's reference folder."""

from __future__ import annotations

import re
from pathlib import Path

from .vector_files import METADATA_MERGE, WYCHEPROOF

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"""["']shared["']|shared/(?:vectors|spec|seeds)|\.\./\.\./shared""")


def test_no_test_or_benchmark_names_the_reference_folder() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("tests", "benchmarks")
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in {".py", ".md", ".toml", ".json"}
        and path != Path(__file__).resolve()
        and "upgrade" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_the_vectors_are_in_the_repository_with_their_licence() -> None:
    assert METADATA_MERGE.is_relative_to(ROOT)
    assert WYCHEPROOF.is_relative_to(ROOT)
    assert "Apache License" in (WYCHEPROOF / "LICENSE").read_text(encoding="utf-8")
    assert len(list(WYCHEPROOF.glob("*_test.json"))) == 5
