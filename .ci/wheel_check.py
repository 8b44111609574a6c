"""CI: build the sdist and the wheel, install the wheel into a fresh virtual environment
outside the checkout, and run the README's minimal example against it.

    .venv/bin/python .ci/wheel_check.py [--keep]

Checks, each failing the run with a message:

* ``python -m build`` builds the sdist, then the wheel *from the sdist* (so a file the
  sdist forgets breaks the wheel too);
* the wheel holds the package and its ``.dist-info`` only (no tests/, benchmarks/,
  examples/), with ``sessionclaims/py.typed``; the sdist holds the sources, README,
  LICENSE and pyproject.toml and nothing of a local environment (.venv, databases, dist/);
* METADATA parses and validates (``packaging.metadata``, the PyPA parser), with the Name,
  the Version of ``__about__.py``, Requires-Python, the README as Markdown, and the
  ``postgres`` and ``fastapi`` extras with their Requires-Dist;
* in a new venv under a temporary directory (no PYTHONPATH, run from that directory), the
  wheel installs with its dependencies from the package index, ``sessionclaims`` imports
  from that venv, ``py.typed`` is installed, no ``tests`` or ``benchmarks`` package
  exists, the ``sessionclaims`` command runs, and examples/minimal_starlette.py (the
  README's "In your app", copied there as app.py) starts through its lifespan on a SQLite
  file there and answers a signed-in request.

Needs the ``build`` package (the ``dev`` extra) and the network to the package index.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile
from pathlib import Path

from packaging.metadata import Metadata
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "sessionclaims"

DRIVER = '''
"""Run app.py (the README's example) from the installed wheel: lifespan, then a request."""
import asyncio
import importlib.util
import os
import sys
from importlib.resources import files
from pathlib import Path

import httpx

import sessionclaims

here = Path.cwd()
installed = Path(sessionclaims.__file__).resolve()
assert Path(sys.prefix).resolve() in installed.parents, f"imported from {installed}"
assert files("sessionclaims").joinpath("py.typed").is_file(), "py.typed is not installed"
for name in ("tests", "benchmarks", "examples"):
    assert importlib.util.find_spec(name) is None, f"a top-level {name!r} is installed"

import app  # noqa: E402  (app.py: examples/minimal_starlette.py, copied here)


async def main() -> None:
    inbox, outbox = asyncio.Queue(), asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app.app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    user = await app.backend.users.create_user(public_metadata={"role": "admin"})
    new = await app.backend.sessions.create_session(user.id)
    transport = httpx.ASGITransport(app=app.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        answer = await http.get("/dashboard", headers={"Authorization": f"Bearer {new.token}"})
    assert answer.json() == {"signed_in": True, "role": "admin"}, answer.text
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
    await task
    assert (here / "auth.db").is_file()
    print(f"example ok: sessionclaims {sessionclaims.__version__} from {installed.parent}")


asyncio.run(main())
'''


class CheckFailed(Exception):
    """One of the checks did not hold."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def run(
    command: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    quiet: bool = False,
) -> None:
    print("+", " ".join(command), flush=True)
    stdout = subprocess.DEVNULL if quiet else None
    subprocess.run(command, check=True, cwd=cwd, env=env, stdout=stdout)


def version() -> str:
    about = (ROOT / "src" / PACKAGE / "__about__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', about, re.M)
    check(match is not None, "no __version__ in __about__.py")
    assert match is not None
    return match.group(1)


def build(dist: Path) -> tuple[Path, Path]:
    run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)])
    sdists, wheels = list(dist.glob("*.tar.gz")), list(dist.glob("*.whl"))
    check(len(sdists) == 1 and len(wheels) == 1, f"expected one sdist and one wheel: {dist}")
    return sdists[0], wheels[0]


def check_wheel_files(wheel: Path, expected_version: str) -> str:
    """The wheel's file list; returns its METADATA text."""
    dist_info = f"{PACKAGE}-{expected_version}.dist-info/"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        stray = [n for n in names if not n.startswith((f"{PACKAGE}/", dist_info))]
        check(not stray, f"the wheel holds files outside {PACKAGE}/: {stray[:10]}")
        check(f"{PACKAGE}/py.typed" in names, "the wheel does not ship py.typed")
        check(f"{PACKAGE}/__init__.py" in names, "the wheel has no package")
        for part in ("tests", "benchmarks", "examples"):
            found = [n for n in names if f"/{part}/" in n]
            check(not found, f"the wheel holds {part}: {found[:5]}")
        return archive.read(dist_info + "METADATA").decode("utf-8")


def check_sdist_files(sdist: Path, expected_version: str) -> None:
    top = f"{PACKAGE}-{expected_version}/"
    with tarfile.open(sdist) as archive:
        names = [n.removeprefix(top) for n in archive.getnames()]
    for required in ("pyproject.toml", "README.md", "LICENSE", f"src/{PACKAGE}/py.typed"):
        check(required in names, f"the sdist lacks {required}")
    local = [
        n
        for n in names
        if n.startswith((".venv", "dist/", "build/")) or n.endswith((".db", ".pyc"))
    ]
    check(not local, f"the sdist holds local files: {local[:10]}")


def check_metadata(text: str, expected_version: str) -> None:
    try:
        metadata = Metadata.from_email(text, validate=True)
    except Exception as exc:  # packaging raises an ExceptionGroup of every invalid field
        raise CheckFailed(f"METADATA does not validate: {exc!r}") from exc
    check(str(metadata.name) == PACKAGE, f"Name is {metadata.name!r}")
    check(str(metadata.version) == expected_version, f"Version is {metadata.version}")
    check(str(metadata.requires_python) == ">=3.11", f"Requires-Python {metadata.requires_python}")
    check(metadata.summary is not None and len(metadata.summary) > 20, "no Summary")
    check(metadata.description_content_type == "text/markdown", "the README is not Markdown")
    check(
        metadata.description is not None and "## Installing" in metadata.description,
        "the long description is not the README",
    )
    extras = {str(extra) for extra in metadata.provides_extra or []}
    check({"postgres", "fastapi"} <= extras, f"Provides-Extra is {sorted(extras)}")
    requirements: list[Requirement] = list(metadata.requires_dist or [])
    for extra, needed in (("postgres", "psycopg"), ("fastapi", "fastapi")):
        check(
            any(
                r.name == needed and r.marker is not None and r.marker.evaluate({"extra": extra})
                for r in requirements
            ),
            f"no Requires-Dist {needed} for the {extra!r} extra",
        )
    core = {r.name for r in requirements if r.marker is None}
    check({"starlette", "cryptography"} <= core, f"core Requires-Dist is {sorted(core)}")


def check_installed(wheel: Path, work: Path) -> None:
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL"))}
    run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        cwd=work,
        env=clean_env,
    )
    app_dir = work / "app"
    app_dir.mkdir()
    shutil.copy(ROOT / "examples" / "minimal_starlette.py", app_dir / "app.py")
    (app_dir / "driver.py").write_text(DRIVER, encoding="utf-8")
    run(
        [str(python), "driver.py"],
        cwd=app_dir,
        env={**clean_env, "SESSIONCLAIMS_SECRET_KEY": "sk_test_wheel_check"},
    )
    run(
        [str(env_dir / "bin" / PACKAGE), "--help"],
        cwd=app_dir,
        env=clean_env,
        quiet=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sessionclaims-wheel-check-"))
    check(ROOT not in work.parents, "the temporary directory is inside the checkout")
    try:
        expected = version()
        sdist, wheel = build(work / "dist")
        check_sdist_files(sdist, expected)
        check_metadata(check_wheel_files(wheel, expected), expected)
        print(f"built {sdist.name} and {wheel.name}: files and METADATA ok", flush=True)
        check_installed(wheel, work)
    except CheckFailed as exc:
        print(f"wheel check FAILED: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"wheel check FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("wheel check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
