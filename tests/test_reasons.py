"""Sign-out reasons: one enumerated list (sessionclaims.reasons), used by the code, the
served OpenAPI document and docs/security.md."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from sessionclaims.reasons import OTHER_REASONS, SIGN_OUT_REASONS, TOKEN_REASONS
from sessionclaims.tokens import REASONS

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "sessionclaims"

_SETTERS = {"signed_out", "TokenError", "_refuse", "_unauthorized"}
"""Calls whose first argument is a sign-out reason."""


def _reasons_set_in_src() -> set[str]:
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        if path.name == "_json.py":  # its _refuse raises JSONError with a message
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if name in _SETTERS and isinstance(first, ast.Constant):
                assert isinstance(first.value, str), (path, ast.dump(node))
                found.add(first.value)
    return found


def test_every_reason_the_code_sets_is_listed() -> None:
    used = _reasons_set_in_src()
    assert used, "the scan found no reason at all"
    assert used <= SIGN_OUT_REASONS, used - SIGN_OUT_REASONS


def test_the_lists_partition_the_reasons() -> None:
    assert not TOKEN_REASONS & OTHER_REASONS
    assert REASONS == TOKEN_REASONS


def test_docs_security_lists_exactly_the_reasons() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    section = text[text.index("## Token verification policy") : text.index("### Verified-token")]
    documented = set(re.findall(r"^\|[^|]*\|[^|]*\| `([a-z-]+)` \|", section, re.M))
    documented |= set(re.findall(r"^\| `([a-z-]+)` \|", section, re.M))
    assert documented == SIGN_OUT_REASONS


@pytest.mark.anyio
async def test_openapi_enumerates_the_reasons(tmp_path: Path) -> None:
    import httpx

    from sessionclaims import Backend

    backend = Backend("sqlite:///" + str(tmp_path / "a.db"), issuer="https://auth.example.com")
    transport = httpx.ASGITransport(app=backend.api)
    async with httpx.AsyncClient(transport=transport, base_url="https://auth.example.com") as c:
        document = (await c.get("/openapi.json")).json()
    error = document["components"]["schemas"]["Error"]
    meta = error["properties"]["errors"]["items"]["properties"]["meta"]
    assert meta["properties"]["reason"]["enum"] == sorted(SIGN_OUT_REASONS)
