"""Freshness in other services over real HTTP between real processes (services.md).

The auth app (``tests/apps/worker_app.py``) and the verify-only service
(``examples/verify_only_stream_service.py``) each run under uvicorn in their own process
on loopback; the test drives both. Waits are for something pushed to arrive (the
service's ``/healthz`` counts the events it applied), never for time to pass; what is
asserted is that the *next* request after an event sees it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from .servers import free_socket
from .stores.helpers import POSTGRES_URL, postgres_schema, require_postgres

ROOT = Path(__file__).resolve().parents[1]
ISSUER = "http://127.0.0.1:8000"
SECRET = "sk_test_services"
FEED_KEY = "fk_test_services"
ADMIN = {"Authorization": f"Bearer {SECRET}"}

pytestmark = pytest.mark.slow


def free_port() -> int:
    sock = free_socket()
    port: int = sock.getsockname()[1]
    sock.close()
    return port


class Process:
    """One uvicorn process on loopback; ``start()`` again after ``stop()`` reuses the port."""

    def __init__(self, app: str, env: dict[str, str], *, app_dir: Path = ROOT) -> None:
        self.app = app
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
        self.app_dir = app_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_path: str) -> None:
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", self.app),
                *("--app-dir", str(self.app_dir), "--host", "127.0.0.1"),
                *("--port", str(self.port), "--log-level", "warning"),
                *("--timeout-graceful-shutdown", "1"),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:  # waiting for the process to start, not for a token to expire
            if time.monotonic() > deadline or self.process.poll() is not None:
                output = self.stop()
                pytest.fail(f"{self.app} did not start: {output}")
            try:
                httpx.get(self.base + ready_path, timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.05)

    def stop(self) -> str:
        process, self.process = self.process, None
        if process is None:
            return ""
        process.terminate()
        try:
            out, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        return out.decode(errors="replace")


def auth_process(database_url: str) -> Process:
    env = {
        "SESSIONCLAIMS_DATABASE_URL": database_url,
        "SESSIONCLAIMS_ISSUER": ISSUER,
        "SESSIONCLAIMS_SECRET_KEY": SECRET,
        "SESSIONCLAIMS_FEED_KEYS": FEED_KEY,
        "SESSIONCLAIMS_SESSION_TEMPLATE": json.dumps(
            {"role": "{{user.public_metadata.role || 'member'}}"}
        ),
        "SESSIONCLAIMS_CHANGES_KEEPALIVE": "1",
    }
    return Process("tests.apps.worker_app:app", env)


def service_process(auth: Process) -> Process:
    env = {
        "SESSIONCLAIMS_JWKS_URL": f"{auth.base}/auth/.well-known/jwks.json",
        "SESSIONCLAIMS_CHANGES_URL": f"{auth.base}/auth/v1/changes",
        "SESSIONCLAIMS_FEED_KEY": FEED_KEY,
        "SESSIONCLAIMS_ISSUER": ISSUER,
    }
    return Process("verify_only_stream_service:app", env, app_dir=ROOT / "examples")


@contextmanager
def running(*processes: tuple[Process, str]) -> Iterator[None]:
    try:
        for process, ready in processes:
            process.start(ready)
        yield
    finally:
        for process, _ in reversed(processes):
            process.stop()


def health(service: Process) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(service.base + "/healthz", timeout=5).json()
    return answer


def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (at most 15 s) for something pushed between the processes to arrive."""
    deadline = time.monotonic() + 15
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def after_next_event(service: Process, write: Callable[[], object]) -> None:
    """Make ``write`` and wait until the service applied an event for it."""
    applied = health(service)["events_applied"]
    write()
    until(lambda: health(service)["events_applied"] > applied, "the event")


def new_person(auth: Process) -> tuple[str, str, str]:
    with httpx.Client(base_url=auth.base + "/auth", headers=ADMIN, timeout=5) as c:
        user = c.post("/v1/users", json={"public_metadata": {"role": "member"}}).json()
        created = c.post("/v1/sessions", json={"user_id": user["id"]}).json()
    return user["id"], created["session"]["id"], created["token"]


