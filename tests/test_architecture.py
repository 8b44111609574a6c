"""The import graph of ``src/``: no circle, and no import from a lower layer to a higher one.

Every import statement counts: top-level ones, those inside functions and those under
``TYPE_CHECKING``, relative and absolute. The layers are listed here and drawn in
docs/architecture.md (low to high); a module may import its own layer and those below
it, except where :data:`MAY_IMPORT` narrows that further.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "sessionclaims"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"

LAYERS: dict[str, frozenset[str]] = {
    "core": frozenset(
        {
            "__about__",
            "_errors",
            "_json",
            "_b64",
            "_jws",
            "_key_checks",
            "_key_formats",
            "keys",
            "tokens",
            "_template_parser",
            "templates",
            "metadata",
            "models",
            "config",
            "freshness",
            "_credentials",
            "cookies",
            "reasons",
            "roles",
        }
    ),
    "stores": frozenset({"stores"}),
    "backend": frozenset({"backend", "_broadcast"}),
    "middleware": frozenset(
        {
            "auth",
            "jwks_client",
            "change_stream",
            "_authn",
            "_full_authn",
            "_stream_authn",
            "_reissue",
            "middleware",
            "fastapi",
        }
    ),
    "api": frozenset({"api"}),
    "top": frozenset({"", "cli", "_cli", "__main__"}),
}
"""Layer -> the modules (or packages: ``stores`` is ``stores/*``) in it; ``""`` is the
package itself (``sessionclaims/__init__.py``, the public facade)."""

MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset({"core"}),
    "stores": frozenset({"core", "stores"}),
    "backend": frozenset({"core", "stores", "backend"}),
    "middleware": frozenset({"core", "backend", "middleware"}),
    "api": frozenset({"core", "backend", "middleware", "api"}),
    "top": frozenset(LAYERS),
}
"""Layer -> the layers its modules may import."""

WEB = ("starlette", "httpx", "uvicorn", "psycopg")
"""Third-party packages the core may not import (it is plain Python + cryptography)."""


def modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name (without the package) -> (file, is a package ``__init__``)."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC / PACKAGE).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


MODULES = modules()


def _absolute(module: str | None, level: int, name: str, is_package: bool) -> str:
    if not level:
        return module or ""
    base = [PACKAGE, *name.split(".")] if name else [PACKAGE]
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def _ours(dotted: str) -> str | None:
    """The module of ours that ``dotted`` names (its longest known prefix), if any."""
    if dotted != PACKAGE and not dotted.startswith(PACKAGE + "."):
        return None
    name = dotted[len(PACKAGE) + 1 :]
    while name not in MODULES and name:
        name = name.rpartition(".")[0]
    return name


def imports_of(name: str) -> tuple[set[str], set[str]]:
    """(our modules, third-party top-level packages) that module ``name`` imports."""
    path, is_package = MODULES[name]
    ours: set[str] = set()
    external: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node.module, node.level, name, is_package)
            submodules = [f"{module}.{a.name}" for a in node.names]
            named = [s for s in submodules if _ours(s) == s[len(PACKAGE) + 1 :]]
            targets = named if len(named) == len(submodules) else [module, *named]
        for target in targets:
            mine = _ours(target)
            if mine is not None:
                if mine != name:
                    ours.add(mine)
            else:
                external.add(target.partition(".")[0])
    return ours, external


GRAPH = {name: imports_of(name)[0] for name in MODULES}


def layer_of(name: str) -> str:
    for layer, members in LAYERS.items():
        if name in members or name.partition(".")[0] in members - {""}:
            return layer
    raise AssertionError(f"module {name!r} is in no layer: add it to LAYERS")


def test_every_module_is_in_exactly_one_layer() -> None:
    for name in MODULES:
        homes = [
            layer
            for layer, members in LAYERS.items()
            if name in members or name.partition(".")[0] in members - {""}
        ]
        assert len(homes) == 1, (name, homes)


def test_the_parser_sees_every_kind_of_import() -> None:
    """The graph includes imports inside functions, under TYPE_CHECKING and relative ones."""
    assert "backend" in GRAPH["middleware"]  # only under TYPE_CHECKING there
    assert "backend.sessions" in GRAPH["backend.sign_ups"]  # relative, sibling
    assert "_errors" in GRAPH["backend.sessions"]  # relative, from the parent package


def test_no_import_circle() -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                circle = [*path[path.index(target) :], target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_follow_the_layers(name: str) -> None:
    layer = layer_of(name)
    allowed = MAY_IMPORT[layer]
    ours, external = imports_of(name)
    upward = {target: layer_of(target) for target in ours if layer_of(target) not in allowed}
    assert not upward, f"{name} ({layer}) imports {upward}"
    if layer == "core":
        assert not external & set(WEB), f"core module {name} imports {external & set(WEB)}"


def test_docs_name_every_module() -> None:
    text = DOCS.read_text()
    missing = []
    for path, _is_package in MODULES.values():
        shown = path.relative_to(SRC / PACKAGE).as_posix()
        if f"`{shown}`" not in text:
            missing.append(shown)
    assert not missing, f"docs/architecture.md does not name: {missing}"


def test_docs_list_the_layers_in_order() -> None:
    text = DOCS.read_text()
    positions = [text.find(f"**{layer}**") for layer in LAYERS]
    assert all(p >= 0 for p in positions), positions
    assert positions == sorted(positions)


def test_docstrings_cite_only_documents_in_the_repository() -> None:
    """``docs/x.md`` cited in src/ exists; the spec's file names are not cited bare."""
    root = SRC.parent
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        text = path.read_text()
        for cited in re.findall(r"docs/[a-z-]+\.md", text):
            assert (root / cited).is_file(), f"{path.name} cites {cited}, which is absent"
        bare = re.findall(
            r"(?<![/\w-])(tokens|templates|metadata|http-api|services|organizations|python-api|performance)\.md",
            text,
        )
        assert not bare, f"{path.name} cites {bare} (not in the repository; cite docs/)"


_VOCABULARY = {
    "session statuses": ({"active", "revoked", "ended", "expired"}, "models.py"),
    "tiers a frontend may not write": (
        {"public_metadata", "private_metadata", "trusted_metadata"},
        "metadata.py",
    ),
}


@pytest.mark.parametrize("what", sorted(_VOCABULARY))
def test_vocabulary_is_written_once(what: str) -> None:
    """The literal collection that defines a piece of vocabulary appears in one module."""
    words, home = _VOCABULARY[what]
    found = []
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            elements = getattr(node, "elts", None)
            if not isinstance(node, (ast.Set, ast.Tuple, ast.List)) or elements is None:
                continue
            values = {e.value for e in elements if isinstance(e, ast.Constant)}
            if words <= values:
                found.append(path.relative_to(SRC / PACKAGE).as_posix())
    assert found == [home], f"{what} written out in {found}"


def test_tests_share_helpers_through_modules_not_conftest() -> None:
    """conftest.py holds fixtures only; no test imports from one, and there is one helper
    that builds a backend and one that builds an app (tests/helpers.py)."""
    tests = Path(__file__).resolve().parent
    definitions: dict[str, list[str]] = {"make_backend": [], "make_app": []}
    for path in sorted(tests.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = [alias.name for alias in node.names]
                where = path.relative_to(tests)
                assert "conftest" not in module.split("."), f"{where} imports from a conftest"
                assert "conftest" not in names, f"{where} imports a conftest"
            if (
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and node.name in definitions
            ):
                definitions[node.name].append(path.relative_to(tests).as_posix())
    assert definitions == {"make_backend": ["helpers.py"], "make_app": ["helpers.py"]}


def test_one_compact_json_serializer() -> None:
    """Compact JSON (``separators=(",", ":")``) is written in _json.py only."""
    writers = [
        path.relative_to(SRC / PACKAGE).as_posix()
        for path in sorted((SRC / PACKAGE).rglob("*.py"))
        if 'separators=(",", ":")' in path.read_text()
    ]
    assert writers == ["_json.py"]


def test_no_timings_in_docstrings() -> None:
    """Speed lives in benchmarks/, not in docstrings (they go stale)."""
    timed = re.compile(r"\d\s*(µs|us|ns|microseconds?|nanoseconds?)\b")
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node) or ""
                assert not timed.search(doc), f"{path.name}: a timing in a docstring"
