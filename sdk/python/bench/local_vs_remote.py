"""Local-mode in-process checks per second vs remote ``validate()`` per second,
one thread (one core), against a ``uap`` this script starts (``UAP_BIN``) with an
EdDSA key and ``sdk_api_key`` over a SQLite host table (the test suite's
fixture, tests/conftest.py).

    UAP_BIN=target/release/uap python bench/local_vs_remote.py [--seconds 5]

Prints one JSON line: the binary, the two rates and their ratio, and the
logout-to-rejection latency seen by the local client (median of a few).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import login, make_server  # noqa: E402

from uap_client import Client, LocalMode, TokenInvalid  # noqa: E402


def rate(call, seconds: float) -> float:
    """Calls per second of ``call`` in a tight loop for ``seconds``."""
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(100):
            call()
        count += 100
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--logouts", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="uap-bench-"))
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp / "ed25519.pem").write_bytes(pem)
    key = uuid.uuid4().hex
    server = make_server(
        tmp, ('jwt_algorithm = "EdDSA"', f'jwt_private_key_file = "{tmp / "ed25519.pem"}"', f'sdk_api_key = "{key}"')
    )
    server.start()
    try:
        token = login(server.base_url, "bob")
        with Client(server.base_url) as remote:
            remote.validate(token)
            remote_rate = rate(lambda: remote.validate(token), args.seconds)
        with Client(server.base_url, local=LocalMode(sdk_api_key=key, issuer="UAP")) as local:
            if not local.wait_local(20):
                raise SystemExit(f"the events feed did not come up:\n{server.log}")
            local.validate(token)  # first sight: remote, then cached
            local_rate = rate(lambda: local.validate(token), args.seconds)
            latencies = []
            for _ in range(args.logouts):
                victim = login(server.base_url, "alice")
                local.validate(victim)
                started = time.perf_counter()
                httpx.post(f"{server.base_url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {victim}"})
                while True:
                    try:
                        local.validate(victim)
                    except TokenInvalid:
                        break
                    time.sleep(0.001)
                latencies.append((time.perf_counter() - started) * 1000)
        print(
            json.dumps(
                {
                    "uap_bin": os.environ.get("UAP_BIN"),
                    "seconds": args.seconds,
                    "remote_validate_per_s": round(remote_rate),
                    "local_checks_per_s": round(local_rate),
                    "ratio": round(local_rate / remote_rate, 1),
                    "logout_to_rejection_ms_median": round(statistics.median(latencies), 1),
                    "logout_to_rejection_ms_max": round(max(latencies), 1),
                }
            )
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
