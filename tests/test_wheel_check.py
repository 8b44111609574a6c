"""The CI wheel check (.ci/wheel_check.py) refuses what it is meant to refuse.

The check itself builds, makes a venv and installs from the package index (seconds and
the network): `.ci/run` runs it; these tests feed its checks small hand-made archives."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_wheel_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wheel_check", ROOT / ".ci" / "wheel_check.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["wheel_check"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["wheel_check"]
    return module


wheel_check = load_wheel_check()

METADATA = """\
Metadata-Version: 2.4
Name: sessionclaims
Version: 1.2.3
Summary: User claims in short-lived session JWTs for any ASGI app.
License-Expression: MIT
Requires-Python: >=3.11
Requires-Dist: cryptography>=42
Requires-Dist: starlette>=0.40
Requires-Dist: fastapi>=0.110; extra == 'fastapi'
Requires-Dist: psycopg[binary]>=3.2; extra == 'postgres'
Provides-Extra: fastapi
Provides-Extra: postgres
Description-Content-Type: text/markdown

# sessionclaims

## Installing
"""


def make_wheel(tmp_path: Path, names: list[str]) -> Path:
    wheel = tmp_path / "sessionclaims-1.2.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name in [*names, "sessionclaims-1.2.3.dist-info/METADATA"]:
            archive.writestr(name, METADATA if name.endswith("METADATA") else "")
    return wheel


GOOD = ["sessionclaims/__init__.py", "sessionclaims/py.typed"]


def test_a_wheel_of_the_package_alone_passes(tmp_path: Path) -> None:
    text = wheel_check.check_wheel_files(make_wheel(tmp_path, GOOD), "1.2.3")
    wheel_check.check_metadata(text, "1.2.3")


@pytest.mark.parametrize(
    ("names", "refusal"),
    [
        (["sessionclaims/__init__.py"], "py.typed"),
        ([*GOOD, "tests/test_backend.py"], "outside sessionclaims/"),
        ([*GOOD, "benchmarks/__init__.py"], "outside sessionclaims/"),
        ([*GOOD, "sessionclaims/tests/test_x.py"], "holds tests"),
    ],
)
def test_a_wheel_with_stray_files_or_without_py_typed_fails(
    tmp_path: Path, names: list[str], refusal: str
) -> None:
    with pytest.raises(wheel_check.CheckFailed, match=refusal):
        wheel_check.check_wheel_files(make_wheel(tmp_path, names), "1.2.3")


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (("Version: 1.2.3", "Version: 1.2.3 beta"), "does not validate"),
        (("Version: 1.2.3", "Version: 1.2.4"), "Version is"),
        (("Provides-Extra: postgres\n", ""), "Provides-Extra"),
        (("; extra == 'postgres'", ""), "for the 'postgres' extra"),
        (("Requires-Python: >=3.11", "Requires-Python: >=3.9"), "Requires-Python"),
        (("text/markdown", "text/plain"), "Markdown"),
    ],
)
def test_metadata_that_is_invalid_or_incomplete_fails(
    change: tuple[str, str], refusal: str
) -> None:
    with pytest.raises(wheel_check.CheckFailed, match=refusal):
        wheel_check.check_metadata(METADATA.replace(*change), "1.2.3")


def test_ci_runs_the_wheel_check() -> None:
    assert "\nmake wheel-check\n" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\nwheel-check: $(STAMP)\n\t$(BIN)/python .ci/wheel_check.py\n" in makefile
