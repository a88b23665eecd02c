"""Local mode against the real ``uap`` with an EdDSA key and ``sdk_api_key``:
two SDK processes see a logout within a second; without the feed (wrong key,
UAP restarted) checks are remote and fail closed."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from conftest import UapServer, login, make_server
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from fake_uap import wait_until

from uap_client import Client, LocalMode, TokenInvalid, UAPUnavailable

SDK_KEY = f"sdk-{uuid.uuid4().hex}"


def eddsa_server(tmp: Path) -> UapServer:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp / "ed25519.pem").write_bytes(pem)
    return make_server(
        tmp,
        (
            'jwt_algorithm = "EdDSA"',
            f'jwt_private_key_file = "{tmp / "ed25519.pem"}"',
            f'sdk_api_key = "{SDK_KEY}"',
        ),
    )


@pytest.fixture
def uap_eddsa(tmp_path: Path) -> Iterator[UapServer]:
    server = eddsa_server(tmp_path)
    server.start()
    yield server
    server.stop()


def local_client(server: UapServer, key: str = SDK_KEY) -> Client:
    return Client(server.base_url, timeout=5, local=LocalMode(sdk_api_key=key, issuer="UAP", max_backoff_seconds=0.5))


def test_two_processes_reject_a_logged_out_token_within_a_second(uap_eddsa: UapServer) -> None:
    peer = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("local_peer.py")), uap_eddsa.base_url, SDK_KEY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert peer.stdin is not None and peer.stdout is not None
    try:
        with local_client(uap_eddsa) as client:
            assert client.wait_local(20), f"the feed did not come up:\n{uap_eddsa.log}"
            assert peer.stdout.readline().strip() == "live"
            token = login(uap_eddsa.base_url, "bob")
            assert client.validate(token).user_data["username"] == "bob"
            assert client.validate(token).user_id == "2"  # from the session cache
            assert client._local is not None and client._local.state.cache_len() == 1
            peer.stdin.write(f"watch {token}\n")
            peer.stdin.flush()
            assert peer.stdout.readline().split() == ["valid", "1"]

            logged_out = time.time()
            response = httpx.post(
                f"{uap_eddsa.base_url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.json()["success"] is True
            while True:
                try:
                    client.validate(token)
                except TokenInvalid:
                    here = time.time() - logged_out
                    break
                assert time.time() - logged_out < 5, "this process still accepts the token"
                time.sleep(0.005)
            verdict = peer.stdout.readline().split()
            assert verdict[0] == "rejected", verdict
            there = float(verdict[1]) - logged_out
            assert here < 1.0 and there < 1.0, (here, there)
            assert client.local_live  # rejected in-process, not by falling back
    finally:
        peer.stdin.close()
        peer.wait(timeout=30)


def test_a_wrong_key_means_remote_checks(uap_eddsa: UapServer) -> None:
    with local_client(uap_eddsa, key="not-the-key") as client:
        assert not client.wait_local(1.5)
        token = login(uap_eddsa.base_url, "bob")
        assert client.validate(token).user_data["username"] == "bob"
        httpx.post(f"{uap_eddsa.base_url}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
        with pytest.raises(TokenInvalid):
            client.validate(token)  # the server's answer, at once


def test_uap_restarted_remote_while_down_then_local_again(uap_eddsa: UapServer) -> None:
    with local_client(uap_eddsa) as client:
        assert client.wait_local(20)
        token = login(uap_eddsa.base_url, "alice")
        client.validate(token)
        uap_eddsa.stop()
        wait_until(lambda: not client.local_live, timeout=5)
        with pytest.raises(UAPUnavailable):
            client.validate(token)  # never "valid because offline"
        uap_eddsa.start()
        assert client.wait_local(20), uap_eddsa.log
        assert client.validate(token).user_data["username"] == "alice"
        httpx.post(f"{uap_eddsa.base_url}/api/v1/auth/logout-all", headers={"Authorization": f"Bearer {token}"})
        wait_until(lambda: _rejected(client, token), timeout=2)


def _rejected(client: Client, token: str) -> bool:
    try:
        client.validate(token)
    except TokenInvalid:
        return True
    return False
