"""Without the PostgreSQL driver, the PostgreSQL tests skip: none fails or errors, and
every test module still collects (the ``postgres`` extra is optional)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_BLOCKER = """\
import sys

for name in ("psycopg", "psycopg_pool", "psycopg_binary", "psycopg_c"):
    sys.modules[name] = None  # any import of them raises ImportError
"""


def test_postgres_tests_skip_cleanly_without_psycopg(tmp_path: Path) -> None:
    (tmp_path / "no_psycopg.py").write_text(_BLOCKER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CI"}  # under CI they must fail
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no_psycopg", "-m", "postgres", "-q", "tests"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = run.stdout.strip().splitlines()[-1]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "skipped" in summary
    assert "error" not in summary
    assert "failed" not in summary
    assert "psycopg is not installed" in run.stdout  # skipped for the right reason
