"""Fixtures: a real ``uap serve`` (the binary named by ``UAP_BIN``) over a SQLite
host database in a temporary directory, with users whose bcrypt hashes
``uap hash`` made."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from fake_uap import FakeUap, SigningKey

#: username -> (password, role)
USERS = {
    "alice": ("alice-password", "admin"),
    "bob": ("bob-password", "user"),
}


def uap_bin() -> str:
    path = os.environ.get("UAP_BIN")
    if not path:
        pytest.fail("set UAP_BIN to the uap binary (cargo build -p uap-cli; $CARGO_TARGET_DIR/debug/uap)")
    if not os.access(path, os.X_OK):
        pytest.fail(f"UAP_BIN={path} is not an executable file")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict[str, str]:
    """This process's environment without UAP_* settings, which would override uap.toml."""
    return {k: v for k, v in os.environ.items() if not k.startswith("UAP_")}


@dataclass
class UapServer:
    """One running ``uap serve``; ``stop()`` kills it (the base URL then refuses connections)."""

    dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return (self.dir / "uap.log").read_text(errors="replace")

    def start(self) -> None:
        log = open(self.dir / "uap.log", "ab")
        self.process = subprocess.Popen(
            [uap_bin(), "serve", "--config", str(self.dir / "uap.toml")],
            cwd=self.dir,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"uap exited with {self.process.returncode}:\n{self.log}")
            try:
                if httpx.get(f"{self.base_url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uap was not ready on port {self.port} within 60 s:\n{self.log}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None


def make_server(tmp: Path, extra: tuple[str, ...] = ()) -> UapServer:
    """Writes ``uap.toml`` (plus the ``extra`` lines) and the host database ``host.db`` in ``tmp``."""
    port = free_port()
    config = tmp / "uap.toml"
    config.write_text(
        "\n".join(
            [
                'bind = "127.0.0.1"',
                f"port = {port}",
                f'host_db_url = "sqlite://{tmp / "host.db"}"',
                'host_user_table = "users"',
                f'database_url = "sqlite://{tmp / "uap.db"}?mode=rwc"',
                f'jwt_secret_key = "{uuid.uuid4().hex}{uuid.uuid4().hex}"',
                "bcrypt_cost = 4",
                "refusal_floor_max_ms = 0",
                'log_format = "pretty"',
                *extra,
                "",
            ]
        )
    )
    db = sqlite3.connect(tmp / "host.db")
    db.execute(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT UNIQUE NOT NULL, email TEXT,"
        " password TEXT NOT NULL, role TEXT, is_active INTEGER NOT NULL DEFAULT 1)"
    )
    for username, (password, role) in USERS.items():
        hashed = (
            subprocess.run(
                [uap_bin(), "hash", "--algorithm", "bcrypt", "--config", str(config)],
                input=password.encode(),
                capture_output=True,
                env=clean_env(),
                check=True,
            )
            .stdout.decode()
            .strip()
        )
        assert hashed.startswith("$2"), hashed
        db.execute(
            "INSERT INTO users (username, email, password, role) VALUES (?, ?, ?, ?)",
            (username, f"{username}@example.test", hashed, role),
        )
    db.commit()
    db.close()
    return UapServer(tmp, port)


@pytest.fixture(scope="session")
def uap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UapServer]:
    """A UAP server shared by the tests that do not stop it."""
    server = make_server(tmp_path_factory.mktemp("uap"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def doomed_uap(tmp_path: Path) -> Iterator[UapServer]:
    """A UAP server of this test's own, which the test may stop."""
    server = make_server(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def login(base_url: str, username: str) -> str:
    """A fresh session token of ``username`` (straight over HTTP, not through the SDK)."""
    response = httpx.post(
        f"{base_url}/api/v1/auth/authenticate",
        json={"username": username, "password": USERS[username][0]},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["token"]


def unique_name() -> str:
    """An identifier no other test uses (rate limits count per identifier)."""
    return f"nobody-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def key() -> SigningKey:
    """The fake UAP's signing key (EdDSA, kid k1)."""
    return SigningKey("EdDSA", kid="k1")


@pytest.fixture
def fake(key: SigningKey) -> Iterator[FakeUap]:
    """A fake UAP (tests/fake_uap.py) for local-mode tests."""
    server = FakeUap(key).start()
    yield server
    server.stop()
