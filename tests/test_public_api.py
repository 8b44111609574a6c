"""The public surface is curated: exports sorted, complete, and importable."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import sessionclaims

SRC = Path(sessionclaims.__file__).parent


def test_all_is_sorted_and_unique() -> None:
    names = [n for n in sessionclaims.__all__ if n != "__version__"]
    assert names == sorted(names)
    assert len(set(sessionclaims.__all__)) == len(sessionclaims.__all__)


def test_every_export_resolves() -> None:
    for name in sessionclaims.__all__:
        assert getattr(sessionclaims, name) is not None


def test_every_imported_name_is_exported() -> None:
    tree = ast.parse((SRC / "__init__.py").read_text())
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == set(sessionclaims.__all__)


def test_errors_share_one_root() -> None:
    errors = [getattr(sessionclaims, n) for n in sessionclaims.__all__]
    exceptions = [e for e in errors if isinstance(e, type) and issubclass(e, BaseException)]
    assert exceptions
    for exc in exceptions:
        assert issubclass(exc, sessionclaims.SessionClaimsError), exc


def test_core_imports_neither_starlette_nor_a_store() -> None:
    core = [
        "keys",
        "tokens",
        "templates",
        "metadata",
        "models",
        "_json",
        "_errors",
        "_b64",
        "_jws",
        "_key_checks",
        "_key_formats",
        "_template_parser",
    ]
    for module in core:
        path = SRC / f"{module}.py"
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = [node.module or ""]
            else:
                continue
            for target in targets:
                assert not target.startswith("starlette"), (module, target)
                assert "stores" not in target, (module, target)


def test_public_names_have_docstrings() -> None:
    for name in sessionclaims.__all__:
        obj = getattr(sessionclaims, name)
        if isinstance(obj, type):
            assert obj.__doc__, name


def test_modules_import() -> None:
    for module in ["sessionclaims.middleware", "sessionclaims.fastapi", "sessionclaims.config"]:
        importlib.import_module(module)
