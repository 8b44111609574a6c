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


MD_NAME = re.compile(r"[\w.-]+\.md\b")
"""A Markdown file named in prose or a link: ``docs/security.md``, ``(tokens.md)``."""


def test_what_a_user_reads_names_only_files_the_repository_has() -> None:
    """README, docs, changelog, benchmarks' README, examples and the package's docstrings
    and messages name no document a clone lacks (the project's own spec files)."""
    present = {path.name for path in ROOT.glob("*.md")} | {
        path.name
        for folder in ("docs", "benchmarks", "examples", "src", "tests")
        for path in (ROOT / folder).rglob("*.md")
    }
    read = [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        ROOT / "benchmarks" / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "examples").rglob("*.py")),
        *sorted((ROOT / "src").rglob("*.py")),
    ]
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {name}"
        for path in read
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for name in MD_NAME.findall(line)
        if name.rsplit("/", 1)[-1] not in present
    ]
    assert offenders == []


def test_the_vectors_are_in_the_repository_with_their_licence() -> None:
    assert METADATA_MERGE.is_relative_to(ROOT)
    assert WYCHEPROOF.is_relative_to(ROOT)
    assert "Apache License" in (WYCHEPROOF / "LICENSE").read_text(encoding="utf-8")
    assert len(list(WYCHEPROOF.glob("*_test.json"))) == 5
