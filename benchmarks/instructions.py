"""Instructions per cold-token verification, counted by callgrind: ours against the raw verify.

    python -m benchmarks.instructions                # RS256 (needs valgrind)
    python -m benchmarks.instructions --alg ES256 --top 20

Times on a shared machine drift from run to run; the number of instructions a call
executes does not, so this is how a change to the cold path is judged before ``make
bench`` confirms it in time. (Instructions are not time: interpreted code retires fewer
per cycle than OpenSSL's bignum code, so the same count costs more time in Python.)

Method: tokens are signed once, here, and written to a file. For each mode a child process
runs under ``valgrind --tool=callgrind``, reads the file and verifies the first ``n``
tokens; it runs with two values of ``n``, and the difference of the totals divided by the
difference of the ``n`` is the count per call, free of start-up, imports and the reading
of the file (which does not depend on ``n``). Modes:

* ``raw``: ``public_key.verify(signature, signing_input, ...)`` on prepared inputs;
* ``ours``: ``TokenVerifier.verify`` with its cache filling up;
* ``ours-full``: the same with a 64-entry cache that is full, so every insertion evicts.

``--top N`` also lists the N C functions whose own cost per call differs most between
``ours`` and ``raw`` (from ``callgrind_annotate``; Python code shows as the interpreter).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

MODES = ("raw", "ours", "ours-full")
_SMALL, _LARGE = 200, 1000
_FULL_CACHE = 64
_NOW = 1_800_000_000
_COLLECTED = re.compile(r"Collected : (\d+)")
_ANNOTATED = re.compile(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)")


def _sign(alg: str, path: Path) -> None:
    from .scenarios._fixtures import KeyMaterial

    material = KeyMaterial.generate(alg)
    # Counted tokens, then the ones that fill the full cache, then one to warm up with.
    tokens = [material.token(n, now=_NOW - 10) for n in range(_LARGE + _FULL_CACHE + 1)]
    path.write_text(json.dumps({"alg": alg, "jwk": material.public_jwk, "tokens": tokens}))


def _child(mode: str, path: Path, n: int) -> int:
    """Verify the first ``n`` tokens of the file (what callgrind counts); the cache size."""
    import base64
    import gc

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from sessionclaims.keys import KeySet, PublicKey
    from sessionclaims.tokens import TokenVerifier, VerifyOptions

    from .scenarios._fixtures import ISSUER

    data = json.loads(path.read_text())
    alg, tokens = data["alg"], data["tokens"]
    key = PublicKey.from_jwk(data["jwk"])
    keys = KeySet([key])
    public_key: Any = key._key
    prepared = []
    for token in tokens:  # every token in every mode, so that this cost does not depend on n
        header, payload, signature = token.split(".")
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        if alg == "ES256":
            raw = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
        prepared.append((raw, f"{header}.{payload}".encode("ascii")))
    cache_size = _FULL_CACHE if mode == "ours-full" else 10_000
    verifier = TokenVerifier(
        VerifyOptions(issuer=ISSUER), clock=lambda: float(_NOW), cache_size=cache_size
    )
    for filler in tokens[_LARGE : _LARGE + _FULL_CACHE] if mode == "ours-full" else ():
        verifier.verify(filler, keys)  # full before the first counted call
    args = {"RS256": (padding.PKCS1v15(), hashes.SHA256()), "ES256": (ec.ECDSA(hashes.SHA256()),)}
    extra = args.get(alg, ())
    verifier.verify(tokens[-1], keys)  # warm every code path once
    public_key.verify(*prepared[-1], *extra)
    gc.disable()
    if mode == "raw":
        for signature, signing_input in prepared[:n]:
            public_key.verify(signature, signing_input, *extra)
    else:
        for token in tokens[:n]:
            verifier.verify(token, keys)
    return verifier.cache_len


def _callgrind(mode: str, path: Path, n: int, out: Path) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--child",
        mode,
        str(path),
        str(n),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    match = _COLLECTED.search(done.stderr)
    if match is None:
        raise RuntimeError(f"callgrind printed no total:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def _own_costs(out: Path) -> dict[str, int]:
    done = subprocess.run(
        ["callgrind_annotate", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    costs: dict[str, int] = {}
    for line in done.stdout.splitlines():
        match = _ANNOTATED.match(line)
        if match and "PROGRAM TOTALS" not in match.group(2):
            name = match.group(2).split(" [")[0]
            costs[name] = costs.get(name, 0) + int(match.group(1).replace(",", ""))
    return costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions")
    parser.add_argument("--alg", choices=("ES256", "RS256", "EdDSA"), default="RS256")
    parser.add_argument("--top", type=int, default=0, help="list the N costliest differences")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "FILE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, path, n = args.child
        _child(mode, Path(path), int(n))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        tokens = work / "tokens.json"
        _sign(args.alg, tokens)
        per_call: dict[str, float] = {}
        costs: dict[str, dict[str, float]] = {}
        for mode in MODES:
            small = _callgrind(mode, tokens, _SMALL, work / f"{mode}.small")
            large = _callgrind(mode, tokens, _LARGE, work / f"{mode}.large")
            per_call[mode] = (large - small) / (_LARGE - _SMALL)
            if args.top:
                before, after = (
                    _own_costs(work / f"{mode}.small"),
                    _own_costs(work / f"{mode}.large"),
                )
                costs[mode] = {
                    name: (after.get(name, 0) - before.get(name, 0)) / (_LARGE - _SMALL)
                    for name in set(before) | set(after)
                }
    raw = per_call["raw"]
    print(f"{args.alg}: instructions per call (callgrind), {_LARGE - _SMALL} calls counted")
    for mode in MODES:
        extra = (
            ""
            if mode == "raw"
            else f"  +{per_call[mode] - raw:,.0f} ({per_call[mode] / raw:.3f}x raw)"
        )
        print(f"  {mode:10s} {per_call[mode]:>10,.0f}{extra}")
    if args.top:
        difference = {
            name: costs["ours"].get(name, 0) - costs["raw"].get(name, 0)
            for name in set(costs["ours"]) | set(costs["raw"])
        }
        print(f"\nours minus raw, own cost per call, the {args.top} largest:")
        for name, value in sorted(difference.items(), key=lambda item: -item[1])[: args.top]:
            print(f"  {value:>9,.0f}  {name[-90:]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
