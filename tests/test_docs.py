"""The docs cannot drift from the code: the HTTP reference matches /openapi.json, and the
README's "In your app" snippets run as pasted (a real SQLite file; a store that cannot be
opened stops the app at startup)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionclaims import Backend, StoreUnavailable

from .helpers import bearer, client, lifespan

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


# -- the README's "In your app" snippets, run as pasted ----------------------------------
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def readme_snippet(heading: str) -> tuple[str, str]:
    """The first ```python block under ``heading`` in README.md, and the examples/ file the
    text before it links as the complete file."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index(f"\n{heading}\n") :]
    block = _PYTHON_BLOCK.search(section)
    assert block is not None, f"no python block under {heading}"
    link = re.search(r"The complete file is \[(examples/[\w./]+)\]\(\1\)", section[: block.start()])
    assert link is not None, f"{heading}: the snippet links its complete file in examples/"
    return block.group(1), link.group(1)


def run_snippet(code: str, name: str) -> dict[str, Any]:
    """Execute a snippet as a module would run it; its globals."""
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(code, f"README.md ({name})", "exec"), namespace)
    return namespace


def code_lines(text: str) -> list[str]:
    """A file's lines without its module docstring and blank lines (the README keeps one
    blank line where the formatter puts two)."""
    if text.startswith('"""'):
        text = text[text.index('"""', 3) + 3 :]
    return [line for line in text.splitlines() if line.strip()]


def test_the_full_mode_snippet_is_its_complete_file() -> None:
    code, path = readme_snippet("## In your app")
    assert path == "examples/minimal_starlette.py"
    assert code_lines(code) == code_lines((ROOT / path).read_text(encoding="utf-8"))


async def test_the_full_mode_snippet_signs_a_request_in_on_a_real_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _ = readme_snippet("## In your app")
    monkeypatch.chdir(tmp_path)  # the snippet's sqlite:///auth.db is relative
    monkeypatch.setenv("SESSIONCLAIMS_SECRET_KEY", "sk_test_readme")
    snippet = run_snippet(code, "readme_full")
    app, backend = snippet["app"], snippet["backend"]
    async with lifespan(app):
        assert backend.is_open  # opened at startup, before any request
        user = await backend.users.create_user(public_metadata={"role": "admin"})
        new = await backend.sessions.create_session(user.id)
        async with client(app, "http://127.0.0.1:8000") as http:
            answer = await http.get("/dashboard", headers=bearer(new.token))
            assert answer.json() == {"signed_in": True, "role": "admin"}
            answer = await http.get("/dashboard")
            assert answer.json() == {"signed_in": False, "role": None}
    assert not backend.is_open
    assert (tmp_path / "auth.db").is_file()


async def test_the_full_mode_snippet_stops_at_startup_on_a_store_it_cannot_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _ = readme_snippet("## In your app")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SESSIONCLAIMS_SECRET_KEY", "sk_test_readme")
    (tmp_path / "auth.db").mkdir()  # sqlite:///auth.db names a directory: no database there
    snippet = run_snippet(code, "readme_full_bad_url")
    with pytest.raises(StoreUnavailable, match="unable to open database file"):
        async with lifespan(snippet["app"]):
            raise AssertionError("the app started although its store cannot be opened")


async def test_the_verify_only_snippet_verifies_the_issuers_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, path = readme_snippet("### A service that only verifies")
    assert path == "examples/verify_only_service.py"
    example = (ROOT / path).read_text(encoding="utf-8")
    for keyword in re.findall(r"^    (\w+)=", code, re.M):  # the complete file sets them too
        assert f"{keyword}=" in example, keyword
    auth = Backend(
        f"sqlite:///{tmp_path}/issuer.db",
        issuer="https://auth.example.com",  # the snippet's issuer and JWKS host
        secret_key="sk_test_readme",
        session_template={"role": "{{user.public_metadata.role || 'member'}}"},
        authorized_parties=["https://app.example.com"],
    )
    # The snippet's JWKS URL is served by this test's issuer (no network).
    real_client = httpx.AsyncClient

    def to_the_issuer(**options: Any) -> httpx.AsyncClient:
        options.setdefault("transport", httpx.ASGITransport(app=auth.api))
        return real_client(**options)

    async with auth:
        user = await auth.users.create_user(public_metadata={"role": "admin"})
        token = (await auth.sessions.create_session(user.id)).token
        monkeypatch.setattr(httpx, "AsyncClient", to_the_issuer)
        service = run_snippet(code, "readme_verify_only")["app"]
        async with client(service, "https://app.example.com") as http:
            answer = await http.get("/whoami", headers=bearer(token))
            assert answer.json() == {"role": "admin"}
            assert (await http.get("/whoami")).json() == {"role": None}
        assert service.network_calls == 1  # the one JWKS fetch
