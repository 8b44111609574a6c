"""The README's dependency table is true: src/ imports only what pyproject declares, and
the demo only what `make demo` installs."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "sessionclaims"

# Distribution name (as in pyproject.toml) -> the import names it provides.
IMPORT_NAMES = {
    "starlette": {"starlette"},
    "cryptography": {"cryptography"},
    "cachetools": {"cachetools"},
    "httpx": {"httpx"},
    "uvicorn": {"uvicorn"},
    "psycopg": {"psycopg"},
    "psycopg-pool": {"psycopg_pool"},
    "fastapi": {"fastapi"},
    "pyjwt": {"jwt"},
}


def _names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        name = requirement.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip()
        names |= IMPORT_NAMES.get(name, set())
    return names


def _imports(directory: Path) -> set[str]:
    """The top-level names the .py files under ``directory`` import, the stdlib left out."""
    found: set[str] = set()
    for path in directory.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names}


def _third_party_imports() -> set[str]:
    return _imports(SRC) - {"sessionclaims"}


def test_src_imports_only_declared_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    allowed = _names(project["dependencies"]) | _names(extras["postgres"] + extras["fastapi"])
    assert _third_party_imports() <= allowed


def test_every_runtime_dependency_is_imported_and_in_the_readme() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = _names(project["dependencies"])
    assert runtime <= _third_party_imports(), "a runtime dependency src/ never imports"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for requirement in project["dependencies"]:
        name = requirement.split("[")[0].split(">")[0].strip()
        assert f"| `{name}" in readme, f"{name} is missing from the README's dependency table"


def test_the_demo_imports_only_what_make_demo_installs() -> None:
    """`make demo` installs the package without extras into its own venv (.venv-demo):
    the demo may import the runtime dependencies, the standard library, sessionclaims
    and its own sibling modules, nothing of the dev or bench extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "$(DEMO_VENV)/bin/python -m pip install --quiet -e .\n" in makefile
    demo = ROOT / "examples" / "demo"
    siblings = {path.stem for path in demo.glob("*.py")}
    allowed = _names(project["dependencies"]) | {"sessionclaims"} | siblings
    extra = _imports(demo) - allowed
    assert not extra, f"the demo imports {sorted(extra)}, which make demo does not install"
