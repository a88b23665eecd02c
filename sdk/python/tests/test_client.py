"""The synchronous Client against a real UAP."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest
from conftest import login, unique_name

from uap_client import (
    Client,
    InvalidCredentials,
    LoginResult,
    RateLimited,
    TokenInvalid,
    UAPError,
    UAPUnavailable,
    User,
)


@pytest.fixture
def client(uap):
    with Client(uap.base_url, timeout=10) as client:
        yield client


def test_login_validate_logout(client: Client) -> None:
    result = client.authenticate(username="alice", password="alice-password", device_id="laptop")
    assert isinstance(result, LoginResult)
    assert result.user_data is not None and result.user_data["username"] == "alice"
    assert "password" not in result.user_data
    assert result.roles == ("admin",)
    assert result.refresh_token
    assert result.expires_at is not None and result.expires_at > datetime.now(timezone.utc)

    user = client.validate(result.token)
    assert isinstance(user, User)
    assert user.user_id == "1"
    assert user.session_id == result.session_id
    assert user.user_data["email"] == "alice@example.test"
    assert user.roles == ("admin",) and user.has_role("admin") and not user.has_role("user")
    assert user.expires_at == result.expires_at

    assert client.logout(result.token) is True
    with pytest.raises(TokenInvalid):
        client.validate(result.token)


def test_wrong_password_and_unknown_user_are_invalid_credentials(client: Client) -> None:
    with pytest.raises(InvalidCredentials) as wrong:
        client.authenticate(username="bob", password="not-bobs")
    assert wrong.value.status == 401
    with pytest.raises(InvalidCredentials):
        client.authenticate(username=unique_name(), password="whatever")


def test_unknown_login_field_is_a_type_error(client: Client) -> None:
    with pytest.raises(TypeError, match="usernme"):
        client.authenticate(usernme="bob", password="bob-password")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "", "has space", "new\nline", "é"])
def test_garbage_tokens_are_invalid_not_unavailable(client: Client, token: str) -> None:
    with pytest.raises(TokenInvalid):
        client.validate(token)


def test_token_signed_with_another_key_is_invalid(client: Client, uap) -> None:
    token = login(uap.base_url, "bob")
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    with pytest.raises(TokenInvalid):
        client.validate(forged)
    assert client.validate(token).user_data["username"] == "bob"


def test_rate_limited_carries_retry_after(client: Client) -> None:
    name = unique_name()
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            client.authenticate(username=name, password="wrong")
    with pytest.raises(RateLimited) as limited:
        client.authenticate(username=name, password="wrong")
    assert limited.value.status == 429
    assert 0 < limited.value.retry_after <= 900


def test_validate_batch_keeps_order(client: Client, uap) -> None:
    alice, bob = login(uap.base_url, "alice"), login(uap.base_url, "bob")
    results = client.validate_batch([bob, "garbage", alice])
    assert [r.user_data["username"] if r else None for r in results] == ["bob", None, "alice"]
    assert results[0] is not None and results[0].user_id == "2"


def test_refresh_rotates_the_token(client: Client) -> None:
    first = client.authenticate(username="bob", password="bob-password")
    second = client.refresh(refresh_token=first.refresh_token)
    assert second.token != first.token
    assert client.validate(second.token).user_data["username"] == "bob"
    with pytest.raises(TokenInvalid):
        client.validate(first.token)
    third = client.refresh(second.token)
    assert client.validate(third.token).session_id == third.session_id
    with pytest.raises(TypeError):
        client.refresh()


def test_sessions_and_logout_all(client: Client) -> None:
    one = client.authenticate(username="bob", password="bob-password", device_id="phone")
    two = client.authenticate(username="bob", password="bob-password", device_id="tablet")
    sessions = {s.session_id: s for s in client.sessions(one.token)}
    assert {one.session_id, two.session_id} <= set(sessions)
    assert sessions[one.session_id].current and not sessions[two.session_id].current
    assert sessions[two.session_id].device_id == "tablet"
    assert client.logout_all(two.token) >= 2
    for token in (one.token, two.token):
        with pytest.raises(TokenInvalid):
            client.validate(token)
    with pytest.raises(TokenInvalid):
        client.sessions(one.token)


def test_logout_of_an_ended_session_is_false(client: Client, uap) -> None:
    token = login(uap.base_url, "bob")
    assert client.logout(token) is True
    assert client.logout(token) is False
    with pytest.raises(TokenInvalid):
        client.logout("garbage")


def test_health(client: Client) -> None:
    health = client.health()
    assert health.healthy
    assert health.components["database"] == "healthy"


def test_stopped_uap_is_unavailable_not_invalid(doomed_uap) -> None:
    token = login(doomed_uap.base_url, "bob")
    with Client(doomed_uap.base_url, timeout=5) as client:
        assert client.validate(token).user_data["username"] == "bob"
        doomed_uap.stop()
        with pytest.raises(UAPUnavailable) as down:
            client.validate(token)
        assert down.value.status is None
        with pytest.raises(UAPUnavailable):
            client.authenticate(username="bob", password="bob-password")
        with pytest.raises(UAPUnavailable):
            client.health()


def _answer(status: int, body: bytes, content_type: str = "application/json") -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(status, content=body, headers={"content-type": content_type})
    )


@pytest.mark.parametrize(
    ("status", "body"),
    [(503, b'{"error":"session store down"}'), (500, b"<html>oops</html>"), (502, b""), (200, b"<html>proxy</html>")],
)
def test_5xx_and_foreign_answers_are_unavailable(status: int, body: bytes) -> None:
    # A proxy's error page or a 5xx of UAP: never "not logged in".
    with Client("http://uap.invalid", transport=_answer(status, body, "text/html")) as client:
        with pytest.raises(UAPUnavailable) as down:
            client.validate("a.b.c")
    assert down.value.status == status


def test_timeout_is_unavailable() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with Client("http://uap.invalid", transport=httpx.MockTransport(slow)) as client:
        with pytest.raises(UAPUnavailable, match="timed out"):
            client.validate("a.b.c")


def test_other_4xx_is_a_plain_uap_error() -> None:
    with Client("http://uap.invalid", transport=_answer(404, b'{"error":"Not Found"}')) as client:
        with pytest.raises(UAPError) as err:
            client.validate("a.b.c")
    assert type(err.value) is UAPError and err.value.status == 404


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError):
        Client("127.0.0.1:8000")
