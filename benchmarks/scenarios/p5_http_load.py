"""P5 HTTP under load: uvicorn, one worker, hot tokens, a loopback load generator.

Three uvicorn processes (``python -m benchmarks._server``, one worker each, 127.0.0.1):

* (a) bare Starlette: ``GET /`` answers ``ok``;
* (b) the same app behind ``SessionClaimsMiddleware(backend=...)`` (full mode, a backend
  on a temporary SQLite file, token lifetime 1 h so nothing expires during the run). The
  server creates a user and a session at start-up; every request carries that session's
  token as ``Authorization: Bearer`` — hot after the first request;
* (c) bare Starlette again: the A/A control. Its distance from (a) shows how much two
  identical servers differ by chance on this machine.

All get the same header. The load comes from a separate process: ``wrk -t1 -c32`` when
it is installed (if it is missing and we run as root, ``apt-get install -y wrk`` is tried
first, unless ``SESSIONCLAIMS_BENCH_NO_INSTALL`` is set), else ``python -m
benchmarks._loadgen`` (32 asyncio keep-alive connections; slower, and said so in the
table). 6 rounds of 2 s per side rotate the order (a b c, b c a, c a b...); each side
gets one untimed warm-up run first. The figure is requests/s; the ratio is the median
over rounds of (b / a). Target: >= 90 %.

Before and after the load the token is checked on (b): signed in, ``role = admin``, no
reissue. A run with non-2xx answers or socket errors is an error, not a figure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from .._workers import ROOT, ServerProcess, server_process
from ..harness import Config
from ..report import Row, X
from ._base import Scenario
from ._fixtures import AZP, ISSUER
from ._full import ROLE_TEMPLATE, scratch_dir, sqlite_url

__all__ = ["SCENARIO", "ensure_wrk", "run"]

TARGET = 0.90
CONNECTIONS = 32
NO_INSTALL_ENV = "SESSIONCLAIMS_BENCH_NO_INSTALL"

BARE = "bare Starlette (floor)"
OURS = "sessionclaims (full mode, hot token)"
CONTROL = "bare Starlette again, a third process (A/A control: the noise floor)"


@dataclass
class LoadResult:
    requests: int
    seconds: float
    non_2xx: int
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


@dataclass
class LoadGenerator:
    name: str
    run: Callable[[str, float, str], LoadResult]
    """``run(url, seconds, header)``."""


def ensure_wrk(allow_install: bool, log: Callable[[str], None]) -> tuple[str | None, str]:
    """``(path to wrk or None, how we got it / why not)``."""
    found = shutil.which("wrk")
    if found:
        return found, "installed"
    if not allow_install:
        return None, "wrk not installed (install not attempted)"
    if os.environ.get(NO_INSTALL_ENV):
        return None, f"wrk not installed ({NO_INSTALL_ENV} set)"
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "wrk not installed (not root, or no apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    for attempt in (install, ["apt-get", "update", "-q"], install):
        log(f"[bench] P5: {' '.join(attempt)}")
        try:
            subprocess.run(attempt, env=env, capture_output=True, timeout=120, check=True)
        except (OSError, subprocess.SubprocessError):
            continue
        found = shutil.which("wrk")
        if found:
            return found, "installed just now with apt-get"
    return None, "wrk not installed (apt-get install wrk failed)"


_RPS = re.compile(r"Requests/sec:\s+([0-9.]+)")
_TOTAL = re.compile(r"(\d+) requests in ([0-9.]+)(us|ms|s|m)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _wrk(path: str) -> LoadGenerator:
    def run(url: str, seconds: float, header: str) -> LoadResult:
        duration = f"{max(1, round(seconds))}s"
        done = subprocess.run(
            [
                path,
                "-t1",
                f"-c{CONNECTIONS}",
                f"-d{duration}",
                "--timeout",
                "5s",
                "-H",
                header,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        )
        out = done.stdout
        total = _TOTAL.search(out)
        if total is None or _RPS.search(out) is None:
            raise RuntimeError(f"cannot read wrk's output: {out!r}")
        non_2xx = _NON_2XX.search(out)
        sockets = _SOCKET.search(out)
        return LoadResult(
            requests=int(total.group(1)),
            seconds=float(total.group(2)) * _UNIT[total.group(3)],
            non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
            errors=sum(int(g) for g in sockets.groups()) if sockets else 0,
        )

    return LoadGenerator(f"wrk -t1 -c{CONNECTIONS}", run)


def _python_client(why: str) -> LoadGenerator:
    def run(url: str, seconds: float, header: str) -> LoadResult:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks._loadgen",
                url,
                "--connections",
                str(CONNECTIONS),
                "--duration",
                str(seconds),
                "--header",
                header,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=True,
        )
        data = json.loads(done.stdout.strip().splitlines()[-1])
        return LoadResult(
            int(data["requests"]),
            float(data["seconds"]),
            int(data["non_2xx"]),
            int(data["errors"]),
        )

    return LoadGenerator(f"Python asyncio client, {CONNECTIONS} connections ({why})", run)


def _check_signed_in(server: ServerProcess, header: str, when: str) -> None:
    name, _, value = header.partition(": ")
    response = httpx.get(f"{server.base_url}/claims", headers={name: value}, timeout=10)
    body = response.json()
    if not body["signed_in"] or body["claims"].get("role") != "admin":
        raise RuntimeError(f"P5 {when}: the token is not signed in as admin: {body}")
    if "x-session-token" in response.headers:
        raise RuntimeError(f"P5 {when}: the hot token was reissued")


def _uvicorn_flavour() -> str:
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"{loop} + {http}"


def run(config: Config) -> list[Row]:
    full = config.scale >= 1
    # Short rounds, many of them: a (b) run and the (a) run next to it see the same
    # machine, which matters on a shared box more than long runs do.
    rounds = 6 if full else 1
    seconds = 2.0 if full else 1.0 if config.scale >= 0.1 else 0.3
    warmup = 1.0 if full else 0.3 if config.scale >= 0.1 else 0.0

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if seconds < 1:
        # wrk cannot run for less than a second (the smoke test's size): the Python
        # client can.
        wrk_path, wrk_how = None, "runs shorter than 1 s"
    else:
        wrk_path, wrk_how = ensure_wrk(allow_install=True, log=log)
    generator = _wrk(wrk_path) if wrk_path else _python_client(wrk_how)
    if wrk_path is None:
        log(f"[bench] P5: no wrk ({wrk_how}); using the Python load generator")

    with scratch_dir("p5") as directory:
        full_args = [
            "--app",
            "full",
            "--database-url",
            sqlite_url(directory, "p5"),
            "--issuer",
            ISSUER,
            "--origin",
            AZP,
            "--template",
            json.dumps(ROLE_TEMPLATE),
            "--token-lifetime",
            "3600",
            "--create-session",
        ]
        with (
            server_process(["--app", "bare"]) as bare,
            server_process(full_args) as ours,
            server_process(["--app", "bare"]) as control,
        ):
            assert ours.token is not None
            header = f"Authorization: Bearer {ours.token}"
            _check_signed_in(ours, header, "before the load")
            servers = {BARE: bare, OURS: ours, CONTROL: control}
            results: dict[str, list[LoadResult]] = {name: [] for name in servers}
            for server in servers.values():
                if warmup:
                    generator.run(f"{server.base_url}/", warmup, header)
            names = list(servers)
            for r in range(rounds):
                shift = r % len(names)
                for name in names[shift:] + names[:shift]:
                    found = generator.run(f"{servers[name].base_url}/", seconds, header)
                    if found.non_2xx or found.errors or not found.requests:
                        raise RuntimeError(f"P5 {name}: {found} (non-2xx answers or errors)")
                    results[name].append(found)
            _check_signed_in(ours, header, "after the load")
    return _rows(results, generator, wrk_how if wrk_path else "", rounds, seconds)


def _rows(
    results: dict[str, list[LoadResult]],
    generator: LoadGenerator,
    wrk_how: str,
    rounds: int,
    seconds: float,
) -> list[Row]:
    title = (
        f"HTTP load (uvicorn 1 worker, {_uvicorn_flavour()}; load: {generator.name}; "
        f"{rounds}{X}{seconds:g} s per side)"
    )
    rps = {name: [r.rps for r in found] for name, found in results.items()}
    ratios = [o / b for o, b in zip(rps[OURS], rps[BARE], strict=True)]
    ratio = statistics.median(ratios)

    def row(name: str, extra_ratio_rounds: list[float] | None = None, **fields: object) -> Row:
        median_rps = statistics.median(rps[name])
        return Row(
            scenario="P5",
            title=title,
            peer=name,
            median_us=1e6 / median_rps,
            rounds_us=[1e6 / x for x in rps[name]],
            iterations=sum(r.requests for r in results[name]),
            value=median_rps,
            unit="requests/s",
            extra={
                "requests_per_s_rounds": rps[name],
                "load_generator": generator.name,
                "wrk": wrk_how or "not used",
                "connections": CONNECTIONS,
                "round_seconds": seconds,
                "uvicorn": _uvicorn_flavour(),
                "median_us_means": "1e6 / requests per second (inverse throughput)",
                **({"ratio_rounds": extra_ratio_rounds} if extra_ratio_rounds else {}),
            },
            **fields,  # type: ignore[arg-type]
        )

    bare_rps = statistics.median(rps[BARE])
    ours_rps = statistics.median(rps[OURS])
    control_rps = statistics.median(rps[CONTROL])
    control = statistics.median(c / b for c, b in zip(rps[CONTROL], rps[BARE], strict=True))
    return [
        row(BARE, ratio_text=f"floor: {bare_rps:,.0f} requests/s"),
        row(
            OURS,
            ours=True,
            ratio=ratio,
            ratio_text=f"{ours_rps:,.0f} requests/s = {ratio:.1%} of bare",
            target=f"≥ {TARGET:.0%} of bare's requests/s",
            ok=ratio >= TARGET,
            extra_ratio_rounds=ratios,
        ),
        row(
            CONTROL,
            ratio=control,
            ratio_text=(
                f"{control_rps:,.0f} requests/s = {control:.1%} of bare (the same app: any "
                "distance from 100% is noise)"
            ),
        ),
    ]


SCENARIO = Scenario(
    id="P5",
    title="HTTP load",
    run=run,
    description=(
        "uvicorn (1 worker) on loopback, bare vs full-mode middleware with a hot token; "
        "wrk (or a Python client) in another process; requests/s"
    ),
)
