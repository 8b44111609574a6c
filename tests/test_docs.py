"""The docs cannot drift from the code: the HTTP reference matches /openapi.json."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from sessionclaims import Backend

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.anyio


async def test_http_api_reference_matches_the_openapi_document() -> None:
    backend = Backend("sqlite://", issuer="https://auth.example.com")
    transport = httpx.ASGITransport(app=backend.api)
    async with httpx.AsyncClient(transport=transport, base_url="https://a.example.com") as c:
        document = (await c.get("/openapi.json")).json()
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    text = (ROOT / "docs" / "http-api.md").read_text()
    headings = re.findall(r"^### (\S+) (\S+)$", text, re.M)
    assert len(headings) == len(re.findall(r"^### ", text, re.M)), "every ### is METHOD /path"
    assert len(headings) == len(set(headings)), "no operation documented twice"
    assert set(headings) == operations
    sections = dict(zip(headings, re.split(r"^### \S+ \S+$", text, flags=re.M)[1:], strict=True))
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in [] if method == "parameters" else operation.get("parameters", []):
                if parameter["in"] == "query":
                    section = sections[(method.upper(), path)]
                    name = parameter["name"]
                    assert f"`{name}`" in section or f"{name}=" in section, (method, path, name)
    assert '409 `conflict` with `meta.param: "external_id"`' in sections[("POST", "/v1/users")]


def test_docs_index_links_every_page() -> None:
    index = (ROOT / "docs" / "index.md").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "index.md":
            assert f"({page.name})" in index, page.name


def test_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#:]+)\)", readme):
        assert (ROOT / target).exists(), target