def set_role(auth: Process, user_id: str, role: str) -> None:
    answer = httpx.patch(
        f"{auth.base}/auth/v1/users/{user_id}/metadata",
        headers=ADMIN,
        json={"public_metadata": {"role": role}},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text


def revoke(auth: Process, session_id: str) -> None:
    answer = httpx.post(
        f"{auth.base}/auth/v1/sessions/{session_id}/revoke", headers=ADMIN, timeout=5
    )
    assert answer.status_code == 200, answer.text


def whoami(service: Process, token: str) -> httpx.Response:
    return httpx.get(
        service.base + "/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )


def test_a_service_process_sees_changes_and_survives_an_auth_restart(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'auth.db'}"
    auth = auth_process(database)
    other = auth_process(database)  # a second auth process on the same file
    service = service_process(auth)
    with running((auth, "/whoami"), (other, "/whoami"), (service, "/healthz")):
        until(lambda: health(service)["live"], "the stream to be live")
        user_id, session_id, token = new_person(auth)
        assert whoami(service, token).json()["role"] == "member"

        after_next_event(service, lambda: set_role(auth, user_id, "admin"))
        answer = whoami(service, token)  # the next request
        assert answer.json()["role"] == "admin"
        assert "x-session-token" in answer.headers

        # The auth app goes away mid-way; a write lands while the service cannot hear it.
        auth.stop()
        until(lambda: not health(service)["live"], "the service to notice")
        assert whoami(service, token).json()["role"] == "admin"  # trusted until exp
        set_role(other, user_id, "owner")
        auth.start("/whoami")
        until(lambda: health(service)["live"], "the stream to come back")
        assert whoami(service, token).json()["role"] == "owner"  # replayed on resume

        after_next_event(service, lambda: revoke(auth, session_id))
        answer = whoami(service, token)
        assert answer.status_code == 401
        assert answer.json() == {"signed_in": False, "reason": "session-revoked"}


@pytest.mark.postgres
def test_two_auth_instances_on_one_postgres_feed_either_subscriber() -> None:
    require_postgres()
    with postgres_schema() as schema:
        database = f"{POSTGRES_URL}?schema={schema}"
        first, second = auth_process(database), auth_process(database)
        on_first, on_second = service_process(first), service_process(second)
        with running(
            (first, "/whoami"),
            (second, "/whoami"),
            (on_first, "/healthz"),
            (on_second, "/healthz"),
        ):
            until(lambda: health(on_first)["live"] and health(on_second)["live"], "the streams")
            user_id, session_id, token = new_person(first)
            for service, writer, role in ((on_first, second, "admin"), (on_second, first, "owner")):
                after_next_event(service, functools.partial(set_role, writer, user_id, role))
                assert whoami(service, token).json()["role"] == role
            after_next_event(on_first, lambda: revoke(second, session_id))
            assert whoami(on_first, token).json()["reason"] == "session-revoked"


def test_two_hundred_subscribers_under_uvicorn_all_get_the_event(tmp_path: Path) -> None:
    auth = auth_process(f"sqlite:///{tmp_path / 'auth.db'}")
    with running((auth, "/whoami")):
        user_id, _, _ = new_person(auth)
        asyncio.run(_two_hundred(auth, user_id))


async def _two_hundred(auth: Process, user_id: str) -> None:
    count = 200
    ready = asyncio.Semaphore(0)
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    headers = {"Authorization": f"Bearer {FEED_KEY}"}
    timeout = httpx.Timeout(30.0)
    async with httpx.AsyncClient(base_url=auth.base, limits=limits, timeout=timeout) as http:

        async def subscriber() -> dict[str, Any]:
            async with http.stream("GET", "/auth/v1/changes", headers=headers) as response:
                assert response.status_code == 200
                event = ""
                async for line in response.aiter_lines():
                    if line == ": ready":
                        ready.release()
                    elif line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "token-claims-change":
                        data: dict[str, Any] = json.loads(line[6:])
                        return data
            raise AssertionError("the stream ended")

        tasks = [asyncio.create_task(subscriber()) for _ in range(count)]
        for _ in range(count):
            await asyncio.wait_for(ready.acquire(), 30)
        await asyncio.to_thread(set_role, auth, user_id, "admin")
        got = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert len(got) == count
    assert all(data["user_id"] == user_id for data in got)
