"""Starting and stopping :mod:`benchmarks._server` processes (the parent's side)."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerProcess", "server_process"]

ROOT = Path(__file__).resolve().parent.parent
"""The repository: the child runs ``python -m benchmarks._server`` from here."""


@dataclass
class ServerProcess:
    """A running uvicorn worker: where it listens and the token it created (if any)."""

    process: subprocess.Popen[str]
    port: int
    token: str | None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT), str(ROOT / "src")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _read_ready(
    process: subprocess.Popen[str], timeout: float, stderr: tempfile._TemporaryFileWrapper[str]
) -> list[str]:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"the server did not start within {timeout:g} s")
        readable, _, _ = select.select([process.stdout], [], [], remaining)
        if not readable:
            continue
        line = process.stdout.readline()
        if not line:
            process.wait(5)
            stderr.seek(0)
            output = stderr.read().strip()[-800:]
            raise RuntimeError(f"the server exited before it was ready: {output}")
        if line.startswith("READY "):
            return line.split()


@contextlib.contextmanager
def server_process(args: Sequence[str], *, timeout: float = 30.0) -> Iterator[ServerProcess]:
    """Run ``python -m benchmarks._server ARGS`` until the block ends (SIGTERM, then kill).
    Its stderr goes to a temporary file (read back only if it fails to start)."""
    stderr = tempfile.NamedTemporaryFile("w+", prefix="sessionclaims-bench-server-")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._server", *args],
        cwd=ROOT,
        env=_child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    try:
        fields = _read_ready(process, timeout, stderr)
        token = None if fields[2] == "-" else fields[2]
        yield ServerProcess(process, int(fields[1]), token)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process.stdout is not None:
            process.stdout.close()
        stderr.close()
