"""Freshness across real worker processes: `uvicorn --workers 2` on one SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .servers import free_socket

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sk_test_workers"

pytestmark = pytest.mark.slow


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[str]:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {
        **os.environ,
        "SESSIONCLAIMS_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "SESSIONCLAIMS_ISSUER": "https://auth.example.com",
        "SESSIONCLAIMS_SECRET_KEY": SECRET,
        "SESSIONCLAIMS_SESSION_TEMPLATE": json.dumps(
            {"role": "{{user.public_metadata.role || 'member'}}"}
        ),
        "SESSIONCLAIMS_POLL_INTERVAL": "0.1",
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.apps.worker_app:app",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        pids: set[int] = set()
        while len(pids) < 2:  # wait until both workers answer (start-up, not token expiry)
            if time.monotonic() > deadline or process.poll() is not None:
                output = process.stdout.read().decode() if process.poll() is not None else ""
                pytest.fail(f"uvicorn workers did not start: {output}")
            try:
                with httpx.Client(base_url=base, timeout=2) as c:
                    pids.add(c.get("/whoami").json()["pid"])
            except httpx.HTTPError:
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def fresh_connection(base: str) -> httpx.Client:
    """No keep-alive: each request may land on either worker."""
    return httpx.Client(base_url=base, timeout=5, limits=httpx.Limits(max_keepalive_connections=0))


def test_a_write_in_one_worker_is_seen_by_the_other_within_one_second(workers: str) -> None:
    admin = {"Authorization": f"Bearer {SECRET}"}
    with fresh_connection(workers) as c:
        user = c.post(
            "/auth/v1/users", headers=admin, json={"public_metadata": {"role": "member"}}
        ).json()
        token = c.post("/auth/v1/sessions", headers=admin, json={"user_id": user["id"]}).json()[
            "token"
        ]
        bearer = {"Authorization": f"Bearer {token}"}
        before: dict[int, str] = {}
        for _ in range(200):
            body = c.get("/whoami", headers=bearer).json()
            before[body["pid"]] = body["claims"]["role"]
            if len(before) == 2:
                break
        assert set(before.values()) == {"member"}
        assert len(before) == 2, "both workers served the token before the write"

        written = c.patch(
            f"/auth/v1/users/{user['id']}/metadata",
            headers=admin,
            json={"public_metadata": {"role": "admin"}},
        )
        assert written.status_code == 200
        deadline = time.monotonic() + 1.0  # the freshness bound across processes
        seen_admin: set[int] = set()
        while time.monotonic() < deadline and len(seen_admin) < 2:
            body = c.get("/whoami", headers=bearer).json()
            if body["claims"]["role"] == "admin":
                seen_admin.add(body["pid"])
        assert seen_admin == set(before), "both workers show the new role within 1 s"
        for _ in range(40):  # and never go back to the stale claim
            assert c.get("/whoami", headers=bearer).json()["claims"]["role"] == "admin"
