"""A tiny fake UAP for local-mode tests (stdlib threaded HTTP server): the JWKS,
``GET /validate`` answering from a table the test fills, and an SSE events feed
the test writes to, recording each connection's ``Last-Event-ID``."""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from uap_client import LocalMode

API_KEY = "test-sdk-key"
ISSUER = "UAP"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(n: int, size: int | None = None) -> str:
    size = size or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(size, "big"))


class SigningKey:
    """A private key with its public JWK and a JWT signer."""

    def __init__(self, alg: str = "EdDSA", kid: str = "k1") -> None:
        self.alg, self.kid = alg, kid
        if alg == "EdDSA":
            self.key: Any = ed25519.Ed25519PrivateKey.generate()
            raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
        elif alg == "ES256":
            self.key = ec.generate_private_key(ec.SECP256R1())
            numbers = self.key.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": "P-256", "x": _uint(numbers.x, 32), "y": _uint(numbers.y, 32)}
        else:
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            numbers = self.key.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}
        self.jwk.update({"alg": alg, "use": "sig", "kid": kid})

    def sign(self, claims: dict[str, Any], *, header: dict[str, Any] | None = None) -> str:
        head = header if header is not None else {"alg": self.alg, "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(claims).encode())}".encode()
        if self.alg == "EdDSA":
            signature = self.key.sign(signing_input)
        elif self.alg == "ES256":
            r, s = decode_dss_signature(self.key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        else:
            signature = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input.decode()}.{b64(signature)}"


class FakeUap:
    """Start with :meth:`start`; ``base_url``; fill ``sessions`` (token → validate body)."""

    def __init__(self, key: SigningKey) -> None:
        self.keys = [key]
        self.sessions: dict[str, dict[str, Any]] = {}
        self.validate_calls = 0
        self.jwks_calls = 0
        self.feed_status = 200
        self.heartbeat_seconds = 15
        self.last_event_ids: list[str | None] = []
        self.connections: list[queue.Queue[bytes | None]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/.well-known/jwks.json":
                    with fake._lock:
                        fake.jwks_calls += 1
                        keys = [k.jwk for k in fake.keys]
                    self._json(200, {"keys": keys})
                elif self.path == "/api/v1/auth/validate":
                    token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                    with fake._lock:
                        fake.validate_calls += 1
                        body = fake.sessions.get(token)
                    if body is None:
                        self._json(401, {"valid": False})
                    else:
                        self._json(200, {"valid": True, **body})
                elif self.path == "/api/v1/auth/events":
                    self._events()
                else:
                    self._json(404, {"error": "Not Found"})

            def _events(self) -> None:
                with fake._lock:
                    status = fake.feed_status
                    fake.last_event_ids.append(self.headers.get("Last-Event-ID"))
                if self.headers.get("X-API-Key") != API_KEY:
                    status = 401
                if status != 200:
                    self._json(status, {"error": "no feed"})
                    return
                q: queue.Queue[bytes | None] = queue.Queue()
                with fake._lock:
                    fake.connections.append(q)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    while True:
                        item = q.get()
                        if item is None:
                            return
                        self.wfile.write(item)
                        self.wfile.flush()
                except OSError:
                    return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeUap:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.close_feeds()
        self.server.shutdown()
        self.server.server_close()

    # -- the feed ---------------------------------------------------------------

    def wait_connections(self, count: int, timeout: float = 10.0) -> queue.Queue[bytes | None]:
        deadline = time.monotonic() + timeout
        while len(self.connections) < count:
            assert time.monotonic() < deadline, f"no feed connection #{count} within {timeout} s"
            time.sleep(0.01)
        return self.connections[count - 1]

    def send(self, event: str, data: dict[str, Any] | None = None, *, id: str | None = None, raw: bytes = b"") -> None:
        """Writes one event on the newest connection."""
        lines = raw
        if id is not None:
            lines += f"id: {id}\n".encode()
        lines += f"event: {event}\ndata: {json.dumps(data or {})}\n\n".encode()
        self.connections[-1].put(lines)

    def ready(self) -> None:
        self.send("ready", {"instance": "fake", "heartbeat_seconds": self.heartbeat_seconds})

    def close_feeds(self) -> None:
        for q in self.connections:
            q.put(None)


def mode(**options: Any) -> LocalMode:
    """Local mode for the fake: its API key and issuer, quick reconnections."""
    return LocalMode(sdk_api_key=API_KEY, issuer=ISSUER, max_backoff_seconds=0.2, **options)


def claims(*, sid: str | None = None, uid: str = "7", exp: int | None = None, iat: int | None = None) -> dict[str, Any]:
    now = int(time.time())
    return {
        "session_id": sid or uuid.uuid4().hex,
        "user_id": uid,
        "device_id": None,
        "exp": now + 3600 if exp is None else exp,
        "iat": now if iat is None else iat,
        "iss": ISSUER,
    }


def issue(fake: FakeUap, key: SigningKey, *, username: str = "bob", role: str = "user", **kwargs: Any) -> str:
    """A token the fake's /validate calls valid (for ``username`` holding ``role``)."""
    body = claims(**kwargs)
    token = key.sign(body)
    fake.sessions[token] = {
        "user_id": body["user_id"],
        "session_id": body["session_id"],
        "expires_at": datetime.fromtimestamp(body["exp"], timezone.utc).isoformat(),
        "user_data": {"id": body["user_id"], "username": username, "role": role},
    }
    return token


def wait_until(check: Callable[[], bool], timeout: float = 3.0) -> None:
    """Polls ``check`` until it holds; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
